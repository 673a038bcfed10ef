import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FIGURE_SPECS, type FigureSpec } from '../src/experiments/figure-specs.js';
import type { ConfigName, EngineName, FigureResult, RunRecord } from '../src/engine/results.js';
import {
  crossCheck,
  crossCheckMarkdown,
  defaultPaperTargetsPath,
  findPaperTargets,
  paperSource,
  formatRatio,
  formatTicks,
  loadPaperTargets,
  niceTicks,
  packageRoot,
  paperPointsForPanel,
  renderSvg,
  svgToPng,
  writeReport,
} from '../src/report/index.js';

/** The project's own copy (dist/test/ -> the checkout's data/). */
const PAPER = join(import.meta.dirname, '..', '..', 'data', 'paper-targets.json');
const SHARED_PAPER = join(import.meta.dirname, '..', '..', '..', 'shared', 'paper', 'paper-targets.json');
const FIG3 = FIGURE_SPECS.fig3!;
const FIG9 = FIGURE_SPECS.fig9!;
const FIG10 = FIGURE_SPECS.fig10!;

/** Fig. 9-shaped result: three configurations over 8 iterations, values scaled per engine. */
function fig9(engine: EngineName, scale = 1, killedBalloonFrom = Infinity): FigureResult {
  const runs: RunRecord[] = (['baseline', 'balloon', 'vswapper'] as const).flatMap((config, c) =>
    [1, 2, 3, 4, 5, 6, 7, 8].map((x) => ({
      config,
      x,
      metrics: {
        runtimeS: (12 - c * 3 + x) * scale,
        hostFaultsInHost: 1000 * x * scale,
        hostFaultsInGuest: 500 * x,
        swapWriteSectors: c === 0 ? 400_000 : 0,
      },
      ...(config === 'balloon' && x >= killedBalloonFrom ? { killed: true } : {}),
    })),
  );
  return { figure: 'fig9', engine, runs, meta: { engine, seeds: '1-5' } };
}

function fig3(engine: EngineName = 'sim'): FigureResult {
  return {
    figure: 'fig3',
    engine,
    runs: [
      { config: 'baseline', x: null, metrics: { runtimeS: 30.96 } },
      { config: 'balloon', x: null, metrics: { runtimeS: 3 } },
      { config: 'mapper', x: null, metrics: {}, killed: true },
      {
        config: 'vswapper',
        x: null,
        metrics: { runtimeS: 4.4 },
        notes: ['vswapper runs without the Preventer'],
      },
    ],
    meta: { machine: 'test-box', scale: 0.5 },
  };
}

/** Tags open and close in order (self-closing ones aside): a cheap well-formedness check. */
function assertBalancedTags(xml: string): void {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `closing </${name}> at ${m.index}`);
    else stack.push(name!);
  }
  assert.deepEqual(stack, []);
}

const seriesIds = (svg: string): string[] => [...svg.matchAll(/data-series="([^"]+)"/g)].map((m) => m[1]!);

