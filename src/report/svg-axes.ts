import { escapeXml } from './text.js';
import { AXIS_COLOR, GRID_COLOR, MUTED_TEXT_COLOR, TEXT_COLOR } from './style.js';

/** A panel's cell in the figure grid, and inside it the rectangle the data is drawn in. */
export interface PanelFrame {
  cell: { x: number; y: number; width: number; height: number };
  plot: { left: number; top: number; right: number; bottom: number };
}

export interface Tick {
  posPx: number;
  label: string;
}

/** Coordinates rounded to 0.1 px: enough for print, and the same bytes on every machine. */
export function px(v: number): string {
  const s = (Math.round(v * 10) / 10).toFixed(1);
  return s === '-0.0' ? '0.0' : s;
}

/** `attrs` with values escaped, in the given order so output stays byte-stable. */
export function attrs(a: Record<string, string | number | undefined>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join('');
}

export function text(
  x: number,
  y: number,
  content: string,
  a: Record<string, string | number | undefined> = {},
): string {
  return `<text${attrs({ x: px(x), y: px(y), ...a })}>${escapeXml(content)}</text>`;
}

/** An "x" marker (killed run), drawn as lines so it does not depend on a font having the glyph. */
export function crossMark(cx: number, cy: number, halfPx: number, color: string, widthPx = 2): string {
  const d = `M${px(cx - halfPx)} ${px(cy - halfPx)}L${px(cx + halfPx)} ${px(cy + halfPx)}M${px(cx - halfPx)} ${px(cy + halfPx)}L${px(cx + halfPx)} ${px(cy - halfPx)}`;
  return `<path${attrs({ d, stroke: color, 'stroke-width': widthPx, 'stroke-linecap': 'round', fill: 'none' })}/>`;
}

/** Panel title, horizontal grid at the y ticks, both axes with tick labels, and the axis labels. */
export function drawAxes(
  f: PanelFrame,
  o: { title: string; yLabel: string; xLabel: string; yTicks: Tick[]; xTicks: Tick[] },
): string {
  const { left, top, right, bottom } = f.plot;
  let s = text(left, f.cell.y + 20, o.title, {
    'font-size': 13,
    'font-weight': 'bold',
    fill: TEXT_COLOR,
  });
  for (const t of o.yTicks) {
    s += `<line${attrs({ x1: px(left), y1: px(t.posPx), x2: px(right), y2: px(t.posPx), stroke: GRID_COLOR })}/>`;
    s += `<line${attrs({ x1: px(left - 4), y1: px(t.posPx), x2: px(left), y2: px(t.posPx), stroke: AXIS_COLOR })}/>`;
    s += text(left - 7, t.posPx + 3.5, t.label, { 'font-size': 10, 'text-anchor': 'end', fill: TEXT_COLOR });
  }
  for (const t of o.xTicks) {
    s += `<line${attrs({ x1: px(t.posPx), y1: px(bottom), x2: px(t.posPx), y2: px(bottom + 4), stroke: AXIS_COLOR })}/>`;
    s += text(t.posPx, bottom + 16, t.label, { 'font-size': 10, 'text-anchor': 'middle', fill: TEXT_COLOR });
  }
  s += `<path${attrs({ d: `M${px(left)} ${px(top)}V${px(bottom)}H${px(right)}`, stroke: AXIS_COLOR, fill: 'none' })}/>`;
  const midY = (top + bottom) / 2;
  s += `<text${attrs({
    transform: `translate(${px(f.cell.x + 16)} ${px(midY)}) rotate(-90)`,
    'font-size': 11,
    'text-anchor': 'middle',
    fill: TEXT_COLOR,
  })}>${escapeXml(o.yLabel)}</text>`;
  if (o.xLabel !== '')
    s += text((left + right) / 2, bottom + 34, o.xLabel, {
      'font-size': 11,
      'text-anchor': 'middle',
      fill: TEXT_COLOR,
    });
  return s;
}

export function noData(f: PanelFrame): string {
  const { left, top, right, bottom } = f.plot;
  return text((left + right) / 2, (top + bottom) / 2, 'no data', {
    'font-size': 12,
    'text-anchor': 'middle',
    fill: MUTED_TEXT_COLOR,
  });
}
