import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SwapSpace } from '../src/core/swap-space.js';
import { NONE, asSlot } from '../src/core/types.js';

test('allocation runs through a cluster in order, then takes the lowest wholly free cluster', () => {
  const s = new SwapSpace(64, 8);
  const got = Array.from({ length: 10 }, (_, i) => s.allocate(i) as number);
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (let i = 0; i < 8; i++) s.free(asSlot(i));
  for (let i = 10; i < 16; i++) s.allocate(i);
  // Cluster 1 (8..15) is now full; cluster 0 is wholly free again and is preferred.
  assert.equal(s.allocate(99) as number, 0);
});

test('when no cluster is wholly free, allocation fills holes after the last one', () => {
  const s = new SwapSpace(16, 4);
  for (let i = 0; i < 16; i++) s.allocate(i);
  s.free(asSlot(5));
  s.free(asSlot(10));
  const a = s.allocate(100) as number;
  const b = s.allocate(101) as number;
  assert.deepEqual(
    [a, b].sort((x, y) => x - y),
    [5, 10],
  );
  assert.equal(s.allocate(102) as number, NONE);
});

test('slots are never handed out twice (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 400 }), (ops) => {
      const s = new SwapSpace(40, 8);
      const held = new Set<number>();
      let n = 0;
      for (const alloc of ops) {
        if (alloc || held.size === 0) {
          const slot = s.allocate(n++) as number;
          if (slot === NONE) {
            assert.equal(held.size, 40);
            continue;
          }
          assert.ok(!held.has(slot), `slot ${slot} handed out twice`);
          held.add(slot);
        } else {
          const slot = [...held][n % held.size]!;
          held.delete(slot);
          s.free(asSlot(slot));
        }
        assert.equal(s.usedSlots, held.size);
      }
    }),
    { numRuns: 200, seed: 5 },
  );
  const s = new SwapSpace(4, 2);
  assert.throws(() => s.free(asSlot(1)), /double free/);
});
