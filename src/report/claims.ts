import type { EngineName, FigureResult, RunRecord } from '../engine/results.js';
import {
  type CheckedClaim,
  type ClaimTolerance,
  type ClaimsFile,
  type PaperClaimValue,
  type UncheckedClaim,
  isChecked,
} from './claims-data.js';
import { type FigureStats, type PointRow, figureStats, pointRows, scaleOf } from './figure-error.js';
import type { PaperPoint } from './paper-targets.js';
import { orderEngines } from './series.js';
import { formatValue } from './text.js';

/** One claim of the paper, checked against one engine's results. */
export interface ClaimRow {
  id: string;
  text: string;
  section: string;
  source: string;
  figures: string[];
  engine: EngineName;
  /** The paper's value as printed: "9.7", "1.03-1.08", ">= 2". */
  paper: string;
  /** Ours, same form; null when nothing could be compared. */
  ours: string | null;
  /** ours / paper for a single paper value. */
  ratio: number | null;
  tolerance: string;
  /** null: not compared (scaled run, or no point where both configurations ran). */
  pass: boolean | null;
  /** One line: why it passes, fails or was not compared. */
  why: string;
}

export interface ClaimsReport {
  figures: FigureStats[];
  points: PointRow[];
  claims: ClaimRow[];
  /** Claims the data file marks as not checkable, with the reason. */
  notChecked: UncheckedClaim[];
  /** Checked claims whose figures are not in these results. */
  notCovered: CheckedClaim[];
}

function runsOf(r: FigureResult, config: string): RunRecord[] {
  return r.runs.filter((run) => run.config === config);
}

const valueAt = (r: FigureResult, config: string, x: number | null, metric: CheckedClaim['metric']) => {
  const run = runsOf(r, config).find((q) => q.x === x);
  if (run === undefined || run.killed) return undefined;
  return run.metrics[metric];
};

/** Ours for the claim from one figure's result: one number per x it covers. */
function oursValues(c: CheckedClaim, r: FigureResult): { values: number[]; missing?: string } {
  const cmp = c.compare;
  const atOk = (x: number | null): boolean => c.at === undefined || c.at.includes(x);
  if ('lowestUnkilled' in cmp) {
    const runs = runsOf(r, cmp.lowestUnkilled).filter((q) => !q.killed && q.x !== null);
    if (runs.length === 0) return { values: [], missing: `${cmp.lowestUnkilled} killed at every x` };
    return { values: [Math.min(...runs.map((q) => q.x!))] };
  }
  if ('acrossX' in cmp) {
    const [config, xNum, xDen] = cmp.acrossX;
    const a = valueAt(r, config, xNum, c.metric);
    const b = valueAt(r, config, xDen, c.metric);
    if (a === undefined || b === undefined || b === 0)
      return { values: [], missing: `${config} has no ${c.metric} at ${xNum} and ${xDen}` };
    return { values: [a / b] };
  }
  const [num, den] = 'value' in cmp ? [cmp.value, undefined] : cmp.ratio;
  const values: number[] = [];
  // x where both ran but the denominator is 0: a ratio of nothing (e.g. a counter the model never moves).
  let zeroDen = 0;
  for (const run of runsOf(r, num)) {
    if (!atOk(run.x)) continue;
    const a = valueAt(r, num, run.x, c.metric);
    if (a === undefined) continue;
    if (den === undefined) values.push(a);
    else {
      const b = valueAt(r, den, run.x, c.metric);
      if (b === 0) zeroDen++;
      else if (b !== undefined) values.push(a / b);
    }
  }
  if (values.length > 0) return { values };
  if (zeroDen > 0) return { values: [], missing: `${den} has ${c.metric} 0 at every x both ran` };
  // A configuration killed where the claim looks is the answer, not a missing value: say so.
  const killed = [num, ...(den === undefined ? [] : [den])].flatMap((config) =>
    runsOf(r, config)
      .filter((q) => q.killed && atOk(q.x))
      .map(
        (q) =>
          `${config} killed${q.x === null ? '' : ` at x ${q.x}`}${q.notes?.[0] ? ` (${q.notes[0]})` : ''}`,
      ),
  );
  if (killed.length > 0) return { values: [], missing: killed.join('; ') };
  const what = den === undefined ? num : `${num} and ${den}`;
  return { values: [], missing: `no x where ${what} both ran unkilled` };
}

function aggregate(c: CheckedClaim, values: number[]): number[] {
  if (c.aggregate === 'max') return [Math.max(...values)];
  if (c.aggregate === 'min') return [Math.min(...values)];
  if (c.aggregate === 'range') return [Math.min(...values), Math.max(...values)];
  return values;
}

export function paperText(p: PaperClaimValue): string {
  if (typeof p === 'number') return formatValue(p);
  if (Array.isArray(p)) return `${formatValue(p[0])}-${formatValue(p[1])}`;
  return 'atLeast' in p ? `>= ${formatValue(p.atLeast)}` : `<= ${formatValue(p.atMost)}`;
}

function toleranceText(t: ClaimTolerance): string {
  return 'band' in t ? `within ${formatValue(t.band[0])}-${formatValue(t.band[1])}` : `±${t.relPct} %`;
}

/** The interval ours must lie in, from the paper's value and the tolerance. */
function accepted(p: PaperClaimValue, t: ClaimTolerance): [number, number] {
  if ('band' in t) return t.band;
  const f = t.relPct / 100;
  if (typeof p === 'number') return [p * (1 - f), p * (1 + f)];
  if (Array.isArray(p)) return [p[0] * (1 - f), p[1] * (1 + f)];
  return 'atLeast' in p ? [p.atLeast * (1 - f), Infinity] : [-Infinity, p.atMost * (1 + f)];
}

