import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ConfigName, FigureResult, RunRecord } from '../src/engine/results.js';
import { checkClaims, loadClaims, loadPaperTargets } from '../src/report/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PAPER = loadPaperTargets(join(ROOT, 'data', 'paper-targets.json'));
const CLAIMS = loadClaims(join(ROOT, 'data', 'claims.json'));

const SERIES: [ConfigName, string][] = [
  ['baseline', 'baseline'],
  ['balloon', 'balloon+baseline'],
  ['vswapper', 'vswapper'],
  ['balloon+vswapper', 'balloon+vswapper'],
];

function paperAt(figure: string, series: string, x: number): number {
  const p = PAPER.find((q) => q.figure === figure && q.series === series && q.x === x);
  assert.ok(p?.value != null, `${figure} ${series} ${x}`);
  return p.value;
}

/** Figs. 4 and 14 as the paper printed them, each configuration's runtime passed through `f`. */
function multiGuest(f: (config: ConfigName, guests: number, s: number) => number): FigureResult[] {
  const fig4: RunRecord[] = SERIES.map(([config, name]) => ({
    config,
    x: null,
    metrics: { runtimeS: f(config, 10, paperAt('Figure 4', name, 10)) },
  }));
  const fig14: RunRecord[] = SERIES.flatMap(([config, name]) =>
    Array.from({ length: 10 }, (_, i) => ({
      config,
      x: i + 1,
      metrics: { runtimeS: f(config, i + 1, paperAt('Figure 14', name, i + 1)) },
    })),
  );
  return [
    { figure: 'fig4', engine: 'sim', runs: fig4, meta: { scale: 1 } },
    { figure: 'fig14', engine: 'sim', runs: fig14, meta: { scale: 1 } },
  ];
}

const WIRED = [
  'abs-double',
  'sec1-best-vs-balloon',
  'fig4-balloon-worse-10pct',
  'fig4-2x',
  'fig4-balloon-vsw-10pct',
  'fig14-7guests',
  'fig14-balloon+baseline-vs-combo',
  'fig14-baseline-vs-combo',
  'fig14-vswapper-vs-combo',
];

test('claims: Figs. 4 and 14 as the paper printed them pass every many-guest claim', () => {
  const r = checkClaims(
    multiGuest((_c, _n, s) => s),
    PAPER,
    CLAIMS,
  );
  for (const id of WIRED) {
    const row = r.claims.find((c) => c.id === id);
    assert.ok(row, `${id} is checked`);
    assert.equal(row.pass, true, `${id}: ${row.why}`);
  }
  assert.ok(!r.notCovered.some((c) => WIRED.includes(c.id)));
  // Fig. 4's bars (x null here) meet the paper's, which it gives at 10 guests.
  const fig4 = r.figures.find((f) => f.figure === 'Figure 4')!;
  assert.equal(fig4.compared, 4);
  assert.equal(fig4.medianErrorPct, 0);
  const fig14 = r.figures.find((f) => f.figure === 'Figure 14')!;
  assert.equal(fig14.compared, 40);
});

test('claims: a balloon that helps instead of hurting at 10 guests fails the counterproductive claims', () => {
  // The balloon configurations 40 % faster from 7 guests on: ballooning no longer worse than baseline.
  const r = checkClaims(
    multiGuest((c, n, s) => (c.startsWith('balloon') && n >= 7 ? s * 0.6 : s)),
    PAPER,
    CLAIMS,
  );
  const row = (id: string) => r.claims.find((c) => c.id === id)!;
  assert.equal(row('fig4-balloon-worse-10pct').pass, false);
  assert.match(row('fig4-balloon-worse-10pct').why, /outside/);
  assert.equal(row('sec1-best-vs-balloon').pass, false);
  assert.equal(row('fig4-balloon-vsw-10pct').pass, false);
  // Configurations without a balloon are untouched, so the baseline's knee at 7 guests still passes.
  assert.equal(row('fig14-7guests').pass, true);
});

test('claims: no knee between 6 and 7 guests fails "seven or more guests create pressure"', () => {
  const r = checkClaims(
    multiGuest((_c, n, s) => (n >= 7 ? s * (40.86 / 61.9) : s)),
    PAPER,
    CLAIMS,
  );
  assert.equal(r.claims.find((c) => c.id === 'fig14-7guests')!.pass, false);
});

test("claims: a guest-swap variant of Figs. 4 and 14 is not compared with the paper's setup, even when it would pass", () => {
  const results = multiGuest((_c, _n, s) => s).map((r) => ({
    ...r,
    meta: {
      ...r.meta,
      guestSwapMiB: 2048,
      variant: "a 2048 MiB swap partition in each guest (not the paper's setup)",
    },
  }));
  const r = checkClaims(results, PAPER, CLAIMS);
  for (const id of WIRED) {
    const row = r.claims.find((c) => c.id === id)!;
    assert.equal(row.pass, null, id);
    assert.match(row.why, /variant run .*2048 MiB swap partition/);
  }
});

test('claims: a configuration killed at the point a claim compares fails it, saying it was killed and how', () => {
  const results = multiGuest((_c, _n, s) => s);
  const fig4 = results.find((r) => r.figure === 'fig4')!;
  const balloon = fig4.runs.find((q) => q.config === 'balloon')!;
  Object.assign(balloon, {
    metrics: {},
    killed: true,
    notes: ['killed in 1 of 5 runs: guest OOM killer killed metis-wc'],
  });
  const r = checkClaims(results, PAPER, CLAIMS);
  const row = r.claims.find((c) => c.id === 'fig4-balloon-worse-10pct')!;
  assert.equal(row.pass, false);
  assert.equal(row.ours, null);
  assert.match(row.why, /^fig4: balloon killed \(killed in 1 of 5 runs: guest OOM killer killed metis-wc\)/);
  // A claim that compares no killed configuration is untouched.
  assert.equal(r.claims.find((c) => c.id === 'fig14-7guests')!.pass, true);
});
