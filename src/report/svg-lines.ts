import type { EngineName } from '../engine/results.js';
import type { ConfigSeries } from './series.js';
import {
  CONFIG_COLORS,
  OVERLAY_CONFIG,
  OVERLAY_DASH,
  PAPER_DASH,
  drawOrder,
  engineDash,
  lighten,
  squareMarker,
} from './style.js';
import { type PanelFrame, type Tick, attrs, crossMark, drawAxes, noData, px } from './svg-axes.js';
import { formatTicks, niceTicks } from './ticks.js';
import { escapeXml, formatValue } from './text.js';

/** Up to this many distinct x values each get a tick (iterations, 64 MB steps); more get round ticks. */
const MAX_LABELLED_XS = 10;
/** Keeps the first and last markers off the y axis and the right edge. */
const X_INSET_PX = 12;

interface XY {
  x: number;
  y: number | null;
}

/** A line panel: the paper's series behind, lighter and dashed with hollow markers; ours on top. */
export function renderLinePanel(
  f: PanelFrame,
  o: {
    title: string;
    yLabel: string;
    xLabel: string;
    series: ConfigSeries[];
    engines: EngineName[];
    yLog?: boolean;
  },
): string {
  const xs = [
    ...new Set(
      o.series.flatMap((c) => [
        ...c.paper.map((p) => p.x),
        ...c.ours.flatMap((e) => e.points.map((p) => p.x)),
      ]),
    ),
  ]
    .filter((x): x is number => x !== null && Number.isFinite(x))
    .sort((a, b) => a - b);
  const values = o.series.flatMap((c) => [
    ...c.paper.map((p) => p.value),
    ...c.ours.flatMap((e) => e.points.map((p) => p.value)),
  ]);
  const spreads = o.series.flatMap((c) => c.ours.flatMap((e) => e.points.flatMap((p) => [p.lo, p.hi])));
  const ys = [...values, ...spreads].filter((v): v is number => v != null && Number.isFinite(v));
  const { left, top, right, bottom } = f.plot;
  const { py, yTicks, zeroPx } = o.yLog ? logAxis(ys, top, bottom) : linearAxis(ys, top, bottom);

  if (xs.length === 0) return drawAxes(f, { ...o, yTicks, xTicks: [] }) + noData(f);
  const x0 = xs[0]!;
  const x1 = xs[xs.length - 1]! === x0 ? x0 + 1 : xs[xs.length - 1]!;
  const pxX = (x: number): number =>
    xs.length === 1
      ? (left + right) / 2
      : left + X_INSET_PX + ((x - x0) / (x1 - x0)) * (right - left - 2 * X_INSET_PX);
  const xTicks = xAxisTicks(xs).map((t) => ({ posPx: pxX(t.value), label: t.label }));

  let s = drawAxes(f, { ...o, yTicks, xTicks });
  // A log axis has no place for zero: such a point breaks its line instead.
  const drawable = (v: number | null): number | null => (v !== null && o.yLog && v <= 0 ? null : v);
  // Paper series first, for every configuration, so none of ours is hidden under a paper line.
  for (const c of o.series) {
    if (c.paper.length === 0) continue;
    const color = lighten(CONFIG_COLORS[c.config], 0.45);
    const pts = c.paper.filter((p) => p.x !== null).map((p) => ({ x: p.x!, y: drawable(p.value) }));
    s += seriesPath(`${c.config}/paper`, pts, pxX, py, { stroke: color, width: 1.6, dash: PAPER_DASH });
    for (const p of pts)
      if (p.y !== null && (!o.yLog || p.y > 0))
        s += `<circle${attrs({ cx: px(pxX(p.x)), cy: px(py(p.y)), r: 3.6, fill: 'white', stroke: color, 'stroke-width': 1.6 })}>${tip(`${c.paperName ?? c.config} (paper) at ${formatValue(p.x)}: ${formatValue(p.y)}`)}</circle>`;
  }
  for (const c of drawOrder(o.series)) {
    const color = CONFIG_COLORS[c.config];
    const overlay = c.config === OVERLAY_CONFIG;
    for (const e of c.ours) {
      const pts = e.points.filter((p) => p.x !== null).map((p) => ({ x: p.x!, y: drawable(p.value) }));
      const engineDashes = engineDash(e.engine, o.engines.indexOf(e.engine));
      const dash = overlay && engineDashes === '' ? OVERLAY_DASH : engineDashes;
      s += seriesPath(`${c.config}/${e.engine}`, pts, pxX, py, { stroke: color, width: 2.2, dash });
      for (const p of e.points) {
        if (p.x === null) continue;
        if (p.killed) s += crossMark(pxX(p.x), zeroPx - 7, 4.5, color);
        else if (p.value !== null && (!o.yLog || p.value > 0)) {
          const cx = pxX(p.x);
          const spread = p.lo !== undefined && p.hi !== undefined && p.hi > p.lo;
          // Error bar: min to max over the seeds behind the mean.
          if (spread && (!o.yLog || p.lo! > 0))
            s += `<path${attrs({ 'data-spread': `${c.config}/${e.engine}`, d: `M${px(cx)} ${px(py(p.lo!))}V${px(py(p.hi!))}M${px(cx - 3)} ${px(py(p.lo!))}H${px(cx + 3)}M${px(cx - 3)} ${px(py(p.hi!))}H${px(cx + 3)}`, stroke: color, 'stroke-width': 1, fill: 'none' })}/>`;
          const range = spread ? ` (seeds: ${formatValue(p.lo!)}–${formatValue(p.hi!)})` : '';
          const label = tip(
            `${c.config} (${e.engine}) at ${formatValue(p.x)}: ${formatValue(p.value)}${range}`,
          );
          s += overlay
            ? `${squareMarker(cx, py(p.value), color)}>${label}</rect>`
            : `<circle${attrs({ cx: px(cx), cy: px(py(p.value)), r: 3, fill: color })}>${label}</circle>`;
        }
      }
    }
  }
  return s;
}

