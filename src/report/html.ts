import type { FigureSpec } from '../experiments/figure-specs.js';
import type { EngineName, FigureResult } from '../engine/results.js';
import { crossCheck, crossCheckHtml } from './cross-check.js';
import { type PaperPoint, paperPointsForPanel } from './paper-targets.js';
import { type ConfigSeries, orderEngines, ourPointAt, panelSeries } from './series.js';
import { escapeXml as esc, formatRatio, formatValue } from './text.js';

/** One figure of the report: its spec, every engine's result, and the files written for it. */
export interface FigureSection {
  spec: FigureSpec;
  results: FigureResult[];
  /** File names relative to index.html. */
  files: { json: string[]; csv?: string[]; svg: string; png: string };
  /** The SVG, embedded so the page shows the plots without loading anything. */
  svg: string;
}

/** A ratio within the paper's run-to-run spread reads as agreement; outside a factor of 2, as a miss. */
function ratioClass(r: number): string {
  if (r >= 0.8 && r <= 1.25) return 'near';
  if (r < 0.5 || r > 2) return 'far';
  return 'off';
}

function ourCells(
  c: ConfigSeries,
  engine: EngineName,
  x: number | null,
  paperValue: number | null,
  compare = true,
): string {
  const p = ourPointAt(c, engine, x);
  if (compare === false && p !== undefined && !p.killed && p.value !== null)
    return `<td>${esc(formatValue(p.value))}</td><td class="na">scaled: not compared</td>`;
  if (p?.killed) return '<td class="killed">killed</td><td class="killed">killed</td>';
  if (p === undefined || p.value === null) return '<td class="na">—</td><td class="na">—</td>';
  // Both zero (e.g. no swap writes with a balloon) is agreement, though the ratio is undefined.
  if (p.value === 0 && paperValue === 0) return '<td>0</td><td class="near">both 0</td>';
  const ratio = formatRatio(p.value, paperValue);
  // Classed by the printed ratio, so a cell showing 0.80 is never coloured as outside 0.80-1.25.
  const cls = ratio === '—' ? 'na' : ratioClass(Number(ratio));
  return `<td>${esc(formatValue(p.value))}</td><td class="${cls}">${esc(ratio)}</td>`;
}

/** Whether a result ran at the paper's sizes: a scaled run is shown, never compared or plotted against the paper. */
export function atPaperSize(r: FigureResult): boolean {
  return r.meta.scale === undefined || r.meta.scale === 1;
}

/** Whether an engine's result ran at the paper's sizes (true when the engine has none). */
function fullSize(results: readonly FigureResult[], engine: EngineName): boolean {
  const r = results.find((q) => q.engine === engine);
  return r === undefined || atPaperSize(r);
}

/** One cell of the wide table: ours, and under it the paper's value and the ratio (not when scaled). */
function wideCell(
  c: ConfigSeries,
  engine: EngineName,
  x: number,
  paperValue: number | null,
  compare: boolean,
): string {
  const p = ourPointAt(c, engine, x);
  const paper = paperValue === null ? '' : `paper ${formatValue(paperValue)}`;
  const tipText = `${c.config} (${engine}) at ${formatValue(x)}`;
  if (p?.killed)
    return `<td class="killed" title="${esc(tipText)}">killed<br><small>${esc(paper)}</small></td>`;
  if (p === undefined || p.value === null)
    return `<td class="na" title="${esc(tipText)}">—<br><small>${esc(paper)}</small></td>`;
  if (!compare || paperValue === null)
    return `<td title="${esc(tipText)}">${esc(formatValue(p.value))}<br><small>${esc(paper)}${compare ? '' : ' (scaled: not compared)'}</small></td>`;
  if (p.value === 0 && paperValue === 0)
    return `<td class="near" title="${esc(tipText)}">0<br><small>paper 0</small></td>`;
  const ratio = formatRatio(p.value, paperValue);
  const cls = ratio === '—' ? 'na' : ratioClass(Number(ratio));
  return `<td class="${cls}" title="${esc(`${tipText}: ours/paper ${ratio}`)}">${esc(formatValue(p.value))}<br><small>${esc(paper)} · ×${esc(ratio)}</small></td>`;
}

