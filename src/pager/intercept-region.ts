/**
 * The region QEMU's TCG intercept shares with the pager (patches/qemu-7.2-intercept.patch,
 * accel/tcg/tcg-intercept.c there): a header with one request mailbox and its reply, QEMU's
 * counters, QEMU's write buffer (the stores it combined for one intercepted page: a page of bytes
 * and a page of byte mask, under a spinlock either side holds only to copy), and a bitmap with one
 * bit per guest page, set by the pager for the pages whose loads and stores it wants to see.
 * Offsets and values here must match `TcgInterceptShm` in the patch.
 *
 * This file is pure (a byte view over the mapping): the same code runs over the real shared memfd
 * and over a plain buffer in tests, where the test plays QEMU.
 */
import { PAGE } from './sys.js';

export const INTERCEPT_MAGIC = 0x49435754; // "TWCI" little-endian
export const INTERCEPT_VERSION = 2;
export const INTERCEPT_OP_READ = 1;
export const INTERCEPT_OP_WRITE = 2;
/** QEMU hands over its write buffer (no data). */
export const INTERCEPT_OP_FLUSH = 3;
/** The header takes one page; the write buffer's bytes the next, its mask the one after. */
export const INTERCEPT_BUFFER_OFFSET = PAGE;
/** The bitmap starts after the write buffer. */
export const INTERCEPT_BITMAP_OFFSET = 3 * PAGE;
/** `buf_page` of an empty write buffer. */
const BUFFER_EMPTY = 0xffff_ffff_ffff_ffffn;
/** The largest access QEMU hands over (io_readx/io_writex: MO_64). */
export const INTERCEPT_MAX_ACCESS = 8;

const OFF = {
  magic: 0,
  version: 4,
  pages: 8,
  bitmapOffset: 16,
  bufOffset: 24,
  reqSeq: 32,
  reqOp: 40,
  reqSize: 44,
  reqOffset: 48,
  reqData: 56,
  repSeq: 64,
  repData: 72,
  fills: 80,
  reads: 88,
  writes: 96,
  flushes: 104,
  bufLock: 112,
  bufBytes: 116,
  bufPage: 120,
  combined: 128,
  loadsBuffered: 136,
  handedFull: 144,
  handedOther: 152,
  handedLoad: 160,
  handedDevice: 168,
} as const;

export class InterceptProtocolError extends Error {
  override name = 'InterceptProtocolError';
}

/** One load or store QEMU handed over, or its write buffer (`flush`: no access of its own). */
export interface InterceptRequest {
  seq: bigint;
  write: boolean;
  flush: boolean;
  /** Byte offset in guest RAM (the memfd). */
  offset: number;
  sizeBytes: number;
  /** The bytes written (a write), in memory order; a read's reply goes through `reply`. */
  data: Uint8Array;
}

/** QEMU's own counts, kept in the header. */
export interface InterceptCounters {
  tlbFillsIntercepted: number;
  /** Loads and stores handed over one by one. */
  reads: number;
  writes: number;
  tlbFlushesOnRelease: number;
  /** Stores QEMU buffered, and loads it answered from its buffer, without a request. */
  combinedStores: number;
  loadsFromBuffer: number;
  /** Why QEMU handed its buffer over: page written whole, a store elsewhere, a load, a device. */
  handedFull: number;
  handedOther: number;
  handedLoad: number;
  handedDevice: number;
}

/** The write buffer's content as the pager takes it over (views, valid during the callback only). */
export interface TakenBuffer {
  page: number;
  data: Uint8Array;
  /** One byte per byte of the page: 1 where the guest wrote. */
  mask: Uint8Array;
  /** How many mask bytes are set. */
  bytesWritten: number;
}

/** Bytes of the region for a guest of `pages` pages: header, write buffer, bitmap, whole pages. */
export function interceptRegionBytes(pages: number): number {
  const bitmap = Math.ceil(pages / 64) * 8;
  return INTERCEPT_BITMAP_OFFSET + Math.ceil(bitmap / PAGE) * PAGE;
}

export class InterceptRegion {
  private readonly dv: DataView;
  private readonly words: BigUint64Array;
  private readonly i32: Int32Array;
  private answered = 0n;
  /** Times the pager found the buffer's lock held by QEMU (it spins, then sleeps briefly). */
  lockContended = 0;

