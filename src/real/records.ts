import type { RunRecord } from '../engine/results.js';
import { ScaledSizesError } from './footprint.js';
import type { RealRunResult } from './guest-run.js';

/** The paper's static setup (§3.1): what the guest believes it has, what the host lets it keep, the file. */
const PAPER = { believedMiB: 512, actualMiB: 100, fileMiB: 200, allocMiB: 200, iterations: 8 } as const;

/** A real figure's sizes: the memory a balloon configuration keeps may differ from a host limit's. */
export interface FigureSizes {
  believedMiB: number;
  /** What the host lets a guest keep (cgroup cap or pager limit) in the configurations without a balloon. */
  actualMiB: number;
  /** What a ballooned guest keeps (and the host's limit beside its balloon). */
  balloonMiB: number;
  fileMiB: number;
  allocMiB: number;
  iterations: number;
}

/**
 * The paper's sizes at `scale`. At 1, the paper's own. Below 1, what can be scaled is, and the
 * guest's own footprint (measured, `footprint.ts`) is not: the file and the allocation scale; of
 * each memory size only the part above the floor it must keep scales: above what the guest touches
 * itself (`hotMiB`) for a host limit, so the file overcommits the host as at full size; above what
 * the guest cannot give up (`ownMiB`) for the believed size and a balloon's target, so a ballooned
 * guest keeps the room for the workload it has at full size. Iterations stay 8.
 */
export function figureSizes(scale: number, footprint?: { ownMiB: number; hotMiB: number }): FigureSizes {
  if (!(scale > 0 && scale <= 1)) throw new Error(`scale must be in (0, 1], got ${scale}`);
  if (scale === 1) return { ...PAPER, balloonMiB: PAPER.actualMiB };
  if (!footprint)
    throw new ScaledSizesError(
      `a scaled run (scale ${scale}) needs the guest's measured footprint: what the guest keeps of its own is not scaled`,
    );
  const { ownMiB, hotMiB } = footprint;
  if (!(ownMiB >= 0 && ownMiB < PAPER.actualMiB && hotMiB >= 0 && hotMiB < PAPER.actualMiB))
    throw new ScaledSizesError(
      `the guest keeps ${ownMiB} MiB of its own (${hotMiB} MiB of it hot): a guest that needs the paper's whole ${PAPER.actualMiB} MiB cannot be scaled down`,
    );
  const above = (floor: number, full: number): number => Math.round(floor + scale * (full - floor));
  return {
    believedMiB: above(ownMiB, PAPER.believedMiB),
    actualMiB: above(hotMiB, PAPER.actualMiB),
    balloonMiB: above(ownMiB, PAPER.actualMiB),
    fileMiB: Math.max(1, Math.round(PAPER.fileMiB * scale)),
    allocMiB: Math.max(1, Math.round(PAPER.allocMiB * scale)),
    iterations: PAPER.iterations,
  };
}

/** Turns one configuration's run (of either real engine) into the figure's records. */
export function recordsFor(
  figure: 'fig9' | 'fig10',
  r: Pick<RealRunResult, 'config' | 'iterations' | 'alloc' | 'qemuKilled' | 'notes'>,
  mode: string,
): RunRecord[] {
  const common = [mode, ...r.notes];
  if (r.qemuKilled) {
    // The iterations that finished, then the one that did not.
    const done =
      figure === 'fig9'
        ? r.iterations.map((it, k) => ({
            config: r.config,
            x: k + 1,
            metrics: it.metrics,
            notes: [...common, ...it.notes],
          }))
        : [];
    return [
      ...done,
      {
        config: r.config,
        x: figure === 'fig9' ? r.iterations.length + 1 : null,
        metrics: {},
        killed: true,
        notes: [...common, r.qemuKilled],
      },
    ];
  }
  if (figure === 'fig9')
    return r.iterations.map((it, k) => ({
      config: r.config,
      x: k + 1,
      metrics: it.metrics,
      ...(it.killed ? { killed: true } : {}),
      notes: [...common, ...it.notes],
    }));
  const a = r.alloc;
  if (!a) return [];
  const metrics = a.killed ? {} : { runtimeS: a.metrics.runtimeS, diskOps: a.metrics.diskOps, ...a.metrics };
  return [
    {
      config: r.config,
      x: null,
      metrics,
      ...(a.killed ? { killed: true } : {}),
      notes: [...common, ...a.notes],
    },
  ];
}
