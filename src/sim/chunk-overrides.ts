import { CHUNKS_PER_PAGE } from '../core/index.js';

/** Content of a frame that holds nothing (freed, or never filled): reading it is always a violation. */
export const POISON = 0xffffffff;
/** Base of a page rebuilt from the Preventer's buffer alone: every chunk must be overridden. */
export const NO_BASE = 0xfffffffe;

// The masks below hold one bit per chunk in two 32-bit words.
if (CHUNKS_PER_PAGE !== 64) throw new Error('chunk-overrides: written for 64 chunks a page');

/** An empty array whose elements V8 keeps as unboxed doubles: contents are versions, NaN or base * 64 + chunk (beyond 31 bits), all stored alike. */
const EMPTY_DOUBLES: number[] = [0.5];
EMPTY_DOUBLES.pop();

/** Chunks below c in a 32-bit mask (c in 0..31): its rank among them. */
const bitsBelow = (mask: number, c: number): number =>
  popcount(c === 0 ? 0 : mask & (0xffffffff >>> (32 - c)));

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/**
 * The chunks of one page written apart from its base version, and their contents: a bit per chunk,
 * and the contents of the chunks whose bit is set packed in chunk order (a guest's kernel page has
 * about ten of its 64 chunks overridden in a Fig. 14 run). As Maps, the guest's check of every
 * kernel page it reads against its reference went through two hash tables spread over several
 * cache lines each; here a page's overrides are two small objects, compared in one ordered pass.
 */
export class Overrides {
  /** Bit c of `lo` (c < 32) or bit c - 32 of `hi`: chunk c is overridden. Read by sameContent. */
  lo = 0;
  hi = 0;
  /** The overridden chunks' contents, in chunk order. Read by sameContent. */
  readonly vals: number[];

  constructor(from?: Overrides) {
    if (from) {
      this.lo = from.lo;
      this.hi = from.hi;
      this.vals = from.vals.slice();
    } else {
      this.vals = EMPTY_DOUBLES.slice();
    }
  }

  /** Overrides with the given (chunk, content) pairs, later pairs winning. */
  static of(entries: Iterable<readonly [number, number]>): Overrides {
    const o = new Overrides();
    for (const [c, v] of entries) o.set(c, v);
    return o;
  }

  /** Number of chunks overridden. */
  get size(): number {
    return this.vals.length;
  }

  has(c: number): boolean {
    return c < 32 ? ((this.lo >>> c) & 1) !== 0 : ((this.hi >>> (c - 32)) & 1) !== 0;
  }

  /** Where chunk c's content is (or would go) in `vals`. */
  private rank(c: number): number {
    return c < 32 ? bitsBelow(this.lo, c) : popcount(this.lo) + bitsBelow(this.hi, c - 32);
  }

  get(c: number): number | undefined {
    return this.has(c) ? this.vals[this.rank(c)] : undefined;
  }

  set(c: number, v: number): void {
    if (!(Number.isInteger(c) && c >= 0 && c < CHUNKS_PER_PAGE))
      throw new RangeError(`chunk overrides: ${c} is not a chunk of a page`);
    const r = this.rank(c);
    if (this.has(c)) {
      this.vals[r] = v;
      return;
    }
    this.vals.splice(r, 0, v);
    if (c < 32) this.lo |= 1 << c;
    else this.hi |= 1 << (c - 32);
  }

  /** Every chunk `top` overrides takes its content from it (the Preventer's buffer over a page). */
  overlay(top: Overrides): void {
    for (const [c, v] of top.entries()) this.set(c, v);
  }

  /** (chunk, content) pairs in chunk order. */
  *entries(): IterableIterator<[number, number]> {
    let r = 0;
    for (let c = 0; c < CHUNKS_PER_PAGE; c++) if (this.has(c)) yield [c, this.vals[r++]!];
  }
}

/** A chunk's content derived from its page's base version (NaN where the base holds nothing). */
const baseChunk = (base: number, c: number): number =>
  base === POISON || base === NO_BASE ? Number.NaN : base * CHUNKS_PER_PAGE + c;

/** Whether two base versions are the same content (a base that holds nothing equals nothing). */
const sameBase = (a: number, b: number): boolean => a === b && a !== POISON && a !== NO_BASE;

/** One chunk's content: its override, or derived from the base version. NaN where undefined. */
export function chunkValue(base: number, over: Overrides | undefined, c: number): number {
  const v = over?.get(c);
  return v !== undefined ? v : baseChunk(base, c);
}

/** Whether two contents are byte for byte the same (chunk by chunk when overrides exist). */
export function sameContent(
  aBase: number,
  aOver: Overrides | undefined,
  bBase: number,
  bOver: Overrides | undefined,
): boolean {
  if (!aOver && !bOver) return sameBase(aBase, bBase);
  const aLo = aOver ? aOver.lo : 0;
  const aHi = aOver ? aOver.hi : 0;
  const bLo = bOver ? bOver.lo : 0;
  const bHi = bOver ? bOver.hi : 0;
  // Every chunk neither side overrides derives from the bases: they all match exactly when the
  // bases are equal and hold content. Only when every chunk is overridden do the bases not matter.
  if (((aLo | bLo) & (aHi | bHi)) !== -1 && !sameBase(aBase, bBase)) return false;
  const aVals = aOver ? aOver.vals : EMPTY_DOUBLES;
  const bVals = bOver ? bOver.vals : EMPTY_DOUBLES;
  // One pass over the chunks either side overrides, in chunk order: each side's next content is
  // the next of its packed list.
  let ra = 0;
  let rb = 0;
  for (let half = 0; half < 2; half++) {
    const aBits = half === 0 ? aLo : aHi;
    const bBits = half === 0 ? bLo : bHi;
    let m = aBits | bBits;
    while (m !== 0) {
      const i = 31 - Math.clz32(m & -m);
      m &= m - 1;
      const c = half * 32 + i;
      const x = (aBits >>> i) & 1 ? aVals[ra++]! : baseChunk(aBase, c);
      const y = (bBits >>> i) & 1 ? bVals[rb++]! : baseChunk(bBase, c);
      // NaN (a chunk with no content) equals nothing, itself included.
      if (x !== y) return false;
    }
  }
  return true;
}
