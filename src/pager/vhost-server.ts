import {
  type BadRequest,
  type BlkRequest,
  BlkStatus,
  parseBlkRequest,
  slice,
  writeStatus,
} from './blk-request.js';
import type { GuestMemory, MemoryRegion } from './guest-memory.js';
import type { Loop } from './loop.js';
import {
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  Scratch,
  accept,
  close,
  eventfdDrain,
  eventfdSignal,
  listenUnix,
  mmap,
  munmap,
  recvWithFds,
  sendWithFds,
  setNonBlocking,
} from './sys.js';
import {
  type BlkGeometry,
  HEADER_BYTES,
  type Host,
  VhostUserBlk,
  VhostUserError,
  parseHeader,
} from './vhost-user.js';
import { type Segment, type UserRange, type Virtqueue, VirtqueueError } from './virtqueue.js';

/** A byte range of the guest RAM file, and whether the back end will write it. */
export interface FileRange {
  off: number;
  len: number;
  write: boolean;
}

/**
 * Access to guest RAM in place. Without a pager every page is always there; with one, an absent
 * page must be brought in (and kept) before the back end reads or writes it through its own
 * mapping: touching a hole there would allocate a zero page behind the pager's back.
 */
export interface MemoryGate {
  /** Runs `fn` once every page of `ranges` is present (now, or later), keeping them present while it runs. */
  with(mem: GuestMemory, ranges: FileRange[], fn: () => void): void;
}

/** No pager: guest RAM is always present. */
export const OPEN_GATE: MemoryGate = { with: (_mem, _ranges, fn) => fn() };

function userRange(mem: GuestMemory, r: UserRange, write: boolean): FileRange {
  return { off: mem.fileOffsetOfUser(r.va), len: r.len, write };
}
function gpaRange(mem: GuestMemory, gpa: number, len: number, write: boolean): FileRange {
  return { off: mem.fileOffsetOfGpa(gpa), len, write };
}
function lastWritable(segments: readonly Segment[]): number | undefined {
  for (let k = segments.length - 1; k >= 0; k--) {
    const s = segments[k]!;
    if (s.write && s.len > 0) return s.gpa + s.len - 1;
  }
  return undefined;
}
const HEADER_BYTES_BLK = 16;

/** Executes block requests against the image (and, with the pager, guest memory the core manages). */
export interface BlockIo {
  /** Starts `req`; calls `done` with a virtio-blk status when the data has moved. */
  submit(req: BlkRequest, mem: GuestMemory, done: (status: number) => void): void;
}

/** Counters of the device, for tests and reports. */
export interface DeviceStats {
  requests: number;
  reads: number;
  writes: number;
  flushes: number;
  malformed: number;
  lastMalformed: string;
}

const realHost: Host = {
  map(fd, fileOffset, sizeBytes) {
    // The region's offset in its file is page-aligned for RAM (QEMU maps whole RAM blocks).
    const m = mmap(sizeBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, fileOffset);
    return { bytes: m.bytes, addr: m.addr };
  },
  unmap(r: MemoryRegion) {
    munmap({ addr: r.addr, length: r.sizeBytes, bytes: r.bytes });
  },
  close,
};

/**
 * The vhost-user-blk server: listens on a Unix socket for QEMU, speaks the protocol on the one
 * connection, and serves the vring: every kick pops the available chains, parses each into a
 * virtio-blk request (a malformed one is answered IOERR, or dropped when it has no status byte, and
 * counted), hands good ones to `io`, and on completion writes the status, returns the chain and
 * interrupts the guest.
 */
export class VhostServer {
  readonly device: VhostUserBlk;
  readonly stats: DeviceStats = {
    requests: 0,
    reads: 0,
    writes: 0,
    flushes: 0,
    malformed: 0,
    lastMalformed: '',
  };
  private readonly s = new Scratch(65536);
  private listenFd: number;
  private conn = -1;
  /** Kick descriptors we watch, per ring. */
  private readonly watched = new Map<number, number>();
  onDisconnect: () => void = () => undefined;

