import { hostname, cpus } from 'node:os';
import type { WorkloadSpec } from '../workloads/index.js';
import { PREVENTER_AVAILABLE, PREVENTER_NOTE, CONFIG_MECHANISMS } from '../sim/machine.js';
import { type SimJob, paperJob } from './job.js';
import { type ConfigName, CONFIG_NAMES, type FigureResult, type RunRecord } from './results.js';
import type { SimRunResult } from './sim-runner.js';

/** A paper experiment as data: which runs it needs and how their results become the figure. */
export interface SimFigure {
  id: string;
  /** Jobs this figure needs; figures that share a job key share its run. */
  jobs(scale: number): SimJob[];
  records(results: Map<string, SimRunResult>, scale: number): RunRecord[];
}

export const SYSBENCH_200MB: WorkloadSpec = { kind: 'sysbench', fileMiB: 200, blockKiB: 16, iterations: 8 };

export function jobKey(j: SimJob): string {
  return JSON.stringify(j);
}

function notesFor(config: ConfigName): string[] {
  return CONFIG_MECHANISMS[config].preventer && !PREVENTER_AVAILABLE ? [`${config} ${PREVENTER_NOTE}`] : [];
}

const sysbenchJobs = (scale: number): SimJob[] =>
  CONFIG_NAMES.map((c) => paperJob(c, 100, SYSBENCH_200MB, scale));

export const SIM_FIGURES: Record<string, SimFigure> = {
  fig9: {
    id: 'fig9',
    jobs: sysbenchJobs,
    records(results, scale) {
      return sysbenchJobs(scale).flatMap((j) => {
        const r = results.get(jobKey(j))!;
        return r.iterations.map((metrics, i) => ({
          config: j.config,
          x: i + 1,
          metrics,
          notes: notesFor(j.config),
        }));
      });
    },
  },
  fig3: {
    id: 'fig3',
    // The paper's Fig. 3 is "the best observed in favor of ballooning" and matches Fig. 9a's
    // iteration 8, so it is the last iteration of the same runs.
    jobs: sysbenchJobs,
    records(results, scale) {
      return sysbenchJobs(scale).map((j) => {
        const r = results.get(jobKey(j))!;
        return {
          config: j.config,
          x: null,
          metrics: r.iterations[r.iterations.length - 1]!,
          notes: [...notesFor(j.config), 'iteration 8 of the Fig. 9 runs'],
        };
      });
    },
  },
};

export function figureMeta(
  scale: number,
  wallMs: number,
  extra: Record<string, string | number | boolean | null> = {},
): FigureResult['meta'] {
  return {
    machine: `${hostname()} (${cpus().length} x ${cpus()[0]?.model ?? 'cpu'})`,
    node: process.version,
    scale,
    seed: 1,
    simulatorWallMs: Math.round(wallMs),
    model:
      'Seagate Constellation ES 2 TB HDD, Xeon E5-2420 KVM costs, QEMU 1.2 code paging, Linux 3.7-like reclaim',
    ...extra,
  };
}
