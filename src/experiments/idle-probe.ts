import { modelNewPagesPerSec, modelWss } from '../pager/idle-curve.js';
import { type IdleProbeOptions, type IdleProbeResult, runIdleProbe } from '../pager/idle-probe.js';
import { PAPER_MACHINE, guestKernelMiBFor } from '../sim/machine.js';

const PAGES_PER_MIB = 256;

/** The simulator's guest kernel for a guest of `believedMiB`, pages (64 MB for §5.2's 2 GB guests). */
export function modelKernelPages(believedMiB: number): number {
  return Math.round(guestKernelMiBFor(believedMiB) * PAGES_PER_MIB);
}

/** The measured curve beside the model's, one row per window: CSV. */
export function idleCurveCsv(r: IdleProbeResult, kernelPages: number, touchesPerSec: number): string {
  const head = ['windowS', ...r.rounds.map((x) => `round${x.round}Pages`), 'medianPages', 'modelPages'];
  const rows = r.windowsS.map((w) =>
    [
      w,
      ...r.rounds.map((x) => x.wssPages[String(w)]),
      r.medianWssPages[String(w)],
      Math.round(modelWss(kernelPages, touchesPerSec, w)),
    ].join(','),
  );
  return `${head.join(',')}\n${rows.join('\n')}\n`;
}

/**
 * What the simulator's busy guest kernel gives for the same windows (its uniform background touches):
 * the estimate the probe was built to check. Its idle guests now touch only their hot pages, as
 * measured here (GuestOs.idleTouches).
 */
export interface IdleModel {
  kernelPages: number;
  touchesPerSec: number;
  wssPages: Record<string, number>;
  longRates: { fromS: number; toS: number; pagesPerSec: number }[];
}

export function idleModel(r: IdleProbeResult): IdleModel {
  const k = modelKernelPages(r.believedMiB);
  const rate = PAPER_MACHINE.guestBackgroundTouchesPerSec;
  return {
    kernelPages: k,
    touchesPerSec: rate,
    wssPages: Object.fromEntries(r.windowsS.map((w) => [String(w), Math.round(modelWss(k, rate, w))])),
    longRates: r.longRates.map((x) => ({
      fromS: x.fromS,
      toS: x.toS,
      pagesPerSec: +modelNewPagesPerSec(k, rate, x.fromS, x.toS).toFixed(3),
    })),
  };
}

/** The real guest's idle working set on the qemu-pager engine, and the simulator's beside it. */
export async function idleProbeExperiment(
  o: IdleProbeOptions,
): Promise<{ result: IdleProbeResult; model: IdleModel; csv: string }> {
  const result = await runIdleProbe(o);
  const model = idleModel(result);
  return { result, model, csv: idleCurveCsv(result, model.kernelPages, model.touchesPerSec) };
}
