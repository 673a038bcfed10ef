import assert from 'node:assert/strict';
import { test } from 'node:test';
import { State } from '../src/core/index.js';
import { swappedCore } from './support/swapped-core.js';
import type { Store } from '../src/core/store/store.js';

/**
 * Swap readahead takes a slot's owner as a page holding that slot without reading the page's slot
 * (a cache miss per page read ahead): the invariants check that every owned slot is its owner's.
 */
test("invariants: every owned swap slot is its owner's slot; a slot allocated behind the page table's back is reported", () => {
  const core = swappedCore();
  assert.deepEqual(core.checkInvariants(), []);
  let swapped = -1;
  for (let p = 0; p < 256 && swapped < 0; p++) if (core.inspect(p).state === State.Swapped) swapped = p;
  assert.ok(swapped >= 0, 'some page is swapped');
  // The planted bug: the swap area gives the page a second slot its page table entry does not name.
  const store = (core as unknown as { s: Store }).s;
  const extra = store.swap.allocate(swapped) as number;
  const problems = core.checkInvariants();
  assert.ok(
    problems.includes(`slot ${extra}: owned by page ${swapped}, whose slot is ${core.inspect(swapped).slot}`),
    problems.join('\n'),
  );
});
