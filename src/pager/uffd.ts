import { ERRNO, PAGE, Scratch, SysError, errnoName, ioctl, ioctlErr, readNonBlocking } from './sys.js';

/**
 * userfaultfd(2) from the pager's side: the descriptor was created inside QEMU (the shim), so every
 * ioctl here acts on QEMU's address space; `src` addresses of copies are in ours.
 */

const IOWR = (nr: number, size: number): number => ((3 << 30) >>> 0) + (size << 16) + (0xaa << 8) + nr;
const IOR = (nr: number, size: number): number => ((2 << 30) >>> 0) + (size << 16) + (0xaa << 8) + nr;
const UFFDIO_API = IOWR(0x3f, 24);
const UFFDIO_REGISTER = IOWR(0x00, 32);
const UFFDIO_WAKE = IOR(0x02, 16);
const UFFDIO_COPY = IOWR(0x03, 40);
const UFFDIO_WRITEPROTECT = IOWR(0x06, 24);

export const UFFD_API = 0xaa;
export const Feature = {
  PAGEFAULT_FLAG_WP: 1 << 0,
  /** madvise(MADV_DONTNEED/REMOVE) on the range is reported (QEMU's balloon discarding guest RAM). */
  EVENT_REMOVE: 1 << 3,
  MISSING_SHMEM: 1 << 5,
  THREAD_ID: 1 << 8,
  MINOR_SHMEM: 1 << 10,
  WP_HUGETLBFS_SHMEM: 1 << 12,
  WP_UNPOPULATED: 1 << 13,
} as const;
export const RegisterMode = { MISSING: 1, WP: 2, MINOR: 4 } as const;
export const FaultFlag = { WRITE: 1, WP: 2, MINOR: 4 } as const;
const UFFD_EVENT_PAGEFAULT = 0x12;
const UFFD_EVENT_REMOVE = 0x15;
const COPY_MODE_WP = 2;
const WP_MODE_WP = 1;
const MSG_BYTES = 32;

/**
 * The features the pager needs: shmem missing faults, write-protect on shmem, the faulting thread,
 * and the discards QEMU makes itself (its balloon: the content is gone before the pager hears).
 */
export const NEEDED_FEATURES =
  Feature.MISSING_SHMEM | Feature.WP_HUGETLBFS_SHMEM | Feature.THREAD_ID | Feature.EVENT_REMOVE;

export class UffdError extends Error {
  override name = 'UffdError';
}

/**
 * QEMU's address space is gone: QEMU exited (or is exiting) while we still hold its userfaultfd.
 * The kernel's userfaultfd ioctls take a reference on the address space the descriptor was made in
 * and fail with ESRCH once it has none left (fs/userfaultfd.c: `if (!mmget_not_zero(ctx->mm))
 * return -ESRCH;` in the copy, write-protect and register paths). Not a failure of the pager: at
 * power-off QEMU tears its memory down before its exit is reported, and our next ioctl (a sampler
 * tick, an eviction) meets it. The daemon stops serving the VM quietly on it.
 */
export class QemuGoneError extends UffdError {
  override name = 'QemuGoneError';
  constructor(readonly call: string) {
    super(`${call}: QEMU's address space is gone (ESRCH: QEMU has exited)`);
  }
}

/** The error for a failed userfaultfd ioctl: QemuGoneError for ESRCH, else the errno's SysError. */
function uffdIoctlError(call: string, errno: number): Error {
  return errno === ERRNO.ESRCH ? new QemuGoneError(call) : new SysError(call, errno);
}

/** One page fault as userfaultfd reports it. */
export interface UffdFault {
  /** Faulting address in QEMU, rounded down to its page. */
  addr: number;
  write: boolean;
  /** A write to a write-protected page (not a missing one). */
  wp: boolean;
  /** The faulting thread (THREAD_ID feature). */
  tid: number;
}

/** Outcome of a copy into QEMU's memory. */
export type CopyResult = 'copied' | 'exists';

export class Uffd {
  private readonly s = new Scratch(65536);
  /** Where read() puts messages: the second half of the scratch page. */
  private readonly msgOff = 32768;
  /**
   * Messages read while an ioctl waited for a remove event to be read (the kernel refuses ioctls
   * with EAGAIN while one is pending: QEMU sits in madvise until it is read); parsed first next time.
   */
  private backlog: DataView[] = [];
  /** Times an ioctl met EAGAIN and the pending messages were read first. */
  eagainRetries = 0;
  /** Called when messages were kept aside (the descriptor will not poll readable for them). */
  onBacklog: (() => void) | undefined;

  constructor(readonly fd: number) {}

  /** UFFDIO_API: enables `features`; throws naming the ones the kernel lacks. */
  api(features: number): number {
    const s = this.s;
    s.setU64(0, UFFD_API);
    s.setU64(8, features);
    s.setU64(16, 0);
    // SAFETY: struct uffdio_api (24 bytes) at the start of the scratch page.
    const r = ioctlErr(this.fd, UFFDIO_API, s.addr);
    if (r < 0) {
      throw new UffdError(
        `UFFDIO_API with features 0x${features.toString(16)} failed: ${errnoName(-r)} (this kernel needs shmem missing and write-protect faults and thread ids: Linux 6.1+)`,
      );
    }
    return s.getU64(8);
  }

  /** Registers QEMU's [start, start + len) for the given fault modes. */
  register(start: number, len: number, modes: number): void {
    const s = this.s;
    s.setU64(0, start);
    s.setU64(8, len);
    s.setU64(16, modes);
    s.setU64(24, 0);
    // SAFETY: struct uffdio_register (32 bytes) at the start of the scratch page.
    const r = ioctlErr(this.fd, UFFDIO_REGISTER, s.addr);
    if (r < 0) throw uffdIoctlError(`UFFDIO_REGISTER 0x${start.toString(16)}+${len}`, -r);
  }

