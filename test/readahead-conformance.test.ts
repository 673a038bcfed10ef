import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { SwapReadaheadName } from '../src/core/index.js';
import { CoreHarness } from './support/core-harness.js';
import { type CoreOp, playOp } from './support/core-ops.js';
import {
  type Factory,
  type Kind,
  type ProbeLog,
  readaheadContext,
  registry,
  runScript,
  withProbe,
} from './support/readahead-checks.js';
import { BROKEN_POLICIES } from './support/broken-readahead.js';

/**
 * The shared readahead tests: every policy in the registries (core/readahead/policies.ts) runs
 * them, so a new policy is tested by being listed there. On cores with random histories each
 * window contains the faulting page, holds no page twice, holds only pages absent in the state
 * its source serves (each with the unit it is read from), stays within the policy kind's bound,
 * and is the same whenever asked in the same state; and the core never loses a write with any
 * swap policy. Deliberately wrong policies must fail the same checks.
 */

const GUEST = 40;
const BLOCKS = 8;
const VMM = 6;

type Op = CoreOp;

const gfn = fc.integer({ min: 0, max: GUEST - 1 });
const block = fc.integer({ min: 0, max: BLOCKS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: gfn.map((g) => ({ k: 'read' as const, g })) },
  { weight: 1, arbitrary: gfn.map((g) => ({ k: 'hostRead' as const, g })) },
  { weight: 4, arbitrary: gfn.map((g) => ({ k: 'write' as const, g })) },
  { weight: 1, arbitrary: gfn.map((g) => ({ k: 'overwrite' as const, g })) },
  // Sequential scans, forwards or backwards: where the VMA policy's window grows.
  {
    weight: 3,
    arbitrary: fc
      .record({ g: gfn, n: fc.integer({ min: -12, max: 12 }) })
      .map((r) => ({ k: 'scan' as const, ...r })),
  },
  { weight: 4, arbitrary: fc.record({ b: block, g: gfn }).map((r) => ({ k: 'diskRead' as const, ...r })) },
  { weight: 3, arbitrary: fc.record({ g: gfn, b: block }).map((r) => ({ k: 'diskWrite' as const, ...r })) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: VMM - 1 }).map((v) => ({ k: 'vmm' as const, v })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }).map((n) => ({ k: 'io' as const, n })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 8, max: GUEST }).map((pages) => ({ k: 'limit' as const, pages })),
  },
  { weight: 1, arbitrary: gfn.map((g) => ({ k: 'inflate' as const, g })) },
  { weight: 1, arbitrary: gfn.map((g) => ({ k: 'deflate' as const, g })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ g: gfn, first: fc.integer({ min: 0, max: 63 }), n: fc.integer({ min: 1, max: 64 }) })
      .map((r) => ({ k: 'chunkWrite' as const, g: r.g, first: r.first, n: Math.min(r.n, 64 - r.first) })),
  },
);

interface Setup {
  mapper: boolean;
  preventer: boolean;
  pageClusterLog2: number;
  fileReadaroundPages: number;
  swapReadahead?: string;
}

function harness(s: Setup, picks: number[]): CoreHarness {
  let i = 0;
  return new CoreHarness(
    {
      guestPages: GUEST,
      imageBlocks: BLOCKS,
      vmmPages: VMM,
      residentLimitPages: 12,
      zoneWeights: [1, 2],
      reclaimBatchPages: 4,
      swapClusterSlots: 8,
      mapper: s.mapper,
      preventer: s.preventer,
      pageClusterLog2: s.pageClusterLog2,
      fileReadaroundPages: s.fileReadaroundPages,
      ...(s.swapReadahead ? { swapReadahead: s.swapReadahead as SwapReadaheadName } : {}),
    },
    () => picks[i++ % picks.length]!,
  );
}

function play(h: CoreHarness, ops: Op[]): void {
  for (const op of ops) playOp(h, op);
}

const setupArb: fc.Arbitrary<Setup> = fc.record({
  mapper: fc.boolean(),
  preventer: fc.boolean(),
  // 0 turns swap readahead off; 6 is above the VMA policy's ceiling of 5.
  pageClusterLog2: fc.integer({ min: 0, max: 6 }),
  fileReadaroundPages: fc.integer({ min: 1, max: 8 }),
});

