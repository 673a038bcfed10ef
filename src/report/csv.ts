import type { FigureResult, MetricName } from '../engine/results.js';

const HEADER = ['figure', 'engine', 'config', 'x', 'killed', 'metric', 'value', 'min', 'max'];

/** A CSV field: quoted only when it must be (RFC 4180). */
function field(v: string | number | boolean | null | undefined): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * A result as tidy data: one row per run and metric (a killed run: one row, no metric), with the
 * spread over seeds where the engine kept it. Spreadsheets and R/pandas read it without the schema.
 */
export function resultCsv(r: FigureResult): string {
  const rows = [HEADER.join(',')];
  for (const run of r.runs) {
    const base = [r.figure, r.engine, run.config, run.x, run.killed === true];
    const metrics = Object.keys(run.metrics) as MetricName[];
    if (metrics.length === 0) rows.push([...base, '', '', '', ''].map(field).join(','));
    for (const m of metrics)
      rows.push([...base, m, run.metrics[m], run.spread?.min[m], run.spread?.max[m]].map(field).join(','));
  }
  return `${rows.join('\n')}\n`;
}
