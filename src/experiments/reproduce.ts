import { SIM_FIGURES, SEEDS, type SimFigure, figureMeta, jobKey } from './figures.js';
import type { SimJob } from './job.js';
import { type PoolProgress, runJobs } from './pool.js';
import { type RunStore, runKey } from './run-store.js';
import { type ConfigName, type FigureResult, isPaperConfig } from '../engine/results.js';
import type { SimRunResult } from './sim-runner.js';

export const SIM_FIGURE_IDS = Object.keys(SIM_FIGURES);

export class UnknownFigureError extends Error {
  override name = 'UnknownFigureError';
}

/**
 * Runs jobs somewhere (worker threads here, BullMQ workers in queue.ts) and returns their results
 * in order, reporting each as it finishes ('done' events carry the result).
 */
export type JobRunner = (jobs: SimJob[], onProgress: (p: PoolProgress) => void) => Promise<SimRunResult[]>;

export interface SweepCounts {
  /** Runs simulated by this sweep. */
  computed: number;
  /** Runs read back from the store. */
  fromStore: number;
  /** Store entries found damaged (computed again, so also counted in `computed`). */
  damaged: number;
}

export interface ReproduceOptions {
  scale?: number;
  workers?: number;
  /** The seeds of every point (default: the paper's five runs, seeds 1-5). */
  seeds?: readonly number[];
  /** Only these configurations (default: every one of the paper's that each figure compares). */
  configs?: readonly ConfigName[];
  /** Keep finished runs here and reuse those already there (default: none, every run computed). */
  store?: RunStore;
  /** Compute every run even if the store has it (the store still receives the new results). */
  fresh?: boolean;
  /** Where the runs to compute go (default: worker threads, `workers` of them). */
  runner?: JobRunner;
  onProgress?: (
    p: PoolProgress & { done: number; total: number; computed: number; toCompute: number },
  ) => void;
  /** A swap partition of this many MiB in each guest: the figures' guest-swap variants (SimFigure.withGuestSwap). */
  guestSwapMiB?: number;
  /** Called once the runs are there, before the records are built. */
  onRuns?: (c: SweepCounts) => void;
}

/** Checks a list of seeds: positive safe integers, no repeat. Throws RangeError naming the problem. */
export function checkSeeds(seeds: readonly number[]): void {
  if (seeds.length === 0) throw new RangeError('seeds: at least one is needed');
  for (const s of seeds)
    if (!(Number.isSafeInteger(s) && s >= 1)) throw new RangeError(`seeds: must be integers >= 1, got ${s}`);
  if (new Set(seeds).size !== seeds.length) throw new RangeError(`seeds: repeated in ${seeds.join(', ')}`);
}

/**
 * Runs the simulator for the given paper figures; runs shared by several figures happen once, and
 * runs already in the store (unless `fresh`) are not run again.
 */
export async function reproduceSim(figures: string[], opts: ReproduceOptions = {}): Promise<FigureResult[]> {
  const scale = opts.scale ?? 1;
  const seeds = opts.seeds ?? SEEDS;
  checkSeeds(seeds);
  for (const f of figures) {
    if (!SIM_FIGURES[f])
      throw new UnknownFigureError(
        `unknown figure "${f}" for the sim engine; known: ${SIM_FIGURE_IDS.join(', ')}`,
      );
  }
  const gs = opts.guestSwapMiB ?? 0;
  if (!(Number.isInteger(gs) && gs >= 0))
    throw new RangeError(`guestSwapMiB: a whole number >= 0, got ${gs}`);
  const figs = new Map<string, SimFigure>();
  for (const f of figures) {
    const base = SIM_FIGURES[f]!;
    if (gs > 0 && !base.withGuestSwap) throw new RangeError(`${f} has no guest-swap variant`);
    figs.set(f, gs > 0 ? base.withGuestSwap!(gs) : base);
  }
  // Unless named, a figure runs the paper's configurations only: the extra ones are opt-in.
  const configsOf = (f: string): readonly ConfigName[] =>
    opts.configs ?? figs.get(f)!.configs.filter(isPaperConfig);
  const unique = new Map<string, SimJob>();
  for (const f of figures)
    for (const j of figs.get(f)!.jobs(scale, seeds))
      if (configsOf(f).includes(j.config)) unique.set(jobKey(j), j);
  const jobs = [...unique.values()];
  const t0 = performance.now();
  const byKey = new Map<string, SimRunResult>();
  const store = opts.store;
  const damagedBefore = store?.damaged ?? 0;
  const storeKeys = store ? jobs.map((j) => runKey(j)) : [];
  const todo: number[] = [];
  jobs.forEach((j, i) => {
    const stored = store && !opts.fresh ? store.get(storeKeys[i]!) : undefined;
    if (stored) byKey.set(jobKey(j), stored);
    else todo.push(i);
  });
  const fromStore = jobs.length - todo.length;
  let done = fromStore;
  let computed = 0;
  const runner: JobRunner = opts.runner ?? ((js, on) => runJobs(js, on, opts.workers));
  const results = await runner(
    todo.map((i) => jobs[i]!),
    (p) => {
      if (p.event === 'done') {
        done++;
        computed++;
        // Stored the moment it finishes: an interrupted sweep keeps every run it completed.
        if (store && p.result) store.put(storeKeys[todo[p.index]!]!, p.result);
      }
      opts.onProgress?.({
        ...p,
        index: todo[p.index]!,
        done,
        total: jobs.length,
        computed,
        toCompute: todo.length,
      });
    },
  );
  todo.forEach((i, k) => byKey.set(jobKey(jobs[i]!), results[k]!));
  opts.onRuns?.({ computed: todo.length, fromStore, damaged: (store?.damaged ?? 0) - damagedBefore });
  const wallMs = performance.now() - t0;
  return figures.map((f) => ({
    figure: f,
    engine: 'sim' as const,
    runs: figs.get(f)!.records(byKey, scale, configsOf(f), seeds),
    meta: figureMeta(scale, wallMs, seeds, figs.get(f)!.meta ?? {}),
  }));
}
