import { Resvg } from '@resvg/resvg-js';

/** Rasterises an SVG (system fonts; DejaVu where Debian has it). */
export function svgToPng(svg: string, widthPx = 1400): Buffer {
  const r = new Resvg(svg, {
    fitTo: { mode: 'width', value: widthPx },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    background: 'white',
  });
  return r.render().asPng();
}
