import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/sim/rng.js';
import { FlooredExponentialTable, flooredExponential } from '../src/workloads/floored-exponential.js';

const exact = (u: number, mean: number): number => Math.floor(-Math.log(1 - u) * mean);

/** The neighbours of x a few ulps either side (x > 0). */
function around(x: number): number[] {
  const out: number[] = [];
  const f = new Float64Array(1);
  const b = new BigInt64Array(f.buffer);
  for (let d = -4n; d <= 4n; d++) {
    f[0] = x;
    b[0] = b[0]! + d;
    out.push(f[0]);
  }
  return out;
}

const MEANS = [5.006, 5, 0.25, 1, 1 / 3, 0.0123, 0.0005, 37.5, 4999.7, 0, 1e-300, 1e300];

test('flooredExponential is Math.floor(-Math.log(1 - u) * mean), u for u, the sign of a zero included', () => {
  for (const mean of MEANS) {
    const rng = new Rng(11);
    for (let i = 0; i < 200_000; i++) {
      const u = rng.next();
      assert.ok(Object.is(flooredExponential(u, mean), exact(u, mean)), `mean ${mean}, u ${u}`);
    }
  }
});

test('flooredExponential agrees at and next to the ends of gaps, where rounding decides, and at bucket edges', () => {
  for (const mean of MEANS) {
    const us: number[] = [0, 1 - 2 ** -32, 0.5];
    for (let i = 0; i < 4096; i++) us.push(i / 4096, (i + 1) / 4096 - 2 ** -32);
    if (mean > 1e-3 && mean < 1e3)
      for (let m = 0; m <= 300; m++)
        for (const y of around(Math.exp(-m / mean))) if (y > 0 && y <= 1 && 1 - y < 1) us.push(1 - y);
    for (const u of us)
      assert.ok(Object.is(flooredExponential(u, mean), exact(u, mean)), `mean ${mean}, u ${u}`);
  }
});

test('Rng.nextUint32 is the draw next() divides by 2^32', () => {
  const a = new Rng(5);
  const b = new Rng(5);
  for (let i = 0; i < 100_000; i++) {
    const x = b.nextUint32();
    assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
    assert.equal(a.next(), x / 2 ** 32);
  }
});

test('FlooredExponentialTable gives flooredExponential(x / 2^32, mean), mean after mean, kept gaps and all', () => {
  const table = new FlooredExponentialTable();
  const rng = new Rng(3);
  // Means come back after others (the kept gaps of the old one must be gone), and the edges of
  // every bucket, where a kept gap would be wrong first, are drawn under each.
  for (const mean of [...MEANS, 5.006, 0, 5, -0, 5.006]) {
    table.setMean(mean);
    const xs: number[] = [0, 2 ** 32 - 1];
    for (let i = 0; i < 4096; i++) xs.push(i * 2 ** 20, (i + 1) * 2 ** 20 - 1);
    for (let i = 0; i < 50_000; i++) xs.push(rng.nextUint32());
    for (const x of xs)
      assert.ok(
        Object.is(table.gap(x), flooredExponential(x / 2 ** 32, mean)),
        `mean ${mean}, x ${x}: ${table.gap(x)}`,
      );
  }
});