test('paper targets: the four Fig. 3 bars, 3 x 8 points for Fig. 9a, notes of missing values', () => {
  const paper = loadPaperTargets(PAPER);
  const bars = paperPointsForPanel(paper, FIG3.panels[0]!);
  assert.deepEqual(
    [...bars].map(([series, pts]) => [series, pts.map((p) => p.value)]),
    [
      ['baseline', [38.7]],
      ['balloon+baseline', [3.1]],
      ['vswapper', [4.0]],
      ['balloon+vswapper', [3.1]],
    ],
  );
  const fig9a = paperPointsForPanel(paper, FIG9.panels[0]!);
  assert.equal([...fig9a.values()].flat().length, 24);
  assert.deepEqual([...fig9a.keys()].sort(), ['balloon+baseline', 'baseline', 'vswapper']);
  for (const pts of fig9a.values())
    assert.deepEqual(
      pts.map((p) => p.x),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
  assert.equal(fig9a.get('baseline')![0]!.value, 41.59);
  // Fig. 10 holds two metrics; the panel's paperMetric picks one, and the crashed balloon has a note.
  const runtime = paperPointsForPanel(paper, FIG10.panels[0]!);
  assert.equal([...runtime.values()].flat().length, 4);
  const balloon = runtime.get('balloon+baseline')![0]!;
  assert.equal(balloon.value, null);
  assert.match(balloon.note ?? '', /crashed/);
});

test('paper targets: errors name the path and the problem', () => {
  assert.throws(() => loadPaperTargets('/no/such/targets.json'), /\/no\/such\/targets\.json: cannot read/);
  const dir = mkdtempSync(join(tmpdir(), 'vsw-targets-'));
  const notJson = join(dir, 'broken.json');
  writeFileSync(notJson, '[{"kind": "data",');
  assert.throws(
    () => loadPaperTargets(notJson),
    (e: Error) => e.message.startsWith(`${notJson}: `) && /JSON/.test(e.message),
  );
  const badValue = join(dir, 'bad-value.json');
  writeFileSync(
    badValue,
    JSON.stringify([{ kind: 'data', id: 'p1', figure: 'F', series: 's', metric: 'm', x: 1, value: 'big' }]),
  );
  assert.throws(
    () => loadPaperTargets(badValue),
    /bad-value\.json: entry 0: "value" must be a number or null \(p1\)/,
  );
  const notArray = join(dir, 'object.json');
  writeFileSync(notArray, '{}');
  assert.throws(() => loadPaperTargets(notArray), /object\.json: expected a JSON array/);
});

test('paper targets: the package data/ first, then ../shared from the working directory or the package', () => {
  const root = packageRoot();
  assert.ok(root !== undefined && existsSync(join(root, 'package.json')));
  const elsewhere = mkdtempSync(join(tmpdir(), 'vsw-cwd-'));
  assert.equal(defaultPaperTargetsPath(elsewhere), resolve(root, 'data', 'paper-targets.json'));
  // A package without data/ (an older install) still finds the shared folder beside the checkout.
  const bare = mkdtempSync(join(tmpdir(), 'vsw-root-'));
  const shared = join(bare, 'shared', 'paper');
  mkdirSync(shared, { recursive: true });
  copyFileSync(PAPER, join(shared, 'paper-targets.json'));
  const src = paperSource(undefined, join(bare, 'checkout'), join(bare, 'pkg'));
  assert.equal(src.path, join(shared, 'paper-targets.json'));
  assert.ok(src.points.length > 400);
  assert.equal(src.why, undefined);
});

test('paper targets: none anywhere is no error: no points, and one line saying where they were looked for', () => {
  const bare = mkdtempSync(join(tmpdir(), 'vsw-none-'));
  const src = paperSource(undefined, join(bare, 'cwd'), join(bare, 'pkg'));
  assert.deepEqual(src.points, []);
  assert.equal(src.path, null);
  assert.match(src.why ?? '', /^no paper values found \(looked for .*pkg\/data\/paper-targets\.json, /);
  assert.equal(findPaperTargets(join(bare, 'cwd'), join(bare, 'pkg')), undefined);
  // A path the user names is read or refused, never silently replaced.
  assert.throws(() => paperSource(join(bare, 'typo.json')), /typo\.json: cannot read paper targets/);
});

test('paper targets: the packaged copy is the digitized file, byte for byte, where the shared one is present', (t) => {
  if (!existsSync(SHARED_PAPER)) return t.skip('no ../shared/paper beside this checkout');
  assert.equal(readFileSync(PAPER, 'utf8'), readFileSync(SHARED_PAPER, 'utf8'));
});

test('nice ticks cover the data with round steps', () => {
  assert.deepEqual(niceTicks(0, 38.7, 5), [0, 10, 20, 30, 40]);
  assert.deepEqual(niceTicks(0, 0.9, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(128, 512, 4), [100, 200, 300, 400, 500, 600]);
  assert.deepEqual(niceTicks(0, 0), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  for (const [lo, hi] of [
    [0, 1e-7],
    [3.3, 3.31],
    [-7, 123456],
    [0.02, 970],
  ] as const) {
    const t = niceTicks(lo, hi, 5);
    assert.ok(t[0]! <= lo && t[t.length - 1]! >= hi, `${lo}..${hi}: ${t.join(',')}`);
    assert.ok(t.length >= 3 && t.length <= 12, `${lo}..${hi}: ${t.length} ticks`);
  }
  assert.deepEqual(formatTicks([0, 2.5, 5, 7.5]), ['0.0', '2.5', '5.0', '7.5']);
  assert.deepEqual(formatTicks([0, 100, 200]), ['0', '100', '200']);
  assert.equal(formatRatio(30.96, 38.7), '0.80');
  assert.equal(formatRatio(undefined, 38.7), '—');
  assert.equal(formatRatio(3, 0), '—');
});

test('line SVG: a path per series per panel, every configuration in the legend, deterministic', () => {
  const paper = loadPaperTargets(PAPER);
  const svg = renderSvg(FIG9, [fig9('sim'), fig9('qemu', 1.3, 7)], paper);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.endsWith('</svg>\n'));
  assertBalancedTags(svg);
  // 4 panels x (3 paper + 3 configurations x 2 engines).
  const ids = seriesIds(svg);
  assert.equal(ids.length, 4 * 9);
  for (const config of ['baseline', 'balloon', 'vswapper'])
    for (const kind of ['paper', 'sim', 'qemu'])
      assert.equal(ids.filter((id) => id === `${config}/${kind}`).length, 4, `${config}/${kind}`);
  assert.equal(svg.match(/<g data-panel=/g)?.length, 4);
  for (const label of [
    'baseline',
    'balloon (paper: balloon+baseline)',
    'vswapper',
    'ours: sim',
    'ours: qemu',
    'paper (digitized)',
    'killed',
  ])
    assert.ok(svg.includes(`>${label}</text>`), label);
  // Paper series are dashed and hollow-marked; ours (sim) solid with filled markers.
  assert.match(svg, /data-series="baseline\/paper"[^>]*stroke-dasharray="4 3"/);
  assert.doesNotMatch(svg, /data-series="baseline\/sim"[^>]*stroke-dasharray/);
  assert.match(svg, /<circle [^>]*fill="white"/);
  // Killed balloon runs (iterations 7, 8 of qemu) break the line: two subpaths would need an 'M' mid-path.
  const qemuBalloon = /data-series="balloon\/qemu" d="([^"]+)"/.exec(svg)![1]!;
  assert.equal(qemuBalloon.match(/M/g)?.length, 1);
  assert.equal(qemuBalloon.match(/L/g)?.length, 5);

  assert.equal(svg, renderSvg(FIG9, [fig9('sim'), fig9('qemu', 1.3, 7)], paper));
  assert.equal(svg, renderSvg(FIG9, [fig9('qemu', 1.3, 7), fig9('sim')], paper), 'engine order of the input');
});

test('bar SVG: grouped bars with value labels, killed runs labelled, text escaped', () => {
  const paper = loadPaperTargets(PAPER);
  const spec: FigureSpec = { ...FIG3, title: 'Fig. 3 <draft> & "friends"' };
  const svg = renderSvg(spec, [fig3('sim'), fig3('qemu')], paper);
  assertBalancedTags(svg);
  assert.ok(svg.includes('Fig. 3 &lt;draft&gt; &amp; &quot;friends&quot;'));
  for (const config of ['baseline', 'balloon', 'mapper', 'vswapper', 'balloon+vswapper'] as ConfigName[])
    assert.ok(svg.includes(`>${config}</text>`), config);
  for (const label of ['38.7', '30.96', '4.4', 'ours: qemu', 'paper: balloon+baseline'])
    assert.ok(svg.includes(`>${label}</text>`), label);
  // mapper killed in both engines: two "killed" labels over the axis, plus the legend's.
  assert.equal(svg.match(/>killed<\/text>/g)?.length, 3);
  // qemu bars carry the figure-prefixed hatch, defined once.
  assert.equal(svg.match(/<pattern id="fig3-fill-qemu"/g)?.length, 1);
  assert.ok(svg.includes('fill="url(#fig3-fill-qemu)"'));
});

test('PNG: a real image at twice the SVG size', () => {
  const svg = renderSvg(FIG9, [fig9('sim')], loadPaperTargets(PAPER));
  const png = svgToPng(svg);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(png.length > 20_000, `${png.length} bytes`);
  const svgWidth = Number(/width="(\d+)"/.exec(svg)![1]);
  assert.equal(png.readUInt32BE(16), 2 * svgWidth);
});

test('writeReport: files, the paper/ours/ratio table, notes, meta; an earlier qemu result is merged', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'vsw-report-')), 'out');
  const first = await writeReport(dir, [fig9('qemu', 2)], { paperTargetsPath: PAPER });
  // Alone, qemu's result is fig9.json; once the simulator's arrives it moves to fig9.qemu.json.
  assert.ok(first.files.includes(join(dir, 'fig9.json')));
  writeFileSync(join(dir, 'notes.json'), '{"mine": true}');
  const { indexPath, files } = await writeReport(dir, [fig9('sim'), fig3()], { paperTargetsPath: PAPER });
  const names = [
    'fig9.json',
    'fig9.qemu.json',
    'fig9.csv',
    'fig9.qemu.csv',
    'fig3.csv',
    'fig9.svg',
    'fig9.png',
    'fig3.json',
    'fig3.svg',
    'fig3.png',
    'index.html',
  ];
  for (const f of names) assert.ok(files.includes(join(dir, f)) && existsSync(join(dir, f)), f);
  assert.deepEqual(readdirSync(dir).sort(), [...names, 'notes.json'].sort());
  const sim = readFileSync(join(dir, 'fig9.json'), 'utf8');
  assert.equal((JSON.parse(sim) as FigureResult).engine, 'sim');
  assert.ok(sim.startsWith('{\n  "figure": "fig9",\n  "engine": "sim",'), 'pretty-printed, 2 spaces');
  const qemu = JSON.parse(readFileSync(join(dir, 'fig9.qemu.json'), 'utf8')) as FigureResult;
  assert.equal(qemu.runs[0]!.metrics.runtimeS, 26);

  const html = readFileSync(indexPath, 'utf8');
  assert.ok(html.startsWith('<!doctype html>'));
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no external resources');
  // fig3 here ran at half the paper's sizes: shown, not compared.
  assert.match(
    html,
    /<td>baseline<\/td><td>baseline<\/td><td>38\.7<\/td><td>30\.96<\/td><td class="na">scaled: not compared<\/td>/,
  );
  // Fig. 9a, a column per iteration: iteration 1's paper 41.59; sim 13 -> 0.31, qemu 26 -> 0.63.
  assert.match(
    html,
    /<td>baseline<\/td><td>sim<\/td><td class="far"[^>]*>13<br><small>paper 41\.59 · ×0\.31<\/small>/,
  );
  assert.match(
    html,
    /<td>baseline<\/td><td>qemu<\/td><td class="off"[^>]*>26<br><small>paper 41\.59 · ×0\.63<\/small>/,
  );
  assert.match(html, /<tr><th>configuration<\/th><th>engine<\/th><th>1<\/th><th>2<\/th>/);
  // Fig. 9d balloon: the paper's 0 swap writes against our 0 is agreement, not a missing ratio.
  assert.match(
    html,
    /balloon\+baseline\)<\/small><\/td><td>sim<\/td><td class="near"[^>]*>0<br><small>paper 0<\/small>/,
  );
  assert.match(html, /vswapper: vswapper runs without the Preventer/);
  assert.match(html, /<th>machine<\/th><td>test-box<\/td>/);
  assert.equal(html.match(/<svg /g)?.length, 2, 'both plots embedded');
  assert.match(html, /<a href="fig9\.qemu\.json">/);
  assert.equal(readFileSync(join(dir, 'notes.json'), 'utf8'), '{"mine": true}', 'foreign JSON untouched');
});