  /**
   * Atomically installs a page (or `len` bytes of pages) at QEMU's `dst` from our `src`, waking
   * threads waiting on the range. `writeProtect` installs it write-protected. Returns 'exists' when a
   * page is already there (nothing copied).
   */
  copy(dst: number, src: number, len: number, writeProtect: boolean): CopyResult {
    const s = this.s;
    for (;;) {
      s.setU64(0, dst);
      s.setU64(8, src);
      s.setU64(16, len);
      s.setU64(24, writeProtect ? COPY_MODE_WP : 0);
      s.setU64(32, 0);
      // SAFETY: struct uffdio_copy (40 bytes) at the scratch page's start; `src` .. `src + len` is
      // our memory (callers pass a staging or zero page they own), `dst` is checked by the kernel.
      const r = ioctlErr(this.fd, UFFDIO_COPY, s.addr);
      if (r >= 0) return 'copied';
      if (-r === ERRNO.EEXIST) return 'exists';
      // The address space is changing (a remove event pending, QEMU mapping something): try again.
      if (-r === ERRNO.EAGAIN) {
        this.unblock();
        continue;
      }
      throw uffdIoctlError(`UFFDIO_COPY 0x${dst.toString(16)}+${len}`, -r);
    }
  }

  /** Write-protects (or unprotects, waking writers) QEMU's [start, start + len). */
  writeProtect(start: number, len: number, protect: boolean): void {
    const s = this.s;
    for (;;) {
      s.setU64(0, start);
      s.setU64(8, len);
      s.setU64(16, protect ? WP_MODE_WP : 0);
      // SAFETY: struct uffdio_writeprotect (24 bytes) at the scratch page's start.
      const r = ioctlErr(this.fd, UFFDIO_WRITEPROTECT, s.addr);
      if (r >= 0) return;
      if (-r !== ERRNO.EAGAIN)
        throw uffdIoctlError(
          `UFFDIO_WRITEPROTECT(${protect ? 'protect' : 'unprotect'}) 0x${start.toString(16)}+${len}`,
          -r,
        );
      this.unblock();
    }
  }

  /**
   * An ioctl met EAGAIN: a remove event may be waiting to be read (QEMU blocked in madvise). The
   * pending messages are read now and kept for the next readFaults; if there were none, QEMU's
   * thread is still on its way, so wait a moment.
   */
  private unblock(): void {
    this.eagainRetries++;
    const s = this.s;
    // SAFETY: [msgOff, msgOff + 32768) is inside the 64 KiB scratch page.
    const n = readNonBlocking(this.fd, s.addr + this.msgOff, 32768);
    if (n <= 0) {
      Atomics.wait(NAP, 0, 0, 0.05);
      return;
    }
    if (this.backlog.length === 0) this.onBacklog?.();
    const from = s.view.byteOffset + this.msgOff;
    this.backlog.push(new DataView(s.view.buffer.slice(from, from + n)));
  }

  /** Wakes threads waiting on faults in QEMU's [start, start + len) (they retry the access). */
  wake(start: number, len = PAGE): void {
    const s = this.s;
    s.setU64(0, start);
    s.setU64(8, len);
    // SAFETY: struct uffdio_range (16 bytes) at the scratch page's start.
    ioctl(this.fd, UFFDIO_WAKE, s.addr, `UFFDIO_WAKE 0x${start.toString(16)}`);
  }

  /**
   * Reads the pending page-fault messages (non-blocking). A remove event (the range [start, end)
   * of QEMU's addresses discarded with madvise) goes to `onRemove` as it is read, before the faults
   * returned; other events are ignored.
   */
  readFaults(max = 256, onRemove?: (start: number, end: number) => void): UffdFault[] {
    const out: UffdFault[] = [];
    const kept = this.backlog;
    this.backlog = [];
    for (const v of kept) parse(v, 0, v.byteLength, out, onRemove);
    if (out.length > 0) return out;
    const s = this.s;
    const bytes = Math.min(max * MSG_BYTES, 32768);
    // SAFETY: [msgOff, msgOff + bytes) is inside the 64 KiB scratch page.
    const n = readNonBlocking(this.fd, s.addr + this.msgOff, bytes);
    if (n > 0) parse(s.view, this.msgOff, n, out, onRemove);
    return out;
  }
}

/** A word nobody signals: Atomics.wait on it is a short sleep. */
const NAP = new Int32Array(new SharedArrayBuffer(4));

/** The messages in view[from, from + n): faults into `out`, remove events to `onRemove`. */
function parse(
  view: DataView,
  from: number,
  n: number,
  out: UffdFault[],
  onRemove?: (start: number, end: number) => void,
): void {
  // Two 32-bit halves, not getBigUint64: no BigInt allocated per field (addresses stay below 2^53).
  const u64 = (o: number): number => view.getUint32(o, true) + view.getUint32(o + 4, true) * 0x100000000;
  for (let o = 0; o + MSG_BYTES <= n; o += MSG_BYTES) {
    const at = from + o;
    const event = view.getUint8(at);
    if (event === UFFD_EVENT_REMOVE) onRemove?.(u64(at + 8), u64(at + 16));
    if (event !== UFFD_EVENT_PAGEFAULT) continue;
    const flags = u64(at + 8);
    const addr = u64(at + 16);
    out.push({
      // Addresses exceed 32 bits: no bitwise masking.
      addr: addr - (addr % PAGE),
      write: (flags & FaultFlag.WRITE) !== 0,
      wp: (flags & FaultFlag.WP) !== 0,
      tid: view.getUint32(at + 24, true),
    });
  }
}
