import type { GuestMemory } from './guest-memory.js';

/** Descriptor flags (virtio 1.x, split virtqueues). */
export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;
const VRING_AVAIL_F_NO_INTERRUPT = 1;
const DESC_BYTES = 16;

/**
 * The longest chain we accept, counting indirect entries: Linux's virtio-blk uses seg_max + 2
 * descriptors per request (we advertise seg_max = queue size - 2), so anything longer is malformed.
 */
export const MAX_CHAIN = 1024;
/** Largest total length of one chain's buffers; a request beyond it is malformed. */
export const MAX_CHAIN_BYTES = 64 * 1024 * 1024;

/** One buffer of a descriptor chain, in guest-physical addresses. */
export interface Segment {
  gpa: number;
  len: number;
  /** Device-writable (the device fills it: read data, status). */
  write: boolean;
}

/** A chain read from the ring, or why it is malformed. */
export type Chain =
  { ok: true; head: number; segments: Segment[] } | { ok: false; head: number; why: string };

/** A range of QEMU's address space. */
export interface UserRange {
  va: number;
  len: number;
}

/** Where a split virtqueue's three parts are, in QEMU's address space. */
export interface VringAddrs {
  descUser: number;
  availUser: number;
  usedUser: number;
}

export class VirtqueueError extends Error {
  override name = 'VirtqueueError';
}

/**
 * A split virtqueue of the device's side: reads chains the driver made available, validates them
 * against guest RAM (every buffer inside one RAM region, bounded chains, no loops, no readable
 * buffer after a writable one, indirect tables well-formed and not nested), and returns used
 * buffers. A malformed chain is reported as such and used with length 0 by the caller; nothing the
 * guest writes can make this code throw or touch memory outside guest RAM.
 */
export class Virtqueue {
  lastAvailIdx = 0;
  private descR = -1;
  private descOff = 0;
  private availR = -1;
  private availOff = 0;
  private usedR = -1;
  private usedOff = 0;
  /** The two ring indices, accessed with Atomics: their loads and stores order the ring's others. */
  private readonly availIdxCell: Uint16Array;
  private readonly usedIdxCell: Uint16Array;

  constructor(
    private readonly mem: GuestMemory,
    readonly size: number,
    addrs: VringAddrs,
    readonly indirect: boolean,
  ) {
    if (!Number.isInteger(size) || size < 1 || size > 32768 || (size & (size - 1)) !== 0)
      throw new VirtqueueError(`queue size ${size} is not a power of two within 1..32768`);
    const descLen = DESC_BYTES * size;
    const availLen = 6 + 2 * size;
    const usedLen = 6 + 8 * size;
    this.descR = mem.regionOfUserAddr(addrs.descUser, descLen);
    this.availR = mem.regionOfUserAddr(addrs.availUser, availLen);
    this.usedR = mem.regionOfUserAddr(addrs.usedUser, usedLen);
    if (this.descR < 0 || this.availR < 0 || this.usedR < 0)
      throw new VirtqueueError(
        `vring addresses (desc 0x${addrs.descUser.toString(16)}, avail 0x${addrs.availUser.toString(16)}, used 0x${addrs.usedUser.toString(16)}) are not inside guest RAM`,
      );
    if (addrs.descUser % 16 !== 0 || addrs.availUser % 2 !== 0 || addrs.usedUser % 4 !== 0)
      throw new VirtqueueError('vring addresses are misaligned');
    this.descOff = addrs.descUser - mem.regions[this.descR]!.userAddr;
    this.availOff = addrs.availUser - mem.regions[this.availR]!.userAddr;
    this.usedOff = addrs.usedUser - mem.regions[this.usedR]!.userAddr;
    const cell = (r: number, off: number): Uint16Array => {
      const b = mem.regions[r]!.bytes;
      return new Uint16Array(b.buffer, b.byteOffset + off, 1);
    };
    this.availIdxCell = cell(this.availR, this.availOff + 2);
    this.usedIdxCell = cell(this.usedR, this.usedOff + 2);
  }

  /** The driver's avail index (read with acquire semantics: ring entries after it are visible). */
  availIdx(): number {
    return Atomics.load(this.availIdxCell, 0);
  }