test('writeReport: a bad paper-targets path fails naming it, before writing anything', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'vsw-report-')), 'out');
  await assert.rejects(
    writeReport(dir, [fig3()], { paperTargetsPath: '/nope/paper-targets.json' }),
    /\/nope\/paper-targets\.json/,
  );
  assert.equal(existsSync(dir), false);
});

test('writeReport: a result that moves to an engine-named file leaves no stale copy behind', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'vsw-report-')), 'out');
  await writeReport(dir, [fig9('qemu', 2)], { paperTargetsPath: PAPER });
  assert.equal((JSON.parse(readFileSync(join(dir, 'fig9.json'), 'utf8')) as FigureResult).engine, 'qemu');
  await writeReport(dir, [fig9('qemu-pager', 3)], { paperTargetsPath: PAPER });
  assert.deepEqual(
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort(),
    ['fig9.qemu-pager.json', 'fig9.qemu.json'],
  );
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  assert.match(html, /<tr><td>baseline<\/td><td>qemu<\/td>.*\n<tr><td>baseline<\/td><td>qemu-pager<\/td>/);
});

test('crossCheck: counters two engines measured, side by side; killed runs and one-engine metrics left out', () => {
  const sim = fig9('sim');
  const qemu = fig9('qemu', 2, 5);
  // A metric only the simulator can count must not appear as a comparison.
  for (const run of sim.runs) run.metrics.staleSwapReads = 7;
  const rows = crossCheck([qemu, sim]);
  const at = (config: string, x: number, metric: string) =>
    rows.filter((r) => r.config === config && r.x === x && r.metric === metric);
  assert.equal(at('baseline', 3, 'staleSwapReads').length, 0);
  const runtime = at('baseline', 3, 'runtimeS');
  assert.equal(runtime.length, 1);
  assert.deepEqual(runtime[0]!.values, { sim: 15, qemu: 30 });
  // The balloon's qemu runs from x = 5 were killed: only the simulator has them, so no row.
  assert.equal(at('balloon', 6, 'runtimeS').length, 0);
  assert.equal(at('balloon', 4, 'runtimeS').length, 1);
  // A figure only one engine ran gives nothing to compare.
  assert.equal(crossCheck([sim]).length, 0);

  const md = crossCheckMarkdown(rows);
  const header = md.split('\n')[0]!;
  assert.match(header, /\| sim \| qemu \| qemu\/sim \|/);
  assert.match(md, /\| fig9 \| baseline \| 3 \| runtimeS \| 15 \| 30 \| 2\.00 \|/);
  // Both zero is agreement, printed as such rather than as a division by zero.
  assert.match(md, /\| fig9 \| balloon \| 1 \| swapWriteSectors \| 0 \| 0 \| both 0 \|/);
  assert.match(crossCheckMarkdown([]), /No configuration was run by two engines/);
});

