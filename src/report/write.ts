import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIGURE_SPECS, type FigureSpec } from '../experiments/figure-specs.js';
import type { FigureResult } from '../experiments/results.js';
import { type FigureFiles, renderIndex } from './html.js';
import { defaultPaperTargetsPath, loadPaperTargets } from './paper-targets.js';
import { svgToPng } from './png.js';
import { renderSvg } from './svg.js';

export interface ReportOptions {
  paperTargetsPath?: string;
}

/** A figure we have no paper spec for (a user's experiment): plot its headline metrics. */
function adhocSpec(id: string, results: FigureResult[]): FigureSpec {
  const xs = results.flatMap((r) => r.runs.map((run) => run.x));
  return {
    id,
    title: id,
    kind: xs.every((x) => x === null) ? 'bars' : 'lines',
    xLabel: String(results[0]?.meta.xAxis ?? 'x'),
    panels: [
      { paperFigure: `${id}: runtime`, metric: 'runtimeS', divisor: 1, yLabel: 'runtime [s]' },
      {
        paperFigure: `${id}: disk operations`,
        metric: 'diskOps',
        divisor: 1000,
        yLabel: 'disk operations [K]',
      },
      {
        paperFigure: `${id}: swap sectors written`,
        metric: 'swapWriteSectors',
        divisor: 1000,
        yLabel: 'swap sectors written [K]',
      },
      {
        paperFigure: `${id}: faults while the guest runs`,
        metric: 'hostFaultsInGuest',
        divisor: 1000,
        yLabel: 'host faults in guest [K]',
      },
    ],
    paperSeries: {},
  };
}

const fileFor = (figure: string, engine: string, engines: string[]): string =>
  engine === 'sim' || engines.length === 1 ? `${figure}.json` : `${figure}.${engine}.json`;

/**
 * Writes `<figure>.json` (or `<figure>.<engine>.json` beside the simulator's), `<figure>.svg`,
 * `<figure>.png` and `index.html`. Results already in the folder from earlier runs of other engines
 * or figures are kept and shown too, so engines end up side by side.
 */
export async function writeReport(
  outDir: string,
  results: FigureResult[],
  opts: ReportOptions = {},
): Promise<{ indexPath: string; files: string[] }> {
  await mkdir(outDir, { recursive: true });
  const paperPath = opts.paperTargetsPath ?? defaultPaperTargetsPath();
  const paper = loadPaperTargets(paperPath);
  const all = new Map<string, FigureResult>();
  for (const name of await readdir(outDir)) {
    const m = /^(.+?)(?:\.(qemu|qemu-pager|sim))?\.json$/.exec(name);
    if (!m) continue;
    try {
      const r = JSON.parse(await readFile(join(outDir, name), 'utf8')) as FigureResult;
      if (r && typeof r.figure === 'string' && Array.isArray(r.runs))
        all.set(`${r.figure}\u0000${r.engine}`, r);
    } catch {
      // Not one of ours: leave it alone.
    }
  }
  for (const r of results) all.set(`${r.figure}\u0000${r.engine}`, r);
  const byFigure = new Map<string, FigureResult[]>();
  for (const r of all.values()) byFigure.set(r.figure, [...(byFigure.get(r.figure) ?? []), r]);
  const files: string[] = [];
  const figures: FigureFiles[] = [];
  for (const [figure, rs] of [...byFigure.entries()].sort(([a], [b]) =>
    a.localeCompare(b, 'en', { numeric: true }),
  )) {
    rs.sort((a, b) => (a.engine === 'sim' ? -1 : b.engine === 'sim' ? 1 : a.engine.localeCompare(b.engine)));
    const engines = rs.map((r) => r.engine);
    const jsonFiles: string[] = [];
    for (const r of rs) {
      const f = fileFor(figure, r.engine, engines);
      await writeFile(join(outDir, f), `${JSON.stringify(r, null, 2)}\n`);
      jsonFiles.push(f);
    }
    const spec = FIGURE_SPECS[figure] ?? adhocSpec(figure, rs);
    const svg = renderSvg(spec, rs, paper);
    await writeFile(join(outDir, `${figure}.svg`), svg);
    await writeFile(join(outDir, `${figure}.png`), svgToPng(svg));
    files.push(...jsonFiles, `${figure}.svg`, `${figure}.png`);
    figures.push({ spec, results: rs, jsonFiles, svgFile: `${figure}.svg`, pngFile: `${figure}.png`, svg });
  }
  const indexPath = join(outDir, 'index.html');
  await writeFile(indexPath, renderIndex(figures, paper, paperPath));
  files.push('index.html');
  return { indexPath, files };
}
