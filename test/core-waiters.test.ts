import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CoreAction, MemoryCore, State, asGfn } from '../src/core/index.js';
import { SMALL_CORE_CONFIG } from './support/small-core.js';

/** Completes every write the core asks for; reads are returned, not completed. */
function completeWrites(core: MemoryCore, reads: CoreAction[]): void {
  while (core.hasActions)
    for (const a of core.drain()) {
      if (a.kind === 'write') core.writeDone(a.id);
      else if (a.kind === 'read') reads.push(a);
    }
}

test('faults waiting on one page being read all complete when it arrives, oldest first', () => {
  for (const n of [1, 2, 3]) {
    const core = new MemoryCore(SMALL_CORE_CONFIG);
    const reads: CoreAction[] = [];
    // Page 0 first, then enough others to push it out to swap.
    for (let g = 0; g < 300; g++) {
      core.touch(asGfn(g), true, 'guest');
      completeWrites(core, reads);
    }
    assert.equal(core.inspect(0).state, State.Swapped);
    const ids = Array.from({ length: n }, () => core.touch(asGfn(0), false, 'guest'));
    reads.length = 0;
    completeWrites(core, reads);
    assert.ok(ids.every((id) => id !== 0) && new Set(ids).size === n, `${n} distinct faults`);
    assert.equal(core.waitingFaults, n);
    const read = reads.find((a) => a.kind === 'read' && (a.pages as number[]).includes(0));
    assert.ok(read && read.kind === 'read');
    core.readDone(read.id);
    const done = core
      .drain()
      .filter((a) => a.kind === 'faultDone')
      .map((a) => (a.kind === 'faultDone' ? a.fault : 0));
    assert.deepEqual(done, ids, `${n} waiters released in the order they came`);
    assert.equal(core.waitingFaults, 0);
    assert.equal(core.inspect(0).state, State.Resident);
  }
});
