import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SwapSpace } from '../src/core/index.js';
import { NONE, asSlot } from '../src/core/index.js';

test('allocation runs through a cluster in order, then takes the lowest run of free slots', () => {
  const s = new SwapSpace(64, 8);
  const got = Array.from({ length: 10 }, (_, i) => s.allocate(i) as number);
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (let i = 0; i < 8; i++) s.free(asSlot(i));
  for (let i = 10; i < 16; i++) s.allocate(i);
  // Slots 0..7 are free again and the lowest run of 8: preferred to continuing after 15.
  assert.equal(s.allocate(99), 0);
});

test('a free run may start anywhere, not only at a cluster boundary (scan_swap_map is unaligned)', () => {
  const s = new SwapSpace(32, 8);
  for (let i = 0; i < 24; i++) s.allocate(i);
  // Free 3..10: a run of 8 that straddles the boundary at 8.
  for (let i = 3; i <= 10; i++) s.free(asSlot(i));
  assert.equal(s.allocate(100), 3);
});

test('with no free run left, allocation restarts from the lowest free slot and fills holes upwards', () => {
  const s = new SwapSpace(16, 4);
  for (let i = 0; i < 16; i++) s.allocate(i);
  for (const h of [2, 9, 13]) s.free(asSlot(h));
  assert.deepEqual(
    [s.allocate(100), s.allocate(101), s.allocate(102)].map(Number),
    [2, 9, 13],
    'first free from the bottom, then the next free after each',
  );
  assert.equal(s.allocate(103), NONE);
});

test('the search sees a run that a free at the head of the next block completes, and not one allocations used up', () => {
  // Blocks of 4 slots; the area full, then a hole at 0 and slots 2, 3, 5, 4 freed in that order:
  // the run 2..5 starts in block 0 and is completed by block 1's head (freed last, at slot 4).
  const s = new SwapSpace(16, 4);
  for (let i = 0; i < 16; i++) s.allocate(i);
  for (const h of [0, 2, 3, 5, 4]) s.free(asSlot(h));
  assert.equal(s.allocate(100), 2, 'the lowest run, not the lowest free slot 0');

  // Full again but for 0, block 1 (4..7), 10 and 12..15: the next cluster takes 4..7, after
  // which the lowest run is 12..15 (block 1 starts none any more, and the hole at 10 is none).
  const t = new SwapSpace(16, 4);
  for (let i = 0; i < 16; i++) t.allocate(i);
  for (const h of [0, 4, 5, 6, 7, 10, 12, 13, 14, 15]) t.free(asSlot(h));
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => t.allocate(200 + i) as number),
    [4, 5, 6, 7],
  );
  assert.equal(t.allocate(300), 12);
});

/**
 * Linux 3.7's scan_swap_map() for a rotating device, transcribed loop for loop (slot 0 is an
 * ordinary slot here, lowest_bit is kept exact), as the reference the allocator must agree with.
 */
class ReferenceScanSwapMap {
  readonly map: Uint8Array;
  clusterNext = 0;
  clusterNr = 0;
  inuse = 0;
  constructor(
    readonly pages: number,
    readonly cluster: number,
  ) {
    this.map = new Uint8Array(pages);
  }
  private lowest(): number {
    let s = 0;
    while (s < this.pages && this.map[s]) s++;
    return s;
  }
  allocate(): number {
    if (this.inuse === this.pages) return NONE;
    let offset = this.clusterNext;
    let scanBase = offset;
    if (this.clusterNr-- === 0) {
      if (this.pages - this.inuse < this.cluster) {
        this.clusterNr = this.cluster - 1;
      } else {
        scanBase = offset = this.lowest();
        let lastInCluster = offset + this.cluster - 1;
        let found = false;
        for (; lastInCluster <= this.pages - 1; offset++) {
          if (this.map[offset]) lastInCluster = offset + this.cluster;
          else if (offset === lastInCluster) {
            offset -= this.cluster - 1;
            found = true;
            break;
          }
        }
        if (!found) offset = scanBase;
        this.clusterNr = this.cluster - 1;
      }
    }
    if (offset >= this.pages) scanBase = offset = this.lowest();
    while (this.map[offset]) {
      offset++;
      if (offset >= this.pages) offset = this.lowest();
    }
    this.map[offset] = 1;
    this.inuse++;
    this.clusterNext = offset + 1;
    void scanBase;
    return offset;
  }
  free(slot: number): void {
    this.map[slot] = 0;
    this.inuse--;
  }
}

test('the allocator hands out exactly the slots Linux 3.7 would (property, against a transcription)', () => {
  fc.assert(
    fc.property(
      // Mostly allocations, so the area fills and the scan's corner cases (no free run, fewer
      // free slots than a cluster) come up.
      fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.nat()), { minLength: 1, maxLength: 600 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 8, max: 80 }),
      (ops, cluster, slots) => {
        const s = new SwapSpace(slots, cluster);
        const ref = new ReferenceScanSwapMap(slots, cluster);
        const held: number[] = [];
        for (const [dice, pick] of ops) {
          if (dice < 6 || held.length === 0) {
            const got = s.allocate(0) as number;
            assert.equal(got, ref.allocate());
            if (got !== NONE) held.push(got);
          } else {
            const slot = held.splice(pick % held.length, 1)[0]!;
            s.free(asSlot(slot));
            ref.free(slot);
          }
          assert.equal(s.usedSlots, held.length);
        }
      },
    ),
    { numRuns: 1000, seed: 11 },
  );
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
