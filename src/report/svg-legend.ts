import { type ConfigName, type EngineName } from '../engine/results.js';
import type { ConfigSeries } from './series.js';
import {
  CONFIG_COLORS,
  OVERLAY_CONFIG,
  OVERLAY_DASH,
  PAPER_DASH,
  TEXT_COLOR,
  engineDash,
  lighten,
  squareMarker,
} from './style.js';
import { patternId, ENGINE_PATTERNS } from './svg-bars.js';
import { attrs, crossMark, px, text } from './svg-axes.js';
import { textWidthPx } from './text.js';

const NEUTRAL = '#555555';
const SWATCH_PX = 30;
const FONT_PX = 11.5;
const ROW_PX = 20;
const ITEM_GAP_PX = 22;

interface LegendItem {
  label: string;
  /** Draws the swatch with its left end at x, vertically centred on y. */
  swatch: (x: number, y: number) => string;
}

function lineSwatch(color: string, width: number, dash: string, marker: 'filled' | 'hollow') {
  return (x: number, y: number): string =>
    `<path${attrs({ d: `M${px(x)} ${px(y)}H${px(x + SWATCH_PX)}`, stroke: color, 'stroke-width': width, 'stroke-dasharray': dash, fill: 'none' })}/>` +
    `<circle${attrs({ cx: px(x + SWATCH_PX / 2), cy: px(y), r: marker === 'filled' ? 3 : 3.6, fill: marker === 'filled' ? color : 'white', stroke: marker === 'filled' ? undefined : color, 'stroke-width': marker === 'filled' ? undefined : 1.6 })}/>`;
}

function barSwatch(fill: string, extra: Record<string, string | number | undefined>, overlay?: string) {
  return (x: number, y: number): string => {
    const r = { x: px(x + 4), y: px(y - 7), width: px(SWATCH_PX - 8), height: 14 };
    return (
      `<rect${attrs({ ...r, fill, ...extra })}/>` +
      (overlay ? `<rect${attrs({ ...r, fill: overlay })}/>` : '')
    );
  };
}

/** Which configurations appear, and the paper's name for each where it differs from ours. */
function configItems(panels: ConfigSeries[][]): LegendItem[] {
  const paperNames = new Map<ConfigName, string | undefined>();
  for (const c of panels.flat())
    if (!paperNames.has(c.config) || c.paperName !== undefined) paperNames.set(c.config, c.paperName);
  const order = [...paperNames.keys()];
  return order.map((config) => {
    const paperName = paperNames.get(config);
    return {
      label: paperName !== undefined && paperName !== config ? `${config} (paper: ${paperName})` : config,
      swatch:
        config === OVERLAY_CONFIG
          ? (x: number, y: number): string =>
              `<path${attrs({ d: `M${px(x)} ${px(y)}H${px(x + SWATCH_PX)}`, stroke: CONFIG_COLORS[config], 'stroke-width': 2.2, 'stroke-dasharray': OVERLAY_DASH, fill: 'none' })}/>` +
              `${squareMarker(x + SWATCH_PX / 2, y, CONFIG_COLORS[config])}/>`
          : lineSwatch(CONFIG_COLORS[config], 2.2, '', 'filled'),
    };
  });
}

/** Legend rows: for line figures the colours of the configurations, then, for all, how to tell ours from the paper's. */
export function legendRows(
  kind: 'lines' | 'bars',
  figureId: string,
  panels: ConfigSeries[][],
  engines: EngineName[],
): LegendItem[][] {
  const anyPaper = panels.flat().some((c) => c.paper.length > 0);
  const anyKilled = panels.flat().some((c) => c.ours.some((e) => e.points.some((p) => p.killed)));
  const styles: LegendItem[] = [];
  if (anyPaper)
    styles.push({
      label: 'paper (digitized)',
      swatch:
        kind === 'lines'
          ? lineSwatch(lighten(NEUTRAL, 0.45), 1.6, PAPER_DASH, 'hollow')
          : barSwatch(lighten(NEUTRAL, 0.6), {
              stroke: NEUTRAL,
              'stroke-width': 1.2,
              'stroke-dasharray': PAPER_DASH,
            }),
    });
  engines.forEach((engine, i) =>
    styles.push({
      label: `ours: ${engine}`,
      swatch:
        kind === 'lines'
          ? lineSwatch(NEUTRAL, 2.2, engineDash(engine, i), 'filled')
          : barSwatch(
              NEUTRAL,
              {},
              ENGINE_PATTERNS.includes(engine) ? `url(#${patternId(figureId, engine)})` : undefined,
            ),
    }),
  );
  if (anyKilled)
    styles.push({ label: 'killed', swatch: (x, y) => crossMark(x + SWATCH_PX / 2, y, 4.5, NEUTRAL) });
  // Bar groups carry their configuration's name under the axis, so only lines need colour keys.
  return kind === 'lines' ? [configItems(panels), styles] : [styles];
}

/** Lays items out left to right, wrapping at `maxWidthPx`, each row centred; returns SVG and height. */
export function drawLegend(
  rows: LegendItem[][],
  top: number,
  widthPx: number,
): { svg: string; heightPx: number } {
  const itemWidth = (it: LegendItem): number => SWATCH_PX + 6 + textWidthPx(it.label, FONT_PX);
  const lines: LegendItem[][] = [];
  for (const row of rows) {
    let line: LegendItem[] = [];
    let used = 0;
    for (const it of row) {
      const w = itemWidth(it) + (line.length > 0 ? ITEM_GAP_PX : 0);
      if (line.length > 0 && used + w > widthPx - 40) {
        lines.push(line);
        line = [];
        used = 0;
      }
      used += line.length > 0 ? itemWidth(it) + ITEM_GAP_PX : itemWidth(it);
      line.push(it);
    }
    if (line.length > 0) lines.push(line);
  }
  let svg = '';
  lines.forEach((line, li) => {
    const total = line.reduce((a, it) => a + itemWidth(it), 0) + ITEM_GAP_PX * (line.length - 1);
    let x = (widthPx - total) / 2;
    const y = top + ROW_PX * li + ROW_PX / 2;
    for (const it of line) {
      svg += it.swatch(x, y);
      svg += text(x + SWATCH_PX + 6, y + 4, it.label, { 'font-size': FONT_PX, fill: TEXT_COLOR });
      x += itemWidth(it) + ITEM_GAP_PX;
    }
  });
  return { svg, heightPx: lines.length * ROW_PX };
}
