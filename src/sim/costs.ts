/**
 * CPU costs of the paper's platform (2 x Xeon E5-2420, Sandy Bridge-EN at 1.9 GHz, KVM on Linux 3.7,
 * QEMU 1.2). Written once, shared by every experiment; none exists to hit a figure. Sources are the
 * usual measurements for that generation: a VM exit/entry round trip on Sandy Bridge is ~1,000-1,500
 * cycles in hardware, a trip through QEMU userspace for an emulated device ~10 us (Bugnion et al.,
 * "Hardware and Software Support for Virtualization", 2017; Amit et al. ELI, ASPLOS 2012); a 4 KiB
 * copy at ~4 GB/s of single-core bandwidth ~1 us; a host page fault that finds its page ~1-2 us and
 * one that has to set up I/O ~5 us (LWN's measurements of the 3.x fault path).
 */
export interface CpuCosts {
  /** Guest read() system call entry, VFS and exit, per call. */
  guestSyscallNs: number;
  /** copy_to_user of one 4 KiB page, and the page-cache lookup that precedes it. */
  guestCopyPageNs: number;
  /** Zeroing a 4 KiB page. */
  guestZeroPageNs: number;
  /** Guest reclaim work per page freed (LRU isolation, unmapping from the page cache). */
  guestReclaimPageNs: number;
  /** Guest interrupt for an I/O completion, including the virtio-blk completion path. */
  guestIrqNs: number;
  /** Guest submission of one block request through virtio-blk, kick (exit to QEMU) included. */
  guestSubmitNs: number;
  /** EPT violation or host page fault that has to issue I/O, excluding the I/O itself. */
  hostMajorFaultNs: number;
  /** Host fault that finds its page in memory (swap cache, zero page). */
  hostMinorFaultNs: number;
  /** QEMU's own work per virtio-blk request (pop the ring, build the aio, complete, notify). */
  qemuRequestNs: number;
  /** Host reclaim work per page scanned. */
  hostScanPageNs: number;
  /** One guest write emulated by the Preventer: an EPT-violation exit plus KVM's x86 emulator. */
  emulatedWriteNs: number;
  /**
   * The Mapper's work per page of a guest disk request (§4.1 "Guest I/O Flow"): QEMU mmap()s the
   * page over the guest's anonymous memory (MAP_FIXED, populated from the page cache the readahead
   * filled) and asks KVM by ioctl to map it. §5.3 names this as a cause of VSwapper's overhead with
   * plentiful memory ("using mmap is slower than regular reading").
   */
  mapperMapPageNs: number;
  /**
   * A guest write to a resident named page (§5.3): the EPT violation exit and the host's copy-on-write
   * of the privately mapped image page.
   */
  namedCowNs: number;
}

export const XEON_E5_2420_KVM: CpuCosts = {
  guestSyscallNs: 1_000,
  guestCopyPageNs: 1_000,
  guestZeroPageNs: 500,
  guestReclaimPageNs: 300,
  guestIrqNs: 5_000,
  guestSubmitNs: 12_000,
  hostMajorFaultNs: 5_000,
  hostMinorFaultNs: 1_500,
  qemuRequestNs: 20_000,
  hostScanPageNs: 100,
  // An EPT-violation exit and re-entry (~1,300 cycles at 1.9 GHz: 0.7 us, above) plus KVM's x86
  // emulator (fetch and decode the instruction, walk the guest's page tables, write into the
  // buffer): the paper's in-kernel Preventer (§4.2, "emulation is slow"). Measured on our patched
  // QEMU (`npm run bench`, bench/preventer-qemu.ts; TCG, no hardware virtualization, a loaded 2-core
  // VM): an intercepted store costs QEMU's vCPU 60 ns in TCG's slow path (a store to RAM: 1.9 ns),
  // and a page handed over whole 68 us of vCPU plus 140 us of our daemon (remap and the evictions
  // meanwhile; a userfaultfd fault and swap read instead: 55 + 107 us). Those are a different
  // mechanism (no exit: translated code calls a helper; a per-page round trip to a user-space
  // daemon the paper's KVM does not make), so they do not measure this constant, which stays.
  emulatedWriteNs: 4_000,
  // Measured, not taken from the paper: bench/native/mapper-costs.c on the development machine (a
  // 2-core AMD EPYC VM, Linux 6.x; minimum over 40 rounds of 4,096 pages): mmap(MAP_FIXED) of one
  // page-cache page over anonymous memory 11.3 us (pread of the same 4 KiB: 1.2 us, so mmap costs
  // ~10x a read, as §5.3 says it is slower), an ioctl system call 0.14 us. KVM's own part of the
  // ioctl (setting the EPT entry) cannot be measured without hardware virtualization and is left out.
  mapperMapPageNs: 11_500,
  // The same program: the first write to a privately mapped page-cache page (the host's COW fault)
  // 3.5 us; plus the exit and re-entry, ~1,300 cycles at 1.9 GHz (see above): 0.7 us.
  namedCowNs: 4_200,
};

/**
 * How QEMU itself uses its code (the hypervisor's file-backed pages), which matters because reclaim
 * prefers named pages (the paper's "false page anonymity"): QEMU 1.2's binary and shared libraries
 * map about 12 MiB of code; its main loop wakes for timers and its I/O path runs per request. Page
 * popularity is skewed (a small hot core, a long tail): page i of n is picked as floor(n * u^3).
 */
export interface VmmBehaviour {
  codePages: number;
  /** Main-loop wake-ups per second (timers, polling of QEMU's file descriptors). */
  mainLoopHz: number;
  /** Distinct code pages one main-loop iteration executes. */
  pagesPerMainLoop: number;
  /** Code pages the I/O path executes per virtio request. */
  pagesPerRequest: number;
  /** Exponent of the popularity skew. */
  skew: number;
}

export const QEMU_1_2: VmmBehaviour = {
  codePages: 3072,
  mainLoopHz: 250,
  pagesPerMainLoop: 12,
  pagesPerRequest: 24,
  skew: 3,
};