  constructor(
    private readonly loop: Loop,
    readonly socketPath: string,
    geometry: BlkGeometry,
    private readonly io: BlockIo,
    private readonly gate: MemoryGate = OPEN_GATE,
    host: Host = realHost,
  ) {
    this.device = new VhostUserBlk(host, geometry);
    this.device.onRingStarted = (i) => this.ringStarted(i);
    this.device.onRingStopped = (i) => this.ringStopped(i);
    this.listenFd = listenUnix(socketPath, this.s);
    loop.watch(this.listenFd, () => this.onAccept());
  }

  private onAccept(): void {
    const fd = accept(this.listenFd);
    if (fd < 0) return;
    if (this.conn >= 0) {
      // One front end at a time.
      close(fd);
      return;
    }
    this.conn = fd;
    // Blocking: a message is read whole once its first byte is there (QEMU writes each in one go);
    // the loop's poll says when one starts, and the first read does not wait.
    setNonBlocking(fd, false);
    this.loop.watch(fd, () => this.onMessage());
  }

  private onMessage(): void {
    const hdr = recvWithFds(this.conn, this.s, HEADER_BYTES, false);
    if (hdr.n === 0) return;
    if (hdr.n < 0) {
      this.disconnect();
      return;
    }
    const fds = [...hdr.fds];
    const head = new Uint8Array(HEADER_BYTES);
    head.set(hdr.data);
    let got = hdr.n;
    // The rest of a message follows at once; wait for it (blocking) rather than buffer partial state.
    while (got < HEADER_BYTES) {
      const r = recvWithFds(this.conn, this.s, HEADER_BYTES - got, true);
      if (r.n < 0) return this.disconnect();
      head.set(r.data, got);
      fds.push(...r.fds);
      got += r.n;
    }
    const h = parseHeader(head);
    const payload = new Uint8Array(h.size);
    let have = 0;
    while (have < h.size) {
      const r = recvWithFds(this.conn, this.s, h.size - have, true);
      if (r.n < 0) return this.disconnect();
      payload.set(r.data, have);
      fds.push(...r.fds);
      have += r.n;
    }
    const reply = this.device.handle({ request: h.request, flags: h.flags, payload, fds });
    if (reply) sendWithFds(this.conn, this.s, reply);
  }

  private disconnect(): void {
    this.loop.unwatch(this.conn);
    close(this.conn);
    this.conn = -1;
    this.device.reset();
    this.onDisconnect();
  }

  private ringStarted(i: number): void {
    const r = this.device.rings[i]!;
    this.watched.set(i, r.kickFd);
    this.loop.watch(r.kickFd, () => {
      eventfdDrain(r.kickFd, this.s, 60000);
      this.process(i);
    });
    // Buffers made available before the ring started would otherwise wait for the next kick.
    this.loop.defer(() => this.process(i));
  }

  private ringStopped(i: number): void {
    const fd = this.watched.get(i);
    if (fd !== undefined) this.loop.unwatch(fd);
    this.watched.delete(i);
  }

  /** Serves every chain the driver has made available on ring `i`. */
  process(i: number): void {
    const ring = this.device.rings[i]!;
    const q = ring.queue;
    const mem = this.device.mem;
    if (!q || !mem) return;
    const r = q.ringRanges();
    const heads: number[] = [];
    const tables = new Map<number, { gpa: number; len: number }>();
    this.gate.with(mem, [userRange(mem, r.desc, false), userRange(mem, r.avail, false)], () => {
      if (ring.queue !== q) return;
      for (;;) {
        let head;
        try {
          head = q.popHead();
        } catch (e) {
          if (!(e instanceof VirtqueueError)) throw e;
          // The ring itself is corrupt (an avail index from nowhere): nothing on it can be trusted.
          this.malformed(e.message);
          ring.queue = undefined;
          return;
        }
        if (head === undefined) break;
        heads.push(head);
        const t = q.indirectTableOf(head);
        if (t) tables.set(head, t);
      }
      // Served from here: the gate may have run this later, once the ring's pages came back in.
      for (const head of heads) {
        this.stats.requests++;
        this.serveChain(i, q, mem, head, tables.get(head));
      }
    });
  }