test('report for researchers: tidy CSV beside each JSON, seed spread as error bars with tooltips, log axis, scaled label', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'vsw-report-')), 'out');
  const sim = fig9('sim');
  for (const run of sim.runs)
    run.spread = {
      min: { runtimeS: run.metrics.runtimeS! * 0.9 },
      max: { runtimeS: run.metrics.runtimeS! * 1.2 },
    };
  sim.runs[0]!.metrics.runtimeS = 0; // a zero has no place on a log axis: no marker, no error
  await writeReport(dir, [sim, fig3()], { paperTargetsPath: PAPER });
  const csv = readFileSync(join(dir, 'fig9.csv'), 'utf8').split('\n');
  assert.equal(csv[0], 'figure,engine,config,x,killed,metric,value,min,max');
  assert.ok(csv.includes('fig9,sim,baseline,2,false,runtimeS,14,12.6,16.8'), csv.slice(0, 6).join('\n'));
  assert.ok(csv.includes('fig9,sim,baseline,2,false,hostFaultsInHost,2000,,'));
  const fig3csv = readFileSync(join(dir, 'fig3.csv'), 'utf8');
  assert.match(fig3csv, /^fig3,sim,mapper,,true,,,,$/m, 'a killed run is one row with no metric');

  const svg = readFileSync(join(dir, 'fig9.svg'), 'utf8');
  assert.match(svg, /<path data-spread="baseline\/sim" d="M[\d.]+ [\d.]+V[\d.]+/);
  assert.match(svg, /<title>baseline \(sim\) at 2: 14 \(seeds: 12\.6–16\.8\)<\/title>/);
  assert.match(svg, /<title>baseline \(paper\) at 1: 41\.59<\/title>/);
  // Fig. 9a's axis is logarithmic: decades with 2 and 5 between, not 0, 10, 20, ...
  const panel9a = svg.slice(svg.indexOf('data-panel="Figure 9a"'), svg.indexOf('data-panel="Figure 9b"'));
  const labels = [...panel9a.matchAll(/text-anchor="end"[^>]*>([^<]+)</g)].map((m) => m[1]);
  assert.deepEqual(labels.slice(0, 4), ['1', '2', '5', '10']);
  assert.match(panel9a, /runtime \[s\], log scale/);

  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  // fig3() says scale 0.5: its title carries the label; fig9's (no scale in meta) does not.
  assert.match(html, /<h2>Fig\. 3: [^<]*<span class="scaled">scaled x0\.5: not comparable/);
  assert.doesNotMatch(html, /<h2>Fig\. 9: [^<]*<span class="scaled">/);
  assert.match(html, /<a href="fig9\.csv">fig9\.csv<\/a>/);
  // A figure run only scaled is drawn without the paper's full-size series; a full-size one keeps them.
  const svg3 = readFileSync(join(dir, 'fig3.svg'), 'utf8');
  assert.match(svg3, />30\.96<\/text>/, 'ours is drawn');
  assert.doesNotMatch(svg3, /\(paper\)|paper \(digitized\)/);
  assert.match(svg, /paper \(digitized\)/);
  assertBalancedTags(svg);
});

