import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { skewedPick } from '../src/sim/host.js';

test("QEMU's skewed page pick equals floor(n * u ** skew) computed with Math.pow", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1 << 17 }),
      // u as the PRNG makes it: a 32-bit integer over 2^32.
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.constantFrom(1, 2, 3, 3, 3, 4),
      (n, k, skew) => {
        const u = k / 2 ** 32;
        assert.equal(skewedPick(n, u, skew), Math.floor(n * u ** skew));
      },
    ),
    { numRuns: 200_000 },
  );
});
