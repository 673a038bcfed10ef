import type { EngineName } from '../engine/results.js';
import type { ConfigSeries } from './series.js';
import { CONFIG_COLORS, MUTED_TEXT_COLOR, PAPER_DASH, TEXT_COLOR, lighten } from './style.js';
import { type PanelFrame, attrs, crossMark, drawAxes, px, text } from './svg-axes.js';
import { formatTicks, niceTicks } from './ticks.js';
import { formatValue, textWidthPx, wrapText } from './text.js';

/** Fill overlays telling our engines apart in bars, where a line dash cannot (the simulator: plain). */
export const ENGINE_PATTERNS: readonly EngineName[] = ['qemu', 'qemu-pager'];

export function patternId(figureId: string, engine: string): string {
  // Several figures' SVGs sit inline in one HTML page, where ids are global: prefix with the figure.
  return `${figureId.replace(/[^A-Za-z0-9_-]/g, '_')}-fill-${engine}`;
}

/** White hatching (qemu) or dots (qemu-pager) laid over the configuration's colour. */
export function patternDefs(figureId: string): string {
  return (
    `<pattern${attrs({ id: patternId(figureId, 'qemu'), width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' })}>` +
    `<rect${attrs({ width: 2.2, height: 6, fill: 'white', 'fill-opacity': 0.75 })}/></pattern>` +
    `<pattern${attrs({ id: patternId(figureId, 'qemu-pager'), width: 5, height: 5, patternUnits: 'userSpaceOnUse' })}>` +
    `<circle${attrs({ cx: 2.5, cy: 2.5, r: 1.2, fill: 'white', 'fill-opacity': 0.8 })}/></pattern>`
  );
}

interface Bar {
  kind: 'paper' | EngineName;
  value: number | null;
  killed: boolean;
}

/** A bar panel: one group per configuration, the paper's bar first, then ours per engine, labelled. */
export function renderBarPanel(
  f: PanelFrame,
  o: { figureId: string; title: string; yLabel: string; series: ConfigSeries[]; engines: EngineName[] },
): string {
  const groups = o.series.map((c) => ({ c, bars: barsOf(c, o.engines) }));
  const values = groups.flatMap((g) => g.bars.map((b) => b.value ?? 0));
  const { left, top, right, bottom } = f.plot;
  // Headroom so the value label over the tallest bar stays inside the plot.
  const yTickValues = niceTicks(0, Math.max(0, ...values) * 1.08, 5);
  const y1 = yTickValues[yTickValues.length - 1]!;
  const py = (y: number): number => bottom - (y / y1) * (bottom - top);
  const yLabels = formatTicks(yTickValues);
  let s = drawAxes(f, {
    title: o.title,
    yLabel: o.yLabel,
    xLabel: '',
    yTicks: yTickValues.map((v, i) => ({ posPx: py(v), label: yLabels[i]! })),
    xTicks: [],
  });
  const groupWidthPx = (right - left) / Math.max(1, groups.length);
  const maxBars = Math.max(1, ...groups.map((g) => g.bars.length));
  const barWidthPx = Math.min(56, (groupWidthPx * 0.82) / maxBars);
  const labelFontPx = barWidthPx >= 36 ? 10 : barWidthPx >= 26 ? 9 : 8;

  groups.forEach(({ c, bars }, gi) => {
    const color = CONFIG_COLORS[c.config];
    const centre = left + groupWidthPx * (gi + 0.5);
    const start = centre - (bars.length * barWidthPx) / 2;
    bars.forEach((b, bi) => {
      const x = start + bi * barWidthPx;
      const mid = x + barWidthPx / 2;
      const inner = barWidthPx - 3;
      const isPaper = b.kind === 'paper';
      if (b.value !== null) {
        const yTop = py(b.value);
        const h = Math.max(0, bottom - yTop);
        const rect = { x: px(x + 1.5), y: px(yTop), width: px(inner), height: px(h) };
        if (isPaper)
          s += `<rect${attrs({ ...rect, fill: lighten(color, 0.6), stroke: color, 'stroke-width': 1.2, 'stroke-dasharray': PAPER_DASH })}/>`;
        else {
          s += `<rect${attrs({ ...rect, fill: color })}/>`;
          if (b.kind !== 'paper' && ENGINE_PATTERNS.includes(b.kind))
            s += `<rect${attrs({ ...rect, fill: `url(#${patternId(o.figureId, b.kind)})` })}/>`;
        }
        s += text(mid, yTop - 4, formatValue(b.value), {
          'font-size': labelFontPx,
          'text-anchor': 'middle',
          fill: isPaper ? MUTED_TEXT_COLOR : TEXT_COLOR,
          'font-style': isPaper ? 'italic' : undefined,
        });
      } else {
        // Killed (ours) or missing (the paper): an x on the axis and a word, never a zero-height bar.
        s += crossMark(mid, bottom - 7, 4.5, isPaper ? lighten(color, 0.3) : color);
        s += text(mid, bottom - 16, b.killed ? 'killed' : isPaper ? 'missing' : 'n/a', {
          'font-size': labelFontPx,
          'text-anchor': 'middle',
          fill: isPaper ? MUTED_TEXT_COLOR : TEXT_COLOR,
        });
      }
    });
    s += groupLabel(c, centre, bottom, groupWidthPx);
  });
  return s;
}

function barsOf(c: ConfigSeries, engines: EngineName[]): Bar[] {
  const bars: Bar[] = [];
  const p = c.paper[0];
  if (p !== undefined) bars.push({ kind: 'paper', value: p.value, killed: false });
  for (const engine of engines) {
    const q = c.ours.find((e) => e.engine === engine)?.points[0];
    if (q !== undefined) bars.push({ kind: engine, value: q.value, killed: q.killed });
  }
  return bars;
}

/** The configuration under its group, and the paper's name for it when that differs. */
function groupLabel(c: ConfigSeries, centre: number, bottom: number, groupWidthPx: number): string {
  let s = text(centre, bottom + 17, c.config, {
    'font-size': textWidthPx(c.config, 12) > groupWidthPx - 4 ? 10 : 12,
    'font-weight': 'bold',
    'text-anchor': 'middle',
    fill: CONFIG_COLORS[c.config],
  });
  if (c.paperName !== undefined && c.paperName !== c.config) {
    wrapText(`paper: ${c.paperName}`, 9.5, groupWidthPx - 6).forEach((line, i) => {
      s += text(centre, bottom + 31 + i * 12, line, {
        'font-size': 9.5,
        'text-anchor': 'middle',
        fill: MUTED_TEXT_COLOR,
      });
    });
  }
  return s;
}
