/**
 * Events the core counts where they happen, by definition (not inferred from totals afterwards).
 * Plain numeric fields: the hot path increments them.
 */
export class CoreCounters {
  /** Major faults (a read was issued) while the guest's vCPU ran: the paper's Fig. 9c. */
  hostFaultsInGuest = 0;
  /** Major faults while the host ran on the guest's behalf (I/O emulation, QEMU code): Fig. 9b. */
  hostFaultsInHost = 0;
  /** Of hostFaultsInHost: faults on the hypervisor's own code pages (false page anonymity). */
  hostFaultsVmm = 0;
  /** Faults that only waited for a read already in flight, or got a zero-filled frame. */
  minorFaults = 0;
  zeroFills = 0;
  /** A device about to overwrite a page made the host read its old content from swap first. */
  staleSwapReads = 0;
  /** The guest CPU overwrote a whole page whose old content was read from swap first. */
  falseSwapReads = 0;
  /** As falseSwapReads, for a Mapper page read back from the image. */
  falseImageReads = 0;
  /** Pages written to swap whose content equalled a block of the guest's disk image. */
  silentSwapWrites = 0;
  swapReadOps = 0;
  swapReadPages = 0;
  swapWriteOps = 0;
  swapWritePages = 0;
  /** Of swapWritePages: pages written back to the slot they kept since they were swapped in. */
  swapRewrites = 0;
  /** Slots given up by resident pages because the swap area was more than half full (vm_swap_full). */
  swapSlotsReleased = 0;
  /** Slots given up by pages that KVM's async page fault worker faulted in for writing. */
  asyncPfSlotReleases = 0;
  /** Reads of the image by the Mapper (refaults of dropped named pages, invalidations). */
  imageReadOps = 0;
  imageReadPages = 0;
  vmmReadOps = 0;
  vmmReadPages = 0;
  /** Maximal runs of swap reads where each read starts where the previous one ended. */
  swapReadRuns = 0;
  /** Pages taken off the inactive lists by reclaim (Linux's pgscan). */
  pagesScanned = 0;
  /** Named pages dropped without any write (the Mapper's eviction). */
  namedDrops = 0;
  /**
   * CPU writes that broke a named page's link to its block: the host maps the page privately from
   * the image, so the write faults and the page is copied (§5.3: "a COW (which induces an exit) is
   * required when a named page is modified").
   */
  namedCowFaults = 0;
  /** Absent pages the Preventer gave a fresh frame because the guest overwrote them whole. */
  preventerRemaps = 0;
  /** Pages whose writes the Preventer started to emulate. */
  preventerEmulatedPages = 0;
  /** Emulations that ended by reading the old content (timeout, non-sequential write, read of unwritten bytes, device access). */
  preventerFallbacks = 0;
  /** Writes to absent pages the Preventer could not take (32 pages already emulated). */
  preventerRefused = 0;
  /** Reads of a block's old content before the guest overwrote it through the disk (§4.1). */
  invalidationReads = 0;
  /**
   * What each page the guest's balloon took (the inflate queue) gave the host back, by where the
   * page was: resident (a frame freed, now or when its I/O lands), in swap (a swap slot freed and
   * no memory: the host had already paid to write it out), or absent otherwise (never touched since
   * boot or its last deflation, or a named page the Mapper dropped: nothing at all). QEMU discards
   * every one alike (madvise(MADV_DONTNEED) in QEMU 1.2's hw/virtio-balloon.c balloon_page()); only
   * the first kind relieves the host's memory.
   */
  balloonFramesFreed = 0;
  balloonSlotsFreed = 0;
  balloonNothingFreed = 0;

  snapshot(): Record<string, number> {
    return { ...this } as unknown as Record<string, number>;
  }
}