  /** Over `bytes` (the mapping), for a guest of `pages` pages; `init` writes the header (the pager's job). */
  constructor(
    readonly bytes: Uint8Array,
    readonly pages: number,
    init: boolean,
  ) {
    if (bytes.byteOffset % 8 !== 0) throw new InterceptProtocolError('the region must be 8-byte aligned');
    if (bytes.length < interceptRegionBytes(pages))
      throw new InterceptProtocolError(
        `the region has ${bytes.length} bytes, a guest of ${pages} pages needs ${interceptRegionBytes(pages)}`,
      );
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.i32 = new Int32Array(bytes.buffer, bytes.byteOffset, PAGE / 4);
    this.words = new BigUint64Array(
      bytes.buffer,
      bytes.byteOffset + INTERCEPT_BITMAP_OFFSET,
      Math.ceil(pages / 64),
    );
    if (init) {
      this.dv.setUint32(OFF.magic, INTERCEPT_MAGIC, true);
      this.dv.setUint32(OFF.version, INTERCEPT_VERSION, true);
      this.dv.setBigUint64(OFF.pages, BigInt(pages), true);
      this.dv.setBigUint64(OFF.bitmapOffset, BigInt(INTERCEPT_BITMAP_OFFSET), true);
      this.dv.setBigUint64(OFF.bufOffset, BigInt(INTERCEPT_BUFFER_OFFSET), true);
      this.dv.setBigUint64(OFF.bufPage, BUFFER_EMPTY, true);
    } else if (this.dv.getUint32(OFF.magic, true) !== INTERCEPT_MAGIC) {
      throw new InterceptProtocolError('the region has no intercept header');
    }
    this.answered = this.dv.getBigUint64(OFF.repSeq, true);
  }

  private checkPage(page: number): void {
    if (!Number.isInteger(page) || page < 0 || page >= this.pages)
      throw new InterceptProtocolError(`page ${page} is outside the guest (${this.pages} pages)`);
  }

  /** QEMU fills this page's TLB entries as I/O from now on (entries filled before reach RAM). */
  mark(page: number): void {
    this.checkPage(page);
    this.words[page >>> 6]! |= 1n << BigInt(page & 63);
  }

  /** The page's accesses reach RAM again (QEMU flushes an I/O entry after its next access). */
  unmark(page: number): void {
    this.checkPage(page);
    this.words[page >>> 6]! &= ~(1n << BigInt(page & 63));
  }

  isMarked(page: number): boolean {
    this.checkPage(page);
    return ((this.words[page >>> 6]! >> BigInt(page & 63)) & 1n) === 1n;
  }

  /**
   * The request QEMU posted and nobody answered yet, or undefined. QEMU writes the request, then
   * its sequence number, then signals the eventfd; it posts one at a time and waits for the reply.
   */
  pending(): InterceptRequest | undefined {
    const seq = this.dv.getBigUint64(OFF.reqSeq, true);
    if (seq === this.answered) return undefined;
    if (seq !== this.answered + 1n)
      throw new InterceptProtocolError(`request ${seq} after reply ${this.answered}: the mailbox is corrupt`);
    const op = this.dv.getUint32(OFF.reqOp, true);
    const sizeBytes = this.dv.getUint32(OFF.reqSize, true);
    const offset = Number(this.dv.getBigUint64(OFF.reqOffset, true));
    if (op === INTERCEPT_OP_FLUSH)
      return { seq, write: false, flush: true, offset: 0, sizeBytes: 0, data: new Uint8Array(0) };
    if (op !== INTERCEPT_OP_READ && op !== INTERCEPT_OP_WRITE)
      throw new InterceptProtocolError(`request ${seq} has operation ${op}`);
    if (![1, 2, 4, 8].includes(sizeBytes) || offset % sizeBytes !== 0)
      throw new InterceptProtocolError(
        `request ${seq}: ${sizeBytes} bytes at ${offset} is not a natural access`,
      );
    if (offset + sizeBytes > this.pages * PAGE)
      throw new InterceptProtocolError(`request ${seq}: offset ${offset} is outside guest RAM`);
    const write = op === INTERCEPT_OP_WRITE;
    const data = this.bytes.slice(OFF.reqData, OFF.reqData + sizeBytes);
    return { seq, write, flush: false, offset, sizeBytes, data };
  }

  /** Answers request `seq` (the bytes read, for a read). QEMU is signalled by the caller. */
  reply(seq: bigint, read?: Uint8Array): void {
    if (seq !== this.answered + 1n)
      throw new InterceptProtocolError(`reply to ${seq}, but the next request is ${this.answered + 1n}`);
    if (read) this.bytes.set(read.subarray(0, INTERCEPT_MAX_ACCESS), OFF.repData);
    // The data before the sequence number: QEMU reads the data once it sees the number (x86 keeps
    // stores in program order; QEMU's smp_rmb orders its side).
    this.dv.setBigUint64(OFF.repSeq, seq, true);
    this.answered = seq;
  }