/**
 * A line figure as researchers read it: a row per panel and configuration (and engine), a column per
 * x (iteration, memory size), each cell ours over the paper's value and the ratio. Only the x the
 * paper gives for the panel are columns; where a series has none of its own there, the cell is ours alone.
 */
function wideTable(section: FigureSection, paper: readonly PaperPoint[], engines: EngineName[]): string {
  const { spec, results } = section;
  let body = '';
  for (const panel of spec.panels) {
    const panelName =
      panel.paperMetric === undefined ? panel.paperFigure : `${panel.paperFigure}: ${panel.paperMetric}`;
    const series = panelSeries(spec, panel, results, paper).filter((c) => c.paper.length > 0);
    const xs = [...new Set(series.flatMap((c) => c.paper.map((p) => p.x)))]
      .filter((x): x is number => x !== null)
      .sort((a, b) => a - b);
    if (series.length === 0 || xs.length === 0) continue;
    body +=
      `<tr class="panel"><th colspan="${xs.length + 2}">${esc(panelName)}: ${esc(panel.yLabel)}</th></tr>` +
      `<tr><th>configuration</th><th>engine</th>${xs.map((x) => `<th>${esc(formatValue(x))}</th>`).join('')}</tr>\n`;
    for (const c of series)
      for (const e of engines) {
        const compare = fullSize(results, e);
        const cells = xs.map((x) =>
          wideCell(c, e, x, c.paper.find((p) => p.x === x)?.value ?? null, compare),
        );
        body += `<tr><td>${esc(c.config)}${c.paperName && c.paperName !== c.config ? ` <small>(${esc(c.paperName)})</small>` : ''}</td><td>${esc(e)}</td>${cells.join('')}</tr>\n`;
      }
  }
  if (body === '') return '<p class="muted">The paper gives no values for this figure.</p>';
  return `<p class="muted">Columns: ${esc(spec.xLabel || 'x')}. Each cell: ours, then the paper's value and ours/paper.</p><div class="wide"><table class="wide"><tbody>\n${body}</tbody></table></div>`;
}

/**
 * A figure the paper does not have (a user's experiment): our values alone, a row per panel,
 * configuration and engine, a column per x, each the mean with the spread over seeds when there are several.
 */
function ownTable(section: FigureSection): string {
  const { spec, results } = section;
  let body = '';
  for (const panel of spec.panels) {
    const series = panelSeries(spec, panel, results, []);
    const xs = [...new Set(series.flatMap((c) => c.ours.flatMap((e) => e.points.map((p) => p.x))))].sort(
      (a, b) => (a ?? 0) - (b ?? 0),
    );
    if (series.length === 0) continue;
    const head = xs.map((x) => `<th>${x === null ? 'value' : esc(formatValue(x))}</th>`).join('');
    body += `<tr class="panel"><th colspan="${xs.length + 2}">${esc(panel.yLabel)}</th></tr><tr><th>configuration</th><th>engine</th>${head}</tr>\n`;
    for (const c of series)
      for (const e of c.ours) {
        const cells = xs.map((x) => {
          const p = e.points.find((q) => q.x === x);
          if (p?.killed) return '<td class="killed">killed</td>';
          if (p === undefined || p.value === null) return '<td class="na">—</td>';
          const spread = p.lo !== undefined && p.hi !== undefined && p.hi > p.lo;
          return `<td>${esc(formatValue(p.value))}${spread ? `<br><small>${esc(formatValue(p.lo!))}–${esc(formatValue(p.hi!))}</small>` : ''}</td>`;
        });
        body += `<tr><td>${esc(c.config)}</td><td>${esc(e.engine)}</td>${cells.join('')}</tr>\n`;
      }
  }
  if (body === '') return '<p class="muted">No values.</p>';
  const xText = spec.kind === 'lines' ? `Columns: ${esc(spec.xLabel || 'x')}. ` : '';
  return `<p class="muted">Not a figure of the paper: our values only. ${xText}</p><div class="wide"><table class="wide"><tbody>\n${body}</tbody></table></div>`;
}

