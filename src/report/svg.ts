import type { FigureSpec, PanelSpec } from '../experiments/figure-specs.js';
import type { FigureResult } from '../engine/results.js';
import type { PaperPoint } from './paper-targets.js';
import { orderEngines, panelSeries } from './series.js';
import { FONT_FAMILY, TEXT_COLOR } from './style.js';
import { type PanelFrame, attrs, text } from './svg-axes.js';
import { patternDefs, renderBarPanel } from './svg-bars.js';
import { drawLegend, legendRows } from './svg-legend.js';
import { renderLinePanel } from './svg-lines.js';
import { wrapText } from './text.js';

/** Cell sizes: line panels two (or three) to a row; bar panels wider, for grouped bars and their names. */
const LINE_CELL = { width: 470, height: 320, margin: { left: 66, right: 18, top: 34, bottom: 50 } };
const BAR_CELL = { width: 560, height: 380, margin: { left: 66, right: 18, top: 34, bottom: 62 } };
/** A lone panel gets the room two would share, so its title and legend fit. */
const SINGLE_CELL_WIDTH_PX = { lines: 680, bars: 760 };
const PAGE_PAD_PX = 12;
const TITLE_FONT_PX = 16;

function panelTitle(p: PanelSpec): string {
  return p.paperMetric === undefined ? p.paperFigure : `${p.paperFigure}: ${p.paperMetric}`;
}

function gridColumns(spec: FigureSpec): number {
  const n = spec.panels.length;
  if (n <= 1) return 1;
  return spec.kind === 'lines' && n === 3 ? 3 : 2;
}

/**
 * One figure as a standalone SVG: a panel per paper panel, our engines' series beside the paper's.
 * Same input, same bytes: no clocks, no randomness, fixed iteration orders, rounded coordinates.
 */
export function renderSvg(
  spec: FigureSpec,
  results: readonly FigureResult[],
  paper: readonly PaperPoint[],
): string {
  const ordered = orderEngines(results);
  const engines = [...new Set(ordered.map((r) => r.engine))];
  const series = spec.panels.map((p) => panelSeries(spec, p, ordered, paper));
  const cols = gridColumns(spec);
  const rows = Math.ceil(spec.panels.length / cols);
  const geometry = spec.kind === 'lines' ? LINE_CELL : BAR_CELL;
  const cellWidth = cols === 1 ? SINGLE_CELL_WIDTH_PX[spec.kind] : geometry.width;
  const width = cols * cellWidth + 2 * PAGE_PAD_PX;

  const titleLines = wrapText(spec.title, TITLE_FONT_PX, width - 40);
  const panelsTop = 16 + titleLines.length * (TITLE_FONT_PX + 5);
  const legendTop = panelsTop + rows * geometry.height + 4;
  const legend = drawLegend(legendRows(spec.kind, spec.id, series, engines), legendTop, width);
  const height = Math.ceil(legendTop + legend.heightPx + PAGE_PAD_PX);

  let body = '';
  titleLines.forEach((line, i) => {
    body += text(width / 2, 8 + (i + 1) * (TITLE_FONT_PX + 5) - 4, line, {
      'font-size': TITLE_FONT_PX,
      'font-weight': 'bold',
      'text-anchor': 'middle',
      fill: TEXT_COLOR,
    });
  });
  spec.panels.forEach((panel, i) => {
    const cell = {
      x: PAGE_PAD_PX + (i % cols) * cellWidth,
      y: panelsTop + Math.floor(i / cols) * geometry.height,
      width: cellWidth,
      height: geometry.height,
    };
    const m = geometry.margin;
    const frame: PanelFrame = {
      cell,
      plot: {
        left: cell.x + m.left,
        top: cell.y + m.top,
        right: cell.x + cell.width - m.right,
        bottom: cell.y + cell.height - m.bottom,
      },
    };
    const common = { title: panelTitle(panel), yLabel: panel.yLabel, series: series[i]!, engines };
    body += `<g${attrs({ 'data-panel': panel.paperFigure })}>`;
    body +=
      spec.kind === 'lines'
        ? renderLinePanel(frame, { ...common, xLabel: spec.xLabel, yLog: panel.yLog === true })
        : renderBarPanel(frame, { ...common, figureId: spec.id });
    body += '</g>';
  });
  body += legend.svg;

  const defs = spec.kind === 'bars' ? `<defs>${patternDefs(spec.id)}</defs>` : '';
  return (
    `<svg${attrs({ xmlns: 'http://www.w3.org/2000/svg', width, height, viewBox: `0 0 ${width} ${height}`, 'font-family': FONT_FAMILY })}>` +
    defs +
    `<rect${attrs({ x: 0, y: 0, width, height, fill: 'white' })}/>` +
    body +
    '</svg>\n'
  );
}
