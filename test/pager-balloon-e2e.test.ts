/**
 * The balloon on the qemu-pager engine, end to end on the real Debian guest (root and QEMU needed;
 * skipped otherwise): QEMU's virtio-balloon inflated through QMP before the workload, after it, and
 * inflated, deflated and inflated again during the run; its discards heard by the pager
 * (UFFD_EVENT_REMOVE), the run's checksum equal, no discarded page read back from swap, the memfd's
 * allocation dropping at each inflation, the host left as found (also after SIGINT).
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type PagerRunOptions,
  type PagerRunResult,
  pagerEngine,
  runPagerConfig,
} from '../src/pager/index.js';
import { cacheDir } from '../src/real/paths.js';
import { waitForIdleEngine } from './support/engine-lock.js';
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

/** The engine's QEMU and daemons, its work files and the lock: what a run could leave behind. */
function hostState(): string[] {
  return flat(pagerHostState());
}
const flat = (s: PagerHostState): string[] => [...s.processes.map((p) => `process ${p}`), ...s.files];

/** The host once the run's processes are reaped and no other file's run holds the engine. */
async function settled(before: string[]): Promise<string[]> {
  const processes = before.filter((x) => x.startsWith('process '));
  return flat(await settledPagerHost({ processes, files: [] }));
}

/**
 * 160 MiB believed, 112 kept: a Debian guest needs about 60 MiB of its own (issue 13, item 5; at
 * 64 MiB kept it thrashed its own page cache for minutes here); the 50 MiB file read `iterations`
 * times. `order` sets when the balloon moves: the options that differ between the tests.
 */
const BALLOON_RUN = {
  config: 'balloon',
  believedMiB: 160,
  actualMiB: 112,
  fileMiB: 50,
  iterations: 2,
  allocMiB: 0,
  hddLike: false,
} as const satisfies PagerRunOptions;

/** One balloon run on the pager with the host checked before and after; its record is logged. */
async function balloonRun(order: Partial<PagerRunOptions>): Promise<PagerRunResult> {
  await waitForIdleEngine(cacheDir());
  const before = flat(pagerHostBefore());
  const r = await runPagerConfig({ ...BALLOON_RUN, ...order, onProgress: (m) => console.log(`# ${m}`) });
  console.log(JSON.stringify({ info: r.info, notes: r.notes, metrics: r.iterations.map((i) => i.metrics) }));
  assert.equal(r.checksumOk, true, r.notes.join('\n'));
  assert.equal(r.info['pager.balloonSwapReadBacks'], 0, 'a discarded page was read back from swap');
  assert.equal(r.info['pager.lostPages'], 0);
  assert.ok(r.iterations.every((i) => i.metrics.integrityViolations === 0));
  assert.deepEqual(await settled(before), before, 'the run left something behind');
  return r;
}

test(
  'balloon on the pager: inflated by QMP, discards heard, none read back from swap, md5 equal',
  { skip, timeout: 1_800_000 },
  async () => {
    const r = await balloonRun({});
    const balloonPages = r.iterations[0]!.metrics.balloonPages ?? 0;
    // The balloon took most of what was asked (48 MiB = 12,288 pages), as QEMU's query-balloon says.
    assert.ok(balloonPages > 0.9 * 12_288, `balloonPages ${balloonPages}`);
    // The guest's driver reports its pages to QEMU, which discards them: the pager heard it.
    assert.ok(Number(r.info['pager.balloonRemoved']) > 0, 'no discard reached the pager');
    assert.ok(
      Number(r.info.memfdAfterBalloonMiB) <= Number(r.info.memfdBeforeBalloonMiB),
      'the memfd grew under the balloon',
    );
  },
);

test(
  'balloon inflated over a guest the pager has swapped, free page reporting on: swapped pages freed, none read back',
  { skip, timeout: 1_800_000 },
  async () => {
    // The warm-up fills the guest past the pager's 112 MiB, so the pager swaps; the balloon then
    // takes free pages whose only copy is in swap. Free page reporting discards all along.
    const r = await balloonRun({ inflateAfterWarmup: true, freePageReporting: true });
    assert.ok(Number(r.info.balloonRemovedSwappedByInflate) > 1000, 'the balloon took swapped pages');
    assert.ok(
      Number(r.info.memfdAfterBalloonMiB) < Number(r.info.memfdBeforeBalloonMiB),
      `memfd ${r.info.memfdBeforeBalloonMiB} -> ${r.info.memfdAfterBalloonMiB} MiB`,
    );
  },
);

