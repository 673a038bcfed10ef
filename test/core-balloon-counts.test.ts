import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type MemoryCore, State, asGfn } from '../src/core/index.js';
import { SWAPPED_CORE_PAGES, swappedCore } from './support/swapped-core.js';

/** Half of the pages written once under a limit of a quarter: some resident, most in swap; half never touched. */
const halfSwappedCore = (): MemoryCore => swappedCore(SWAPPED_CORE_PAGES / 2);

const firstIn = (core: MemoryCore, state: number, from = 0): number => {
  for (let p = from; p < SWAPPED_CORE_PAGES; p++) if (core.inspect(p).state === state) return p;
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
