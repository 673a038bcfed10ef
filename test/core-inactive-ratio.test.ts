import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CORE_TUNABLES, LruList, MemoryCore, asGfn } from '../src/core/index.js';
import { inactiveAnonRatio } from '../src/core/reclaim.js';

/**
 * Linux 3.7's mem_cgroup_inactive_anon_is_low(): a cgroup keeps inactive x int_sqrt(10 x GiB) >=
 * active among its anonymous pages in a zone, with the ratio 1 below 1 GiB. The share of anonymous
 * pages reclaim leaves inactive therefore falls from about a half to about a quarter once a cgroup
 * holds a GiB of them in one zone.
 */
test('inactiveAnonRatio is int_sqrt(10 x whole GiB), 1 below a GiB', () => {
  const gib = 1 << 18;
  assert.equal(inactiveAnonRatio(0), 1);
  assert.equal(inactiveAnonRatio(gib - 1), 1);
  assert.equal(inactiveAnonRatio(gib), 3); // int_sqrt(10)
  assert.equal(inactiveAnonRatio(2 * gib), 4); // int_sqrt(20)
  assert.equal(inactiveAnonRatio(10 * gib - 1), 9); // int_sqrt(90)
  assert.equal(inactiveAnonRatio(10 * gib), 10);
});

/** Writes every page of a one-zone guest twice under a limit just below it; the inactive share of anon. */
function inactiveShare(guestPages: number): number {
  const core = new MemoryCore({
    ...DEFAULT_CORE_TUNABLES,
    zoneWeights: [1],
    guestPages,
    vmmPages: 0,
    imageBlocks: 64,
    swapSlots: guestPages,
    residentLimitPages: guestPages - 4096,
    mapper: false,
  });
  const settle = (): void => {
    for (let guard = 0; core.hasActions && guard < 1e6; guard++) {
      for (const a of core.drain()) {
        if (a.kind === 'read') core.readDone(a.id);
        else if (a.kind === 'write') core.writeDone(a.id);
      }
    }
  };
  for (let pass = 0; pass < 2; pass++) {
    for (let g = 0; g < guestPages; g++) {
      core.touch(asGfn(g), true, 'guest');
      settle();
    }
  }
  let inactive = 0;
  let anon = 0;
  for (let g = 0; g < guestPages; g++) {
    const list = core.inspect(g).list;
    if (list === LruList.InactiveAnon) inactive++;
    if (list === LruList.InactiveAnon || list === LruList.ActiveAnon) anon++;
  }
  return inactive / anon;
}

test('a cgroup with over a GiB of anonymous memory in a zone keeps a quarter of it inactive, not a half', () => {
  const small = inactiveShare(1 << 17); // 512 MiB: ratio 1
  const large = inactiveShare((1 << 18) + (1 << 16)); // 1.25 GiB: ratio 3
  assert.ok(small > 0.4 && small <= 0.55, `512 MiB: inactive share ${small.toFixed(3)}, want about 1/2`);
  assert.ok(large > 0.2 && large < 0.3, `1.25 GiB: inactive share ${large.toFixed(3)}, want about 1/4`);
});
