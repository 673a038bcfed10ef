import { readFileSync } from 'node:fs';
import {
  MAP_SHARED,
  type Mapping,
  O_CLOEXEC,
  O_RDWR,
  PAGE,
  PROT_READ,
  PROT_WRITE,
  SEEK_DATA,
  SEEK_HOLE,
  close,
  mmap,
  munmap,
  open,
  punchHole,
  seekData,
} from './sys.js';

export class GuestRamError extends Error {
  override name = 'GuestRamError';
}

/** One mapping of /proc/PID/maps. */
export interface MapsEntry {
  start: number;
  end: number;
  perms: string;
  path: string;
}

export function parseMaps(text: string): MapsEntry[] {
  const out: MapsEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, path: m[4] ?? '' });
  }
  return out;
}

/** QEMU's guest RAM: the shared memfd mapping of `ramBytes` (memory-backend-memfd). */
export function findRamMapping(maps: MapsEntry[], ramBytes: number): MapsEntry {
  const hits = maps.filter(
    (m) => m.end - m.start === ramBytes && m.path.startsWith('/memfd:') && m.perms.includes('s'),
  );
  if (hits.length !== 1)
    throw new GuestRamError(
      `expected one shared memfd mapping of ${ramBytes} bytes in QEMU (memory-backend-memfd,share=on), found ${hits.length}`,
    );
  return hits[0]!;
}

/**
 * The guest's RAM from the pager's side: the memfd QEMU maps at `qemuBase` (opened through
 * /proc/PID/map_files, so the pager holds the same file), and our own shared mapping of it. A page
 * index is the page's offset in the memfd / 4096: the core's guest frame number.
 *
 * Touching a hole through our mapping would allocate a zero page behind the pager's back, so the
 * pager reads a page through `ours` only when the core says it is present.
 */
export class GuestRam {
  readonly fd: number;
  readonly qemuBase: number;
  readonly pages: number;
  readonly ours: Mapping;

  constructor(qemuPid: number, ramBytes: number) {
    if (ramBytes % PAGE !== 0) throw new GuestRamError(`guest RAM of ${ramBytes} bytes is not whole pages`);
    const m = findRamMapping(parseMaps(readFileSync(`/proc/${qemuPid}/maps`, 'utf8')), ramBytes);
    this.qemuBase = m.start;
    this.pages = ramBytes / PAGE;
    this.fd = open(
      `/proc/${qemuPid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`,
      O_RDWR | O_CLOEXEC,
    );
    this.ours = mmap(ramBytes, PROT_READ | PROT_WRITE, MAP_SHARED, this.fd, 0);
  }

  qemuAddr(page: number): number {
    return this.qemuBase + page * PAGE;
  }

  ourAddr(page: number): number {
    return this.ours.addr + page * PAGE;
  }

  /** The page index of QEMU address `va`, or -1 outside guest RAM. */
  pageOf(va: number): number {
    const off = va - this.qemuBase;
    return off >= 0 && off < this.pages * PAGE ? Math.floor(off / PAGE) : -1;
  }

  /** Frees `n` pages from `page` (their content is gone; QEMU's mapping of them too). */
  punch(page: number, n = 1): void {
    punchHole(this.fd, page * PAGE, n * PAGE);
  }

  /** Whether the memfd holds the page (lseek SEEK_DATA lands on it). */
  isPresent(page: number): boolean {
    return seekData(this.fd, page * PAGE, SEEK_DATA) === page * PAGE;
  }

  /** Pages the memfd holds, in order. */
  presentPages(): number[] {
    const out: number[] = [];
    const end = this.pages * PAGE;
    let off = 0;
    while (off < end) {
      const data = seekData(this.fd, off, SEEK_DATA);
      if (data < 0 || data >= end) break;
      const hole = Math.min(end, Math.max(data + 1, seekData(this.fd, data, SEEK_HOLE)));
      for (let p = Math.floor(data / PAGE); p * PAGE < hole; p++) out.push(p);
      off = Math.ceil(hole / PAGE) * PAGE;
    }
    return out;
  }

  close(): void {
    munmap(this.ours);
    close(this.fd);
  }
}
