import type { ClaimsReport } from './claims.js';
import type { FigureStats, PointRow } from './figure-error.js';
import { escapeXml as esc, formatValue } from './text.js';

const pct = (v: number | null): string => (v === null ? '—' : `${v.toFixed(1)} %`);
const share = (v: number | null): string => (v === null ? '—' : `${Math.round(v * 100)} %`);
const times = (v: number | null | undefined): string => (v == null ? '—' : `${v.toFixed(2)}x`);
const passText = (p: boolean | null): string => (p === null ? 'n/a' : p ? 'pass' : 'FAIL');
const num = (v: number | null): string => (v === null ? '—' : formatValue(v));

function figureCells(f: FigureStats): string[] {
  return [
    f.figure + (f.scaled ? ` (scaled x${f.scale})` : ''),
    f.engine,
    String(f.points),
    String(f.compared),
    f.scaled ? 'not compared' : pct(f.medianErrorPct),
    f.scaled ? '—' : share(f.within20Share),
    f.medianExtraRatio === undefined ? '' : times(f.medianExtraRatio),
  ];
}
const FIGURE_HEAD = [
  'figure',
  'engine',
  'points',
  'compared',
  'median error',
  'within ±20 %',
  'extra time ours/paper (median)',
];
const CLAIM_HEAD = ['claim', 'section', 'engine', 'paper', 'ours', 'tolerance', 'result', 'why'];

function pointCells(p: PointRow): string[] {
  const extra = p.extra;
  return [
    p.panel,
    p.config,
    p.x === null ? '' : formatValue(p.x),
    num(p.paper) + (p.paper === null ? ` (${p.paperNote ?? 'no value'})` : ''),
    p.killed ? 'killed' : num(p.ours),
    p.scaled ? 'scaled' : p.bothZero ? 'both 0' : p.ratio === null ? '—' : p.ratio.toFixed(2),
    p.within === null ? '' : p.within ? 'yes' : 'no',
    extra === undefined ? '' : `${formatValue(extra.oursS)} / ${formatValue(extra.paperS)}`,
  ];
}
const POINT_HEAD = [
  'panel',
  'config',
  'x',
  'paper',
  'ours',
  'ours/paper',
  'within ±20 %',
  'extra s ours / paper',
];

function mdTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), `|${head.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

/** The claims page for a terminal or a note: Markdown tables (points only when asked). */
export function claimsMarkdown(r: ClaimsReport, opts: { points?: boolean } = {}): string {
  const passed = r.claims.filter((c) => c.pass === true).length;
  const compared = r.claims.filter((c) => c.pass !== null).length;
  const parts = [
    '## Figures: digitized points\n',
    mdTable(FIGURE_HEAD, r.figures.map(figureCells)),
    `\n\n## Claims: ${passed} of ${compared} compared within tolerance\n`,
    mdTable(
      CLAIM_HEAD,
      r.claims.map((c) => [
        c.text,
        c.section,
        c.engine,
        c.paper,
        c.ours ?? '—',
        c.tolerance,
        passText(c.pass),
        c.why,
      ]),
    ),
  ];
  if (r.notCovered.length > 0)
    parts.push(
      `\n\nNot covered by these results: ${r.notCovered.map((c) => `${c.id} (${c.figures.join(', ')})`).join(', ')}`,
    );
  if (r.notChecked.length > 0)
    parts.push(
      `\n\nNot checkable (${r.notChecked.length}): ${r.notChecked.map((c) => `${c.id}: ${c.notChecked}`).join('; ')}`,
    );
  if (opts.points) parts.push('\n\n## Points\n', mdTable(POINT_HEAD, r.points.map(pointCells)));
  return `${parts.join('')}\n`;
}

function htmlTable(head: string[], rows: { cells: string[]; cls?: string[] }[]): string {
  const body = rows
    .map(
      (r) =>
        `<tr>${r.cells.map((c, i) => `<td${r.cls?.[i] ? ` class="${r.cls[i]}"` : ''}>${esc(c)}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table class="cmp claims"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>\n${body}</tbody></table>`;
}

const passClass = (p: boolean | null): string => (p === null ? 'na' : p ? 'near' : 'far');

/** The claims section of index.html: figures' errors, claims with pass/fail, every point. */
export function claimsHtml(r: ClaimsReport): string {
  const passed = r.claims.filter((c) => c.pass === true).length;
  const compared = r.claims.filter((c) => c.pass !== null).length;
  const claimRows = r.claims.map((c) => {
    const cells = [c.text, c.section, c.engine, c.paper, c.ours ?? '—', c.tolerance, passText(c.pass), c.why];
    return { cells, cls: cells.map((_, i) => (i === 6 ? passClass(c.pass) : '')) };
  });
  const pointRows = r.points.map((p) => {
    const cells = pointCells(p);
    return { cells, cls: cells.map((_, i) => (i === 6 ? passClass(p.within) : '')) };
  });
  const unchecked = r.notChecked.map((c) => `<li>${esc(c.text)} — ${esc(c.notChecked)}</li>`).join('');
  const uncovered = r.notCovered.map((c) => `${esc(c.id)} (${esc(c.figures.join(', '))})`).join(', ');
  return (
    `<section id="claims"><h2>The paper's claims and digitized points against ours</h2>\n` +
    `<p>Median error per figure: exp(median |ln(ours/paper)|) − 1 over the points both sides have. ` +
    `Extra time: each configuration's runtime minus its unconstrained (512 MB) run, where the workload's CPU time ` +
    `was calibrated from that run of the paper, so that absolute runtimes do not restate the input. ` +
    `Scaled runs are listed, not compared.</p>\n` +
    htmlTable(
      FIGURE_HEAD,
      r.figures.map((f) => ({ cells: figureCells(f) })),
    ) +
    `<h3>Claims: ${passed} of ${compared} compared within tolerance</h3>\n` +
    htmlTable(CLAIM_HEAD, claimRows) +
    (uncovered ? `<p class="muted">Not covered by these results: ${uncovered}</p>` : '') +
    (unchecked
      ? `<details><summary>${r.notChecked.length} claims not checkable here</summary><ul class="notes">${unchecked}</ul></details>`
      : '') +
    `<details><summary>every digitized point (${r.points.length})</summary>${htmlTable(POINT_HEAD, pointRows)}</details></section>\n`
  );
}
