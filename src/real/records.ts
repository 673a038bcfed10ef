import type { RunRecord } from '../engine/results.js';
import type { RealRunResult } from './guest-run.js';

/** The paper's sizes, scaled: memory and file shrink together; iterations stay 8. */
export function figureSizes(scale: number): {
  believedMiB: number;
  actualMiB: number;
  fileMiB: number;
  allocMiB: number;
  iterations: number;
} {
  if (!(scale > 0 && scale <= 1)) throw new Error(`scale must be in (0, 1], got ${scale}`);
  return {
    believedMiB: Math.round(512 * scale),
    actualMiB: Math.round(100 * scale),
    fileMiB: Math.round(200 * scale),
    allocMiB: Math.round(200 * scale),
    iterations: 8,
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
