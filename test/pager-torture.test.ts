/**
 * The pager's torture test (root needed: userfaultfd is privileged here). This process plays QEMU:
 * vCPU-named threads write and check guest pages nonstop while the pager, with a resident limit of
 * an eighth of guest RAM, evicts them; the main thread reads disk blocks into pages (some while
 * another thread faults on the very page), writes pages to disk (also pages the Mapper has named,
 * to other blocks), and finally checks every page and every block. It covers:
 * - a guest write landing between the copy-out of an evicted page and its hole punch;
 * - the back end's disk reads into absent pages racing faults on them;
 * - disk writes to blocks whose (named, dropped) pages must keep the old content (§4.1);
 * and a sabotaged pager (no write-protection before eviction) shows the test catches lost writes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PAGED_PROCESS_SKIP as skip } from './support/paged-process.js';
import { runTorture } from './support/pager-torture.js';

const cases = [
  { mapper: false, disk: 'immediate', sampling: true },
  { mapper: true, disk: 'immediate', sampling: true },
  { mapper: false, disk: 'hdd-model', sampling: true },
  { mapper: true, disk: 'hdd-model', sampling: true },
  // Without sampling every eviction of a dirty page freezes it, copies it out and punches it only
  // once the (modelled, slow) swap write is done: the widest window for a racing write.
  { mapper: false, disk: 'hdd-model', sampling: false },
  { mapper: true, disk: 'hdd-model', sampling: false },
] as const;

for (const { mapper, disk, sampling } of cases) {
  {
    test(
      `torture: nothing is lost (mapper ${mapper ? 'on' : 'off'}, ${disk} disk, ${sampling ? 'with' : 'no'} access sampling)`,
      { skip, timeout: 300_000 },
      async () => {
        const r = await runTorture({
          mapper,
          disk,
          ops: disk === 'immediate' ? 3000 : 300,
          residentLimitPages: 512,
          seed: mapper ? 3 : 4,
          ...(sampling ? {} : { samplingDepth: 0 }),
        });
        assert.deepEqual(r.lost.slice(0, 5), [], `${r.lost.length} lost`);
        assert.deepEqual(r.problems, []);
        const p = new Proxy(r.pager, { get: (t, k: string) => t[k] ?? 0 });
        console.log(
          JSON.stringify({
            writerOps: r.writerOps,
            ...Object.fromEntries(
              [
                'uffdFaultsGuest',
                'uffdFaultsHost',
                'wpFaults',
                'swapWritePages',
                'swapReadPages',
                'sampledArmed',
                'sampledHits',
                'namedDrops',
                'invalidationReads',
                'staleSwapReads',
                'imageReadPages',
                'punches',
              ].map((k) => [k, p[k]]),
            ),
          }),
        );
        assert.equal(p.lostPages!, 0, 'no fault found a page missing that the core thought present');
        assert.equal(p.copyExists!, 0, 'no copy found a page already there');
        // The run did what it is meant to: evictions under writes, faults from the vCPU threads,
        // write-protect faults, and (Mapper) named pages dropped and invalidated.
        assert.ok(r.writerOps > 20_000, `writers ran ${r.writerOps} operations`);
        assert.ok(p.uffdFaultsGuest! > 1000, `guest-context faults ${p.uffdFaultsGuest}`);
        assert.ok(p.wpFaults! > 20, `write-protect faults ${p.wpFaults}`);
        assert.ok(p.swapWritePages! > 2000, `pages written to swap ${p.swapWritePages}`);
        if (sampling) assert.ok(p.sampledHits! > 0, `sampled accesses ${p.sampledHits}`);
        else assert.equal(p.sampledArmed, 0);
        if (mapper) {
          assert.ok(p.namedDrops! > 200, `named pages dropped ${p.namedDrops}`);
          assert.ok(p.invalidationReads! > 0, `invalidation reads ${p.invalidationReads}`);
        } else {
          assert.ok(p.staleSwapReads! > 50, `stale swap reads ${p.staleSwapReads}`);
          assert.equal(p.namedDrops!, 0);
        }
      },
    );
  }
}

test(
  'torture: a pager that evicts without write-protecting first loses writes, and the test sees it',
  { skip, timeout: 300_000 },
  async () => {
    // Whether a writer hits the window between a page's copy and its punch depends on timing: on a
    // quiet machine one history can slip through whole (seen once in CI). A few histories, each
    // must not be believed clean for the test to pass: at least one must show the loss.
    const outcomes: string[] = [];
    for (const seed of [5, 6, 7]) {
      try {
        const r = await runTorture({
          mapper: false,
          disk: 'hdd-model',
          ops: 600,
          residentLimitPages: 512,
          seed,
          samplingDepth: 0,
          sabotage: 'skip-write-protect',
        });
        outcomes.push(`seed ${seed}: ${r.lost.length} lost${r.lost.length ? `, e.g. ${r.lost[0]}` : ''}`);
        if (r.lost.length > 0) break;
      } catch (e) {
        // Depending on timing the broken pager can also lose a request's data before the writers
        // start: the harness's own disk check refuses it, which is detection too.
        assert.match(String(e), /read failed|lost|differs/, 'the harness refused the broken pager');
        outcomes.push(`seed ${seed}: refused early (${String(e)})`);
        break;
      }
    }
    console.log(`sabotaged: ${outcomes.join('; ')}`);
    assert.ok(
      !/ 0 lost$/.test(outcomes[outcomes.length - 1]!),
      `lost writes detected: ${outcomes.join('; ')}`,
    );
  },
);
