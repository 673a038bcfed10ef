import {
  type Availability,
  type Engine,
  type EngineFigure,
  EngineUnavailableError,
  type FigureRunOptions,
  type Verdict,
  checkRequest,
  configVerdicts,
  requireAvailable,
} from '../engine/engine.js';
import { CONFIG_NAMES, type ConfigName, type FigureResult, isPaperConfig } from '../engine/results.js';
import { detectAccel } from './accel.js';
import type { FootprintProvider } from './footprint.js';
import { type RealFigureId, runRealFigure } from './figure.js';
import type { RealRunOptions, RealRunResult } from './guest-run.js';

/** Fig. 9 (eight Sysbench reads) and Fig. 10 (then an allocation), every configuration in the records. */
export const REAL_FIGURES: readonly EngineFigure[] = [
  { id: 'fig9', configs: CONFIG_NAMES, x: { kind: 'values', values: [1, 2, 3, 4, 5, 6, 7, 8] } },
  { id: 'fig10', configs: CONFIG_NAMES, x: { kind: 'bars' } },
];

/** What makes one real engine: its configurations, its host checks, its run of one configuration. */
export interface RealEngineSpec<C extends ConfigName> {
  name: 'qemu' | 'qemu-pager';
  summary: string;
  configs: readonly C[];
  /** Why each configuration it does not run cannot run on it (said in availability and records). */
  cannot: Readonly<Record<Exclude<ConfigName, C>, string>>;
  /** What this host lacks for the engine, or undefined. */
  hostProblem(): Promise<string | undefined>;
  /**
   * What this host lacks for one of the engine's configurations beyond the engine's own needs (a
   * patched build), or undefined. Such a configuration is left out unless asked for by name.
   */
  configProblem?(config: C): Promise<string | undefined>;
  /** What this host lacks for the disk mode asked for (HDD-like throttling), or undefined. */
  modeProblem?(hddLike: boolean): string | undefined;
  /** Said in every record's notes. */
  modeLabel(hddLike: boolean, scale: number): string;
  /** Engine-specific facts for `meta`. */
  meta(hddLike: boolean): Record<string, string | number | boolean | null>;
  run(o: RealRunOptions & { config: C }): Promise<RealRunResult<C>>;
  /** Measures (or finds, cached) the guest's footprint, which a scaled run needs; none: scale 1 only. */
  footprint?: FootprintProvider;
}

/** An `Engine` from a real engine's parts: the figures, checks and scaffolding are the same for both. */
export function realEngine<C extends ConfigName>(spec: RealEngineSpec<C>): Engine {
  const cannot = spec.cannot as Partial<Record<ConfigName, string>>;
  const engine: Engine = {
    name: spec.name,
    summary: spec.summary,
    figures: REAL_FIGURES,
    configs: spec.configs,
    cannot,
    unthrottled: true,
    async availability(): Promise<Availability> {
      const problem = await spec.hostProblem();
      const verdict: Verdict = problem === undefined ? { ok: true } : { ok: false, reason: problem };
      const accel = detectAccel();
      const configs = configVerdicts(engine, verdict);
      if (verdict.ok && spec.configProblem)
        for (const c of spec.configs) {
          const why = await spec.configProblem(c);
          if (why !== undefined) configs[c] = { ok: false, reason: why };
        }
      return {
        engine: verdict,
        configs,
        notes: [`accelerator: ${accel.accel} (${accel.why})`],
      };
    },
    async runFigure(figure: string, o: FigureRunOptions): Promise<FigureResult> {
      const req = checkRequest(engine, figure, o);
      const avail = await engine.availability();
      // Not asked for by name: the configurations this host cannot run (a missing build) are left out.
      if (!o.configs) req.configs = req.configs.filter((c) => avail.configs[c].ok);
      requireAvailable(engine, avail, req.configs);
      const hddLike = o.unthrottled !== true;
      const mode = spec.modeProblem?.(hddLike);
      if (mode !== undefined) throw new EngineUnavailableError(`the ${spec.name} engine: ${mode}`);
      const signal = o.signal ? { signal: o.signal } : {};
      return runRealFigure(
        figure as RealFigureId,
        {
          scale: req.scale,
          hddLike,
          onProgress: (message, fraction) => o.onProgress?.({ message, fraction, step: true }),
          ...signal,
        },
        {
          engine: spec.name,
          configs: req.configs as C[],
          modeLabel: spec.modeLabel(hddLike, req.scale),
          // The paper's configurations it cannot run come as empty records; extra ones are not listed.
          unavailable: CONFIG_NAMES.filter((c) => cannot[c] !== undefined && isPaperConfig(c)).map((c) => ({
            config: c,
            why: `unavailable on the ${spec.name} engine: ${cannot[c]}`,
          })),
          run: (r) => spec.run({ ...r, hddLike, ...signal }),
          meta: spec.meta(hddLike),
          ...(spec.footprint ? { footprint: spec.footprint } : {}),
        },
      );
    },
  };
  return engine;
}