/** Whether the paper has any point for one of the figure's panels. */
function hasPaperValues(spec: FigureSpec, paper: readonly PaperPoint[]): boolean {
  return spec.panels.some((panel) => paperPointsForPanel(paper, panel).size > 0);
}

/** Paper value, ours per engine and ours/paper for every point the paper gives, panel by panel. */
function comparisonTable(
  section: FigureSection,
  paper: readonly PaperPoint[],
  engines: EngineName[],
): string {
  const { spec } = section;
  // Bars have no x; an always-empty column would only widen the table.
  const showX = spec.kind === 'lines';
  let rows = '';
  const paperNotes = new Map<string, Set<string>>();
  for (const panel of spec.panels) {
    const panelName =
      panel.paperMetric === undefined ? panel.paperFigure : `${panel.paperFigure}: ${panel.paperMetric}`;
    for (const c of panelSeries(spec, panel, section.results, paper)) {
      for (const p of c.paper) {
        let paperCell = `<td>${p.value === null ? '' : esc(formatValue(p.value))}</td>`;
        if (p.value === null) {
          const note = p.note ?? 'no value in the paper';
          paperNotes.set(note, (paperNotes.get(note) ?? new Set()).add(c.paperName ?? c.config));
          paperCell = `<td class="na" title="${esc(note)}">missing*</td>`;
        }
        rows +=
          `<tr><td>${esc(panelName)}</td><td>${esc(panel.yLabel)}</td><td>${esc(c.config)}</td>` +
          `<td>${esc(c.paperName ?? '')}</td>` +
          (showX ? `<td>${p.x === null ? '' : esc(formatValue(p.x))}</td>` : '') +
          paperCell +
          engines.map((e) => ourCells(c, e, p.x, p.value, fullSize(section.results, e))).join('') +
          '</tr>\n';
      }
    }
  }
  if (rows === '') return '<p class="muted">The paper gives no values for this figure.</p>';
  const head =
    '<tr><th>panel</th><th>metric</th><th>configuration</th><th>paper series</th>' +
    (showX ? `<th>${esc(spec.xLabel || 'x')}</th>` : '') +
    '<th>paper</th>' +
    engines.map((e) => `<th>ours (${esc(e)})</th><th>ours/paper (${esc(e)})</th>`).join('') +
    '</tr>';
  const notes = [...paperNotes]
    .map(([note, series]) => `<li>* ${esc([...series].join(', '))}: ${esc(note)}</li>`)
    .join('');
  return `<table class="cmp"><thead>${head}</thead><tbody>\n${rows}</tbody></table>${notes ? `<ul class="notes">${notes}</ul>` : ''}`;
}

/** Each engine's meta, and its runs' notes with the configurations they concern. */
function provenance(results: FigureResult[]): string {
  return results
    .map((r) => {
      const meta = Object.entries(r.meta)
        .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v === null ? 'null' : String(v))}</td></tr>`)
        .join('');
      const notes = new Map<string, Set<string>>();
      for (const run of r.runs)
        for (const n of run.notes ?? []) notes.set(n, (notes.get(n) ?? new Set()).add(run.config));
      const killed = r.runs.filter((run) => run.killed);
      const noteItems = [...notes]
        .map(([n, configs]) => `<li>${esc([...configs].join(', '))}: ${esc(n)}</li>`)
        .join('');
      const killedItem =
        killed.length === 0
          ? ''
          : `<li>killed runs: ${esc(killed.map((k) => (k.x === null ? k.config : `${k.config} @ ${formatValue(k.x)}`)).join(', '))}</li>`;
      return (
        `<div class="prov"><h3>engine: ${esc(r.engine)}</h3><table class="meta">${meta}</table>` +
        (noteItems || killedItem ? `<ul class="notes">${noteItems}${killedItem}</ul>` : '') +
        '</div>'
      );
    })
    .join('');
}

/** A run at a fraction of the paper's sizes says so where its title is read. */
function scaledLabel(results: readonly FigureResult[]): string {
  const scales = [
    ...new Set(results.map((r) => r.meta.scale).filter((s) => typeof s === 'number' && s !== 1)),
  ];
  return scales.length === 0
    ? ''
    : ` <span class="scaled">scaled x${esc(scales.join(', x'))}: not comparable with the paper's full-size values</span>`;
}

