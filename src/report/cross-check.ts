import { METRIC_NAMES, type EngineName, type FigureResult, type MetricName } from '../engine/results.js';
import { orderEngines } from './series.js';
import { escapeXml as esc, formatValue } from './text.js';

/** One counter of one configuration at one x, as every engine that measured it reports it. */
export interface CrossCheckRow {
  figure: string;
  config: string;
  x: number | null;
  metric: MetricName;
  /** Engines in report order (sim first); an engine that did not measure this metric is absent. */
  values: Partial<Record<EngineName, number>>;
}

/**
 * The engines side by side, counter by counter: for every configuration and x that at least two
 * engines ran, each metric that at least two of them measured. Killed runs are left out (a killed
 * run's counters describe a different experiment). This is how the simulator answers to reality: the
 * same scenario, the same counter names, measured twice.
 */
export function crossCheck(results: readonly FigureResult[]): CrossCheckRow[] {
  const rows: CrossCheckRow[] = [];
  const byFigure = new Map<string, FigureResult[]>();
  for (const r of results) byFigure.set(r.figure, [...(byFigure.get(r.figure) ?? []), r]);
  for (const [figure, rs] of byFigure) {
    const ordered = orderEngines(rs);
    if (new Set(ordered.map((r) => r.engine)).size < 2) continue;
    const points = new Map<string, { config: string; x: number | null }>();
    for (const r of ordered)
      for (const run of r.runs)
        if (!run.killed) points.set(`${run.config}\u0000${run.x}`, { config: run.config, x: run.x });
    for (const { config, x } of points.values()) {
      for (const metric of METRIC_NAMES) {
        const values: Partial<Record<EngineName, number>> = {};
        for (const r of ordered) {
          const run = r.runs.find((q) => q.config === config && q.x === x && !q.killed);
          const v = run?.metrics[metric];
          if (v !== undefined && values[r.engine] === undefined) values[r.engine] = v;
        }
        if (Object.keys(values).length >= 2) rows.push({ figure, config, x, metric, values });
      }
    }
  }
  return rows;
}

/** other / reference, printed; a dash where it means nothing (a zero reference). */
function ratio(other: number | undefined, reference: number | undefined): string {
  if (other === undefined || reference === undefined) return '—';
  if (reference === 0) return other === 0 ? 'both 0' : '—';
  return (other / reference).toFixed(2);
}

function enginesOf(rows: readonly CrossCheckRow[]): EngineName[] {
  const seen = new Set<EngineName>();
  for (const r of rows) for (const e of Object.keys(r.values) as EngineName[]) seen.add(e);
  return orderEngines([...seen].map((engine) => ({ engine }))).map((e) => e.engine);
}

function cells(row: CrossCheckRow, engines: readonly EngineName[]): string[] {
  const [reference, ...others] = engines;
  const ref = reference === undefined ? undefined : row.values[reference];
  return [
    ...engines.map((e) => (row.values[e] === undefined ? '—' : formatValue(row.values[e]))),
    ...others.map((e) => ratio(row.values[e], ref)),
  ];
}

function header(engines: readonly EngineName[]): string[] {
  const [reference, ...others] = engines;
  return ['figure', 'config', 'x', 'metric', ...engines, ...others.map((e) => `${e}/${reference ?? ''}`)];
}

/** A Markdown table (for notes and terminals) of the rows, the first engine as the ratios' reference. */
export function crossCheckMarkdown(rows: readonly CrossCheckRow[]): string {
  if (rows.length === 0) return 'No configuration was run by two engines.\n';
  const engines = enginesOf(rows);
  const head = header(engines);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows)
    lines.push(
      `| ${[r.figure, r.config, r.x === null ? '' : String(r.x), r.metric, ...cells(r, engines)].join(' | ')} |`,
    );
  return `${lines.join('\n')}\n`;
}

/** The same table for index.html, one per figure. */
export function crossCheckHtml(rows: readonly CrossCheckRow[]): string {
  if (rows.length === 0) return '';
  const engines = enginesOf(rows);
  const head = header(engines).slice(1);
  const body = rows
    .map(
      (r) =>
        `<tr>${[r.config, r.x === null ? '' : String(r.x), r.metric, ...cells(r, engines)]
          .map((c) => `<td>${esc(c)}</td>`)
          .join('')}</tr>`,
    )
    .join('\n');
  return (
    `<details><summary>engines side by side (${rows.length} counters measured by two or more engines)</summary>` +
    `<table class="cmp"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>\n${body}</tbody></table></details>`
  );
}
