import { IdMap } from './id-map.js';

/** Slots of the direct-mapped table: more than the I/Os a driver usually keeps in flight at once. */
const SLOTS = 256;
const MASK = SLOTS - 1;
/** A free slot's id (ids are whole numbers, 0 or more). */
const FREE = -1;

/**
 * A map from whole numbers to what is in flight under them, for tables that hold few entries at a
 * time, each briefly: the core's I/O ids (handed out in increasing order) and the pages faults wait
 * on. An id goes to the slot named by its low bits when that
 * slot is free, and to an IdMap only while an older entry still holds the slot. Setting and taking
 * the entry of a slot is a store and a comparison, where the IdMap (a call on every I/O) checks the
 * key, hashes, probes, and on removal shifts the entries after it back.
 */
export class InFlightMap<V> {
  /** Each slot's id, or FREE (doubles: an id may pass 2^31 in a long run). */
  private readonly ids = new Float64Array(SLOTS).fill(FREE);
  private readonly vals: (V | undefined)[] = new Array<V | undefined>(SLOTS).fill(undefined);
  /** Entries whose slot was taken when they were set. */
  private readonly overflow = new IdMap<V>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `value` under `id`, a whole number (0 or more) not in the map. */
  set(id: number, value: V): void {
    // `&` takes the id's low bits (modulo 2^32 first, so any whole number below 2^53 has a slot).
    const i = id & MASK;
    if (this.ids[i] === FREE) {
      this.ids[i] = id;
      this.vals[i] = value;
    } else {
      this.overflow.set(id, value);
    }
    this.count++;
  }

  /** The value under `id`, or undefined when there is none. */
  get(id: number): V | undefined {
    const i = id & MASK;
    if (this.ids[i] === id) return this.vals[i];
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  /** The value under `id`, which is removed, or undefined when there is none. */
  take(id: number): V | undefined {
    const i = id & MASK;
    if (this.ids[i] === id) {
      const v = this.vals[i];
      this.ids[i] = FREE;
      this.vals[i] = undefined;
      this.count--;
      return v;
    }
    if (this.overflow.size === 0) return undefined;
    const v = this.overflow.take(id);
    if (v !== undefined) this.count--;
    return v;
  }
}
