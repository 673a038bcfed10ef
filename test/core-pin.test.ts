/**
 * Host pins (the core's pinHost/unpinHost): an external back end reads and writes vrings, request
 * headers and status bytes in guest RAM in place, so those pages must be present while it does and
 * must not be evicted under it. The back end pins the (at most two) pages one access needs, possibly
 * waiting for the second while holding the first, accesses them and unpins both, as the pager does.
 * Model-based against the reference memory, with and without the Mapper.
 *
 * Pins held across many other operations are not tested: like DMA pins they stay on the inactive
 * list, and a tiny guest whose inactive list holds only pinned pages would stall reclaim (the
 * active list is aged only while the inactive one is low).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { State } from '../src/core/index.js';
import { CoreHarness } from './support/core-harness.js';

const GUEST = 20;
const BLOCKS = 6;

type Op =
  | { k: 'read' | 'write'; g: number }
  | { k: 'host'; g: number; g2: number; write: boolean }
  | { k: 'diskRead' | 'diskWrite'; g: number; b: number }
  | { k: 'io'; n: number };

const g = fc.integer({ min: 0, max: GUEST - 1 });
const b = fc.integer({ min: 0, max: BLOCKS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: g.map((g) => ({ k: 'read' as const, g })) },
  { weight: 4, arbitrary: g.map((g) => ({ k: 'write' as const, g })) },
  {
    weight: 4,
    arbitrary: fc.record({ g, g2: g, write: fc.boolean() }).map((r) => ({ k: 'host' as const, ...r })),
  },
  { weight: 3, arbitrary: fc.record({ g, b }).map((r) => ({ k: 'diskRead' as const, ...r })) },
  { weight: 2, arbitrary: fc.record({ g, b }).map((r) => ({ k: 'diskWrite' as const, ...r })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 4 }).map((n) => ({ k: 'io' as const, n })) },
);

for (const mapper of [false, true]) {
  test(`pinned pages stay present and no write is lost (mapper ${mapper ? 'on' : 'off'})`, () => {
    let pinFaults = 0;
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 200, size: 'large' }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        (ops, picks) => {
          let i = 0;
          const h = new CoreHarness(
            {
              guestPages: GUEST,
              imageBlocks: BLOCKS,
              mapper,
              residentLimitPages: 8,
              zoneWeights: [1],
              pageClusterLog2: 1,
              fileReadaroundPages: 2,
              reclaimBatchPages: 2,
              swapClusterSlots: 4,
            },
            () => picks[i++ % picks.length]!,
          );
          const before = h.core.counters.hostFaultsInHost;
          for (const op of ops) {
            switch (op.k) {
              case 'read':
                h.guestRead(op.g);
                break;
              case 'write':
                h.guestWrite(op.g);
                break;
              case 'host':
                // A status byte (written) and a header (read), or a vring's two pages.
                h.hostPin(op.g, op.write);
                h.hostPin(op.g2, false);
                assert.equal(
                  h.core.inspect(op.g).state,
                  State.Resident,
                  `page ${op.g} stays pinned while ${op.g2} faults in`,
                );
                h.hostUnpin(op.g2);
                h.hostUnpin(op.g);
                break;
              case 'diskRead':
                h.diskRead(op.b, op.g);
                break;
              case 'diskWrite':
                h.diskWrite(op.g, op.b);
                break;
              case 'io':
                for (let k = 0; k < op.n; k++) h.completeOne();
                break;
            }
          }
          pinFaults += h.core.counters.hostFaultsInHost - before;
          h.verifyAll();
          assert.deepEqual(h.violations, []);
        },
      ),
      { numRuns: 300, seed: mapper ? 11 : 12 },
    );
    assert.ok(pinFaults > 50, `pins of absent pages fault them in (host context): ${pinFaults}`);
  });
}

test('a host write through a pin breaks the Mapper association: the page is swapped, not dropped', () => {
  const h = new CoreHarness({
    guestPages: 8,
    imageBlocks: 4,
    mapper: true,
    residentLimitPages: 4,
    zoneWeights: [1],
    reclaimBatchPages: 1,
    swapClusterSlots: 4,
  });
  h.diskRead(1, 0);
  assert.equal(h.core.census().mapperTracked, 1);
  h.hostPin(0, true);
  h.hostUnpin(0);
  assert.equal(h.core.census().mapperTracked, 0);
  for (let p = 1; p < 8; p++) h.guestWrite(p);
  h.settle();
  h.verifyAll();
  assert.deepEqual(h.violations, []);
});
