import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CoreAction, DEFAULT_CORE_TUNABLES, MemoryCore, asGfn } from '../src/core/index.js';
import { coreReplay, makeTrace, plainLru } from '../bench/replays.js';

/**
 * The bench's replays run in chunks of calls (so that valgrind's instruction counts measure
 * optimized code): chunking must change nothing. Each is compared with the same replay written as
 * one loop, on a trace long enough to cross many chunk boundaries.
 */
const PAGES = 512;
const trace = makeTrace(30_001, PAGES, 11);

test('the chunked plain LRU misses exactly as one loop over the trace does', () => {
  const capacity = PAGES / 2;
  // A map in recency order: the simplest LRU there is, for the reference count.
  const lru = new Map<number, true>();
  let misses = 0;
  for (const p of trace) {
    if (lru.delete(p)) {
      lru.set(p, true);
      continue;
    }
    misses++;
    if (lru.size === capacity) lru.delete(lru.keys().next().value!);
    lru.set(p, true);
  }
  assert.ok(misses > 1000 && misses < trace.length, `a trace that both hits and misses (${misses} misses)`);
  assert.equal(plainLru(trace, PAGES, capacity).misses, misses);
});

test('the chunked core replay counts the events and faults of one loop over the trace', () => {
  const limit = PAGES / 4;
  // The configuration coreReplay builds.
  const core = new MemoryCore({
    ...DEFAULT_CORE_TUNABLES,
    guestPages: PAGES,
    vmmPages: 0,
    imageBlocks: 1024,
    swapSlots: PAGES * 2,
    residentLimitPages: limit,
    mapper: false,
  });
  let events = 0;
  let faults = 0;
  for (let i = 0; i < trace.length; i++) {
    const id = core.touch(asGfn(trace[i]!), (i & 7) === 0, 'guest');
    events++;
    if (id !== 0) faults++;
    while (core.hasActions) {
      const actions: CoreAction[] = core.drain();
      for (const a of actions) {
        if (a.kind === 'read') core.readDone(a.id);
        else if (a.kind === 'write') core.writeDone(a.id);
        if (a.kind === 'read' || a.kind === 'write' || a.kind === 'drop') events += a.pages.length;
      }
    }
  }
  assert.ok(faults > 1000, `the replay swaps (${faults} faults)`);
  const r = coreReplay(trace, PAGES, limit);
  assert.deepEqual({ events: r.events, faults: r.faults }, { events, faults });
});
