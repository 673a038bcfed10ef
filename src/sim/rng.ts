/** mulberry32's state step: each draw adds it (mod 2^32), nothing else. */
const STEP = 0x6d2b79f5;

/** Seeded PRNG (mulberry32): the simulator's only source of randomness, so runs are reproducible. */
export class Rng {
  /**
   * The state, as the 32 bits of an Int32Array's one element rather than a number field: three in
   * four states are beyond the integers V8 keeps unboxed in a field (31 bits), so every draw stored
   * a newly allocated heap number there (a Metis map step draws ~16K: a third of a ten-guest run's
   * allocation, and its collection). The arithmetic below is modulo 2^32 either way.
   */
  private readonly s = new Int32Array(1);
  constructor(seed: number) {
    this.s[0] = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }
  /** The same draw as next(), as the integer next() divides by 2^32: uniform in [0, 2^32). */
  nextUint32(): number {
    // The state's bits as a signed integer: every use below (>>>, ^, |, Math.imul) takes the bits.
    let t = (this.s[0] = (this.s[0]! + STEP) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /**
   * Takes the last `draws` draws back: the next `draws` draws return them again. A caller that drew
   * ahead for a batch of work gives back the draws of the part it did not do, so the sequence is
   * the same as if it had drawn one at a time (another user of this generator may draw first).
   */
  unread(draws: number): void {
    this.s[0] = (this.s[0]! - Math.imul(draws, STEP)) | 0;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
