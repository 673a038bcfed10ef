/**
 * A map from whole numbers (fault and I/O ids, page numbers) to values, for tables that fill and
 * empty all the time: the faults in flight, the I/O in flight, the waiters of a page. A JS Map
 * shrinks (reallocates its table, through the runtime) whenever a delete leaves it a quarter
 * full, so one that goes from one entry to none on every fault reallocated on every fault. This
 * one never shrinks: open addressing with linear probing over typed-array keys, and a delete
 * shifts the entries after it back into the hole (Knuth's Algorithm R, TAOCP 6.4), so no
 * tombstones pile up and a map whose keys only ever grow (fault and I/O ids) never rehashes: it
 * rehashes only to grow.
 */
const EMPTY = -1;

export class IdMapError extends Error {
  override name = 'IdMapError';
}

export class IdMap<V> {
  private keys: Float64Array;
  private vals: (V | undefined)[];
  private count = 0;
  private mask: number;
  /** 32 minus log2 of the table size: the hash's top bits pick the slot. */
  private shift: number;

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
    for (;;) {
      const k = keys[i]!;
      if (k === key) {
        this.vals[i] = value;
        return this;
      }
      if (k === EMPTY) break;
      i = (i + 1) & this.mask;
    }
    keys[i] = key;
    this.vals[i] = value;
    this.count++;
    if (this.count * 2 > keys.length) this.rehash(keys.length * 2);
    return this;
  }

  delete(key: number): boolean {
    const i = this.find(key);
    if (i < 0) return false;
    this.removeAt(i);
    return true;
  }

  /** get() and delete() in one lookup: the key's value, which is removed, or undefined. */
  take(key: number): V | undefined {
    const i = this.find(key);
    if (i < 0) return undefined;
    const v = this.vals[i];
    this.removeAt(i);
    return v;
  }

  /** Empties slot `i` (which holds an entry). */
  private removeAt(i: number): void {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    // Every entry of the probe run after the hole whose home slot is not cyclically within
    // (hole, its own slot] could no longer be found past the hole: it moves into it.
    for (let j = (i + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const home = slotOf(keys[j]!, this.shift);
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      keys[i] = keys[j]!;
      vals[i] = vals[j];
      i = j;
    }
    keys[i] = EMPTY;
    vals[i] = undefined;
    this.count--;
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

  /** Re-inserts the live entries into a new table of `capacity` slots. */
  private rehash(capacity: number): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const keys = (this.keys = new Float64Array(capacity).fill(EMPTY));
    const vals = (this.vals = new Array<V | undefined>(capacity).fill(undefined));
    const mask = (this.mask = capacity - 1);
    const shift = (this.shift = 32 - Math.log2(capacity));
    for (let j = 0; j < oldKeys.length; j++) {
      const k = oldKeys[j]!;
      if (k === EMPTY) continue;
      let i = slotOf(k, shift);
      while (keys[i] !== EMPTY) i = (i + 1) & mask;
      keys[i] = k;
      vals[i] = oldVals[j];
    }
  }
}

/** Fibonacci hashing of the key's low 32 bits (top bits of the product): consecutive ids spread out. */
function slotOf(key: number, shift: number): number {
  return Math.imul(key >>> 0, 0x9e3779b1) >>> shift;
}
