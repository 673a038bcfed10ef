import { release } from 'node:os';
import type { ConfigName, FigureResult, RunRecord } from '../engine/results.js';
import { detectAccel, qemuVersion } from './accel.js';
import type { RealRunOptions, RealRunResult } from './guest-run.js';
import { type FootprintProvider, type GuestFootprint, ScaledSizesError } from './footprint.js';
import { figureSizes, recordsFor } from './records.js';

/** The figures both real engines reproduce. */
export type RealFigureId = 'fig9' | 'fig10';

export interface RealFigurePlan<C extends ConfigName> {
  engine: 'qemu' | 'qemu-pager';
  configs: readonly C[];
  /** Said in every record's notes: engine, accelerator, disk mode, scale. */
  modeLabel: string;
  /** Configurations this engine cannot run, each with the reason recorded in its (empty) record. */
  unavailable: ReadonlyArray<{ config: ConfigName; why: string }>;
  run(
    o: Omit<RealRunOptions, 'hddLike' | 'signal'> & { config: C; onProgress: (m: string) => void },
  ): Promise<RealRunResult<C>>;
  /** Engine-specific facts for `meta` (disk, swap, memory, drive model). */
  meta: Record<string, string | number | boolean | null>;
  /** The guest's measured footprint, for a scaled run (none: a scaled run is refused). */
  footprint?: FootprintProvider;
}

/** Whether a configuration's guest is ballooned (it keeps the balloon's size, not the host limit's). */
function ballooned(c: ConfigName): boolean {
  return c.startsWith('balloon');
}

/**
 * Fig. 9 or Fig. 10 on a real guest, the part both real engines share: the paper's sizes at `scale`,
 * one run per configuration (one at a time: they share the host), records per iteration, the
 * unavailable configurations reported empty with their reason, and the facts of the run in `meta`.
 */
export async function runRealFigure<C extends ConfigName>(
  figure: RealFigureId,
  opts: {
    scale: number;
    hddLike: boolean;
    onProgress?: (msg: string, fraction: number) => void;
    signal?: AbortSignal;
  },
  plan: RealFigurePlan<C>,
): Promise<FigureResult> {
  const t0 = performance.now();
  let footprint: GuestFootprint | undefined;
  if (opts.scale < 1) {
    if (!plan.footprint)
      throw new ScaledSizesError(
        `the ${plan.engine} engine cannot measure the guest's footprint here, which a scaled run (scale ${opts.scale}) needs; run at scale 1`,
      );
    footprint = await plan.footprint((m) => opts.onProgress?.(m, 0), opts.signal);
  }
  const sizes = figureSizes(opts.scale, footprint);
  const runs: RunRecord[] = [];
  const meta: FigureResult['meta'] = {};
  for (const [i, config] of plan.configs.entries()) {
    const r = await plan.run({
      config,
      believedMiB: sizes.believedMiB,
      actualMiB: ballooned(config) ? sizes.balloonMiB : sizes.actualMiB,
      fileMiB: sizes.fileMiB,
      iterations: sizes.iterations,
      allocMiB: figure === 'fig10' ? sizes.allocMiB : 0,
      onProgress: (m) => opts.onProgress?.(m, i / plan.configs.length),
    });
    runs.push(...recordsFor(figure, r, plan.modeLabel));
    for (const [k, v] of Object.entries(r.info)) meta[`${config}.${k}`] = v;
    meta[`${config}.checksum`] =
      r.checksumOk === undefined ? 'not reached' : r.checksumOk ? 'equal' : 'DIFFERENT';
  }
  for (const u of plan.unavailable) runs.push({ config: u.config, x: null, metrics: {}, notes: [u.why] });
  const accel = detectAccel();
  return {
    figure,
    engine: plan.engine,
    runs,
    meta: {
      ...meta,
      accel: accel.accel,
      accelWhy: accel.why,
      hddLike: opts.hddLike,
      scale: opts.scale,
      believedMiB: sizes.believedMiB,
      actualMiB: sizes.actualMiB,
      balloonMiB: sizes.balloonMiB,
      ...(footprint
        ? { guestOwnMiB: footprint.ownMiB, guestHotMiB: footprint.hotMiB, guestFootprintHow: footprint.how }
        : {}),
      fileMiB: sizes.fileMiB,
      iterations: sizes.iterations,
      ...(figure === 'fig10' ? { allocMiB: sizes.allocMiB } : {}),
      ...plan.meta,
      guestKernelArgs: 'init_on_alloc=0',
      hostKernel: release(),
      qemuVersion: qemuVersion(),
      wallS: Math.round((performance.now() - t0) / 100) / 10,
    },
  };
}
