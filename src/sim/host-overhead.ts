/**
 * What a KVM host holds besides its guests' memory and cannot reclaim, for §5.2's host ("we limit
 * the host memory to 8GB"): the paper does not say how it limited it; this model takes the host's
 * RAM to be 8 GB (as `mem=8G` would make it), so that the host kernel's own memory and every QEMU
 * process's memory besides guest RAM come out of the same 8 GB as the guests. Only what a
 * documented size or a measurement gives is counted, so this is a lower bound: not counted are the
 * host kernel's image and slab (no documented size for the paper's host), and the host's own
 * daemons (libvirtd, MOM).
 */

/** sizeof(struct page) on x86-64 (include/linux/mm_types.h, Linux 3.7): 64 bytes per 4 KiB page. */
export const STRUCT_PAGE_BYTES = 64;
const PAGE_BYTES = 4096;
/** One 64-bit entry per 4 KiB page: an x86-64 page-table entry (PTE or EPT entry), and KVM's rmap slot. */
const ENTRY_BYTES = 8;

/**
 * QEMU's heap and other anonymous memory besides guest RAM, MiB, for one 2 GiB, 2-vCPU guest with a
 * virtio-blk disk and a virtio-balloon, booted and idle for 90 s: MEASURED with Debian's QEMU 7.2
 * (TCG, tb-size=32) on this project's guest, from /proc/PID/smaps: 30.1 MiB of anonymous,
 * non-executable mappings other than the 2 GiB guest RAM mapping, less the 13.5 MiB copy of the
 * guest kernel that `-kernel` loads (the paper's guests booted from their disks); the TCG code
 * cache (30.2 MiB, executable) is left out, as KVM has none (summed per mapping class from smaps, 2026-12-06; the method
 * is in README §5.2). A QEMU 7.2 measurement standing in for the
 * paper's QEMU 1.2, whose heap nobody published; TCG's structures besides the code cache (its TLBs,
 * region trees) are in it, so it may overstate a KVM QEMU's heap by those.
 */
export const QEMU_HEAP_MIB_MEASURED = 16.6;

/** A kernel's memmap: one struct page per 4 KiB page of the RAM it manages (1.56 % of it), host or guest. */
export function memmapMiB(ramMiB: number): number {
  return (ramMiB * STRUCT_PAGE_BYTES) / PAGE_BYTES;
}

/**
 * One QEMU process's memory besides guest RAM, its code pages (modelled, reclaimable, in the
 * core) and the TCG cache (no such thing with KVM): its heap (measured, `heapMiB`), and three
 * tables of one 8-byte entry per 4 KiB page of guest RAM, each 0.2 % of the guest:
 * - QEMU's own page tables mapping guest RAM (x86-64 4-level paging, 512 entries of 8 bytes per
 *   4 KiB page-table page: Intel SDM vol. 3A §4.5);
 * - KVM's EPT tables for the guest (the same 8-byte-entry format, SDM vol. 3C §28.2.2);
 * - KVM's rmap of the guest's memory slot, allocated whole when QEMU registers guest RAM
 *   (kvm_arch_create_memslot, arch/x86/kvm/x86.c in 3.7: lpages x sizeof(unsigned long) at 4 KiB).
 * The two page tables fill as the guest touches its memory; counted here whole (a §5.2 guest
 * touches most of its 2 GB: kernel, 300 MB input, 1 GB of tables), which overstates them by at most
 * the tables of the untouched part. Page-table pages stay when their pages are swapped out (the
 * entries become swap entries), so they are not reclaimed either.
 */
export function qemuOverheadMiB(guestMiB: number, heapMiB: number): number {
  return heapMiB + (3 * guestMiB * ENTRY_BYTES) / PAGE_BYTES;
}
