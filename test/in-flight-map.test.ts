import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { InFlightMap } from '../src/core/store/in-flight-map.js';

/**
 * Ids handed out in increasing order, as the core's I/O ids are; each either completes (is taken)
 * soon or stays in flight for long, so that later ids land on slots still held and overflow. Ids
 * past 2^32 (a long run) take their slot from their low bits all the same.
 */
type Op = { k: 'start'; step: number } | { k: 'done'; pick: number } | { k: 'bogus'; id: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ k: fc.constant('start' as const), step: fc.integer({ min: 1, max: 300 }) }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('done' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('bogus' as const), id: fc.integer({ min: 1, max: 5000 }) }),
  },
);

function replay(ops: Op[], firstId: number): void {
  const m = new InFlightMap<string>();
  const ref = new Map<number, string>();
  let lastId = firstId;
  for (const o of ops) {
    if (o.k === 'start') {
      lastId += o.step;
      m.set(lastId, `io ${lastId}`);
      ref.set(lastId, `io ${lastId}`);
    } else if (o.k === 'done') {
      if (ref.size === 0) continue;
      const ids = [...ref.keys()];
      const id = ids[o.pick % ids.length]!;
      assert.equal(m.take(id), ref.get(id));
      ref.delete(id);
      // Taken once: a second take finds nothing.
      assert.equal(m.take(id), undefined);
    } else {
      const id = firstId + o.id;
      assert.equal(m.take(id), ref.get(id));
      ref.delete(id);
    }
    assert.equal(m.size, ref.size);
  }
  // Everything still in flight can be taken, once.
  for (const [id, v] of ref) assert.equal(m.take(id), v);
  assert.equal(m.size, 0);
}

test('InFlightMap behaves as a Map of increasing ids through any sequence of starts and completions, slots shared or not', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 600 }), fc.constantFrom(0, 2 ** 32 - 100, 2 ** 40), (ops, first) =>
      replay(ops, first),
    ),
    { numRuns: 200 },
  );
});

test('an id whose slot an older one still holds is kept apart and found again', () => {
  const m = new InFlightMap<number>();
  // 1 and 257 share a slot (256 slots): 257 overflows while 1 is in flight, and both come back.
  m.set(1, 10);
  m.set(257, 20);
  m.set(513, 30);
  assert.equal(m.size, 3);
  assert.equal(m.take(257), 20);
  assert.equal(m.take(1), 10);
  // The slot is free again: 769 takes it, 513 is still found in the overflow.
  m.set(769, 40);
  assert.equal(m.take(513), 30);
  assert.equal(m.take(769), 40);
  assert.equal(m.take(1), undefined);
  assert.equal(m.size, 0);
});

test('get() finds an entry in its slot or in the overflow, and page 0 is a key like any other', () => {
  const m = new InFlightMap<string>();
  m.set(0, 'zero');
  m.set(256, 'shares 0');
  assert.equal(m.get(0), 'zero');
  assert.equal(m.get(256), 'shares 0');
  assert.equal(m.get(512), undefined);
  assert.equal(m.take(0), 'zero');
  assert.equal(m.get(0), undefined);
  assert.equal(m.get(256), 'shares 0');
  assert.equal(m.size, 1);
});
