import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EngineInputError, checkRequest } from '../src/engine/engine.js';
import { SIM_FIGURES, jobKey } from '../src/experiments/figures.js';
import { reproduceSim } from '../src/experiments/reproduce.js';
import { simEngine } from '../src/experiments/sim-engine.js';

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');

test("reproduce's guest-swap variant: §5.2's figures only, a whole number of MiB", () => {
  for (const id of ['fig4', 'fig14'])
    assert.doesNotThrow(() => checkRequest(simEngine, id, { guestSwapMiB: 512 }));
  assert.doesNotThrow(() => checkRequest(simEngine, 'fig3', { guestSwapMiB: 0 }), '0 is the default: none');
  assert.throws(
    () => checkRequest(simEngine, 'fig3', { guestSwapMiB: 64 }),
    (e: Error) =>
      e instanceof EngineInputError &&
      /fig3 .* no guest-swap variant .*fig14, fig4|fig4, fig14/.test(e.message),
  );
  for (const bad of [-1, 1.5, Number.NaN, 1e9])
    assert.throws(() => checkRequest(simEngine, 'fig4', { guestSwapMiB: bad }), /guest swap: a whole number/);
});

test("the variant's runs are other runs than the paper's (their own store keys), each guest given the partition", () => {
  const base = SIM_FIGURES.fig4!;
  const variant = base.withGuestSwap!(512);
  const baseKeys = new Set(base.jobs(0.1, [1, 2]).map(jobKey));
  const jobs = variant.jobs(0.1, [1, 2]);
  assert.equal(jobs.length, baseKeys.size);
  for (const j of jobs) {
    assert.equal(j.guestSwapMiB, 512);
    assert.ok(!baseKeys.has(jobKey(j)), 'a variant run never stands for a paper run');
  }
  assert.ok(!('withGuestSwap' in variant), 'no variant of a variant');
});

test('a guest-swap reproduce says so in its metadata and every point, and its guests have the partition', async () => {
  const opts = { scale: 0.02, seeds: [1], configs: ['baseline' as const] };
  const [plain] = await reproduceSim(['fig4'], opts);
  const [gs] = await reproduceSim(['fig4'], { ...opts, guestSwapMiB: 512 });
  assert.equal(plain!.meta.guestSwapMiB, undefined);
  assert.equal(gs!.meta.guestSwapMiB, 512);
  assert.match(String(gs!.meta.variant), /512 MiB swap partition in each guest/);
  assert.ok(plain!.runs.every((r) => !r.notes?.some((n) => /variant/.test(n))));
  assert.ok(
    gs!.runs.length > 0 && gs!.runs.every((r) => r.notes?.some((n) => /variant: a 512 MiB swap/.test(n))),
  );
  for (const r of gs!.runs) assert.equal(r.killed, undefined);
});

test('the CLI refuses --guest-swap on a figure without the variant, and a bad size, before running anything', () => {
  const out = mkdtempSync(join(tmpdir(), 'gswap-'));
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, 'reproduce', ...args, '--out', join(out, 'o'), '--fresh'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
  const a = run('fig3', '--guest-swap', '64');
  assert.equal(a.status, 2, a.stderr);
  assert.match(a.stderr, /no guest-swap variant/);
  const b = run('fig4', '--guest-swap', '-5');
  assert.equal(b.status, 2, b.stderr);
  assert.match(b.stderr, /--guest-swap/);
});
