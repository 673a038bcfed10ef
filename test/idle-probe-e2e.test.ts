/**
 * The idle probe on the real Debian guest (root, QEMU and the pager engine needed; skipped with the
 * reason otherwise): a small run measures, and a SIGINT in the middle leaves the host as found.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pagerEngine } from '../src/pager/index.js';
import { runIdleProbe } from '../src/pager/idle-probe.js';
import { onIdleEngine } from './support/engine-lock.js';
import { interruptWhen } from './support/interrupt.js';
import {
  type PagerHostState,
  pagerHostBefore,
  pagerHostState,
  settledPagerHost,
} from './support/pager-host.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const pa = (await pagerEngine.availability()).engine;
const skip = pa.ok ? false : `qemu-pager engine unavailable here: ${pa.reason}`;

/** What a run could leave behind, loop devices included. */
const hostState = (): PagerHostState => pagerHostState({ loops: true });
/** The same before a run, dead runs' leftovers recovered first (pagerHostBefore). */
const hostBefore = (): PagerHostState => pagerHostBefore({ loops: true });
const settled = (before: PagerHostState): Promise<PagerHostState> => settledPagerHost(before, hostState);

test(
  'an idle guest evicted to the floor faults pages back; the curve rises and the host is left as found',
  { skip, timeout: 60 * 60_000 },
  async (t) => {
    await onIdleEngine(t, async () => {
      const before = hostBefore();
      const r = await runIdleProbe({ believedMiB: 256, rounds: 2, windowS: 6, settleS: 2 });
      assert.deepEqual(await settled(before), before);
      assert.equal(r.rounds.length, 2);
      assert.deepEqual(r.windowsS, [0.5, 1, 2, 5]);
      assert.ok(
        r.kernelRegions.some((x) => x.name === 'Kernel code'),
        'the guest showed its kernel image',
      );
      assert.match(r.guestKernel, /^\d+\.\d+/);
      for (const x of r.rounds) {
        assert.ok(x.memfdBeforeMiB > x.memfdAfterEvictionMiB, 'the eviction took guest RAM');
        assert.ok(x.memfdAfterEvictionMiB <= (r.floorPages * 4096) / 2 ** 20 + 0.5, 'down to the floor');
        assert.ok(x.distinctPages > 0, 'even an idle guest touches pages');
        assert.ok(x.distinctReadFromSwap > 0, 'some came back from swap');
        const c = r.windowsS.map((w) => x.wssPages[String(w)]!);
        for (let i = 1; i < c.length; i++) assert.ok(c[i]! >= c[i - 1]!);
        assert.ok(x.trace.every(([tS]) => tS >= 0 && tS <= 6));
        assert.equal(
          Object.values(x.byRegion).reduce((a, b) => a + b, 0),
          x.distinctPages,
          'every page is in one region',
        );
      }
      // Every touched page's kind was read from the guest (none 'unknown').
      assert.equal(
        Object.values(r.byKind).reduce((a, b) => a + b, 0),
        new Set(r.rounds.flatMap((x) => x.trace.map(([, p]) => p))).size,
      );
      assert.equal(r.byKind.unknown, undefined);
      assert.equal(r.longRates.length, 1);
      assert.deepEqual([r.longRates[0]!.fromS, r.longRates[0]!.toS], [3, 6]);
    });
  },
);

test(
  'SIGINT during the idle probe leaves the host as it was found',
  { skip, timeout: 60 * 60_000 },
  async (t) => {
    await onIdleEngine(t, async () => {
      const before = hostBefore();
      const { sent, during, out, signalCode } = await interruptWhen(
        /round 1\/3/,
        `
      import { runIdleProbe } from ${JSON.stringify(resolve(HERE, '../src/pager/idle-probe.js'))};
      await runIdleProbe({ believedMiB: 256, rounds: 3, windowS: 30, settleS: 1,
        onProgress: (m) => process.stdout.write(m + '\\n') });`,
        hostState,
      );
      assert.ok(sent, `the probe never finished its first round: ${out}`);
      assert.ok(during!.processes.length >= before.processes.length + 2, 'QEMU and the daemon were running');
      assert.ok(during!.files.length > before.files.length, 'work files existed');
      assert.equal(signalCode, 'SIGINT', 'the process ended by the signal');
      assert.doesNotMatch(out, /finished/);
      assert.deepEqual(await settled(before), before);
    });
  },
);
