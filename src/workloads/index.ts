import { sysbenchSeqRead } from './sysbench.js';
import type { Workload } from './types.js';

/** A workload as data (what a YAML file or a worker message carries). */
export type WorkloadSpec = { kind: 'sysbench'; fileMiB: number; blockKiB: number; iterations: number };

export function buildWorkload(spec: WorkloadSpec, scale = 1): Workload {
  switch (spec.kind) {
    case 'sysbench':
      return sysbenchSeqRead({ ...spec, fileMiB: spec.fileMiB * scale });
  }
}

export type { Workload };
