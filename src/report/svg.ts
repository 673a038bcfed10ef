import type { FigureSpec, PanelSpec } from '../experiments/figure-specs.js';
import { CONFIG_NAMES, type ConfigName, type FigureResult } from '../experiments/results.js';
import { type PaperPoint, pointsOf } from './paper-targets.js';

const COLORS: Record<ConfigName, string> = {
  baseline: '#d62728',
  balloon: '#1f77b4',
  mapper: '#ff7f0e',
  vswapper: '#2ca02c',
  'balloon+vswapper': '#9467bd',
};
const ENGINE_DASH: Record<string, string> = { sim: '', qemu: '6 3', 'qemu-pager': '2 3' };

export const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round tick values covering [lo, hi] (about `n` of them). */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const top = Math.ceil(hi / step - 1e-9) * step;
  for (let v = Math.floor(lo / step) * step; v <= top + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v: number): string => (Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

interface Series {
  label: string;
  color: string;
  dash: string;
  paper: boolean;
  points: { x: number; y: number | null }[];
}

function seriesFor(
  spec: FigureSpec,
  panel: PanelSpec,
  results: FigureResult[],
  paper: PaperPoint[],
): Series[] {
  const out: Series[] = [];
  const pts = pointsOf(paper, panel.paperFigure, panel.paperMetric);
  for (const config of CONFIG_NAMES) {
    const paperName = spec.paperSeries[config];
    const mine = pts.filter((p) => p.series === paperName);
    if (mine.length > 0)
      out.push({
        label: `${config} (paper)`,
        color: COLORS[config],
        dash: '4 3',
        paper: true,
        points: mine.map((p, i) => ({ x: p.x ?? i, y: p.value })),
      });
    for (const r of results) {
      const runs = r.runs.filter((run) => run.config === config);
      if (runs.length === 0) continue;
      out.push({
        label: `${config} (${r.engine})`,
        color: COLORS[config],
        dash: ENGINE_DASH[r.engine] ?? '',
        paper: false,
        points: runs.map((run, i) => {
          const v = run.metrics[panel.metric];
          return { x: run.x ?? i, y: run.killed || v === undefined ? null : v / panel.divisor };
        }),
      });
    }
  }
  return out;
}

/** Panel geometry: line panels sit two to a row; a bar chart gets a wide panel of its own. */
interface Geom {
  W: number;
  H: number;
  M: { l: number; r: number; t: number; b: number };
}
const LINES: Geom = { W: 460, H: 300, M: { l: 64, r: 16, t: 30, b: 46 } };
const BARS: Geom = { W: 820, H: 420, M: { l: 64, r: 80, t: 30, b: 110 } };

function linePanel(
  g: Geom,
  spec: FigureSpec,
  panel: PanelSpec,
  series: Series[],
  ox: number,
  oy: number,
): string {
  const { W, H, M } = g;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y ?? 0));
  const xt = niceTicks(Math.min(...xs, 0), Math.max(...xs, 1), 6);
  const yt = niceTicks(0, Math.max(...ys, 1e-9) * 1.05, 5);
  const [x0, x1, y1] = [xt[0]!, xt[xt.length - 1]!, yt[yt.length - 1]!];
  const px = (x: number): number => ox + M.l + ((x - x0) / (x1 - x0 || 1)) * (W - M.l - M.r);
  const py = (y: number): number => oy + H - M.b - (y / (y1 || 1)) * (H - M.t - M.b);
  let s = axes(
    g,
    panel,
    spec.xLabel,
    ox,
    oy,
    xt.map((t) => [px(t), fmt(t)]),
    yt.map((t) => [py(t), fmt(t)]),
  );
  for (const ser of series) {
    const ok = ser.points.filter((p) => p.y !== null);
    if (ok.length > 1) {
      s += `<polyline fill="none" stroke="${ser.color}" stroke-width="${ser.paper ? 1.2 : 2}" stroke-opacity="${ser.paper ? 0.6 : 1}"${ser.dash ? ` stroke-dasharray="${ser.dash}"` : ''} points="${ok.map((p) => `${px(p.x).toFixed(1)},${py(p.y!).toFixed(1)}`).join(' ')}"/>`;
    }
    for (const p of ser.points) {
      if (p.y === null) {
        s += `<text x="${px(p.x).toFixed(1)}" y="${(py(0) - 4).toFixed(1)}" font-size="9" text-anchor="middle" fill="${ser.color}">✕</text>`;
        continue;
      }
      s += ser.paper
        ? `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="white" stroke="${ser.color}" stroke-opacity="0.7"/>`
        : `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="2.8" fill="${ser.color}"/>`;
    }
  }
  return s;
}

