import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One digitized value of the paper (paper-targets.json, kind "data"). */
export interface PaperPoint {
  figure: string;
  metric: string;
  series: string;
  x: number | null;
  value: number | null;
  note?: string;
}

/** paper-targets.json is missing or malformed; the message names the path and the problem. */
export class PaperTargetsError extends Error {
  override name = 'PaperTargetsError';
}

/** Finds ../shared/paper/paper-targets.json from the working directory, then from the package root. */
export function defaultPaperTargetsPath(): string {
  const rel = join('..', 'shared', 'paper', 'paper-targets.json');
  const fromCwd = resolve(rel);
  if (existsSync(fromCwd)) return fromCwd;
  const pkgRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  return resolve(pkgRoot, rel);
}

export function loadPaperTargets(path = defaultPaperTargetsPath()): PaperPoint[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PaperTargetsError(`${path}: cannot load paper targets: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new PaperTargetsError(`${path}: expected a JSON array of targets`);
  const out: PaperPoint[] = [];
  for (const [i, o] of raw.entries()) {
    if (typeof o !== 'object' || o === null)
      throw new PaperTargetsError(`${path}: entry ${i} is not an object`);
    const e = o as Record<string, unknown>;
    if (e.kind !== 'data') continue;
    if (typeof e.figure !== 'string' || typeof e.series !== 'string')
      throw new PaperTargetsError(`${path}: entry ${i} lacks figure or series`);
    const x = typeof e.x === 'number' ? e.x : null;
    const value = typeof e.value === 'number' ? e.value : null;
    out.push({
      figure: e.figure,
      metric: typeof e.metric === 'string' ? e.metric : '',
      series: e.series,
      x,
      value,
      ...(typeof e.note === 'string' ? { note: e.note } : {}),
    });
  }
  return out;
}

export function pointsOf(points: PaperPoint[], paperFigure: string, paperMetric?: string): PaperPoint[] {
  return points.filter(
    (p) => p.figure === paperFigure && (paperMetric === undefined || p.metric === paperMetric),
  );
}
