import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { NONE, type SwapArea, SwapSlotError, SwapSpace, asSlot } from '../src/core/index.js';
import { swapContents } from '../src/sim/data-plane.js';
import { HostSwapArea } from '../src/sim/host-swap-area.js';
import { CoreHarness } from './support/core-harness.js';

test("two guests swapping by turns share one cluster: each takes the device's next slots", () => {
  const area = new HostSwapArea(1024, 2);
  const [a, b] = [area.viewFor(0), area.viewFor(1)];
  const take = (v: SwapArea, first: number, n: number): number[] =>
    Array.from({ length: n }, (_, i) => v.allocate(first + i) as number);
  const a1 = take(a, 0, 32);
  const b1 = take(b, 0, 32);
  const a2 = take(a, 32, 32);
  // One cluster cursor for the device (scan_swap_map's cluster_next), not one per guest.
  assert.deepEqual(a1, range(0, 32));
  assert.deepEqual(b1, range(32, 64));
  assert.deepEqual(a2, range(64, 96));
  assert.equal(area.usedSlots, 96);
  assert.equal(a.usedSlots, 96, 'fullness is the device-wide count');
  assert.equal(a.heldSlots, 64);
  assert.equal(b.heldSlots, 32);
  // Each guest sees only its own pages in the slots; the other's are nobody's to it.
  assert.equal(a.ownerOf(64), 32);
  assert.equal(b.ownerOf(64), NONE);
  assert.equal(b.ownerOf(32), 0);
  assert.equal(a.ownerOf(32), NONE);
  assert.equal(area.guestHolding(40), 1);
  assert.equal(area.guestHolding(500), NONE);
});

test('a guest cannot free a slot it does not hold, nor free one twice', () => {
  const area = new HostSwapArea(64, 2, 8);
  const [a, b] = [area.viewFor(0), area.viewFor(1)];
  const s = a.allocate(7);
  assert.throws(() => b.free(s), /guest 1 frees slot 0, which guest 0 holds/);
  a.free(s);
  assert.throws(() => a.free(s), SwapSlotError);
  assert.throws(() => area.viewFor(2), /no guest 2/);
  assert.throws(() => new HostSwapArea(64, 0), SwapSlotError);
});

test('freed slots go back to the device and are handed to whichever guest allocates next', () => {
  const area = new HostSwapArea(16, 2, 4);
  const [a, b] = [area.viewFor(0), area.viewFor(1)];
  for (let i = 0; i < 8; i++) a.allocate(i);
  for (let i = 0; i < 8; i++) b.allocate(i);
  assert.equal(a.allocate(99), NONE, 'the device is full for every guest');
  for (const h of [2, 3, 5]) a.free(asSlot(h));
  assert.equal(a.heldSlots, 5);
  // First free from the bottom, filling holes: guest 0's old slots now hold guest 1's pages.
  assert.deepEqual([b.allocate(20), b.allocate(21), b.allocate(22)].map(Number), [2, 3, 5]);
  assert.equal(b.ownerOf(3), 21);
  assert.equal(a.ownerOf(3), NONE);
  assert.equal(b.heldSlots, 11);
});

/** What each guest holds, checked against the device: no slot is handed out twice. */
function checkNoSlotTwice(views: SwapArea[], ops: readonly Op[], slotCount: number): string | undefined {
  const holder = new Int32Array(slotCount).fill(NONE);
  const held: number[][] = views.map(() => []);
  for (const op of ops) {
    const v = views[op.guest]!;
    const mine = held[op.guest]!;
    if (op.free && mine.length > 0) {
      const s = mine.splice(op.pick % mine.length, 1)[0]!;
      v.free(asSlot(s));
      holder[s] = NONE;
      continue;
    }
    const s = v.allocate(op.pick) as number;
    if (s === NONE) continue;
    if (holder[s] !== NONE) return `slot ${s} handed to guest ${op.guest} while guest ${holder[s]} holds it`;
    holder[s] = op.guest;
    mine.push(s);
  }
  for (let g = 0; g < views.length; g++)
    if (views[g]!.heldSlots !== held[g]!.length) return `guest ${g} holds ${views[g]!.heldSlots} slots`;
  return undefined;
}

interface Op {
  guest: number;
  free: boolean;
  pick: number;
}

const opsArb = fc.array(
  fc.record({ guest: fc.integer({ min: 0, max: 2 }), free: fc.boolean(), pick: fc.nat(10_000) }),
  { maxLength: 400 },
);

test('under any mix of allocations and frees by three guests, no slot is handed out twice', () => {
  fc.assert(
    fc.property(opsArb, (ops) => {
      const area = new HostSwapArea(96, 3, 16);
      const views = [0, 1, 2].map((g) => area.viewFor(g));
      assert.equal(checkNoSlotTwice(views, ops, 96), undefined);
    }),
  );
});

test('planted bug: one allocator per guest over the same slots (the earlier split) is caught', () => {
  // Each guest's own SwapSpace numbering the device's slots from 0: both hand out slot 0.
  const views: SwapArea[] = [0, 1].map(() => new SwapSpace(96, 16));
  const ops: Op[] = [
    { guest: 0, free: false, pick: 1 },
    { guest: 1, free: false, pick: 2 },
  ];
  assert.match(checkNoSlotTwice(views, ops, 96) ?? '', /slot 0 handed to guest 1 while guest 0 holds it/);
});

/** Two guests' cores on one swap device, evicting by turns, then reading everything back. */
function twoGuests(shareAllocator: boolean): { guests: CoreHarness[]; area: HostSwapArea } {
  const slots = 2048;
  const area = new HostSwapArea(slots, 2);
  const contents = swapContents(slots);
  // The planted bug: a private allocator per guest writing into the one device's slots.
  const view = (g: number): SwapArea => (shareAllocator ? area.viewFor(g) : new SwapSpace(slots));
  const guests = [0, 1].map(
    (g) =>
      new CoreHarness({ guestPages: 400, imageBlocks: 8, residentLimitPages: 100 }, undefined, {
        area: view(g),
        contents,
        firstVersion: 1 + g * 1_000_000,
      }),
  );
  for (let i = 0; i < 400; i += 20) for (const h of guests) for (let k = i; k < i + 20; k++) h.guestWrite(k);
  for (const h of guests) h.verifyAll();
  return { guests, area };
}

test("two cores on one device: their evictions interleave in the device's clusters, every read is right", () => {
  const { guests, area } = twoGuests(true);
  for (const h of guests) assert.deepEqual(h.violations, []);
  // The first cluster (256 slots) holds both guests' pages.
  const inFirst = new Set(range(0, 256).map((s) => area.guestHolding(s)));
  assert.ok(inFirst.has(0) && inFirst.has(1), `first cluster held by ${[...inFirst].join(', ')}`);
  // A guest's swapped pages are no longer one run of slots: its swap-ins skip the other's.
  const slotsOf = (h: CoreHarness): number[] =>
    range(0, 400)
      .map((g) => h.core.inspect(g).slot)
      .filter((s) => s !== NONE);
  const s0 = slotsOf(guests[0]!);
  assert.ok(s0.length > 100, `guest 0 holds ${s0.length} slots`);
  assert.ok(
    Math.max(...s0) - Math.min(...s0) + 1 > s0.length + 50,
    "guest 0's slots are spread among guest 1's",
  );
});

test("planted bug: guests allocating the device's slots privately overwrite each other's pages", () => {
  const { guests } = twoGuests(false);
  assert.ok(
    guests.some((h) => h.violations.length > 0),
    'a read of a slot the other guest overwrote shows as a content violation',
  );
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
