/**
 * The guest's RAM as the vhost-user front end (QEMU) describes it: regions of guest-physical
 * addresses, each backed by part of a file descriptor (the memfd holding all guest RAM) that QEMU maps
 * at `userAddr` and we map at `addr`. Guest descriptors carry guest-physical addresses; vring
 * addresses are QEMU's virtual addresses. Every translation checks that the whole range lies inside
 * one region: a guest cannot make us touch memory outside its own RAM.
 */
export interface MemoryRegion {
  /** First guest-physical address. */
  gpa: number;
  sizeBytes: number;
  /** Where QEMU maps it. */
  userAddr: number;
  /** Offset of the region in the backing file (for guest RAM: the page index * 4096). */
  fileOffset: number;
  /** Our view of it (length sizeBytes) and its address in our process. */
  bytes: Uint8Array;
  addr: number;
}

/** A byte range of guest RAM, translated. */
export interface Located {
  region: MemoryRegion;
  /** Offset of the range's first byte in `region.bytes`. */
  off: number;
}

export class GuestMemory {
  private readonly views: DataView[];

  constructor(readonly regions: readonly MemoryRegion[]) {
    this.views = regions.map((r) => new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
  }

  /** The region holding all of guest-physical [gpa, gpa + len), or -1. */
  regionOfGpa(gpa: number, len: number): number {
    if (!(len >= 0) || !Number.isSafeInteger(gpa) || gpa < 0) return -1;
    for (let i = 0; i < this.regions.length; i++) {
      const r = this.regions[i]!;
      if (gpa >= r.gpa && gpa + len <= r.gpa + r.sizeBytes) return i;
    }
    return -1;
  }

  /** The region holding all of QEMU-virtual [va, va + len), or -1. */
  regionOfUserAddr(va: number, len: number): number {
    if (!(len >= 0) || !Number.isSafeInteger(va) || va < 0) return -1;
    for (let i = 0; i < this.regions.length; i++) {
      const r = this.regions[i]!;
      if (va >= r.userAddr && va + len <= r.userAddr + r.sizeBytes) return i;
    }
    return -1;
  }

  locateGpa(gpa: number, len: number): Located | undefined {
    const i = this.regionOfGpa(gpa, len);
    if (i < 0) return undefined;
    const region = this.regions[i]!;
    return { region, off: gpa - region.gpa };
  }

  view(i: number): DataView {
    return this.views[i]!;
  }

  /** Byte offset in the backing file of guest-physical `gpa` (which must be inside a region). */
  fileOffsetOfGpa(gpa: number): number {
    const i = this.regionOfGpa(gpa, 1);
    if (i < 0) throw new RangeError(`guest-physical 0x${gpa.toString(16)} is outside guest RAM`);
    const r = this.regions[i]!;
    return r.fileOffset + (gpa - r.gpa);
  }

  /** Byte offset in the backing file of QEMU-virtual `va` (which must be inside a region). */
  fileOffsetOfUser(va: number): number {
    const i = this.regionOfUserAddr(va, 1);
    if (i < 0) throw new RangeError(`QEMU address 0x${va.toString(16)} is outside guest RAM`);
    const r = this.regions[i]!;
    return r.fileOffset + (va - r.userAddr);
  }
}
