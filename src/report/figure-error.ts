import { FIGURE_SPECS } from '../experiments/figure-specs.js';
import type { ConfigName, EngineName, FigureResult } from '../engine/results.js';
import type { ExtraTimeSpec } from './claims-data.js';
import type { PaperPoint } from './paper-targets.js';
import { orderEngines, ourPointAt, panelSeries } from './series.js';

/** A run made at a fraction of the paper's memory sizes: its numbers are not the paper's scale. */
export function scaleOf(r: FigureResult): number {
  return typeof r.meta.scale === 'number' ? r.meta.scale : 1;
}

/** The extra time over the unconstrained run, ours and the paper's, at one point. */
export interface ExtraTime {
  oursS: number;
  paperS: number;
  /** ours / paper; null where the paper's extra time is not positive (the reference point itself). */
  ratio: number | null;
}

/** One digitized point of the paper beside ours. */
export interface PointRow {
  /** The paper's panel, e.g. "Figure 9a" (with its metric where one figure holds several). */
  panel: string;
  figure: string;
  engine: EngineName;
  config: ConfigName;
  paperSeries: string;
  x: number | null;
  paper: number | null;
  paperNote?: string;
  ours: number | null;
  killed: boolean;
  /** ours / paper; null where either is missing or the paper's is 0 (both 0 is `bothZero`). */
  ratio: number | null;
  bothZero: boolean;
  /** Within ±pointTolerancePct; null where nothing is compared (missing, killed or scaled). */
  within: boolean | null;
  scaled: boolean;
  extra?: ExtraTime;
}

/** The paper's panel as the claims page names it. */
export interface FigureStats {
  figure: string;
  engine: EngineName;
  /** Digitized points listed (with a value of ours or the paper's). */
  points: number;
  /** Points where both sides have a value (the ones the statistics use). */
  compared: number;
  /** exp(median |ln(ours/paper)|) - 1, in percent; null when scaled or nothing compared. */
  medianErrorPct: number | null;
  /** Share of compared points within ±20 % (the page's point tolerance). */
  within20Share: number | null;
  /** Median of ours/paper extra time over the unconstrained run, where CPU time is calibrated. */
  medianExtraRatio?: number | null;
  scaled: boolean;
  scale: number;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function panelName(paperFigure: string, paperMetric: string | undefined, metricsInFigure: number): string {
  return paperMetric !== undefined && metricsInFigure > 1 ? `${paperFigure}: ${paperMetric}` : paperFigure;
}

/** Every digitized point of every figure in `results` beside ours, per engine. */
export function pointRows(
  results: readonly FigureResult[],
  paper: readonly PaperPoint[],
  extraTime: readonly ExtraTimeSpec[],
  tolerancePct: number,
): PointRow[] {
  const rows: PointRow[] = [];
  for (const r of orderEngines(results)) {
    const spec = FIGURE_SPECS[r.figure];
    if (spec === undefined) continue;
    const scaled = scaleOf(r) !== 1;
    for (const panel of spec.panels) {
      const sameFigure = new Set(
        spec.panels.filter((p) => p.paperFigure === panel.paperFigure).map((p) => p.paperMetric),
      );
      // §5.4's two experiments share one paper "figure" (its text): each is named by its workload.
      const name =
        panel.paperWorkload !== undefined
          ? `${panel.paperFigure}: ${panel.paperWorkload}`
          : panelName(panel.paperFigure, panel.paperMetric, sameFigure.size);
      const extraSpec = extraTime.find((e) => e.figure === r.figure && e.panel === panel.paperFigure);
      for (const c of panelSeries(spec, panel, [r], paper)) {
        const ref = extraSpec && {
          ours: ourPointAt(c, r.engine, extraSpec.referenceX)?.value ?? null,
          paper: c.paper.find((p) => p.x === extraSpec.referenceX)?.value ?? null,
        };
        for (const p of c.paper) {
          const o = ourPointAt(c, r.engine, p.x);
          const ours = o?.value ?? null;
          const both = ours !== null && p.value !== null && !scaled;
          const bothZero = both && ours === 0 && p.value === 0;
          const ratio = both && p.value !== 0 ? ours / p.value! : null;
          const within = !both
            ? null
            : bothZero || (ratio !== null && Math.abs(ratio - 1) <= tolerancePct / 100);
          const row: PointRow = {
            panel: name,
            figure: r.figure,
            engine: r.engine,
            config: c.config,
            paperSeries: c.paperName ?? '',
            x: p.x,
            paper: p.value,
            ...(p.note !== undefined ? { paperNote: p.note } : {}),
            ours,
            killed: o?.killed ?? false,
            ratio,
            bothZero,
            within,
            scaled,
          };
          if (both && ref && ref.ours !== null && ref.paper !== null) {
            const oursS = ours - ref.ours;
            const paperS = p.value! - ref.paper;
            row.extra = { oursS, paperS, ratio: paperS > 0 ? oursS / paperS : null };
          }
          rows.push(row);
        }
      }
    }
  }
  return rows;
}

/** Per paper panel and engine: the median error and the share within tolerance. */
export function figureStats(rows: readonly PointRow[], results: readonly FigureResult[]): FigureStats[] {
  const groups = new Map<string, PointRow[]>();
  for (const r of rows) {
    const k = `${r.panel}\u0000${r.engine}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out: FigureStats[] = [];
  for (const g of groups.values()) {
    const first = g[0]!;
    const result = results.find((r) => r.figure === first.figure && r.engine === first.engine);
    const compared = g.filter((r) => r.within !== null);
    // One side zero has no log error: it counts against the share but cannot enter the median.
    const logErrors = compared
      .filter((r) => r.bothZero || (r.ratio !== null && r.ratio > 0))
      .map((r) => (r.bothZero ? 0 : Math.abs(Math.log(r.ratio!))));
    const med = median(logErrors);
    const extras = g.flatMap((r) => (r.extra?.ratio != null ? [r.extra.ratio] : []));
    const hasExtra = g.some((r) => r.extra !== undefined);
    out.push({
      figure: first.panel,
      engine: first.engine,
      points: g.length,
      compared: compared.length,
      medianErrorPct: med === null ? null : (Math.exp(med) - 1) * 100,
      within20Share: compared.length === 0 ? null : compared.filter((r) => r.within).length / compared.length,
      ...(hasExtra ? { medianExtraRatio: median(extras) } : {}),
      scaled: first.scaled,
      scale: result ? scaleOf(result) : 1,
    });
  }
  return out.sort(
    (a, b) => a.figure.localeCompare(b.figure, 'en', { numeric: true }) || a.engine.localeCompare(b.engine),
  );
}
