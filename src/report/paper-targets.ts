import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PanelSpec } from '../experiments/figure-specs.js';

/** One digitized value of the paper (a `kind: "data"` entry of paper-targets.json). */
export interface PaperPoint {
  id: string;
  figure: string;
  metric: string;
  unit: string;
  series: string;
  /** Iteration, memory in MB, guests or seconds; null for bars and for categorical rows (`category`). */
  x: number | null;
  /** Tables use a text x (e.g. "user (QEMU)"); kept apart so plots only ever see numbers. */
  category?: string;
  /** null: the paper has no value here (e.g. the workload was killed); `note` says why. */
  value: number | null;
  note?: string;
  /** The entry's workload text, where one figure name covers several experiments (§5.4's text). */
  workload?: string;
}

/** What a plot or table needs of one paper point of a panel. */
export interface PanelPaperPoint {
  series: string;
  x: number | null;
  value: number | null;
  note?: string;
}

/** paper-targets.json is missing or malformed; the message names the path and the problem. */
export class PaperTargetsError extends Error {
  override name = 'PaperTargetsError';
}

/** The project's own copy of the digitized values (data/ of the package, shipped with it). */
const PACKAGED_TARGETS = join('data', 'paper-targets.json');
/** The shared paper folder beside a checkout, where the values were first digitized. */
const TARGETS_BESIDE_CHECKOUT = join('..', 'shared', 'paper', 'paper-targets.json');

/** The folder holding our package.json, found upward from this module (src/ or dist/src/). */
export function packageRoot(fromUrl: string = import.meta.url): string | undefined {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * Where paper-targets.json is looked for when the caller names no path, in order: the package's own
 * data/ (so an installed package needs nothing beside it), then ../shared/paper/ from the working
 * directory and from the package.
 */
export function paperTargetsCandidates(cwd: string = process.cwd(), root = packageRoot()): string[] {
  const all = [
    ...(root ? [resolve(root, PACKAGED_TARGETS)] : []),
    resolve(cwd, TARGETS_BESIDE_CHECKOUT),
    ...(root ? [resolve(root, TARGETS_BESIDE_CHECKOUT)] : []),
  ];
  return [...new Set(all)];
}

/** The first candidate that exists, or undefined. */
export function findPaperTargets(cwd: string = process.cwd(), root = packageRoot()): string | undefined {
  return paperTargetsCandidates(cwd, root).find((p) => existsSync(p));
}

/** The first candidate that exists; throws naming every place looked at if none does. */
export function defaultPaperTargetsPath(cwd: string = process.cwd()): string {
  const found = findPaperTargets(cwd);
  if (found === undefined)
    throw new PaperTargetsError(
      `paper targets not found: looked for ${paperTargetsCandidates(cwd).join(' and ')}; pass the path of paper-targets.json`,
    );
  return found;
}

/** The paper's values a report compares with, or none (then `why` says where they were looked for). */
export interface PaperSource {
  points: PaperPoint[];
  /** The file read; null when no file was found. */
  path: string | null;
  /** Set when there are no paper values: one line for the user and the report. */
  why?: string;
}

/**
 * The paper's values for a report: from `path` when given (a bad one throws: the user asked for it),
 * else from the first default place that has them, else none, saying so. A missing file must not
 * cost a finished simulation.
 */
export function paperSource(path?: string, cwd: string = process.cwd(), root = packageRoot()): PaperSource {
  if (path !== undefined) return { points: loadPaperTargets(path), path };
  const found = findPaperTargets(cwd, root);
  if (found !== undefined) return { points: loadPaperTargets(found), path: found };
  return {
    points: [],
    path: null,
    why: `no paper values found (looked for ${paperTargetsCandidates(cwd, root).join(', ')}): ours are shown alone; pass --paper PATH to compare`,
  };
}

export function loadPaperTargets(path: string = defaultPaperTargetsPath()): PaperPoint[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PaperTargetsError(`${path}: cannot read paper targets: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PaperTargetsError(`${path}: paper targets are not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new PaperTargetsError(`${path}: expected a JSON array of targets`);
  const points: PaperPoint[] = [];
  raw.forEach((entry: unknown, i) => {
    const p = parseEntry(entry, (problem) => new PaperTargetsError(`${path}: entry ${i}: ${problem}`));
    if (p) points.push(p);
  });
  if (points.length === 0) throw new PaperTargetsError(`${path}: no "kind": "data" entries`);
  return points;
}

/** A data entry as a PaperPoint, undefined for claims; throws what `fail` builds on a malformed one. */
function parseEntry(entry: unknown, fail: (problem: string) => Error): PaperPoint | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail('not an object');
  const e = entry as Record<string, unknown>;
  if (e.kind === 'claim') return undefined;
  if (e.kind !== 'data') throw fail(`unknown kind ${JSON.stringify(e.kind)}`);
  const id = typeof e.id === 'string' ? e.id : '';
  const where = id === '' ? '' : ` (${id})`;
  for (const key of ['figure', 'series', 'metric'] as const)
    if (typeof e[key] !== 'string') throw fail(`"${key}" must be a string${where}`);
  if (!(typeof e.value === 'number' || e.value === null))
    throw fail(`"value" must be a number or null${where}`);
  if (!(typeof e.x === 'number' || typeof e.x === 'string' || e.x === null || e.x === undefined))
    throw fail(`"x" must be a number, a string or null${where}`);
  // The digitized file says "notes"; hand-written entries may say "note".
  const note = typeof e.note === 'string' ? e.note : typeof e.notes === 'string' ? e.notes : undefined;
  return {
    id,
    figure: e.figure as string,
    metric: e.metric as string,
    unit: typeof e.unit === 'string' ? e.unit : '',
    series: e.series as string,
    x: typeof e.x === 'number' ? e.x : null,
    ...(typeof e.x === 'string' ? { category: e.x } : {}),
    value: e.value,
    ...(note !== undefined && note !== '' ? { note } : {}),
    ...(typeof e.workload === 'string' ? { workload: e.workload } : {}),
  };
}

/**
 * The paper's points of one panel, by paper series name (in file order), each series sorted by x.
 * A panel names a paper figure and, when that figure holds several metrics, which one.
 */
export function paperPointsForPanel(
  points: readonly PaperPoint[],
  panel: Pick<PanelSpec, 'paperFigure' | 'paperMetric' | 'paperWorkload'>,
): Map<string, PanelPaperPoint[]> {
  const bySeries = new Map<string, PanelPaperPoint[]>();
  for (const p of points) {
    if (p.figure !== panel.paperFigure) continue;
    if (panel.paperMetric !== undefined && p.metric !== panel.paperMetric) continue;
    if (panel.paperWorkload !== undefined && p.workload !== panel.paperWorkload) continue;
    const list = bySeries.get(p.series) ?? [];
    list.push({
      series: p.series,
      x: p.x,
      value: p.value,
      ...(p.note !== undefined ? { note: p.note } : {}),
    });
    bySeries.set(p.series, list);
  }
  for (const list of bySeries.values()) list.sort((a, b) => (a.x ?? 0) - (b.x ?? 0));
  return bySeries;
}
