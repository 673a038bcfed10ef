/**
 * The region QEMU's TCG intercept shares with the pager (patches/qemu-7.2-intercept.patch,
 * accel/tcg/tcg-intercept.c there): a header with one request mailbox and its reply, QEMU's
 * counters, and a bitmap with one bit per guest page, set by the pager for the pages whose loads
 * and stores it wants to see. Offsets and values here must match `TcgInterceptShm` in the patch.
 *
 * This file is pure (a byte view over the mapping): the same code runs over the real shared memfd
 * and over a plain buffer in tests, where the test plays QEMU.
 */
import { PAGE } from './sys.js';

export const INTERCEPT_MAGIC = 0x49435754; // "TWCI" little-endian
export const INTERCEPT_VERSION = 1;
export const INTERCEPT_OP_READ = 1;
export const INTERCEPT_OP_WRITE = 2;
/** The header takes one page; the bitmap starts on the next. */
export const INTERCEPT_BITMAP_OFFSET = PAGE;
/** The largest access QEMU hands over (io_readx/io_writex: MO_64). */
export const INTERCEPT_MAX_ACCESS = 8;

const OFF = {
  magic: 0,
  version: 4,
  pages: 8,
  bitmapOffset: 16,
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
} as const;

export class InterceptProtocolError extends Error {
  override name = 'InterceptProtocolError';
}

/** One load or store QEMU handed over. */
export interface InterceptRequest {
  seq: bigint;
  write: boolean;
  /** Byte offset in guest RAM (the memfd). */
  offset: number;
  sizeBytes: number;
  /** The bytes written (a write), in memory order; a read's reply goes through `reply`. */
  data: Uint8Array;
}

/** QEMU's own counts, kept in the header. */
export interface InterceptCounters {
  tlbFillsIntercepted: number;
  reads: number;
  writes: number;
  tlbFlushesOnRelease: number;
}

/** Bytes of the region for a guest of `pages` pages: the header page and the bitmap, whole pages. */
export function interceptRegionBytes(pages: number): number {
  const bitmap = Math.ceil(pages / 64) * 8;
  return INTERCEPT_BITMAP_OFFSET + Math.ceil(bitmap / PAGE) * PAGE;
}

export class InterceptRegion {
  private readonly dv: DataView;
  private readonly words: BigUint64Array;
  private answered = 0n;

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
    return { seq, write, offset, sizeBytes, data };
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

  counters(): InterceptCounters {
    const n = (o: number): number => Number(this.dv.getBigUint64(o, true));
    return {
      tlbFillsIntercepted: n(OFF.fills),
      reads: n(OFF.reads),
      writes: n(OFF.writes),
      tlbFlushesOnRelease: n(OFF.flushes),
    };
  }
}

/**
 * What QEMU's side does, for tests that play QEMU without it: posts one request (as
 * tcg_intercept_access does before signalling the eventfd).
 */
export function postRequestAsQemu(
  bytes: Uint8Array,
  write: boolean,
  offset: number,
  data: Uint8Array,
): bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const seq = dv.getBigUint64(OFF.reqSeq, true) + 1n;
  dv.setUint32(OFF.reqOp, write ? INTERCEPT_OP_WRITE : INTERCEPT_OP_READ, true);
  dv.setUint32(OFF.reqSize, data.length, true);
  dv.setBigUint64(OFF.reqOffset, BigInt(offset), true);
  if (write) bytes.set(data, OFF.reqData);
  dv.setBigUint64(OFF.reqSeq, seq, true);
  return seq;
}

/** QEMU's side: the reply to `seq` once posted, or undefined. */
export function takeReplyAsQemu(bytes: Uint8Array, seq: bigint, sizeBytes: number): Uint8Array | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (dv.getBigUint64(OFF.repSeq, true) !== seq) return undefined;
  return bytes.slice(OFF.repData, OFF.repData + sizeBytes);
}
