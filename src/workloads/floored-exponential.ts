/** Buckets of u (its top 12 bits: u is a multiple of 2^-32, so u * BUCKETS is exact). */
const BUCKETS = 4096;
/**
 * How much each bucket's bounds on -ln(1 - u) are widened (relatively): many orders above the ulp
 * by which Math.log can be off, so Math.log of any u in the bucket lies within them.
 */
const MARGIN = 1e-9;

/**
 * BOUNDS[2i], BOUNDS[2i + 1]: below and above -Math.log(1 - u) for every u of bucket i. Bucket 0
 * has none (NaN): u = 0 gives -0, and a product with it the sign of `mean`, as only the expression does.
 */
const BOUNDS = new Float64Array(2 * BUCKETS);
for (let i = 0; i < BUCKETS; i++) {
  BOUNDS[2 * i] = i === 0 ? NaN : -Math.log(1 - i / BUCKETS) * (1 - MARGIN);
  // The last bucket's upper bound is infinite: its gaps are never looked up.
  BOUNDS[2 * i + 1] = -Math.log(1 - (i + 1) / BUCKETS) * (1 + MARGIN);
}

/**
 * Math.floor(-Math.log(1 - u) * mean) for u in [0, 1): an exponential gap of mean `mean`, floored
 * (a geometric gap), the very number that expression gives, at a fraction of its cost. Math.log of
 * any u of u's bucket lies within the bucket's bounds, and the product with `mean`, rounded, grows
 * with its first factor; so when both bounds give the same gap, so does u. Otherwise (with mean 5
 * about 1 % of draws: a gap's end falls in the bucket) the expression is evaluated.
 */
export function flooredExponential(u: number, mean: number): number {
  const gap = bucketGap(Math.floor(u * BUCKETS), mean);
  return gap >= 0 ? gap : Math.floor(-Math.log(1 - u) * mean);
}

/** A bucket whose bounds give two gaps: its draws take the expression. */
const SPLIT = -1;

/**
 * flooredExponential(x / 2^32, mean) for 32-bit draws x (Rng.nextUint32) and one mean at a time:
 * the same numbers, with each bucket's gap (where both of its bounds give it) worked out once per
 * mean, so that most draws cost a look-up. A Metis map step draws ~16K gaps with one mean, which
 * reach nearly every bucket; the gaps are worked out for all of them when the mean changes, so
 * that the draw's loop has no call in it (a call there, even one rarely made, had the compiler
 * load the table and the mean again at every draw).
 */
export class FlooredExponentialTable {
  private mean = NaN;
  private readonly gaps = new Int32Array(BUCKETS).fill(SPLIT);

  /** The mean of the gaps drawn from now on; the kept gaps go when it changes. */
  setMean(mean: number): void {
    if (Object.is(mean, this.mean)) return;
    this.mean = mean;
    const gaps = this.gaps;
    for (let i = 0; i < BUCKETS; i++) gaps[i] = bucketGap(i, mean);
  }

  /** flooredExponential(x / 2^32, mean), x an integer in [0, 2^32). */
  gap(x: number): number {
    const g = this.gaps[x >>> 20]!;
    if (g >= 0) return g;
    return Math.floor(-Math.log(1 - x / 4294967296) * this.mean);
  }
}

/**
 * The gap flooredExponential() gives every u of bucket i without the expression, or SPLIT when it
 * evaluates the expression there (or the gap, a negative zero or beyond an Int32, is not kept).
 */
function bucketGap(i: number, mean: number): number {
  const gap = Math.floor(BOUNDS[2 * i]! * mean);
  if (gap !== Math.floor(BOUNDS[2 * i + 1]! * mean)) return SPLIT;
  return gap >= 0 && gap <= 0x7fffffff && !Object.is(gap, -0) ? gap : SPLIT;
}
