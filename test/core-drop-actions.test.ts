import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryCore, asGfn } from '../src/core/index.js';
import { SMALL_CORE_CONFIG } from './support/small-core.js';

const config = SMALL_CORE_CONFIG;

/**
 * Pages freed one after another share one drop action: a driver that follows the actions (a page
 * is present from its zero or its read until its drop) holds exactly the pages the core says are
 * resident after every event, no drop names a page it does not hold, two drop actions are never
 * next to each other (they would have been one), and reclaim's passes do give drops of many pages.
 */
test('drop actions carry runs of freed pages, each freed page once and in order', () => {
  const core = new MemoryCore(config);
  const present = new Uint8Array(config.guestPages);
  let seed = 3;
  let drops = 0;
  let droppedPages = 0;
  let largest = 0;
  for (let i = 0; i < 6000; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const g = asGfn((seed >>> 8) % config.guestPages);
    core.touch(g, (seed & 3) === 0, 'guest');
    for (let guard = 0; core.hasActions && guard < 1000; guard++) {
      const actions = core.drain();
      for (let k = 0; k < actions.length; k++) {
        const a = actions[k]!;
        if (a.kind === 'drop') {
          assert.notEqual(actions[k - 1]?.kind, 'drop', 'two drop actions in a row');
          assert.ok(a.pages.length > 0);
          for (const p of a.pages) {
            assert.equal(present[p], 1, `page ${p} dropped but not present`);
            present[p] = 0;
          }
          drops++;
          droppedPages += a.pages.length;
          largest = Math.max(largest, a.pages.length);
        } else if (a.kind === 'zero') present[a.page] = 1;
        else if (a.kind === 'read') {
          for (const p of a.pages) present[p] = 1;
          core.readDone(a.id);
        } else if (a.kind === 'write') core.writeDone(a.id);
      }
    }
    if (i % 500 === 0)
      for (let p = 0; p < config.guestPages; p++)
        assert.equal(present[p] === 1, core.isResident(asGfn(p)), `page ${p} after touch ${i}`);
  }
  assert.ok(drops > 0 && droppedPages > 4 * drops, `${droppedPages} pages in ${drops} drop actions`);
  assert.ok(largest >= config.reclaimBatchPages / 2, `largest drop action ${largest} pages`);
});