/** A tooltip: browsers show an element's <title> on hover. */
function tip(t: string): string {
  return `<title>${escapeXml(t)}</title>`;
}

interface YAxis {
  py: (y: number) => number;
  yTicks: Tick[];
  /** Where killed runs' crosses sit: the axis's zero, or its bottom on a log axis. */
  zeroPx: number;
}

function linearAxis(ys: number[], top: number, bottom: number): YAxis {
  // A little headroom so a maximum that lands on a tick does not sit its marker on the frame.
  const yTickValues = niceTicks(Math.min(0, ...ys), Math.max(0, ...ys) * 1.04, 5);
  const y0 = yTickValues[0]!;
  const y1 = yTickValues[yTickValues.length - 1]!;
  const py = (y: number): number => bottom - ((y - y0) / (y1 - y0)) * (bottom - top);
  const yLabels = formatTicks(yTickValues);
  return {
    py,
    yTicks: yTickValues.map((v, i) => ({ posPx: py(v), label: yLabels[i]! })),
    zeroPx: py(Math.max(y0, 0)),
  };
}

/** Decades, with 2 and 5 between them when the range spans few decades; values <= 0 are not drawn. */
function logAxis(ys: number[], top: number, bottom: number): YAxis {
  const pos = ys.filter((y) => y > 0);
  const lo = Math.floor(Math.log10(pos.length > 0 ? Math.min(...pos) : 1));
  const hi = Math.ceil(Math.log10(pos.length > 0 ? Math.max(...pos) * 1.04 : 10));
  const d0 = lo;
  const d1 = hi === lo ? lo + 1 : hi;
  const py = (y: number): number => bottom - ((Math.log10(y) - d0) / (d1 - d0)) * (bottom - top);
  const steps = d1 - d0 <= 3 ? [1, 2, 5] : [1];
  const values: number[] = [];
  for (let d = d0; d <= d1; d++)
    for (const m of steps) {
      const v = m * 10 ** d;
      if (v <= 10 ** d1 * 1.0000001) values.push(v);
    }
  return {
    py,
    yTicks: values.map((v) => ({ posPx: py(v), label: formatValue(v) })),
    zeroPx: bottom,
  };
}

/** One path per series; a killed or missing point breaks the line instead of bridging the gap. */
function seriesPath(
  id: string,
  pts: XY[],
  pxX: (x: number) => number,
  py: (y: number) => number,
  style: { stroke: string; width: number; dash: string },
): string {
  let d = '';
  let pen = false;
  for (const p of pts) {
    if (p.y === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${px(pxX(p.x))} ${px(py(p.y))}`;
    pen = true;
  }
  return `<path${attrs({
    'data-series': id,
    d: d === '' ? 'M0 0' : d,
    fill: 'none',
    stroke: style.stroke,
    'stroke-width': style.width,
    'stroke-dasharray': style.dash,
    'stroke-linejoin': 'round',
    // An empty series (all killed) keeps its element so every series is accounted for, but draws nothing.
    visibility: d === '' ? 'hidden' : undefined,
  })}/>`;
}

function xAxisTicks(xs: number[]): { value: number; label: string }[] {
  if (xs.length <= MAX_LABELLED_XS) return xs.map((x) => ({ value: x, label: formatValue(x) }));
  const lo = xs[0]!;
  const hi = xs[xs.length - 1]!;
  const all = niceTicks(lo, hi, 7);
  const labels = formatTicks(all);
  const eps = (hi - lo) * 1e-9;
  return all
    .map((value, i) => ({ value, label: labels[i]! }))
    .filter((t) => t.value >= lo - eps && t.value <= hi + eps);
}
