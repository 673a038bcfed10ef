import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/sim/rng.js';

/**
 * mulberry32 as it was written with the state in a number field, kept in [0, 2^32) by `>>> 0`:
 * the generator every recorded run was made with. Rng keeps its state's bits in an Int32Array;
 * its draws must be these, bit for bit, or no run is the same.
 */
class ReferenceMulberry32 {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  nextUint32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  unread(draws: number): void {
    this.s = (this.s - Math.imul(draws, 0x6d2b79f5)) >>> 0;
  }
}

test("Rng draws mulberry32's numbers for seeds across the 32-bit range (0, negative, beyond 2^31 and 2^32 included)", () => {
  for (const seed of [
    0,
    1,
    7,
    1000,
    0x7fffffff,
    0x80000000,
    0x9e3779b9,
    0xfffffff0,
    0xffffffff,
    -1,
    -5,
    2 ** 32 + 3,
  ]) {
    const a = new Rng(seed);
    const ref = new ReferenceMulberry32(seed);
    for (let i = 0; i < 20_000; i++) {
      const want = ref.nextUint32();
      if (i % 3 === 0) assert.equal(a.next(), want / 2 ** 32, `seed ${seed}, draw ${i}`);
      else assert.equal(a.nextUint32(), want, `seed ${seed}, draw ${i}`);
    }
  }
});

test('Rng.unread of any count, up to millions of draws (the step times the count beyond 2^53), steps the state back as the reference does', () => {
  const a = new Rng(42);
  const ref = new ReferenceMulberry32(42);
  for (const back of [1, 255, 256, 65_537, 3_000_000, 2 ** 31 + 11]) {
    for (let i = 0; i < 1000; i++) assert.equal(a.nextUint32(), ref.nextUint32());
    a.unread(back);
    ref.unread(back);
    for (let i = 0; i < 1000; i++) assert.equal(a.nextUint32(), ref.nextUint32(), `after unread(${back})`);
  }
});
