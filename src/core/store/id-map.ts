/**
 * A map from whole numbers (fault and I/O ids, page numbers) to values, for tables that fill and
 * empty all the time: the faults in flight, the I/O in flight, the waiters of a page. A JS Map
 * shrinks (reallocates its table, through the runtime) whenever a delete leaves it a quarter
 * full, so one that goes from one entry to none on every fault reallocated on every fault. This
 * one never shrinks: open addressing with linear probing over typed-array keys, tombstones for
 * deleted keys, rehashed (dropping them) when it grows or when tombstones pile up.
 */
const EMPTY = -1;
const DELETED = -2;

export class IdMapError extends Error {
  override name = 'IdMapError';
}

export class IdMap<V> {
  private keys: Float64Array;
  private vals: (V | undefined)[];
  private count = 0;
  private used = 0;
  private mask: number;
  /** 32 minus log2 of the table size: the hash's top bits pick the slot. */
  private shift: number;
  /** The live entries while a rehash moves them (reused: a busy map rehashes every few dozen sets). */
  private readonly liveKeys: number[] = [];
  private readonly liveVals: (V | undefined)[] = [];

  constructor(capacity = 32) {
    let cap = 64;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Float64Array(cap).fill(EMPTY);
    this.vals = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
  }

  get size(): number {
    return this.count;
  }

  get(key: number): V | undefined {
    const i = this.find(key);
    return i < 0 ? undefined : this.vals[i];
  }

  has(key: number): boolean {
    return this.find(key) >= 0;
  }

  set(key: number, value: V): this {
    if (!(Number.isInteger(key) && key >= 0))
      throw new IdMapError(`IdMap: keys must be non-negative whole numbers, got ${key}`);
    const keys = this.keys;
    let i = slotOf(key, this.shift);
    let tomb = -1;
    for (;;) {
      const k = keys[i]!;
      if (k === key) {
        this.vals[i] = value;
        return this;
      }
      if (k === EMPTY) break;
      if (k === DELETED && tomb < 0) tomb = i;
      i = (i + 1) & this.mask;
    }
    if (tomb >= 0) i = tomb;
    else this.used++;
    keys[i] = key;
    this.vals[i] = value;
    this.count++;
    if (this.used * 2 > keys.length)
      this.rehash(this.count * 4 > keys.length ? keys.length * 2 : keys.length);
    return this;
  }

  delete(key: number): boolean {
    const i = this.find(key);
    if (i < 0) return false;
    this.keys[i] = DELETED;
    this.vals[i] = undefined;
    this.count--;
    return true;
  }

  private find(key: number): number {
    const keys = this.keys;
    let i = slotOf(key, this.shift);
    for (;;) {
      const k = keys[i]!;
      if (k === key) return i;
      if (k === EMPTY) return -1;
      i = (i + 1) & this.mask;
    }
  }

  /**
   * Re-inserts the live entries into a table of `capacity` slots, dropping tombstones. At the same
   * size (the usual case: a few live entries among many deleted) the table is reused, not
   * reallocated.
   */
  private rehash(capacity: number): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const liveKeys = this.liveKeys;
    const liveVals = this.liveVals;
    let live = 0;
    for (let j = 0; j < oldKeys.length; j++) {
      if (oldKeys[j]! < 0) continue;
      liveKeys[live] = oldKeys[j]!;
      liveVals[live++] = oldVals[j];
    }
    if (capacity === oldKeys.length) {
      oldKeys.fill(EMPTY);
      oldVals.fill(undefined);
    } else {
      this.keys = new Float64Array(capacity).fill(EMPTY);
      this.vals = new Array<V | undefined>(capacity).fill(undefined);
      this.mask = capacity - 1;
      this.shift = 32 - Math.log2(capacity);
    }
    for (let j = 0; j < live; j++) {
      let i = slotOf(liveKeys[j]!, this.shift);
      while (this.keys[i] !== EMPTY) i = (i + 1) & this.mask;
      this.keys[i] = liveKeys[j]!;
      this.vals[i] = liveVals[j];
      // The scratch must not keep a value alive once the map has forgotten it.
      liveVals[j] = undefined;
    }
    this.used = this.count;
  }
}

/** Fibonacci hashing of the key's low 32 bits (top bits of the product): consecutive ids spread out. */
function slotOf(key: number, shift: number): number {
  return Math.imul(key >>> 0, 0x9e3779b1) >>> shift;
}
