import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { IdMap, IdMapError } from '../src/core/index.js';

type Op =
  | { k: 'set'; key: number; v: number }
  | { k: 'delete'; key: number }
  | { k: 'take'; key: number }
  | { k: 'get'; key: number };

// Keys from a small range (collisions, re-insertion after delete) and from far apart (growth).
const key = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2 ** 40 }));
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('set' as const), key, v: fc.integer() }),
  fc.record({ k: fc.constant('delete' as const), key }),
  fc.record({ k: fc.constant('take' as const), key }),
  fc.record({ k: fc.constant('get' as const), key }),
);

test('IdMap behaves as a Map through any sequence of sets, deletes, takes and lookups', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const m = new IdMap<number>();
      const ref = new Map<number, number>();
      for (const o of ops) {
        if (o.k === 'set') {
          m.set(o.key, o.v);
          ref.set(o.key, o.v);
        } else if (o.k === 'delete') {
          assert.equal(m.delete(o.key), ref.delete(o.key));
        } else if (o.k === 'take') {
          const v = ref.get(o.key);
          ref.delete(o.key);
          assert.equal(m.take(o.key), v);
        }
        assert.equal(m.get(o.key), ref.get(o.key));
        assert.equal(m.has(o.key), ref.has(o.key));
        assert.equal(m.size, ref.size);
      }
      for (const [k, v] of ref) assert.equal(m.get(k), v);
    }),
    { numRuns: 500 },
  );
});

test('IdMap keeps working when entries come and go far more often than it holds them', () => {
  // Ids as faults take them: one or two live at a time, millions over a run.
  const m = new IdMap<string>();
  for (let id = 1; id < 200_000; id++) {
    m.set(id, `f${id}`);
    if (id % 3 === 0) m.delete(id - 1);
    m.delete(id - 2);
    assert.ok(m.size <= 2, `size ${m.size} at id ${id}`);
  }
  assert.equal(m.get(199_999), 'f199999');
});

test('IdMap refuses keys that are not non-negative whole numbers, naming the key', () => {
  assert.throws(
    () => new IdMap<number>().set(-1, 0),
    (e) => e instanceof IdMapError && /-1/.test(e.message),
  );
  assert.throws(() => new IdMap<number>().set(1.5, 0), IdMapError);
});
