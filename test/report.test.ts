import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIGURE_SPECS } from '../src/experiments/figure-specs.js';
import type { FigureResult } from '../src/experiments/results.js';
import { loadPaperTargets, niceTicks, ratio, renderSvg, svgToPng, writeReport } from '../src/report/index.js';

const PAPER = join(import.meta.dirname, '..', '..', '..', 'shared', 'paper', 'paper-targets.json');

function fig9(engine: 'sim' | 'qemu', scale = 1): FigureResult {
  const runs = (['baseline', 'balloon', 'vswapper'] as const).flatMap((config, c) =>
    [1, 2, 3, 4, 5, 6, 7, 8].map((x) => ({
      config,
      x,
      metrics: {
        runtimeS: (10 - c * 3 + x) * scale,
        hostFaultsInHost: 1000 * x,
        hostFaultsInGuest: 500 * x,
        swapWriteSectors: c === 0 ? 400_000 : 0,
      },
    })),
  );
  return { figure: 'fig9', engine, runs, meta: { test: true } };
}
const fig3: FigureResult = {
  figure: 'fig3',
  engine: 'sim',
  runs: [
    { config: 'baseline', x: null, metrics: { runtimeS: 30.96 } },
    { config: 'balloon', x: null, metrics: { runtimeS: 3 } },
    {
      config: 'vswapper',
      x: null,
      metrics: { runtimeS: 4 },
      notes: ['vswapper runs without the False Reads Preventer'],
    },
  ],
  meta: {},
};

test('paper targets: the four Fig. 3 bars and 24 Fig. 9a points', () => {
  const p = loadPaperTargets(PAPER);
  assert.equal(p.filter((x) => x.figure === 'Figure 3').length, 4);
  assert.equal(p.filter((x) => x.figure === 'Figure 9a').length, 24);
  assert.throws(
    () => loadPaperTargets('/no/such/targets.json'),
    /\/no\/such\/targets\.json: cannot load paper targets/,
  );
});

test('the SVG draws every series of every panel, deterministically', () => {
  const p = loadPaperTargets(PAPER);
  const svg = renderSvg(FIGURE_SPECS.fig9!, [fig9('sim')], p);
  assert.ok(svg.startsWith('<svg'));
  // 4 panels x (3 of ours + 3 of the paper's) polylines.
  assert.equal(svg.match(/<polyline/g)?.length, 24);
  for (const c of ['baseline (sim)', 'balloon (sim)', 'vswapper (sim)', 'baseline (paper)'])
    assert.ok(svg.includes(c), c);
  assert.equal(svg, renderSvg(FIGURE_SPECS.fig9!, [fig9('sim')], p));
  const png = svgToPng(svg);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(png.length > 10_000);
});

test('ratios and ticks', () => {
  assert.equal(ratio(30.96, 38.7), '0.80');
  assert.equal(ratio(undefined, 38.7), '—');
  assert.equal(ratio(3, 0), '—');
  assert.deepEqual(niceTicks(0, 38.7, 5), [0, 10, 20, 30, 40]);
});

test('writeReport writes JSON, SVG, PNG and an index with paper, ours and the ratio; earlier engines are merged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-report-'));
  writeFileSync(join(dir, 'fig9.qemu.json'), JSON.stringify(fig9('qemu', 2)));
  const { indexPath, files } = await writeReport(dir, [fig9('sim'), fig3], { paperTargetsPath: PAPER });
  for (const f of [
    'fig9.json',
    'fig9.qemu.json',
    'fig9.svg',
    'fig9.png',
    'fig3.json',
    'fig3.svg',
    'fig3.png',
    'index.html',
  ]) {
    assert.ok(files.includes(f) && existsSync(join(dir, f)), f);
  }
  const html = readFileSync(indexPath, 'utf8');
  assert.match(html, /<td>38\.7<\/td><td>31\.0<\/td><td>0\.80<\/td>/);
  assert.match(html, /ours \(qemu\)/);
  assert.match(html, /without the False Reads Preventer/);
  const json = JSON.parse(readFileSync(join(dir, 'fig3.json'), 'utf8')) as FigureResult;
  assert.equal(json.runs[0]!.metrics.runtimeS, 30.96);
});
