import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { METRIC_NAMES } from '../src/engine/results.js';
import { multiGuestScenario, runMultiGuestSim } from '../src/experiments/multi-guest.js';
import { checkMultiOptions } from '../src/qemu/multi-guest.js';
import { isFigureResult } from '../src/report/result-files.js';
import { crossCheck } from '../src/report/index.js';

test("the scaled scenario: the paper's sizes times the scale, the host's 8 GB per 10 guests", () => {
  // 2048 x 0.125 = 256; 8192 x 3 / 10 x 0.125 = 307.2; 300 x 0.125 = 37.5; 1M x 0.125.
  assert.deepEqual(multiGuestScenario(3, 0.125), {
    guests: 3,
    scale: 0.125,
    guestMiB: 256,
    hostMiB: 307,
    inputMiB: 38,
    keys: 125000,
    startIntervalS: 10,
  });
  assert.throws(() => multiGuestScenario(0, 0.125), /guests must be 1-10, got 0/);
  assert.throws(() => multiGuestScenario(3, 2), /scale must be within \(0, 1\], got 2/);
});

test('a real run refuses impossible sizes before anything is built or touched', () => {
  const ok = {
    config: 'baseline' as const,
    guests: 3,
    guestMiB: 256,
    hostMiB: 307,
    inputMiB: 38,
    keys: 125000,
    startIntervalS: 10,
  };
  checkMultiOptions(ok);
  assert.throws(() => checkMultiOptions({ ...ok, guests: 0 }), /guests must be a whole number >= 1, got 0/);
  assert.throws(() => checkMultiOptions({ ...ok, guestMiB: 64 }), /guestMiB must be a whole number >= 128/);
  assert.throws(() => checkMultiOptions({ ...ok, keys: 500000 }), /keys must be at most 456976/);
  assert.throws(() => checkMultiOptions({ ...ok, startIntervalS: -1 }), /startIntervalS must be >= 0/);
});

test('the simulator beside it: one record per configuration and guest, in the result schema', () => {
  const sc = multiGuestScenario(2, 1 / 32);
  const f = runMultiGuestSim(sc, ['baseline'], 1);
  assert.ok(isFigureResult(f));
  assert.equal(f.engine, 'sim');
  assert.deepEqual(
    f.runs.map((r) => `${r.config} ${r.x}`),
    ['baseline 1', 'baseline 2'],
  );
  for (const r of f.runs) {
    for (const k of Object.keys(r.metrics)) assert.ok((METRIC_NAMES as readonly string[]).includes(k), k);
    if (!r.killed) assert.ok(r.metrics.runtimeS! > 0);
    assert.equal(r.metrics.integrityViolations ?? 0, 0);
  }
  // Paired with a qemu result of the same figure, compare lines them up by configuration and guest.
  const qemu = {
    ...f,
    engine: 'qemu' as const,
    runs: f.runs.map((r) => ({ ...r, metrics: { runtimeS: 1 } })),
  };
  const rows = crossCheck([f, qemu]).filter((r) => r.metric === 'runtimeS');
  assert.deepEqual(
    rows.map((r) => `${r.config} ${r.x} ${r.values.qemu}`),
    f.runs.filter((r) => !r.killed).map((r) => `baseline ${r.x} 1`),
  );
});

test('vswapper guests: bad input is one line, exit code 2, before any work', () => {
  const cli = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [cli, 'guests', ...args], { encoding: 'utf8' });
  const a = run('--guests', '0', '--engine', 'sim');
  assert.equal(a.status, 2);
  assert.match(a.stderr, /--guests\/--scale: guests must be 1-10, got 0/);
  const b = run('--configs', 'vswapper', '--engine', 'sim');
  assert.equal(b.status, 2);
  assert.match(b.stderr, /--configs: each must be baseline or balloon, got "vswapper"/);
  const c = run('--engine', 'pager');
  assert.equal(c.status, 2);
  assert.match(c.stderr, /--engine must be qemu or sim, got "pager"/);
});
