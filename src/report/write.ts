import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIGURE_SPECS } from '../experiments/figure-specs.js';
import type { FigureResult } from '../engine/results.js';
import { fallbackSpec } from './fallback-spec.js';
import { type FigureSection, atPaperSize, renderIndex } from './html.js';
import { defaultClaimsPath, loadClaims } from './claims-data.js';
import { checkClaims } from './claims.js';
import { claimsHtml } from './claims-text.js';
import { resultCsv } from './csv.js';
import { paperSource } from './paper-targets.js';
import { svgToPng } from './png.js';
import { readStoredResults, resultFileName } from './result-files.js';
import { orderEngines } from './series.js';
import { renderSvg } from './svg.js';

export interface ReportOptions {
  /** paper-targets.json; by default the package's data/, else ../shared/paper/ (none found: ours alone). */
  paperTargetsPath?: string;
}

export interface ReportFiles {
  indexPath: string;
  /** Every file written, as paths under outDir. */
  files: string[];
  /** Set when no paper values were found: what the report shows instead, in one line. */
  paperNote?: string;
}

/** The tidy CSV beside a result's JSON. */
const csvName = (json: string): string => json.replace(/\.json$/, '.csv');

const key = (r: FigureResult): string => `${r.figure}\u0000${r.engine}`;

/**
 * Writes each figure's results (`<figure>.json`, `<figure>.<engine>.json` beside the simulator's),
 * its plot (`.svg`, `.png`) and `index.html`. Results of other figures or engines that an earlier
 * run left in outDir are kept and shown too, so a qemu run and a sim run end up side by side; for
 * the same figure and engine, this call's result replaces the earlier one.
 */
export async function writeReport(
  outDir: string,
  results: readonly FigureResult[],
  opts: ReportOptions = {},
): Promise<ReportFiles> {
  // Paper values first: a bad path fails before anything is written.
  const source = paperSource(opts.paperTargetsPath);
  const paper = source.points;
  await mkdir(outDir, { recursive: true });

  const stored = await readStoredResults(outDir);
  const merged = new Map<string, FigureResult>();
  for (const s of stored) if (!merged.has(key(s.result))) merged.set(key(s.result), s.result);
  for (const r of results) merged.set(key(r), r);

  const byFigure = new Map<string, FigureResult[]>();
  for (const r of merged.values()) byFigure.set(r.figure, [...(byFigure.get(r.figure) ?? []), r]);
  const figureIds = [...byFigure.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

  const written: string[] = [];
  const sections: FigureSection[] = [];
  for (const figure of figureIds) {
    const rs = orderEngines(byFigure.get(figure)!);
    const engines = rs.map((r) => r.engine);
    const json = rs.map((r) => resultFileName(figure, r.engine, engines));
    const csv = json.map(csvName);
    for (const [i, r] of rs.entries()) {
      await writeFile(join(outDir, json[i]!), `${JSON.stringify(r, null, 2)}\n`);
      await writeFile(join(outDir, csv[i]!), resultCsv(r));
    }
    const spec = FIGURE_SPECS[figure] ?? fallbackSpec(figure, rs);
    // A figure run only at reduced sizes is drawn without the paper's full-size series: its axes
    // hold scaled quantities (a quarter of the memory gives a quarter of the swap writes), so the
    // paper's curves beside ours would invite the comparison the tables decline.
    const svg = renderSvg(spec, rs, rs.some(atPaperSize) ? paper : []);
    const files = { json, csv, svg: `${figure}.svg`, png: `${figure}.png` };
    await writeFile(join(outDir, files.svg), svg);
    await writeFile(join(outDir, files.png), svgToPng(svg));
    written.push(...json, ...csv, files.svg, files.png);
    sections.push({ spec, results: rs, files, svg });
  }

  // A result that moved (fig9.json held qemu until a sim run arrived) must not linger under its old
  // name, or the next run would read it back as a second copy.
  for (const s of stored)
    if (!written.includes(s.file)) {
      await unlink(join(outDir, s.file));
      await rm(join(outDir, csvName(s.file)), { force: true });
    }

  // The claims page needs paper values and the package's claims file; without them there is none.
  const claimsPath = defaultClaimsPath();
  // ... and a folder of user experiments alone (no figure of the paper) has no claims to show.
  const anyPaperFigure = [...merged.values()].some((r) => FIGURE_SPECS[r.figure] !== undefined);
  const claims =
    claimsPath === undefined || paper.length === 0 || !anyPaperFigure
      ? undefined
      : claimsHtml(checkClaims([...merged.values()], paper, loadClaims(claimsPath)));

  const indexPath = join(outDir, 'index.html');
  await writeFile(
    indexPath,
    renderIndex(sections, paper, {
      paperTargetsPath: source.path,
      ...(claims !== undefined ? { claimsHtml: claims } : {}),
      ...(source.why !== undefined ? { paperNote: source.why } : {}),
    }),
  );
  written.push('index.html');
  return {
    indexPath,
    files: written.map((f) => join(outDir, f)),
    ...(source.why !== undefined ? { paperNote: source.why } : {}),
  };
}
