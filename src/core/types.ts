/**
 * Branded numbers, one per address space (rust-vmm style): a guest frame number can never be passed
 * where an image block or a swap slot is expected, although all are plain numbers at run time.
 */
declare const brand: unique symbol;
type Branded<T, B extends string> = T & { readonly [brand]: B };

/** Guest frame number: index of a 4 KiB page of guest-physical memory. */
export type Gfn = Branded<number, 'Gfn'>;
/** A 4 KiB page of the hypervisor process's own file-backed memory (QEMU's code and libraries). */
export type VmmPage = Branded<number, 'VmmPage'>;
/** 4 KiB block of the guest's disk image. */
export type BlockNo = Branded<number, 'BlockNo'>;
/** 4 KiB slot of the host swap area. */
export type SwapSlot = Branded<number, 'SwapSlot'>;
/** 512-byte sector of a physical disk. */
export type Sector = Branded<number, 'Sector'>;
/** An I/O the core asked its driver for (a read or a write action). */
export type IoId = Branded<number, 'IoId'>;
/**
 * A fault (or a wait) the core has not finished: a `faultDone` action names it when it does. The
 * number 0 is never a fault: events that complete at once return NO_FAULT.
 */
export type FaultId = Branded<number, 'FaultId'>;

/**
 * A run of guest frame numbers in an Int32Array, for the batched touch: its elements are Gfns (read
 * back as plain numbers, as every index into the core's arrays is).
 */
export type GfnArray = Branded<Int32Array, 'GfnArray'>;

export const asGfn = (n: number): Gfn => n as Gfn;
export const asGfnArray = (a: Int32Array): GfnArray => a as GfnArray;
export const asVmmPage = (n: number): VmmPage => n as VmmPage;
export const asBlock = (n: number): BlockNo => n as BlockNo;
export const asSlot = (n: number): SwapSlot => n as SwapSlot;
export const asSector = (n: number): Sector => n as Sector;

/** What an event returns when it completed at once and nobody needs to wait. */
export const NO_FAULT = 0 as FaultId;

export const PAGE_SIZE_BYTES = 4096;
export const SECTOR_SIZE_BYTES = 512;
export const SECTORS_PER_PAGE = PAGE_SIZE_BYTES / SECTOR_SIZE_BYTES;
export const MIB = 1024 * 1024;
export const pagesFromMiB = (mib: number): number => Math.round((mib * MIB) / PAGE_SIZE_BYTES);

/** Who was running when a host page fault happened (the paper's Fig. 9c vs Fig. 9b). */
export type FaultContext = 'guest' | 'host';

/** No index: the -1 sentinel stored in Int32Array fields. */
export const NONE = -1;
