import { SIM_FIGURES, figureMeta, jobKey } from './figures.js';
import type { SimJob } from './job.js';
import { type PoolProgress, runJobs } from './pool.js';
import type { ConfigName, FigureResult } from '../engine/results.js';
import type { SimRunResult } from './sim-runner.js';

export const SIM_FIGURE_IDS = Object.keys(SIM_FIGURES);

export class UnknownFigureError extends Error {
  override name = 'UnknownFigureError';
}

export interface ReproduceOptions {
  scale?: number;
  workers?: number;
  /** Only these configurations (default: every one each figure compares). */
  configs?: readonly ConfigName[];
  onProgress?: (p: PoolProgress & { done: number; total: number }) => void;
}

/** Runs the simulator for the given paper figures; runs shared by several figures happen once. */
export async function reproduceSim(figures: string[], opts: ReproduceOptions = {}): Promise<FigureResult[]> {
  const scale = opts.scale ?? 1;
  for (const f of figures) {
    if (!SIM_FIGURES[f])
      throw new UnknownFigureError(
        `unknown figure "${f}" for the sim engine; known: ${SIM_FIGURE_IDS.join(', ')}`,
      );
  }
  const configsOf = (f: string): readonly ConfigName[] => opts.configs ?? SIM_FIGURES[f]!.configs;
  const unique = new Map<string, SimJob>();
  for (const f of figures)
    for (const j of SIM_FIGURES[f]!.jobs(scale))
      if (configsOf(f).includes(j.config)) unique.set(jobKey(j), j);
  const jobs = [...unique.values()];
  const t0 = performance.now();
  let done = 0;
  const results = await runJobs(
    jobs,
    (p) => {
      if (p.event === 'done') done++;
      opts.onProgress?.({ ...p, done, total: jobs.length });
    },
    opts.workers,
  );
  const wallMs = performance.now() - t0;
  const byKey = new Map<string, SimRunResult>();
  jobs.forEach((j, i) => byKey.set(jobKey(j), results[i]!));
  return figures.map((f) => ({
    figure: f,
    engine: 'sim' as const,
    runs: SIM_FIGURES[f]!.records(byKey, scale, configsOf(f)),
    meta: figureMeta(scale, wallMs),
  }));
}