interface Totals {
  windows: number;
  wide: number;
}

/**
 * The contract of one policy as a property: after a random history (I/O possibly still in flight)
 * a fresh policy on the core's tables answers a random script of faults and hits; every window is
 * checked, and a second run of the script on another fresh policy must give the same windows.
 */
function contract(kind: Kind, make: Factory, totals: Totals): fc.IPropertyWithHooks<unknown[]> {
  return fc.property(
    setupArb,
    fc.array(opArb, { minLength: 1, maxLength: 120, size: 'large' }),
    fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
    fc.array(fc.nat(), { minLength: 10, maxLength: 60, size: 'large' }),
    (setup, ops, picks, script) => {
      const h = harness(setup, picks);
      play(h, ops);
      const c = readaheadContext(h.core);
      const a = runScript(kind, make, c, script);
      const b = runScript(kind, make, c, script);
      totals.windows += a.windows.length;
      totals.wide += a.wide;
      if (a.windows.join('\n') !== b.windows.join('\n')) a.problems.push('two runs of one script differ');
      if (a.problems.length > 0) assert.fail(a.problems.slice(0, 3).join('; '));
    },
  );
}

for (const kind of ['swap', 'file'] as const) {
  for (const [name, make] of Object.entries(registry(kind))) {
    test(`${kind} readahead '${name}': every window keeps the readahead contract on random histories`, () => {
      const totals: Totals = { windows: 0, wide: 0 };
      fc.assert(contract(kind, make, totals), { numRuns: 150, seed: 11 });
      // The histories must have left pages to read ahead, or a pass would mean nothing.
      assert.ok(totals.windows > 1000, `only ${totals.windows} windows`);
      assert.ok(totals.wide > 300, `only ${totals.wide} windows read more than the faulting page`);
    });
  }
}

/** The core driven by random guest activity with swap policy `name`: no read may see a lost write. */
function noLostWrites(name: string, log: ProbeLog): fc.IPropertyWithHooks<unknown[]> {
  return fc.property(
    fc.boolean(),
    fc.array(opArb, { minLength: 1, maxLength: 200, size: 'large' }),
    fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
    (mapper, ops, picks) => {
      const seen = log.problems.length;
      const setup = {
        mapper,
        preventer: mapper,
        pageClusterLog2: 3,
        fileReadaroundPages: 4,
        swapReadahead: name,
      };
      const h = harness(setup, picks);
      play(h, ops);
      h.verifyAll();
      const problems = [...log.problems.slice(seen), ...h.violations];
      if (problems.length > 0) assert.fail(problems.slice(0, 3).join('; '));
    },
  );
}

for (const [name, make] of Object.entries(registry('swap'))) {
  test(`swap readahead '${name}': the core never loses a write, and every window it reads keeps the contract`, () => {
    const log: ProbeLog = { problems: [], windows: 0, wide: 0, hits: 0 };
    withProbe('swap', make, log, (probe) => fc.assert(noLostWrites(probe, log), { numRuns: 150, seed: 5 }));
    assert.ok(log.wide > 500, `only ${log.wide} swap-ins read ahead`);
    // The core reports first uses of pages read ahead only to policies that mark them.
    if (log.tracksHits) assert.ok(log.hits > 200, `only ${log.hits} readahead hits`);
    else assert.equal(log.hits, 0);
  });
}

for (const bug of BROKEN_POLICIES) {
  test(`the readahead contract catches a ${bug.kind} policy that ${bug.what}`, () => {
    const res = fc.check(contract(bug.kind, bug.make, { windows: 0, wide: 0 }), { numRuns: 150, seed: 11 });
    assert.equal(res.failed, true, 'a broken policy must fail the contract');
    assert.match(String(res.errorInstance), bug.caught);
  });
}

test('the core-level check catches a swap policy that reads a page that is not swapped', () => {
  const bug = BROKEN_POLICIES.find((b) => b.what.includes('not swapped'))!;
  const log: ProbeLog = { problems: [], windows: 0, wide: 0, hits: 0 };
  const res = withProbe('swap', bug.make, log, (probe) =>
    fc.check(noLostWrites(probe, log), { numRuns: 150, seed: 5 }),
  );
  assert.equal(res.failed, true, 'a broken policy in the core must fail');
  assert.match(String(res.errorInstance), /which the swap source does not serve/);
});
