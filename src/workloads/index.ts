import { falseReads } from './false-reads.js';
import { sysbenchSeqRead } from './sysbench.js';
import type { Workload } from './types.js';

/** A workload as data (what a YAML file or a worker message carries). */
export type WorkloadSpec =
  | { kind: 'sysbench'; fileMiB: number; blockKiB: number; iterations: number }
  | { kind: 'false-reads'; fileMiB: number; blockKiB: number; iterations: number; allocMiB: number };

export function buildWorkload(spec: WorkloadSpec, scale = 1): Workload {
  switch (spec.kind) {
    case 'sysbench':
      return sysbenchSeqRead({ ...spec, fileMiB: spec.fileMiB * scale });
    case 'false-reads':
      return falseReads({ ...spec, fileMiB: spec.fileMiB * scale, allocMiB: spec.allocMiB * scale });
  }
}

export type { Workload };
