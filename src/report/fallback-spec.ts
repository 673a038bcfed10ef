import type { FigureSpec, PanelSpec } from '../experiments/figure-specs.js';
import type { FigureResult } from '../engine/results.js';

/** Headline metrics, in the order a reader of the paper looks at them. */
const HEADLINE_PANELS: Omit<PanelSpec, 'paperFigure'>[] = [
  { metric: 'runtimeS', divisor: 1, yLabel: 'runtime [s]' },
  { metric: 'diskOps', divisor: 1000, yLabel: 'disk operations [K]' },
  { metric: 'swapWriteSectors', divisor: 1000, yLabel: 'swap sectors written [K]' },
  { metric: 'hostFaultsInGuest', divisor: 1000, yLabel: 'host faults while guest runs [K]' },
];

/**
 * A spec for a figure the paper does not have (a user's experiment file): the headline metrics that
 * some run measured, bars when no run has an x, lines otherwise.
 */
export function fallbackSpec(id: string, results: readonly FigureResult[]): FigureSpec {
  const runs = results.flatMap((r) => r.runs);
  const xAxis = results.map((r) => r.meta.xAxis).find((v) => typeof v === 'string');
  const measured = HEADLINE_PANELS.filter((p) => runs.some((run) => run.metrics[p.metric] !== undefined));
  const panels = (measured.length > 0 ? measured : HEADLINE_PANELS.slice(0, 1)).map((p) => ({
    ...p,
    paperFigure: `${id}: ${p.yLabel.replace(/ \[.*\]$/, '')}`,
  }));
  return {
    id,
    title: id,
    kind: runs.every((run) => run.x === null) ? 'bars' : 'lines',
    xLabel: typeof xAxis === 'string' ? xAxis : 'x',
    panels,
    paperSeries: {},
  };
}
