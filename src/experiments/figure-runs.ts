import type { FigureX } from '../engine/engine.js';
import type { SimJob } from './job.js';
import type { ConfigName, Metrics, RunRecord } from '../engine/results.js';
import type { SimRunResult } from './sim-runner.js';

/** A paper experiment as data: which runs it needs and how their results become the figure. */
export interface SimFigure {
  id: string;
  /** The configurations it compares. */
  configs: readonly ConfigName[];
  x: FigureX;
  /** Jobs this figure needs, one per seed at each point; figures that share a job key share its run. */
  jobs(scale: number, seeds: readonly number[]): SimJob[];
  /** What its provenance says beyond the paper machine's (figures.ts: figureMeta), e.g. another guest. */
  meta?: Record<string, string | number>;
  /** The same figure with a swap partition of `mib` MiB in every guest (§5.2's figures only). */
  withGuestSwap?(mib: number): SimFigure;
  /** Its records, of the configurations in `configs` (whose jobs are in `results`). */
  records(
    results: Map<string, SimRunResult>,
    scale: number,
    configs: readonly ConfigName[],
    seeds: readonly number[],
  ): RunRecord[];
}

export function jobKey(j: SimJob): string {
  return JSON.stringify(j);
}

/** The paper reports the mean of (typically) five runs; so do we, with five seeds. */
export const REPETITIONS = 5;
export const SEEDS = Array.from({ length: REPETITIONS }, (_, i) => i + 1);

/** The seeds as the notes and the metadata say them: "1-5" when consecutive, else listed. */
export function seedsText(seeds: readonly number[]): string {
  const consecutive = seeds.every((s, i) => i === 0 || s === seeds[i - 1]! + 1);
  return consecutive && seeds.length > 1 ? `${seeds[0]}-${seeds[seeds.length - 1]}` : seeds.join(', ');
}

export const meanNote = (seeds: readonly number[]): string =>
  `mean of ${seeds.length} runs (seed${seeds.length > 1 ? 's' : ''} ${seedsText(seeds)})`;

/** Each metric's mean over several runs. */
export function meanMetrics(runs: Metrics[]): Metrics {
  const out: Metrics = {};
  for (const r of runs) for (const k of Object.keys(r) as (keyof Metrics)[]) out[k] = (out[k] ?? 0) + r[k]!;
  for (const k of Object.keys(out) as (keyof Metrics)[]) out[k] = out[k]! / runs.length;
  return out;
}

/** Each metric's smallest and largest value over several runs (the error bars of a mean). */
export function spreadOf(runs: Metrics[]): { min: Metrics; max: Metrics } {
  const min: Metrics = {};
  const max: Metrics = {};
  for (const r of runs)
    for (const k of Object.keys(r) as (keyof Metrics)[]) {
      min[k] = Math.min(min[k] ?? Infinity, r[k]!);
      max[k] = Math.max(max[k] ?? -Infinity, r[k]!);
    }
  return { min, max };
}

/**
 * One point of a figure from its repeated runs: the mean, or killed when any run was killed (the
 * paper leaves out points where the workload crashed), with the reason.
 */
export function pointOf(
  config: ConfigName,
  x: number | null,
  runs: SimRunResult[],
  metricsOf: (r: SimRunResult) => Metrics,
  seeds: readonly number[],
): RunRecord {
  const killed = runs.filter((r) => r.killed);
  if (killed.length > 0) {
    return {
      config,
      x,
      metrics: {},
      killed: true,
      notes: [`killed in ${killed.length} of ${runs.length} runs: ${killed[0]!.killed}`],
    };
  }
  const each = runs.map((r) => wholeRunIntegrity(metricsOf(r), r));
  return {
    config,
    x,
    metrics: meanMetrics(each),
    ...(each.length > 1 ? { spread: spreadOf(each) } : {}),
    notes: [meanNote(seeds)],
  };
}

/**
 * A point's metrics with integrityViolations counted over the whole run, not only the measured
 * phase: a wrong page the guest notices after the measurement (e.g. Fig. 10's read-back) is still
 * a wrong page.
 */
export function wholeRunIntegrity(m: Metrics, r: SimRunResult): Metrics {
  const v = r.total.integrityViolations;
  return v === undefined ? m : { ...m, integrityViolations: Math.max(v, m.integrityViolations ?? 0) };
}