  /**
   * Takes QEMU's write buffer over if it holds bytes (of `onlyPage`, when given): `take` sees them,
   * then the buffer is empty. Under the buffer's lock, which QEMU holds only while it copies bytes
   * in or out. To take a page's bytes for good, unmark the page first: QEMU tests the bit under the
   * same lock, so it buffers nothing more for it. Returns the page taken, or undefined.
   */
  takeBuffer(onlyPage: number | undefined, take: (b: TakenBuffer) => void): number | undefined {
    const dv = this.dv;
    if (dv.getBigUint64(OFF.bufPage, true) === BUFFER_EMPTY) return undefined; // QEMU fills it under its lock only
    this.lock();
    try {
      const held = dv.getBigUint64(OFF.bufPage, true);
      if (held === BUFFER_EMPTY || (onlyPage !== undefined && held !== BigInt(onlyPage))) return undefined;
      const page = Number(held);
      if (page >= this.pages)
        throw new InterceptProtocolError(`QEMU's write buffer holds page ${page}, outside the guest`);
      const data = this.bytes.subarray(INTERCEPT_BUFFER_OFFSET, INTERCEPT_BUFFER_OFFSET + PAGE);
      const mask = this.bytes.subarray(INTERCEPT_BUFFER_OFFSET + PAGE, INTERCEPT_BUFFER_OFFSET + 2 * PAGE);
      take({ page, data, mask, bytesWritten: dv.getUint32(OFF.bufBytes, true) });
      mask.fill(0);
      dv.setUint32(OFF.bufBytes, 0, true);
      dv.setBigUint64(OFF.bufPage, BUFFER_EMPTY, true);
      return page;
    } finally {
      Atomics.store(this.i32, OFF.bufLock / 4, 0);
    }
  }

  private lock(): void {
    for (let spins = 0; Atomics.compareExchange(this.i32, OFF.bufLock / 4, 0, 1) !== 0; spins++) {
      if (spins === 0) this.lockContended++;
      // QEMU holds it for a copy of at most 8 bytes; if it stays held, QEMU's thread was preempted.
      if (spins > 100) Atomics.wait(NAP, 0, 0, 0.02);
    }
  }

  counters(): InterceptCounters {
    const n = (o: number): number => Number(this.dv.getBigUint64(o, true));
    return {
      tlbFillsIntercepted: n(OFF.fills),
      reads: n(OFF.reads),
      writes: n(OFF.writes),
      tlbFlushesOnRelease: n(OFF.flushes),
      combinedStores: n(OFF.combined),
      loadsFromBuffer: n(OFF.loadsBuffered),
      handedFull: n(OFF.handedFull),
      handedOther: n(OFF.handedOther),
      handedLoad: n(OFF.handedLoad),
      handedDevice: n(OFF.handedDevice),
    };
  }
}

/** A word nobody signals: Atomics.wait on it is a short sleep. */
const NAP = new Int32Array(new SharedArrayBuffer(4));

/**
 * What QEMU's side does, for tests that play QEMU without it: posts one request (as
 * tcg_intercept_access does before signalling the eventfd).
 */
export function postRequestAsQemu(
  bytes: Uint8Array,
  write: boolean | 'flush',
  offset: number,
  data: Uint8Array,
): bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const seq = dv.getBigUint64(OFF.reqSeq, true) + 1n;
  const op = write === 'flush' ? INTERCEPT_OP_FLUSH : write ? INTERCEPT_OP_WRITE : INTERCEPT_OP_READ;
  dv.setUint32(OFF.reqOp, op, true);
  dv.setUint32(OFF.reqSize, data.length, true);
  dv.setBigUint64(OFF.reqOffset, BigInt(offset), true);
  if (write === true) bytes.set(data, OFF.reqData);
  dv.setBigUint64(OFF.reqSeq, seq, true);
  return seq;
}

/** QEMU's side: the reply to `seq` once posted, or undefined. */
export function takeReplyAsQemu(bytes: Uint8Array, seq: bigint, sizeBytes: number): Uint8Array | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (dv.getBigUint64(OFF.repSeq, true) !== seq) return undefined;
  return bytes.slice(OFF.repData, OFF.repData + sizeBytes);
}

