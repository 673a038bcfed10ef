import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CORE_TUNABLES, MemoryCore, State, asGfn } from '../src/core/index.js';

/**
 * A small core whose first half of pages was written once under a limit of a quarter of them:
 * some of those are resident, most in swap; the second half was never touched.
 */
function halfSwappedCore(): MemoryCore {
  const guestPages = 256;
  const core = new MemoryCore({
    ...DEFAULT_CORE_TUNABLES,
    guestPages,
    vmmPages: 0,
    imageBlocks: 64,
    swapSlots: guestPages * 2,
    residentLimitPages: guestPages / 4,
    mapper: false,
  });
  for (let p = 0; p < guestPages / 2; p++) {
    core.touch(asGfn(p), true, 'guest');
    for (let guard = 0; core.hasActions && guard < 1e6; guard++)
      for (const a of core.drain()) {
        if (a.kind === 'read') core.readDone(a.id);
        else if (a.kind === 'write') core.writeDone(a.id);
      }
  }
  return core;
}

const firstIn = (core: MemoryCore, state: number, from = 0): number => {
  for (let p = from; p < 256; p++) if (core.inspect(p).state === state) return p;
  throw new Error(`no page in state ${state}`);
};

test('a ballooned page counts what it gave the host: a frame if resident, a slot if swapped, nothing if untouched', () => {
  const core = halfSwappedCore();
  const c = core.counters;
  const resident = firstIn(core, State.Resident);
  const swapped = firstIn(core, State.Swapped);
  const untouched = firstIn(core, State.Untouched, 128);

  const before = { resident: core.residentPages, swapUsed: core.census().swapUsed };
  core.balloonInflate(asGfn(resident));
  assert.equal(core.residentPages, before.resident - 1, 'the resident page freed a frame');
  core.balloonInflate(asGfn(swapped));
  assert.equal(core.census().swapUsed, before.swapUsed - 1, 'the swapped page freed its slot');
  assert.equal(core.residentPages, before.resident - 1, '... and no frame');
  core.balloonInflate(asGfn(untouched));
  assert.equal(core.residentPages, before.resident - 1, 'the untouched page freed nothing');
  assert.equal(core.census().swapUsed, before.swapUsed - 1);

  assert.deepEqual(
    [c.balloonFramesFreed, c.balloonSlotsFreed, c.balloonNothingFreed],
    [1, 1, 1],
    'one of each, each counted by what it freed',
  );
  assert.deepEqual(core.checkInvariants(), []);
  // Deflated and ballooned again without a touch in between: it was absent, so nothing.
  core.balloonDeflate(asGfn(resident));
  core.balloonInflate(asGfn(resident));
  assert.equal(c.balloonNothingFreed, 2);
});
