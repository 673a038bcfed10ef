import { BZIP2_PAPER, type Bzip2Params, bzip2 } from './bzip2.js';
import { ECLIPSE_PAPER, type EclipseParams, eclipse } from './eclipse.js';
import { falseReads } from './false-reads.js';
import { KERNBENCH_PAPER, type KernbenchParams, kernbench } from './kernbench.js';
import { METIS_WC_PAPER, type MetisWcParams, metisWc } from './metis-wc.js';
import { PBZIP2_PAPER, type Pbzip2Params, pbzip2 } from './pbzip2.js';
import { sysbenchSeqRead } from './sysbench.js';
import type { Workload } from './types.js';

/** A workload as data (what a YAML file or a worker message carries). */
export type WorkloadSpec =
  | { kind: 'sysbench'; fileMiB: number; blockKiB: number; iterations: number; checkRewrite?: boolean }
  | { kind: 'false-reads'; fileMiB: number; blockKiB: number; iterations: number; allocMiB: number }
  | ({ kind: 'pbzip2' } & Partial<Pbzip2Params>)
  | ({ kind: 'bzip2' } & Partial<Bzip2Params>)
  | ({ kind: 'metis-wc' } & Partial<MetisWcParams>)
  | ({ kind: 'kernbench' } & Partial<KernbenchParams>)
  | ({ kind: 'eclipse' } & Partial<EclipseParams>);

/** Builds a workload; `scale` shrinks its memory sizes (files, buffers, working sets) with the guest's. */
export function buildWorkload(spec: WorkloadSpec, scale = 1): Workload {
  switch (spec.kind) {
    case 'sysbench':
      return sysbenchSeqRead({ ...spec, fileMiB: spec.fileMiB * scale });
    case 'false-reads':
      return falseReads({ ...spec, fileMiB: spec.fileMiB * scale, allocMiB: spec.allocMiB * scale });
    case 'metis-wc': {
      const p: MetisWcParams = { ...METIS_WC_PAPER, ...withoutKind(spec) };
      return metisWc({
        ...p,
        inputMiB: p.inputMiB * scale,
        tablesMiB: p.tablesMiB * scale,
        resultsMiB: p.resultsMiB * scale,
        keys: p.keys * scale,
        // CPU time per byte stays; the merge's total shrinks with the results it sorts.
        mergeCpuNs: p.mergeCpuNs * scale,
      });
    }
    case 'pbzip2': {
      const p: Pbzip2Params = { ...PBZIP2_PAPER, ...withoutKind(spec) };
      return pbzip2({
        ...p,
        inputMiB: p.inputMiB * scale,
        blockKB: p.blockKB * scale,
        maxMemoryMB: p.maxMemoryMB * scale,
      });
    }
    case 'bzip2': {
      const p: Bzip2Params = { ...BZIP2_PAPER, ...withoutKind(spec) };
      return bzip2({ ...p, inputMiB: p.inputMiB * scale, blockKB: p.blockKB * scale });
    }
    case 'kernbench': {
      const p: KernbenchParams = { ...KERNBENCH_PAPER, ...withoutKind(spec) };
      return kernbench({
        ...p,
        sourceKiB: p.sourceKiB * scale,
        headersMiB: p.headersMiB * scale,
        headersPerUnitKiB: p.headersPerUnitKiB * scale,
        cc1MiB: p.cc1MiB * scale,
        asMiB: p.asMiB * scale,
        makeMiB: p.makeMiB * scale,
        asmKiB: p.asmKiB * scale,
        objectKiB: p.objectKiB * scale,
        treeMiB: p.treeMiB * scale,
        cc1MappedMiB: p.cc1MappedMiB * scale,
        cc1FileMiB: p.cc1FileMiB * scale,
        asMappedMiB: p.asMappedMiB * scale,
        asFileMiB: p.asFileMiB * scale,
        libcMappedMiB: p.libcMappedMiB * scale,
        libcFileMiB: p.libcFileMiB * scale,
      });
    }
    case 'eclipse': {
      const p: EclipseParams = { ...ECLIPSE_PAPER, ...withoutKind(spec) };
      return eclipse({
        ...p,
        heapMiB: p.heapMiB * scale,
        liveMiB: p.liveMiB * scale,
        promotedMiBPerGc: p.promotedMiBPerGc * scale,
        nonHeapMiB: p.nonHeapMiB * scale,
        startupReadMiB: p.startupReadMiB * scale,
        allocMiBPerCpuSec: p.allocMiBPerCpuSec * scale,
        phases: p.phases.map((ph) => ({
          ...ph,
          readMiB: ph.readMiB * scale,
          writeMiB: ph.writeMiB * scale,
          deleteMiB: ph.deleteMiB * scale,
        })),
      });
    }
  }
}

/** A spec's parameters without its `kind` tag (explicit undefineds dropped: they mean "the default"). */
function withoutKind<T extends { kind: string }>(spec: T): Partial<Omit<T, 'kind'>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) if (k !== 'kind' && v !== undefined) out[k] = v;
  return out as Partial<Omit<T, 'kind'>>;
}

export type { Workload };
