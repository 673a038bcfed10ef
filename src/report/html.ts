import type { FigureSpec } from '../experiments/figure-specs.js';
import { CONFIG_NAMES, type FigureResult, type RunRecord } from '../experiments/results.js';
import { type PaperPoint, pointsOf } from './paper-targets.js';
import { esc } from './svg.js';

export interface FigureFiles {
  spec: FigureSpec;
  results: FigureResult[];
  jsonFiles: string[];
  svgFile: string;
  pngFile: string;
  svg: string;
}

const num = (v: number): string =>
  Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);

/** ours / paper, or a dash where either is missing (or the paper's value is zero). */
export function ratio(ours: number | undefined, paper: number | null): string {
  if (ours === undefined || paper === null || paper === 0) return '—';
  return (ours / paper).toFixed(2);
}

function findRun(r: FigureResult, config: string, x: number | null): RunRecord | undefined {
  return r.runs.find((run) => run.config === config && run.x === x);
}

function table(f: FigureFiles, paper: PaperPoint[]): string {
  const engines = f.results.map((r) => r.engine);
  let rows = '';
  for (const panel of f.spec.panels) {
    for (const config of CONFIG_NAMES) {
      const name = f.spec.paperSeries[config];
      const pts = pointsOf(paper, panel.paperFigure, panel.paperMetric).filter((p) => p.series === name);
      const xs =
        pts.length > 0
          ? pts.map((p) => p.x)
          : [
              ...new Set(
                f.results.flatMap((r) => r.runs.filter((run) => run.config === config).map((run) => run.x)),
              ),
            ];
      for (const x of xs) {
        const p = pts.find((q) => q.x === x);
        const paperCell = p ? (p.value === null ? `— ${esc(p.note ?? '')}` : num(p.value)) : '—';
        let cells = '';
        for (const r of f.results) {
          const run = findRun(r, config, x);
          const v = run?.metrics[panel.metric];
          const ours = v === undefined ? undefined : v / panel.divisor;
          cells += run?.killed
            ? '<td>killed</td><td>—</td>'
            : `<td>${ours === undefined ? '—' : num(ours)}</td><td>${ratio(ours, p?.value ?? null)}</td>`;
        }
        rows += `<tr><td>${esc(panel.paperFigure)}</td><td>${esc(panel.yLabel)}</td><td>${esc(config)}</td><td>${x ?? ''}</td><td>${paperCell}</td>${cells}</tr>`;
      }
    }
  }
  const head = engines.map((e) => `<th>ours (${esc(e)})</th><th>ratio ours/paper</th>`).join('');
  return `<table><thead><tr><th>panel</th><th>metric</th><th>configuration</th><th>x</th><th>paper</th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

function meta(f: FigureFiles): string {
  return f.results
    .map((r) => {
      const notes = [...new Set(r.runs.flatMap((run) => run.notes ?? []))];
      const m = Object.entries(r.meta)
        .map(([k, v]) => `<li><b>${esc(k)}</b>: ${esc(String(v))}</li>`)
        .join('');
      return `<p><b>engine ${esc(r.engine)}</b></p><ul>${m}${notes.map((n) => `<li>note: ${esc(n)}</li>`).join('')}</ul>`;
    })
    .join('');
}

/** The report's front page: every figure with its plot, files and a paper-vs-ours table. */
export function renderIndex(figures: FigureFiles[], paper: PaperPoint[], paperPath: string): string {
  const body = figures
    .map(
      (f) => `<section id="${esc(f.spec.id)}"><h2>${esc(f.spec.title)}</h2>
<p>files: ${f.jsonFiles.map((j) => `<a href="${esc(j)}">${esc(j)}</a>`).join(', ')}, <a href="${esc(f.svgFile)}">${esc(f.svgFile)}</a>, <a href="${esc(f.pngFile)}">${esc(f.pngFile)}</a></p>
<div class="plot">${f.svg}</div>${meta(f)}${table(f, paper)}</section>`,
    )
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>vswapper: reproduced figures</title>
<style>body{font-family:DejaVu Sans,Arial,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:nth-child(-n+3){text-align:left}.plot svg{max-width:100%;height:auto}</style></head>
<body><h1>vswapper: the paper's figures, reproduced</h1><p>Paper values from <code>${esc(paperPath)}</code>. Solid lines and bars are ours; dashed, lighter ones are the paper's.</p>
${body}</body></html>
`;
}