function figureSection(section: FigureSection, paper: readonly PaperPoint[]): string {
  const results = orderEngines(section.results);
  const engines = [...new Set(results.map((r) => r.engine))];
  const links = [...section.files.json, ...(section.files.csv ?? []), section.files.svg, section.files.png]
    .map((f) => `<a href="${esc(encodeURI(f))}">${esc(f)}</a>`)
    .join(' · ');
  return (
    `<section id="${esc(section.spec.id)}"><h2>${esc(section.spec.title)}${scaledLabel(results)}</h2>\n` +
    `<p class="files">${links}</p>\n<div class="plot">${section.svg}</div>\n` +
    (!hasPaperValues(section.spec, paper)
      ? ownTable({ ...section, results })
      : section.spec.kind === 'lines'
        ? wideTable({ ...section, results }, paper, engines)
        : comparisonTable({ ...section, results }, paper, engines)) +
    crossCheckHtml(crossCheck(results)) +
    `\n<details open><summary>how it was produced</summary>${provenance(results)}</details></section>\n`
  );
}

const CSS = `body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-top:1px solid #ccc;padding-top:1em;margin-top:2em}h3{font-size:1em;margin:.6em 0 .3em}
a{color:#1f5fa8}.muted,.files{color:#555}.plot svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:12.5px;margin:.8em 0}td,th{border:1px solid #d4d4d4;padding:3px 7px;text-align:right}
table.cmp td:nth-child(-n+4),table.cmp th{text-align:left}table.cmp thead th{background:#f2f2f2;position:sticky;top:0}
table.meta th{text-align:left;font-weight:normal;color:#555;background:#fafafa}table.meta td{text-align:left}
td.near{background:#e3f4e1}td.off{background:#fff3d6}td.far{background:#fbe0de}td.na{color:#888}td.killed{color:#b00;font-weight:bold}
.prov{display:inline-block;vertical-align:top;margin-right:2em}ul.notes{font-size:13px;color:#444}
table.claims td{text-align:left}div.wide{overflow-x:auto}table.wide td small{color:#555;white-space:nowrap}table.wide tr.panel th{text-align:left;background:#f2f2f2}table.wide td:nth-child(-n+2){text-align:left}.legend span{padding:1px 6px;margin-right:.5em}.scaled{font-size:.75em;background:#fff3d6;color:#8a5a00;padding:1px 6px;border-radius:3px}`;

/**
 * The report's front page: a section per figure with links to its files, the plot, the table of
 * paper vs ours with ratios, and where the numbers came from. Self-contained: inline CSS and SVG.
 */
export function renderIndex(
  figures: readonly FigureSection[],
  paper: readonly PaperPoint[],
  opts: { paperTargetsPath: string | null; paperNote?: string; claimsHtml?: string },
): string {
  const source =
    opts.paperTargetsPath === null
      ? `<p class="na"><b>No paper values:</b> ${esc(opts.paperNote ?? 'none given')}</p>`
      : `<p>Paper values: <code>${esc(opts.paperTargetsPath)}</code> (digitized from the paper's plots and bar labels).`;
  const toc = figures.map((f) => `<li><a href="#${esc(f.spec.id)}">${esc(f.spec.title)}</a></li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>VSwapper reproduction: figures</title><style>${CSS}</style></head>
<body><h1>VSwapper (ASPLOS 2014): the paper's figures, reproduced</h1>
${source}
In the plots, ours are solid colours (line dash per engine); the paper's are lighter, dashed, with hollow markers.
Ratios are ours/paper: <span class="legend"><span style="background:#e3f4e1">0.80–1.25</span><span style="background:#fff3d6">0.5–2</span><span style="background:#fbe0de">beyond</span></span></p>
<ul>${opts.claimsHtml !== undefined ? '<li><a href="#claims">The paper\'s claims and points against ours</a></li>' : ''}${toc}</ul>
${opts.claimsHtml ?? ''}${figures.map((f) => figureSection(f, paper)).join('')}</body></html>
`;
}