  /** Whether the driver has made buffers available that we have not taken yet. */
  hasAvail(): boolean {
    return this.availIdx() !== this.lastAvailIdx;
  }

  /** Takes the next available chain (validated), or undefined when none is pending. */
  pop(): Chain | undefined {
    const head = this.popHead();
    return head === undefined ? undefined : this.readChain(head);
  }

  /**
   * Takes the head of the next available chain (reading only the avail ring), or undefined. Throws
   * a VirtqueueError when the avail index is impossible (the whole ring is then untrustworthy).
   */
  popHead(): number | undefined {
    const idx = this.availIdx();
    if (idx === this.lastAvailIdx) return undefined;
    // The driver can never be more than a ring ahead of us.
    if (((idx - this.lastAvailIdx) & 0xffff) > this.size)
      throw new VirtqueueError(`avail index ${idx} is more than ${this.size} ahead of ${this.lastAvailIdx}`);
    const slot = this.lastAvailIdx % this.size;
    const head = this.mem.view(this.availR).getUint16(this.availOff + 4 + 2 * slot, true);
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
    return head;
  }

  /** The three parts of the ring as QEMU-virtual ranges (a pager makes them present before use). */
  ringRanges(): { desc: UserRange; avail: UserRange; used: UserRange } {
    const r = (i: number, off: number, len: number): UserRange => ({
      va: this.mem.regions[i]!.userAddr + off,
      len,
    });
    return {
      desc: r(this.descR, this.descOff, DESC_BYTES * this.size),
      avail: r(this.availR, this.availOff, 6 + 2 * this.size),
      used: r(this.usedR, this.usedOff, 6 + 8 * this.size),
    };
  }

  /**
   * The indirect table chain `head` refers to, if any, read from the descriptor table alone (so that
   * a pager can make the table present before readChain reads it). Undefined when there is none, or
   * the chain is malformed before reaching it (readChain then says why).
   */
  indirectTableOf(head: number): { gpa: number; len: number } | undefined {
    if (head >= this.size || !this.indirect) return undefined;
    const dv = this.mem.view(this.descR);
    let i = head;
    for (let steps = 0; steps < Math.min(this.size, MAX_CHAIN); steps++) {
      const at = this.descOff + DESC_BYTES * i;
      const flags = dv.getUint16(at + 12, true);
      if (flags & VRING_DESC_F_INDIRECT) {
        const gpa = Number(dv.getBigUint64(at, true));
        const len = dv.getUint32(at + 8, true);
        return this.mem.regionOfGpa(gpa, len) >= 0 && len > 0 ? { gpa, len } : undefined;
      }
      if (!(flags & VRING_DESC_F_NEXT)) return undefined;
      i = dv.getUint16(at + 14, true);
      if (i >= this.size) return undefined;
    }
    return undefined;
  }

  /** Reads and validates the chain starting at descriptor `head`. */
  readChain(head: number): Chain {
    const fail = (why: string): Chain => ({ ok: false, head, why });
    if (head >= this.size) return fail(`head descriptor ${head} is outside the ring of ${this.size}`);
    const segments: Segment[] = [];
    const dv = this.mem.view(this.descR);
    let total = 0;
    let seenWrite = false;
    let i = head;
    let steps = 0;
    for (;;) {
      if (++steps > Math.min(this.size, MAX_CHAIN)) return fail(`chain longer than ${this.size} (a loop?)`);
      const at = this.descOff + DESC_BYTES * i;
      const addr = Number(dv.getBigUint64(at, true));
      const len = dv.getUint32(at + 8, true);
      const flags = dv.getUint16(at + 12, true);
      const next = dv.getUint16(at + 14, true);
      if (flags & VRING_DESC_F_INDIRECT) {
        if (!this.indirect) return fail('indirect descriptor without the feature');
        if (flags & VRING_DESC_F_NEXT) return fail('indirect descriptor with NEXT set');
        if (segments.length > 0) return fail('indirect descriptor after direct ones');
        const r = this.readIndirect(addr, len, segments);
        if (r) return fail(r);
        return this.finish(head, segments);
      }
      const r = this.addSegment(addr, len, flags, segments, seenWrite, total);
      if (typeof r === 'string') return fail(r);
      total = r;
      seenWrite ||= (flags & VRING_DESC_F_WRITE) !== 0;
      if (!(flags & VRING_DESC_F_NEXT)) break;
      if (next >= this.size) return fail(`next descriptor ${next} is outside the ring`);
      i = next;
    }
    return this.finish(head, segments);
  }

