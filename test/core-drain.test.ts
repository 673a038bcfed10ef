import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CoreAction, MemoryCore, asGfn } from '../src/core/index.js';
import { SMALL_CORE_CONFIG } from './support/small-core.js';

const config = SMALL_CORE_CONFIG;

/**
 * drainInto is drain() into the caller's array: two cores fed the same touches, one drained each
 * way, hand out the same actions in the same order, batch by batch; the array's entries past the
 * batch are left alone, and a drained core has nothing queued.
 */
test('drainInto hands out what drain() would, batch by batch, and leaves the queue empty', () => {
  const a = new MemoryCore(config);
  const b = new MemoryCore(config);
  const out: CoreAction[] = [];
  const sentinel: CoreAction = { kind: 'zero', page: asGfn(-1) };
  let seed = 1;
  let batches = 0;
  for (let i = 0; i < 4000; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const g = asGfn((seed >>> 8) % config.guestPages);
    const write = (seed & 3) === 0;
    assert.equal(a.touch(g, write, 'guest'), b.touch(g, write, 'guest'));
    for (let guard = 0; a.hasActions && guard < 1000; guard++) {
      const want = a.drain();
      for (let k = 0; k < out.length; k++) out[k] = sentinel;
      const tail = out.length;
      const n = b.drainInto(out);
      batches++;
      assert.equal(b.hasActions, false);
      assert.deepEqual(out.slice(0, n), want);
      for (let k = n; k < tail; k++) assert.equal(out[k], sentinel);
      for (const x of want) {
        if (x.kind === 'read') {
          a.readDone(x.id);
          b.readDone(x.id);
        } else if (x.kind === 'write') {
          a.writeDone(x.id);
          b.writeDone(x.id);
        }
      }
    }
    assert.equal(b.hasActions, false);
  }
  assert.ok(batches > 1000, `${batches} batches`);
  assert.deepEqual(a.counters.snapshot(), b.counters.snapshot());
});
