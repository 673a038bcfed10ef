import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CoreAction, MemoryCore, asGfn, asGfnArray } from '../src/core/index.js';
import { Rng } from '../src/sim/rng.js';
import { SMALL_CORE_CONFIG } from './support/small-core.js';

const config = SMALL_CORE_CONFIG;

test('Rng.unread(n) gives back the last n draws: the next n repeat them, and the sequence goes on', () => {
  const a = new Rng(7);
  const b = new Rng(7);
  for (let i = 0; i < 100; i++) a.next();
  for (let i = 0; i < 100; i++) b.next();
  const ahead = [a.next(), a.next(), a.next(), a.next(), a.next()];
  a.unread(3);
  assert.deepEqual([a.next(), a.next(), a.next()], ahead.slice(2));
  a.unread(5);
  for (let i = 0; i < 50; i++) assert.equal(a.next(), b.next());
  // Across the state's wrap-around (2^32 / step draws is not an integer: any seed may cross it).
  const c = new Rng(0xfffffff0);
  const first = c.next();
  c.unread(1);
  assert.equal(c.next(), first);
});

function drainAll(core: MemoryCore): CoreAction[] {
  const all: CoreAction[] = [];
  for (let guard = 0; core.hasActions && guard < 1000; guard++) {
    for (const x of core.drain()) {
      all.push(x);
      if (x.kind === 'read') core.readDone(x.id);
      else if (x.kind === 'write') core.writeDone(x.id);
    }
  }
  return all;
}

/**
 * touchRun() is touch() page after page, for the pages it takes: two cores fed the same runs of
 * pages, one through touch() alone, the other through touchRun() and touch() for the page it stops
 * at, end each run with every page, flag, list and counter the same, and hand out the same actions.
 * It stops at absent pages (a fault) and at pages with more to do than set flags (swap cache,
 * readahead marks), and takes runs of present ones.
 */
test('touchRun is touch() one page after another, stopping where a touch does more than set flags', () => {
  const a = new MemoryCore(config);
  const b = new MemoryCore(config);
  const run = asGfnArray(new Int32Array(32));
  let seed = 3;
  let inRuns = 0;
  let stops = 0;
  for (let r = 0; r < 1500; r++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const write = (seed & 3) === 0;
    const n = 1 + ((seed >>> 4) % 32);
    // Mostly pages near each other (runs of resident ones), sometimes anywhere (faults).
    const base = (seed >>> 12) % (config.guestPages - 64);
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      run[i] = (seed & 15) === 0 ? (seed >>> 9) % config.guestPages : base + ((seed >>> 9) % 24);
    }
    const actionsA: CoreAction[] = [];
    for (let i = 0; i < n; i++) {
      a.touch(asGfn(run[i]!), write, 'guest');
      actionsA.push(...drainAll(a));
    }
    const actionsB: CoreAction[] = [];
    for (let i = 0; i < n;) {
      const done = b.touchRun(run, i, n, write);
      assert.equal(b.hasActions, false, 'a run queues no action');
      inRuns += done - i;
      i = done;
      if (i < n) {
        stops++;
        b.touch(asGfn(run[i]!), write, 'guest');
        actionsB.push(...drainAll(b));
        i++;
      }
    }
    assert.deepEqual(actionsB, actionsA);
    for (let p = 0; p < config.guestPages; p++) assert.deepEqual(b.inspect(p), a.inspect(p), `page ${p}`);
  }
  assert.deepEqual(b.counters.snapshot(), a.counters.snapshot());
  assert.ok(inRuns > 5000 && stops > 1000, `${inRuns} pages in runs, ${stops} stops`);
});
