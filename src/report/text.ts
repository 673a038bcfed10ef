/** Makes any string safe inside XML/HTML text and double-quoted attributes. */
export function escapeXml(s: string): string {
  return (
    s
      // Control characters are not allowed in XML 1.0 at all; resvg would refuse the whole document.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;')
  );
}

/**
 * A measured or paper value as a reader wants to see it: four significant digits (the paper prints
 * e.g. 41.59 and 38.7), no exponent notation, whole numbers from 1000 up.
 */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toString();
  if (v === 0) return '0';
  const s = Number(v.toPrecision(4)).toString();
  return s.includes('e') ? v.toFixed(6).replace(/\.?0+$/, '') : s;
}

/** ours / paper to two decimals; a dash when either side is missing or the paper's value is zero. */
export function formatRatio(ours: number | null | undefined, paper: number | null | undefined): string {
  if (ours === null || ours === undefined || paper === null || paper === undefined || paper === 0) return '—';
  return (ours / paper).toFixed(2);
}

/** Rough width of a string in DejaVu Sans, enough to lay out legends and wrap titles without overlap. */
export function textWidthPx(s: string, fontSizePx: number): number {
  return s.length * fontSizePx * 0.58;
}

/** Splits `s` into lines no wider than `maxWidthPx`, at spaces. */
export function wrapText(s: string, fontSizePx: number, maxWidthPx: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of s.split(/\s+/).filter((w) => w !== '')) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (line !== '' && textWidthPx(candidate, fontSizePx) > maxWidthPx) {
      lines.push(line);
      line = word;
    } else line = candidate;
  }
  if (line !== '') lines.push(line);
  return lines;
}