test("a user's experiment gets its own table (no paper values), MiB columns, and no claims section", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'vsw-report-')), 'out');
  const runs: RunRecord[] = (['baseline', 'mapper', 'vswapper'] as ConfigName[]).flatMap((config, i) =>
    [100, 200].map((x) => ({
      config,
      x,
      metrics: { runtimeS: 10 + i + x / 100 },
      spread: { min: { runtimeS: 9 + i }, max: { runtimeS: 12 + i + x / 100 } },
    })),
  );
  const mine: FigureResult = {
    figure: 'my-sweep',
    engine: 'sim',
    runs,
    meta: { scale: 1, seeds: '1', runsPerPoint: 1, xAxis: 'guest actual memory [MiB]' },
  };
  const { indexPath } = await writeReport(dir, [mine], { paperTargetsPath: PAPER });
  const html = readFileSync(indexPath, 'utf8');
  assert.match(html, /Not a figure of the paper: our values only\. Columns: guest actual memory \[MiB\]/);
  assert.match(html, /<tr><th>configuration<\/th><th>engine<\/th><th>100<\/th><th>200<\/th><\/tr>/);
  // Mean, then the spread over the seeds.
  assert.match(html, /<tr><td>mapper<\/td><td>sim<\/td><td>12<br><small>10–14<\/small><\/td>/);
  assert.doesNotMatch(html, /id="claims"/);
  // The mapper is dashed with square markers and drawn after vswapper, so it shows where they coincide.
  const svg = readFileSync(join(dir, 'my-sweep.svg'), 'utf8');
  assert.match(svg, /data-series="mapper\/sim"[^>]*stroke-dasharray="7 4"/);
  assert.ok(svg.indexOf('data-series="mapper/sim"') > svg.indexOf('data-series="vswapper/sim"'));
  assert.match(svg, /<rect [^>]*fill="white" stroke="#ff7f0e"/);
});