/** The x a claim is scoped to: a range when they are more than two, else the list. */
function atText(at: readonly (number | null)[]): string {
  const xs = at.filter((x): x is number => x !== null);
  if (xs.length > 2) return `${formatValue(Math.min(...xs))}-${formatValue(Math.max(...xs))}`;
  return xs.map((x) => formatValue(x)).join(' and ');
}

const oursText = (v: number[]): string =>
  v.length === 1 ? formatValue(v[0]!) : `${formatValue(Math.min(...v))}-${formatValue(Math.max(...v))}`;

function checkClaim(c: CheckedClaim, engine: EngineName, rs: FigureResult[]): ClaimRow {
  const base = {
    id: c.id,
    text: c.text,
    section: c.section,
    source: c.source,
    figures: rs.map((r) => r.figure),
    engine,
    paper: paperText(c.paper),
    tolerance: toleranceText(c.tolerance),
  };
  const scaled = rs.filter((r) => scaleOf(r) !== 1);
  if (scaled.length > 0) {
    const s = scaled.map((r) => `${r.figure} x${scaleOf(r)}`).join(', ');
    return {
      ...base,
      ours: null,
      ratio: null,
      pass: null,
      why: `scaled run (${s}): not compared with full-size targets`,
    };
  }
  // A variant of a figure (e.g. `reproduce --guest-swap`) is not the paper's setup.
  const variants = rs.filter((r) => typeof r.meta.variant === 'string');
  if (variants.length > 0)
    return {
      ...base,
      ours: null,
      ratio: null,
      pass: null,
      why: `variant run (${variants.map((r) => `${r.figure}: ${String(r.meta.variant)}`).join('; ')}): not compared with the paper's setup`,
    };
  const all: number[] = [];
  const missing: string[] = [];
  for (const r of rs) {
    const got = oursValues(c, r);
    all.push(...got.values);
    if (got.missing !== undefined) missing.push(`${r.figure}: ${got.missing}`);
  }
  if (all.length === 0) {
    const why = missing.join('; ') + (c.whyFails !== undefined ? `: ${c.whyFails}` : '');
    return { ...base, ours: null, ratio: null, pass: false, why };
  }
  const ours = aggregate(c, all);
  const [lo, hi] = accepted(c.paper, c.tolerance);
  const pass = ours.every((v) => v >= lo - 1e-9 && v <= hi + 1e-9);
  const ratio = typeof c.paper === 'number' && ours.length === 1 ? ours[0]! / c.paper : null;
  let why = pass
    ? `within ${formatValue(lo)}-${formatValue(hi)}`
    : `outside ${formatValue(lo)}-${formatValue(hi)}`;
  if (
    'lowestUnkilled' in c.compare &&
    !rs.some((r) => runsOf(r, (c.compare as { lowestUnkilled: string }).lowestUnkilled).some((q) => q.killed))
  )
    why += `: ${c.compare.lowestUnkilled} never killed`;
  // A claim the paper scopes to some x (e.g. where its balloon ran) says so, so that a reader
  // does not take it for the whole figure.
  if (c.at !== undefined && c.at.length > 1) why += ` over x ${atText(c.at)}`;
  if (ratio !== null && !pass) why += ` (${ratio.toFixed(2)}x the paper's)`;
  if (!pass && c.whyFails !== undefined) why += `: ${c.whyFails}`;
  return { ...base, ours: oursText(ours), ratio, pass, why };
}

/**
 * Every claim and every digitized point the results cover, per engine that ran them. Scaled runs
 * are listed but not compared.
 */
export function checkClaims(
  results: readonly FigureResult[],
  paper: readonly PaperPoint[],
  file: ClaimsFile,
): ClaimsReport {
  const points = pointRows(results, paper, file.extraTime, file.pointTolerancePct);
  const figures = figureStats(points, results);
  const claims: ClaimRow[] = [];
  const notCovered: CheckedClaim[] = [];
  const engines = [...new Set(orderEngines(results).map((r) => r.engine))];
  for (const c of file.claims.filter(isChecked)) {
    let covered = false;
    for (const engine of engines) {
      const rs = results.filter((r) => r.engine === engine && c.figures.includes(r.figure));
      if (rs.length === 0) continue;
      covered = true;
      claims.push(checkClaim(c, engine, rs));
    }
    if (!covered) notCovered.push(c);
  }
  return {
    figures,
    points,
    claims,
    notChecked: file.claims.filter((c): c is UncheckedClaim => !isChecked(c)),
    notCovered,
  };
}

/** What `vswapper claims --json` prints: the issue's shape, plus the engine and scale of each. */
export function claimsJson(r: ClaimsReport): unknown {
  return {
    figures: r.figures.map((f) => ({
      figure: f.figure,
      engine: f.engine,
      points: f.points,
      compared: f.compared,
      medianErrorPct: f.medianErrorPct,
      within20Share: f.within20Share,
      ...(f.medianExtraRatio !== undefined ? { medianExtraRatio: f.medianExtraRatio } : {}),
      scaled: f.scaled,
    })),
    claims: r.claims.map((c) => ({
      id: c.id,
      text: c.text,
      engine: c.engine,
      paper: c.paper,
      ours: c.ours,
      tolerance: c.tolerance,
      pass: c.pass,
      why: c.why,
    })),
    notChecked: r.notChecked.map((c) => ({ id: c.id, text: c.text, why: c.notChecked })),
    notCovered: r.notCovered.map((c) => ({ id: c.id, figures: c.figures })),
  };
}
