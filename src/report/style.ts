import type { ConfigName } from '../engine/results.js';

/** One hue per configuration, shared by ours and the paper's, so a reader pairs them at a glance. */
export const CONFIG_COLORS: Record<ConfigName, string> = {
  baseline: '#d62728',
  balloon: '#1f77b4',
  mapper: '#ff7f0e',
  vswapper: '#2ca02c',
  'balloon+vswapper': '#9467bd',
  'balloon+mapper': '#8c564b',
  'baseline+fpr': '#e377c2',
};

/**
 * The Mapper and VSwapper often coincide (in §5.1 the Preventer adds little): our mapper line is
 * drawn last, dashed, with hollow square markers, so the vswapper line shows through its gaps and
 * both read where they overlap.
 */
export const OVERLAY_CONFIG: ConfigName = 'mapper';
export const OVERLAY_DASH = '7 4';

/** Configurations in drawing order: the overlaid one last. */
export function drawOrder<T extends { config: ConfigName }>(series: readonly T[]): T[] {
  return [
    ...series.filter((c) => c.config !== OVERLAY_CONFIG),
    ...series.filter((c) => c.config === OVERLAY_CONFIG),
  ];
}

/** A hollow square marker (our mapper's) centred on (cx, cy). */
export function squareMarker(cx: number, cy: number, color: string): string {
  const h = 3.8;
  return `<rect x="${(cx - h).toFixed(1)}" y="${(cy - h).toFixed(1)}" width="${(2 * h).toFixed(1)}" height="${(2 * h).toFixed(1)}" fill="white" stroke="${color}" stroke-width="1.8"`;
}

/** Line dashes of our engines; the paper's dash is short and its line lighter, so it never reads as ours. */
const ENGINE_DASHES: Record<string, string> = { sim: '', qemu: '9 4', 'qemu-pager': '2 3' };
const EXTRA_DASHES = ['12 3 3 3', '6 2 2 2 2 2'];
export const PAPER_DASH = '4 3';

/** Dash for an engine; unknown engines (from an old JSON) get distinct dashes in a stable order. */
export function engineDash(engine: string, engineIndex: number): string {
  return ENGINE_DASHES[engine] ?? EXTRA_DASHES[engineIndex % EXTRA_DASHES.length]!;
}

/** `hex` mixed with white: the paper's series keep their configuration's hue but step back. */
export function lighten(hex: string, towardWhite = 0.5): string {
  if (!/^#[0-9a-f]{6}$/i.test(hex)) throw new Error(`lighten: expected #rrggbb, got ${hex}`);
  const n = Number.parseInt(hex.slice(1), 16);
  const mix = (c: number): string =>
    Math.round(c + (255 - c) * towardWhite)
      .toString(16)
      .padStart(2, '0');
  return `#${mix((n >> 16) & 255)}${mix((n >> 8) & 255)}${mix(n & 255)}`;
}

export const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';
export const AXIS_COLOR = '#444';
export const GRID_COLOR = '#e3e3e3';
export const TEXT_COLOR = '#222';
export const MUTED_TEXT_COLOR = '#666';
