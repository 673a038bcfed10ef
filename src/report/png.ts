import { execFileSync } from 'node:child_process';
import { Resvg } from '@resvg/resvg-js';

/** Families the SVGs ask for first; the first one installed becomes resvg's fallback. */
const PREFERRED_FAMILIES = ['DejaVu Sans', 'Liberation Sans', 'Arial', 'Helvetica', 'Noto Sans'];

let cachedFamily: string | undefined;

/** Font families fontconfig knows, or none when fc-list is missing (minimal containers). */
function installedFamilies(): string[] {
  try {
    const out = execFileSync('fc-list', [':', 'family'], { encoding: 'utf8', timeout: 5000 });
    return out
      .split('\n')
      .flatMap((line) => line.split(','))
      .map((f) => f.trim())
      .filter((f) => f !== '');
  } catch {
    return [];
  }
}

/** A sans family that exists here; resvg substitutes it for names in the SVG it cannot find. */
export function defaultFontFamily(): string {
  if (cachedFamily !== undefined) return cachedFamily;
  const installed = installedFamilies();
  const have = new Set(installed);
  cachedFamily =
    PREFERRED_FAMILIES.find((f) => have.has(f)) ??
    [...have].sort().find((f) => /sans/i.test(f)) ??
    [...have].sort()[0] ??
    'sans-serif';
  return cachedFamily;
}

/**
 * Rasterises an SVG at `scale` times its size (2: sharp on high-DPI screens and in print drafts).
 * Without any system font, text is left out but the plot is still drawn.
 */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    font: {
      loadSystemFonts: true,
      defaultFontFamily: defaultFontFamily(),
      sansSerifFamily: defaultFontFamily(),
    },
    background: 'white',
  });
  return resvg.render().asPng();
}
