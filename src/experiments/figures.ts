import { hostname, cpus } from 'node:os';
import type { FigureX } from '../engine/engine.js';
import type { WorkloadSpec } from '../workloads/index.js';
import { type SimJob, paperJob } from './job.js';
import {
  type SimFigure,
  jobKey,
  meanMetrics,
  meanNote,
  pointOf,
  seedsText,
  spreadOf,
  wholeRunIntegrity,
} from './figure-runs.js';
import { type ConfigName, CONFIG_NAMES, type FigureResult, type Metrics } from '../engine/results.js';
import type { SimRunResult } from './sim-runner.js';
import { SECTION_5_1_FIGURES } from './section-5-1.js';
import { SECTION_5_2_FIGURES } from './section-5-2.js';
import { SECTION_5_4_FIGURES } from './section-5-4.js';

export { type SimFigure, jobKey, REPETITIONS, SEEDS } from './figure-runs.js';

export const SYSBENCH_200MB: Extract<WorkloadSpec, { kind: 'sysbench' }> = {
  kind: 'sysbench',
  fileMiB: 200,
  blockKiB: 16,
  iterations: 8,
  // Unmeasured, after iteration 8: a rewrite and a read-back, so that a broken Mapper rule shows in
  // these figures' integrityViolations (test/planted-bugs.test.ts); the reads alone never write a named page.
  checkRewrite: true,
};

const sysbenchJobs = (scale: number, seeds: readonly number[]): SimJob[] =>
  CONFIG_NAMES.flatMap((c) => seeds.map((seed) => paperJob(c, 100, SYSBENCH_200MB, scale, seed)));

/** Each iteration's mean over the seeds, with its spread (min and max) when there are several. */
function meanIterations(
  results: Map<string, SimRunResult>,
  jobs: SimJob[],
): { metrics: Metrics; spread?: { min: Metrics; max: Metrics } }[] {
  const all = jobs.map((j) => results.get(jobKey(j))!);
  const runs = all.map((r) => r.iterations);
  return runs[0]!.map((_, i) => {
    // A wrong page the guest notices after the iterations (the rewrite check) is still a wrong page.
    const each = all.map((r) => wholeRunIntegrity(r.iterations[i]!, r));
    return { metrics: meanMetrics(each), ...(each.length > 1 ? { spread: spreadOf(each) } : {}) };
  });
}

function sysbenchByConfig(
  scale: number,
  configs: readonly ConfigName[],
  seeds: readonly number[],
): [ConfigName, SimJob[]][] {
  const jobs = sysbenchJobs(scale, seeds);
  return CONFIG_NAMES.filter((c) => configs.includes(c)).map((c) => [c, jobs.filter((j) => j.config === c)]);
}

const ITERATIONS: FigureX = {
  kind: 'values',
  values: Array.from({ length: SYSBENCH_200MB.iterations }, (_, i) => i + 1),
};

export const SIM_FIGURES: Record<string, SimFigure> = {
  fig9: {
    id: 'fig9',
    configs: CONFIG_NAMES,
    x: ITERATIONS,
    jobs: sysbenchJobs,
    records(results, scale, configs, seeds) {
      return sysbenchByConfig(scale, configs, seeds).flatMap(([config, jobs]) =>
        meanIterations(results, jobs).map((it, i) => ({
          config,
          x: i + 1,
          ...it,
          notes: [meanNote(seeds)],
        })),
      );
    },
  },
  fig3: {
    id: 'fig3',
    // The paper's Fig. 3 is "the best observed in favor of ballooning" and matches Fig. 9a's
    // iteration 8, so it is the last iteration of the same runs.
    configs: CONFIG_NAMES,
    x: { kind: 'bars' },
    jobs: sysbenchJobs,
    records(results, scale, configs, seeds) {
      return sysbenchByConfig(scale, configs, seeds).map(([config, jobs]) => {
        const its = meanIterations(results, jobs);
        return {
          config,
          x: null,
          ...its[its.length - 1]!,
          notes: [`iteration 8 of the Fig. 9 runs, ${meanNote(seeds)}`],
        };
      });
    },
  },
};

const FALSE_READS: WorkloadSpec = {
  kind: 'false-reads',
  fileMiB: SYSBENCH_200MB.fileMiB,
  blockKiB: SYSBENCH_200MB.blockKiB,
  iterations: SYSBENCH_200MB.iterations,
  allocMiB: 200,
};
const falseReadsJobs = (scale: number, seeds: readonly number[]): SimJob[] =>
  CONFIG_NAMES.flatMap((c) => seeds.map((seed) => paperJob(c, 100, FALSE_READS, scale, seed)));

SIM_FIGURES.fig10 = {
  id: 'fig10',
  configs: CONFIG_NAMES,
  x: { kind: 'bars' },
  jobs: falseReadsJobs,
  records(results, scale, configs, seeds) {
    const jobs = falseReadsJobs(scale, seeds);
    return CONFIG_NAMES.filter((c) => configs.includes(c)).map((config) =>
      pointOf(
        config,
        null,
        jobs.filter((j) => j.config === config).map((j) => results.get(jobKey(j))!),
        (r) => r.iterations[0]!,
        seeds,
      ),
    );
  },
};

Object.assign(SIM_FIGURES, SECTION_5_1_FIGURES, SECTION_5_2_FIGURES, SECTION_5_4_FIGURES);

export function figureMeta(
  scale: number,
  wallMs: number,
  seeds: readonly number[],
  extra: Record<string, string | number | boolean | null> = {},
): FigureResult['meta'] {
  return {
    machine: `${hostname()} (${cpus().length} x ${cpus()[0]?.model ?? 'cpu'})`,
    node: process.version,
    scale,
    seeds: seedsText(seeds),
    simulatorWallMs: Math.round(wallMs),
    model:
      'Seagate Constellation ES 2 TB HDD, Xeon E5-2420 KVM costs, QEMU 1.2 code paging, Linux 3.7-like reclaim',
    ...extra,
  };
}
