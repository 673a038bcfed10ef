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
  const i = 2 * Math.floor(u * BUCKETS);
  const gap = Math.floor(BOUNDS[i]! * mean);
  if (gap === Math.floor(BOUNDS[i + 1]! * mean)) return gap;
  return Math.floor(-Math.log(1 - u) * mean);
}
