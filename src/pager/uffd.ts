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
  MISSING_SHMEM: 1 << 5,
  THREAD_ID: 1 << 8,
  MINOR_SHMEM: 1 << 10,
  WP_HUGETLBFS_SHMEM: 1 << 12,
  WP_UNPOPULATED: 1 << 13,
} as const;
export const RegisterMode = { MISSING: 1, WP: 2, MINOR: 4 } as const;
export const FaultFlag = { WRITE: 1, WP: 2, MINOR: 4 } as const;
const UFFD_EVENT_PAGEFAULT = 0x12;
const COPY_MODE_WP = 2;
const WP_MODE_WP = 1;
const MSG_BYTES = 32;

/** The features the pager needs: shmem missing faults, write-protect on shmem, the faulting thread. */
export const NEEDED_FEATURES = Feature.MISSING_SHMEM | Feature.WP_HUGETLBFS_SHMEM | Feature.THREAD_ID;

export class UffdError extends Error {
  override name = 'UffdError';
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
    ioctl(this.fd, UFFDIO_REGISTER, s.addr, `UFFDIO_REGISTER 0x${start.toString(16)}+${len}`);
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
      // The address space changed under the copy (e.g. QEMU mapped something): try again.
      if (-r === ERRNO.EAGAIN) continue;
      throw new SysError(`UFFDIO_COPY 0x${dst.toString(16)}+${len}`, -r);
    }
  }

  /** Write-protects (or unprotects, waking writers) QEMU's [start, start + len). */
  writeProtect(start: number, len: number, protect: boolean): void {
    const s = this.s;
    s.setU64(0, start);
    s.setU64(8, len);
    s.setU64(16, protect ? WP_MODE_WP : 0);
    // SAFETY: struct uffdio_writeprotect (24 bytes) at the scratch page's start.
    ioctl(
      this.fd,
      UFFDIO_WRITEPROTECT,
      s.addr,
      `UFFDIO_WRITEPROTECT(${protect ? 'protect' : 'unprotect'}) 0x${start.toString(16)}+${len}`,
    );
  }

  /** Wakes threads waiting on faults in QEMU's [start, start + len) (they retry the access). */
  wake(start: number, len = PAGE): void {
    const s = this.s;
    s.setU64(0, start);
    s.setU64(8, len);
    // SAFETY: struct uffdio_range (16 bytes) at the scratch page's start.
    ioctl(this.fd, UFFDIO_WAKE, s.addr, `UFFDIO_WAKE 0x${start.toString(16)}`);
  }

  /** Reads the pending page-fault messages (non-blocking); other events are ignored. */
  readFaults(max = 256): UffdFault[] {
    const s = this.s;
    const bytes = Math.min(max * MSG_BYTES, 32768);
    // SAFETY: [msgOff, msgOff + bytes) is inside the 64 KiB scratch page.
    const n = readNonBlocking(this.fd, s.addr + this.msgOff, bytes);
    if (n <= 0) return [];
    const out: UffdFault[] = [];
    for (let o = 0; o + MSG_BYTES <= n; o += MSG_BYTES) {
      const at = this.msgOff + o;
      if (s.view.getUint8(at) !== UFFD_EVENT_PAGEFAULT) continue;
      const flags = s.getU64(at + 8);
      const addr = s.getU64(at + 16);
      out.push({
        // Addresses exceed 32 bits: no bitwise masking.
        addr: addr - (addr % PAGE),
        write: (flags & FaultFlag.WRITE) !== 0,
        wp: (flags & FaultFlag.WP) !== 0,
        tid: s.view.getUint32(at + 24, true),
      });
    }
    return out;
  }
}
