import type { FigureSpec, PanelSpec } from '../experiments/figure-specs.js';
import { CONFIG_NAMES, type ConfigName, type EngineName, type FigureResult } from '../engine/results.js';
import { type PanelPaperPoint, type PaperPoint, paperPointsForPanel } from './paper-targets.js';

/** One of our runs as a panel shows it: the metric already divided into the paper's unit. */
export interface OurPoint {
  x: number | null;
  /** null when killed or when the engine did not measure this metric. */
  value: number | null;
  killed: boolean;
  /** The smallest and largest value over the seeds behind the mean, when the engine kept them. */
  lo?: number;
  hi?: number;
}

export interface EngineSeries {
  engine: EngineName;
  points: OurPoint[];
}

/** Everything one configuration contributes to one panel: the paper's series and ours per engine. */
export interface ConfigSeries {
  config: ConfigName;
  /** The paper's name for this configuration in this figure, if the paper plots it. */
  paperName?: string;
  paper: PanelPaperPoint[];
  ours: EngineSeries[];
}

/**
 * The data of one panel, in the paper's configuration order, holding only configurations that the
 * paper or some engine has. Both the plot and the table read this, so they cannot disagree.
 */
export function panelSeries(
  spec: FigureSpec,
  panel: PanelSpec,
  results: readonly FigureResult[],
  paper: readonly PaperPoint[],
): ConfigSeries[] {
  const paperBySeries = paperPointsForPanel(paper, panel);
  const out: ConfigSeries[] = [];
  for (const config of CONFIG_NAMES) {
    const paperName = (panel.paperSeries ?? spec.paperSeries)[config];
    const found = paperName === undefined ? [] : (paperBySeries.get(paperName) ?? []);
    // A bar chart has one bar per series; the paper may still give its setup as an x (Fig. 4's bars
    // are at 10 guests), which our bars (x null) must meet.
    const paperPoints = spec.kind === 'bars' ? found.map((p) => ({ ...p, x: null })) : found;
    const ours: EngineSeries[] = [];
    for (const r of results) {
      const points = ourPoints(r, config, panel);
      if (points.length > 0) ours.push({ engine: r.engine, points });
    }
    if (paperPoints.length === 0 && ours.length === 0) continue;
    out.push({
      config,
      ...(paperName !== undefined && paperPoints.length > 0 ? { paperName } : {}),
      paper: paperPoints,
      ours,
    });
  }
  return out;
}

function ourPoints(r: FigureResult, config: ConfigName, panel: PanelSpec): OurPoint[] {
  const seen = new Set<number | null>();
  const points: OurPoint[] = [];
  for (const run of r.runs) {
    // A result holds one run per (configuration, x); a duplicate would draw a zig-zag, so the first wins.
    if (run.config !== config || seen.has(run.x)) continue;
    seen.add(run.x);
    const raw = run.metrics[panel.metric];
    const killed = run.killed === true;
    const lo = run.spread?.min[panel.metric];
    const hi = run.spread?.max[panel.metric];
    const value = killed || raw === undefined || !Number.isFinite(raw) ? null : raw / panel.divisor;
    points.push({
      x: run.x,
      value,
      killed,
      ...(value !== null && lo !== undefined && hi !== undefined
        ? { lo: lo / panel.divisor, hi: hi / panel.divisor }
        : {}),
    });
  }
  return points.sort((a, b) => (a.x ?? 0) - (b.x ?? 0));
}

const ENGINE_ORDER: readonly string[] = ['sim', 'qemu', 'qemu-pager'];

/** Engines in a fixed order (simulator first), so argument order never changes the picture. */
export function orderEngines<T extends { engine: EngineName }>(results: readonly T[]): T[] {
  const rank = (e: string): number =>
    ENGINE_ORDER.includes(e) ? ENGINE_ORDER.indexOf(e) : ENGINE_ORDER.length;
  return [...results].sort((a, b) => rank(a.engine) - rank(b.engine) || a.engine.localeCompare(b.engine));
}

/** Our point of `engine` at `x` in a configuration's series, if that engine ran it. */
export function ourPointAt(series: ConfigSeries, engine: EngineName, x: number | null): OurPoint | undefined {
  return series.ours.find((e) => e.engine === engine)?.points.find((p) => p.x === x);
}
