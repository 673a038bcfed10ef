/**
 * The balloon configurations of the qemu-pager engine, without running a guest: which it declares,
 * what its availability says of them (the patched QEMU for balloon+vswapper, as for vswapper), the
 * balloon's schedule, and bad options refused before any work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type PagerRunOptions, balloonScheduleOf, pagerEngine, runPagerConfig } from '../src/pager/index.js';

test('the pager engine runs balloon, balloon+vswapper, balloon+mapper and baseline+fpr, and says nothing cannot run', () => {
  for (const c of ['balloon', 'balloon+vswapper', 'balloon+mapper', 'baseline+fpr'] as const)
    assert.ok(pagerEngine.configs.includes(c), c);
  assert.deepEqual(pagerEngine.cannot, {});
});

test('availability: balloon runs where the engine does; balloon+vswapper where vswapper does', async () => {
  const a = await pagerEngine.availability();
  if (!a.engine.ok) {
    // Without root/userfaultfd nothing runs, and every configuration says why.
    assert.equal(a.configs.balloon.ok, false);
    assert.ok(!a.configs.balloon.ok && a.configs.balloon.reason.length > 0);
    return;
  }
  assert.equal(a.configs.balloon.ok, true);
  assert.equal(a.configs['balloon+vswapper'].ok, a.configs.vswapper.ok);
  const bv = a.configs['balloon+vswapper'];
  if (!bv.ok) assert.match(bv.reason, /patched QEMU is not built/);
});

/** A small run's options: refused before any work, so never run. */
const SMALL = {
  believedMiB: 128,
  actualMiB: 64,
  fileMiB: 50,
  iterations: 2,
  allocMiB: 0,
  hddLike: false,
} as const;

const refusals: [string, Partial<PagerRunOptions>, RegExp][] = [
  [
    'free page reporting without a balloon',
    { config: 'mapper', freePageReporting: true },
    /free page reporting needs a balloon configuration \(or baseline\+fpr\), not mapper/,
  ],
  [
    'inflating after the warm-up without a balloon',
    { config: 'baseline', inflateAfterWarmup: true },
    /inflateAfterWarmup needs a balloon configuration, not baseline/,
  ],
  [
    'a balloon schedule without a balloon',
    { config: 'baseline+fpr', balloonSchedule: [{ after: 'warmup', keepMiB: 64 }] },
    /balloonSchedule needs a balloon configuration, not baseline\+fpr/,
  ],
  [
    'a balloon schedule beside inflateAfterWarmup',
    { config: 'balloon', inflateAfterWarmup: true, balloonSchedule: [{ after: 1, keepMiB: 64 }] },
    /balloonSchedule and inflateAfterWarmup exclude each other/,
  ],
  [
    'a balloon schedule step after an iteration the run does not have',
    { config: 'balloon', balloonSchedule: [{ after: 3, keepMiB: 64 }] },
    /step 0: after must be 'boot', 'warmup' or an iteration 1\.\.2, got 3/,
  ],
  [
    'a balloon schedule out of order',
    {
      config: 'balloon+mapper',
      balloonSchedule: [
        { after: 2, keepMiB: 64 },
        { after: 'warmup', keepMiB: 128 },
      ],
    },
    /step 1 comes before the step ahead of it/,
  ],
  [
    'a balloon schedule keeping more than the guest believes it has',
    { config: 'balloon', balloonSchedule: [{ after: 'boot', keepMiB: 129 }] },
    /step 0: keepMiB must be a whole number in 1\.\.128, got 129/,
  ],
];

for (const [what, options, message] of refusals)
  test(`${what} is refused before any work`, async () => {
    await assert.rejects(runPagerConfig({ ...SMALL, config: 'balloon', ...options }), message);
  });

test("a balloon configuration's default schedule: the static inflation, before the warm-up or after it", () => {
  assert.deepEqual(balloonScheduleOf({ ...SMALL, config: 'balloon+mapper' }), [
    { after: 'boot', keepMiB: 64 },
  ]);
  assert.deepEqual(balloonScheduleOf({ ...SMALL, config: 'balloon', inflateAfterWarmup: true }), [
    { after: 'warmup', keepMiB: 64 },
  ]);
  assert.deepEqual(balloonScheduleOf({ ...SMALL, config: 'baseline+fpr' }), []);
});
