import { statSync } from 'node:fs';
import {
  type Mapping,
  O_CLOEXEC,
  O_DIRECT,
  O_RDWR,
  anonymous,
  close,
  fdatasync,
  memcpy,
  munmap,
  open,
  preadFull,
  pwriteFull,
} from './sys.js';
import { execFileSync } from 'node:child_process';

const ALIGN = 4096;
const BOUNCE_BYTES = 1 << 20;

/** Counters of what was read and written, as requests and 512-byte sectors. */
export interface IoCounts {
  readOps: number;
  readSectors: number;
  writeOps: number;
  writeSectors: number;
}

export const zeroCounts = (): IoCounts => ({ readOps: 0, readSectors: 0, writeOps: 0, writeSectors: 0 });

/**
 * A raw disk area (the guest's image, or our swap area) opened with O_DIRECT: no host page cache,
 * as the paper's non-VSwapper configurations ("host caching is disabled for guest disk images"), so
 * every read is a read of the device. Transfers whose memory, offset or length are not 4 KiB-aligned
 * go through a bounce buffer.
 */
export class RawFile {
  readonly fd: number;
  readonly sizeBytes: number;
  readonly counts = zeroCounts();
  private bounce: Mapping | undefined;

  constructor(
    readonly path: string,
    opts: { direct: boolean } = { direct: true },
  ) {
    this.fd = open(path, O_RDWR | O_CLOEXEC | (opts.direct ? O_DIRECT : 0));
    const st = statSync(path);
    this.sizeBytes = st.isBlockDevice() ? blockDeviceBytes(path) : st.size;
  }

  private aligned(addr: number, len: number, offset: number): boolean {
    return addr % ALIGN === 0 && len % ALIGN === 0 && offset % ALIGN === 0;
  }

  private check(len: number, offset: number): void {
    if (!(len > 0) || offset < 0 || offset + len > this.sizeBytes)
      throw new RangeError(`${this.path}: ${len} bytes at ${offset} are outside its ${this.sizeBytes}`);
  }

  /** Reads [offset, offset + len) into our memory at `addr` (one request). */
  read(addr: number, len: number, offset: number): void {
    this.check(len, offset);
    this.counts.readOps++;
    this.counts.readSectors += Math.ceil(len / 512);
    if (this.aligned(addr, len, offset)) {
      // SAFETY: callers pass [addr, addr + len) inside a mapping they own (guest RAM or staging).
      preadFull(this.fd, addr, len, offset);
      return;
    }
    this.bounced(addr, len, offset, false);
  }

  /** Writes our memory at `addr` to [offset, offset + len). */
  write(addr: number, len: number, offset: number): void {
    this.check(len, offset);
    this.counts.writeOps++;
    this.counts.writeSectors += Math.ceil(len / 512);
    if (this.aligned(addr, len, offset)) {
      // SAFETY: as read().
      pwriteFull(this.fd, addr, len, offset);
      return;
    }
    this.bounced(addr, len, offset, true);
  }

  /** An unaligned transfer: whole aligned blocks through the bounce buffer, read-modify-write at the edges. */
  private bounced(addr: number, len: number, offset: number, write: boolean): void {
    this.bounce ??= anonymous(BOUNCE_BYTES);
    const b = this.bounce;
    let done = 0;
    while (done < len) {
      const off = offset + done;
      const start = off - (off % ALIGN);
      const n = Math.min(len - done, BOUNCE_BYTES - (off - start));
      const end = Math.min(this.sizeBytes, Math.ceil((off + n) / ALIGN) * ALIGN);
      const span = end - start;
      // SAFETY: [b.addr, b.addr + span) is inside the bounce buffer (span <= BOUNCE_BYTES).
      preadFull(this.fd, b.addr, span, start);
      if (write) {
        // SAFETY: source is the caller's memory [addr + done, + n); destination inside the bounce buffer.
        memcpy(b.addr + (off - start), addr + done, n);
        pwriteFull(this.fd, b.addr, span, start);
      } else {
        memcpy(addr + done, b.addr + (off - start), n);
      }
      done += n;
    }
  }

  flush(): void {
    fdatasync(this.fd);
  }

  close(): void {
    if (this.bounce) munmap(this.bounce);
    this.bounce = undefined;
    close(this.fd);
  }
}

function blockDeviceBytes(path: string): number {
  return Number(execFileSync('blockdev', ['--getsize64', path], { encoding: 'utf8' }).trim());
}