function barPanel(g: Geom, panel: PanelSpec, series: Series[], ox: number, oy: number): string {
  const { W, H, M } = g;
  const bars = series.map((s) => ({ s, v: s.points[0]?.y ?? null }));
  const yt = niceTicks(0, Math.max(...bars.map((b) => b.v ?? 0), 1e-9) * 1.1, 5);
  const y1 = yt[yt.length - 1]!;
  const py = (y: number): number => oy + H - M.b - (y / y1) * (H - M.t - M.b);
  const slot = (W - M.l - M.r) / Math.max(1, bars.length);
  let s = axes(
    g,
    panel,
    '',
    ox,
    oy,
    [],
    yt.map((t) => [py(t), fmt(t)]),
  );
  bars.forEach(({ s: ser, v }, i) => {
    const x = ox + M.l + i * slot + slot * 0.15;
    const w = slot * 0.7;
    if (v === null) {
      s += `<text x="${(x + w / 2).toFixed(1)}" y="${(py(0) - 4).toFixed(1)}" font-size="9" text-anchor="middle">killed</text>`;
    } else {
      s += `<rect x="${x.toFixed(1)}" y="${py(v).toFixed(1)}" width="${w.toFixed(1)}" height="${(py(0) - py(v)).toFixed(1)}" fill="${ser.color}" fill-opacity="${ser.paper ? 0.35 : 0.9}" stroke="${ser.color}"${ser.paper ? ' stroke-dasharray="3 2"' : ''}/>`;
      s += `<text x="${(x + w / 2).toFixed(1)}" y="${(py(v) - 3).toFixed(1)}" font-size="9" text-anchor="middle">${fmt(v)}</text>`;
    }
    s += `<text transform="translate(${(x + w / 2).toFixed(1)},${(oy + H - M.b + 8).toFixed(1)}) rotate(35)" font-size="8">${esc(ser.label)}</text>`;
  });
  return s;
}

function axes(
  g: Geom,
  panel: PanelSpec,
  xLabel: string,
  ox: number,
  oy: number,
  xt: [number, string][],
  yt: [number, string][],
): string {
  const { W, H, M } = g;
  const bottom = oy + H - M.b;
  let s = `<text x="${ox + M.l}" y="${oy + 18}" font-size="12" font-weight="bold">${esc(panel.paperFigure)}</text>`;
  s += `<line x1="${ox + M.l}" y1="${bottom}" x2="${ox + W - M.r}" y2="${bottom}" stroke="#333"/>`;
  s += `<line x1="${ox + M.l}" y1="${oy + M.t}" x2="${ox + M.l}" y2="${bottom}" stroke="#333"/>`;
  for (const [y, label] of yt) {
    s += `<line x1="${ox + M.l}" y1="${y.toFixed(1)}" x2="${ox + W - M.r}" y2="${y.toFixed(1)}" stroke="#ddd"/>`;
    s += `<text x="${ox + M.l - 5}" y="${(y + 3).toFixed(1)}" font-size="9" text-anchor="end">${label}</text>`;
  }
  for (const [x, label] of xt)
    s += `<text x="${x.toFixed(1)}" y="${bottom + 13}" font-size="9" text-anchor="middle">${label}</text>`;
  s += `<text transform="translate(${ox + 14},${oy + (H - M.b + M.t) / 2}) rotate(-90)" font-size="10" text-anchor="middle">${esc(panel.yLabel)}</text>`;
  if (xLabel)
    s += `<text x="${ox + (W + M.l) / 2}" y="${oy + H - 12}" font-size="10" text-anchor="middle">${esc(xLabel)}</text>`;
  return s;
}

/** The reproduced figure as SVG: one panel per paper panel, ours solid, the paper's dashed and lighter. */
export function renderSvg(spec: FigureSpec, results: FigureResult[], paper: PaperPoint[]): string {
  const g = spec.kind === 'lines' ? LINES : BARS;
  const { W, H } = g;
  const cols = spec.kind === 'lines' && spec.panels.length > 1 ? 2 : 1;
  const rows = Math.ceil(spec.panels.length / cols);
  const allSeries = spec.panels.map((p) => seriesFor(spec, p, results, paper));
  const legend = allSeries[0] ?? [];
  const legendRows = spec.kind === 'lines' ? Math.ceil(legend.length / 3) : 0;
  const width = cols * W;
  const height = 40 + rows * H + legendRows * 16 + 10;
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">`;
  s += `<rect width="100%" height="100%" fill="white"/>`;
  s += `<text x="${width / 2}" y="22" font-size="14" text-anchor="middle" font-weight="bold">${esc(spec.title)}</text>`;
  spec.panels.forEach((panel, i) => {
    const ox = (i % cols) * W;
    const oy = 30 + Math.floor(i / cols) * H;
    s +=
      spec.kind === 'lines'
        ? linePanel(g, spec, panel, allSeries[i]!, ox, oy)
        : barPanel(g, panel, allSeries[i]!, ox, oy);
  });
  if (spec.kind === 'lines') {
    legend.forEach((ser, i) => {
      const x = 20 + (i % 3) * (width / 3);
      const y = 40 + rows * H + Math.floor(i / 3) * 16;
      s += `<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${ser.color}" stroke-width="${ser.paper ? 1.2 : 2}"${ser.dash ? ` stroke-dasharray="${ser.dash}"` : ''}/>`;
      s += `<text x="${x + 30}" y="${y + 3}" font-size="10">${esc(ser.label)}</text>`;
    });
  }
  return `${s}</svg>\n`;
}