/**
 * QEMU's side of the intercept (tcg_intercept_access and tcg_intercept_device_access in the patch),
 * for tests that play QEMU: the same decisions over the same bytes, step by step. `roundTrip` posts
 * a request (postRequestAsQemu) and returns once the pager has answered it; `ram` makes an access
 * on guest RAM (a page the pager released: a fault if it must act first).
 */
export class QemuInterceptModel {
  private readonly dv: DataView;
  private readonly i32: Int32Array;
  private readonly words: BigUint64Array;
  private readonly pages: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly roundTrip: (write: boolean | 'flush', offset: number, data: Uint8Array) => Uint8Array,
    private readonly ram: (write: boolean, offset: number, data: Uint8Array) => void,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.i32 = new Int32Array(bytes.buffer, bytes.byteOffset, PAGE / 4);
    this.pages = Number(this.dv.getBigUint64(OFF.pages, true));
    this.words = new BigUint64Array(
      bytes.buffer,
      bytes.byteOffset + INTERCEPT_BITMAP_OFFSET,
      Math.ceil(this.pages / 64),
    );
  }

  private bit(page: number): boolean {
    return ((this.words[page >>> 6]! >> BigInt(page & 63)) & 1n) === 1n;
  }

  private count(o: number): void {
    this.dv.setBigUint64(o, this.dv.getBigUint64(o, true) + 1n, true);
  }

  private handOver(why: number): void {
    if (this.dv.getBigUint64(OFF.bufPage, true) === BUFFER_EMPTY) return;
    this.count(why);
    this.roundTrip('flush', 0, new Uint8Array(0));
  }

  /** tcg_intercept_combine: buffered (or answered) here, or what to do instead. */
  private combine(
    write: boolean,
    offset: number,
    data: Uint8Array,
  ): 'done' | 'full' | 'other' | 'post' | 'released' {
    const page = Math.floor(offset / PAGE);
    const at = offset % PAGE;
    const dv = this.dv;
    if (Atomics.compareExchange(this.i32, OFF.bufLock / 4, 0, 1) !== 0)
      throw new InterceptProtocolError(
        'the write buffer is locked while QEMU accesses it (the pager left it held)',
      );
    try {
      const held = dv.getBigUint64(OFF.bufPage, true);
      if (!this.bit(page)) return 'released';
      if (held !== BigInt(page) && held !== BUFFER_EMPTY) return write ? 'other' : 'post';
      const buf = this.bytes.subarray(INTERCEPT_BUFFER_OFFSET, INTERCEPT_BUFFER_OFFSET + PAGE);
      const mask = this.bytes.subarray(INTERCEPT_BUFFER_OFFSET + PAGE, INTERCEPT_BUFFER_OFFSET + 2 * PAGE);
      if (write) {
        dv.setBigUint64(OFF.bufPage, BigInt(page), true);
        buf.set(data, at);
        let n = dv.getUint32(OFF.bufBytes, true);
        for (let i = at; i < at + data.length; i++)
          if (!mask[i]) {
            mask[i] = 1;
            n++;
          }
        dv.setUint32(OFF.bufBytes, n, true);
        this.count(OFF.combined);
        return n === PAGE ? 'full' : 'done';
      }
      if (held === BUFFER_EMPTY) return 'post';
      for (let i = at; i < at + data.length; i++)
        if (!mask[i]) {
          this.count(OFF.handedLoad);
          return 'post';
        }
      data.set(buf.subarray(at, at + data.length));
      this.count(OFF.loadsBuffered);
      return 'done';
    } finally {
      Atomics.store(this.i32, OFF.bufLock / 4, 0);
    }
  }

  /** Whether a store to `offset` runs notdirty_write (QEMU's buffer does not hold its page yet). */
  needsNotdirty(offset: number): boolean {
    return this.dv.getBigUint64(OFF.bufPage, true) !== BigInt(Math.floor(offset / PAGE));
  }

  /** A load (into `data`) or store (of `data`) through an intercepted TLB entry. */
  access(write: boolean, offset: number, data: Uint8Array): void {
    let r = this.combine(write, offset, data);
    while (r === 'other') {
      this.handOver(OFF.handedOther);
      r = this.combine(write, offset, data);
    }
    if (r === 'full') this.handOver(OFF.handedFull);
    if (r === 'released') {
      this.ram(write, offset, data);
      this.count(OFF.flushes);
    }
    if (r !== 'post') return;
    this.count(write ? OFF.writes : OFF.reads);
    const got = this.roundTrip(write, offset, data);
    if (!write) data.set(got.subarray(0, data.length));
  }

  /** Any other I/O access (a device register): the buffer goes to the pager first. */
  device(): void {
    this.handOver(OFF.handedDevice);
  }
}