/** Inflated after the warm-up, deflated whole after iteration 1, inflated again after iteration 2. */
const SCHEDULE = [
  { after: 'warmup', keepMiB: BALLOON_RUN.actualMiB },
  { after: 1, keepMiB: BALLOON_RUN.believedMiB },
  { after: 2, keepMiB: BALLOON_RUN.actualMiB },
] as const;

test(
  'balloon schedule: inflated, deflated and inflated again during the run; no page lost, none read back, the memfd drops at each inflation',
  { skip, timeout: 1_800_000 },
  async () => {
    const r = await balloonRun({ iterations: 3, balloonSchedule: SCHEDULE });
    const step = (i: number, k: string): number => Number(r.info[`balloonStep${i}${k}`]);
    for (const i of [0, 2]) {
      assert.ok(
        step(i, 'MemfdAfterMiB') < step(i, 'MemfdBeforeMiB'),
        `inflation ${i}: memfd ${step(i, 'MemfdBeforeMiB')} -> ${step(i, 'MemfdAfterMiB')} MiB`,
      );
      assert.ok(
        step(i, 'KeptMiB') <= BALLOON_RUN.actualMiB + 4,
        `inflation ${i} kept ${step(i, 'KeptMiB')} MiB`,
      );
    }
    // The first inflation discards every page it takes. The second may take back pages the
    // deflation returned and the guest never touched: they hold nothing, so the pager skips them
    // (measured: 4,528 of 12,288 pages had content again).
    assert.ok(step(0, 'Removed') > 0.9 * 12_288, `the first inflation discarded ${step(0, 'Removed')} pages`);
    assert.ok(step(2, 'Removed') > 0, 'the second inflation discarded nothing');
    // Deflated whole: the guest got its pages back, and iteration 2 ran with no balloon.
    assert.ok(
      step(1, 'KeptMiB') >= BALLOON_RUN.believedMiB - 4,
      `the deflation kept ${step(1, 'KeptMiB')} MiB`,
    );
    assert.equal(step(1, 'Removed'), 0, 'a deflation discards nothing');
    const sizes = r.iterations.map((i) => i.metrics.balloonPages ?? -1);
    assert.ok(
      sizes[0]! > 0.9 * 12_288 && sizes[1]! < 1024 && sizes[2]! > 0.9 * 12_288,
      `balloon sizes ${sizes.join(', ')}`,
    );
    // Iteration 2 used the deflated memory past the pager's limit: the second inflation met pages
    // whose only copy was in swap, freed them, and never read one back (balloonRun checks).
    assert.ok(step(2, 'RemovedSwapped') > 0, 'the second inflation took no swapped page');
  },
);

test(
  'balloon schedule interrupted by SIGINT at the deflation: the host is left as found',
  { skip, timeout: 1_800_000 },
  async () => {
    await waitForIdleEngine(cacheDir());
    const before = flat(pagerHostBefore());
    const spec = { ...BALLOON_RUN, iterations: 3, balloonSchedule: SCHEDULE };
    const { sent, during, out, signalCode } = await interruptWhen(
      /balloon deflated/,
      `
    import { runPagerConfig } from ${JSON.stringify(resolve(HERE, '../src/pager/index.js'))};
    await runPagerConfig({ ...${JSON.stringify(spec)}, onProgress: (m) => process.stdout.write(m + '\\n') });`,
      hostState,
    );
    assert.ok(sent, `the run never deflated its balloon: ${out}`);
    assert.ok(during!.length > before.length, 'QEMU, the daemon and work files were there');
    assert.equal(signalCode, 'SIGINT', 'the process ended by the signal');
    assert.doesNotMatch(out, /finished/);
    assert.deepEqual(await settled(before), before);
  },
);