  private finish(head: number, segments: Segment[]): Chain {
    if (segments.length === 0) return { ok: false, head, why: 'empty chain' };
    return { ok: true, head, segments };
  }

  /** Checks one buffer and appends it; returns the new total length or why it is malformed. */
  private addSegment(
    addr: number,
    len: number,
    flags: number,
    segments: Segment[],
    seenWrite: boolean,
    total: number,
  ): number | string {
    const write = (flags & VRING_DESC_F_WRITE) !== 0;
    if (seenWrite && !write) return 'device-readable buffer after a device-writable one';
    if (!Number.isSafeInteger(addr)) return `buffer address 0x${addr.toString(16)} is out of range`;
    if (this.mem.regionOfGpa(addr, len) < 0)
      return `buffer 0x${addr.toString(16)}+${len} is not inside guest RAM`;
    total += len;
    if (total > MAX_CHAIN_BYTES) return `chain longer than ${MAX_CHAIN_BYTES} bytes`;
    if (len > 0) segments.push({ gpa: addr, len, write });
    return total;
  }

  /** Reads an indirect table at guest-physical `addr` of `len` bytes into `segments`. */
  private readIndirect(addr: number, len: number, segments: Segment[]): string | undefined {
    if (len === 0 || len % DESC_BYTES !== 0) return `indirect table length ${len} is not a multiple of 16`;
    const n = len / DESC_BYTES;
    if (n > MAX_CHAIN) return `indirect table of ${n} entries (at most ${MAX_CHAIN})`;
    if (!Number.isSafeInteger(addr)) return 'indirect table address out of range';
    const ri = this.mem.regionOfGpa(addr, len);
    if (ri < 0) return `indirect table 0x${addr.toString(16)}+${len} is not inside guest RAM`;
    const dv = this.mem.view(ri);
    const base = addr - this.mem.regions[ri]!.gpa;
    let total = 0;
    let seenWrite = false;
    let i = 0;
    for (let steps = 0; ;) {
      if (++steps > n) return 'indirect chain loops';
      const at = base + DESC_BYTES * i;
      const a = Number(dv.getBigUint64(at, true));
      const l = dv.getUint32(at + 8, true);
      const flags = dv.getUint16(at + 12, true);
      const next = dv.getUint16(at + 14, true);
      if (flags & VRING_DESC_F_INDIRECT) return 'nested indirect descriptor';
      const r = this.addSegment(a, l, flags, segments, seenWrite, total);
      if (typeof r === 'string') return r;
      total = r;
      seenWrite ||= (flags & VRING_DESC_F_WRITE) !== 0;
      if (!(flags & VRING_DESC_F_NEXT)) return undefined;
      if (next >= n) return `indirect next ${next} is outside the table of ${n}`;
      i = next;
    }
  }

  /** Returns chain `head` to the driver with `len` bytes written into its buffers. */
  pushUsed(head: number, len: number): void {
    const dv = this.mem.view(this.usedR);
    const idx = Atomics.load(this.usedIdxCell, 0);
    const at = this.usedOff + 4 + 8 * (idx % this.size);
    dv.setUint32(at, head, true);
    dv.setUint32(at + 4, len, true);
    // The element must be visible before the index that publishes it: x86 keeps stores in order,
    // and an atomic store keeps the JIT from moving the element's stores after it.
    Atomics.store(this.usedIdxCell, 0, (idx + 1) & 0xffff);
  }

  /** Whether the driver asked not to be interrupted (VRING_AVAIL_F_NO_INTERRUPT). */
  wantsInterrupt(): boolean {
    return (this.mem.view(this.availR).getUint16(this.availOff, true) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** The used ring's index (tests). */
  usedIdx(): number {
    return Atomics.load(this.usedIdxCell, 0);
  }
}
