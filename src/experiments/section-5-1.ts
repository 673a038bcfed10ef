import type { WorkloadSpec } from '../workloads/index.js';
import { type SimFigure, jobKey, meanMetrics, meanNote, pointOf } from './figure-runs.js';
import { type SimJob, paperJob } from './job.js';
import type { ConfigName, Metrics, RunRecord } from '../engine/results.js';

/**
 * §5.1's controlled memory assignment: the guest believes 512 MB and has the x-axis amount. The
 * paper plots balloon+baseline only, the two balloon configurations being alike there.
 */
/**
 * Unlike §3.1, whose guest had used all its memory before the host reclaimed it, §5.1 describes
 * a guest given less memory and then running the benchmark: it boots under the limit.
 */
const job51 = (c: ConfigName, mib: number, workload: WorkloadSpec, scale: number, seed: number): SimJob => ({
  ...paperJob(c, mib, workload, scale, seed),
  history: 'fresh',
});
const CONTROLLED: readonly ConfigName[] = ['baseline', 'balloon', 'mapper', 'vswapper'];

const range = (from: number, to: number, step: number): number[] => {
  const out: number[] = [];
  for (let x = from; x >= to; x -= step) out.push(x);
  return out;
};

/** A figure whose x axis is the guest's actual memory (MB): every configuration at every size. */
function memorySweep(id: string, workload: WorkloadSpec, sizesMiB: number[]): SimFigure {
  const jobs = (scale: number, seeds: readonly number[]): SimJob[] =>
    CONTROLLED.flatMap((c) =>
      sizesMiB.flatMap((mib) => seeds.map((seed) => job51(c, mib, workload, scale, seed))),
    );
  return {
    id,
    configs: CONTROLLED,
    x: { kind: 'values', values: sizesMiB },
    jobs,
    records(results, scale, configs, seeds) {
      const all = jobs(scale, seeds);
      const out: RunRecord[] = [];
      for (const config of CONTROLLED.filter((c) => configs.includes(c))) {
        for (const mib of sizesMiB) {
          const mine = all
            .filter((j) => j.config === config && j.guestActualMiB === mib)
            .map((j) => results.get(jobKey(j))!);
          out.push(pointOf(config, mib, mine, (r) => r.iterations[0]!, seeds));
        }
      }
      return out;
    },
  };
}

const PBZIP2: WorkloadSpec = { kind: 'pbzip2' };
const KERNBENCH: WorkloadSpec = { kind: 'kernbench' };
const ECLIPSE: WorkloadSpec = { kind: 'eclipse' };

/**
 * Fig. 15 plots the memory census over time in one Eclipse run; the paper does not say at which
 * size or configuration: a VSwapper run (the Mapper's curve is there) with all 512 MB.
 */
const FIG15_CONFIG: ConfigName = 'vswapper';
const FIG15_MIB = 512;

function fig15Jobs(scale: number, seeds: readonly number[]): SimJob[] {
  return seeds.map((seed) => ({
    ...paperJob(FIG15_CONFIG, FIG15_MIB, ECLIPSE, scale, seed),
    sampleEverySec: 1,
  }));
}

export const SECTION_5_1_FIGURES: Record<string, SimFigure> = {
  // Fig. 11 is the same experiment as Fig. 5 at every fourth size: its runs are Fig. 5's.
  fig5: memorySweep('fig5', PBZIP2, range(512, 128, 16)),
  fig11: memorySweep('fig11', PBZIP2, range(512, 192, 64)),
  fig12: memorySweep('fig12', KERNBENCH, range(512, 192, 64)),
  fig13: memorySweep('fig13', ECLIPSE, range(512, 256, 64)),
  fig15: {
    id: 'fig15',
    configs: [FIG15_CONFIG],
    x: { kind: 'seconds' },
    jobs: fig15Jobs,
    records(results, scale, configs, seeds) {
      if (!configs.includes(FIG15_CONFIG)) return [];
      const runs = fig15Jobs(scale, seeds).map((j) => results.get(jobKey(j))!);
      const killed = runs.find((r) => r.killed);
      if (killed) return [pointOf(FIG15_CONFIG, 0, runs, () => ({}), seeds)];
      // The mean over the runs at each whole second that every run reached.
      const bySecond = new Map<number, Metrics[]>();
      for (const r of runs) {
        for (const s of r.samples ?? []) {
          const t = Math.round(s.tS);
          const list = bySecond.get(t) ?? [];
          list.push(s.metrics);
          bySecond.set(t, list);
        }
      }
      return [...bySecond.entries()]
        .filter(([, list]) => list.length === runs.length)
        .sort((a, b) => a[0] - b[0])
        .map(([t, list]) => ({
          config: FIG15_CONFIG,
          x: t,
          metrics: meanMetrics(list),
          notes: [`${meanNote(seeds)}, guest with ${FIG15_MIB} MB`],
        }));
    },
  },
};