  /** Reads chain `head` (its indirect table made present first), parses it and starts the request. */
  private serveChain(
    i: number,
    q: Virtqueue,
    mem: GuestMemory,
    head: number,
    table: { gpa: number; len: number } | undefined,
  ): void {
    const r = q.ringRanges();
    const ranges = [
      userRange(mem, r.desc, false),
      ...(table ? [gpaRange(mem, table.gpa, table.len, false)] : []),
    ];
    this.gate.with(mem, ranges, () => {
      if (!this.live(i, q, mem)) return;
      const chain = q.readChain(head);
      if (!chain.ok) {
        this.malformed(chain.why);
        this.complete(i, q, mem, head, 0);
        return;
      }
      // The header (16 readable bytes) and the status byte, read and written in place.
      let readable = 0;
      for (const s of chain.segments) if (!s.write) readable += s.len;
      const meta = [
        ...slice(chain.segments, false, 0, Math.min(HEADER_BYTES_BLK, readable)).map((p) =>
          gpaRange(mem, p.gpa, p.len, false),
        ),
      ];
      const status = lastWritable(chain.segments);
      if (status !== undefined) meta.push(gpaRange(mem, status, 1, true));
      this.gate.with(mem, meta, () => {
        if (!this.live(i, q, mem)) return;
        this.start(
          i,
          q,
          mem,
          head,
          parseBlkRequest(mem, chain.segments, this.device.geometry.capacitySectors),
        );
      });
    });
  }

  /** Starts a parsed request (or answers a bad one). */
  private start(i: number, q: Virtqueue, mem: GuestMemory, head: number, req: BlkRequest | BadRequest): void {
    if (req.kind === 'bad') {
      this.malformed(req.why);
      if (req.statusGpa === undefined) this.complete(i, q, mem, head, 0);
      else this.complete(i, q, mem, head, 1, req.statusGpa, BlkStatus.IOERR);
      return;
    }
    if (req.kind === 'read') this.stats.reads++;
    else if (req.kind === 'write') this.stats.writes++;
    else if (req.kind === 'flush') this.stats.flushes++;
    const usedLen = (req.kind === 'read' || req.kind === 'get-id' ? req.dataBytes : 0) + 1;
    this.io.submit(req, mem, (status) => {
      // The memory table may have changed while the request ran (a reset): then nobody waits.
      if (!this.live(i, q, mem)) return;
      this.complete(i, q, mem, head, status === BlkStatus.OK ? usedLen : 1, req.statusGpa, status);
    });
  }

  private live(i: number, q: Virtqueue, mem: GuestMemory): boolean {
    return this.device.mem === mem && this.device.rings[i]!.queue === q;
  }

  private malformed(why: string): void {
    this.stats.malformed++;
    this.stats.lastMalformed = why;
  }

  /** Writes the status (if any), returns the chain to the driver and interrupts it if it wants. */
  private complete(
    i: number,
    q: Virtqueue,
    mem: GuestMemory,
    head: number,
    len: number,
    statusGpa?: number,
    status?: number,
  ): void {
    const r = q.ringRanges();
    const ranges = [userRange(mem, r.used, true), userRange(mem, r.avail, false)];
    if (statusGpa !== undefined) ranges.push(gpaRange(mem, statusGpa, 1, true));
    this.gate.with(mem, ranges, () => {
      if (!this.live(i, q, mem)) return;
      if (statusGpa !== undefined) writeStatus(mem, statusGpa, status!);
      q.pushUsed(head, len);
      const ring = this.device.rings[i]!;
      if (ring.callFd >= 0 && q.wantsInterrupt()) eventfdSignal(ring.callFd, this.s, 60008);
    });
  }

  close(): void {
    if (this.conn >= 0) this.disconnect();
    this.loop.unwatch(this.listenFd);
    close(this.listenFd);
    this.listenFd = -1;
  }
}

export { VhostUserError };
