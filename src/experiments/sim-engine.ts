import { availableParallelism } from 'node:os';
import {
  type Availability,
  type Engine,
  type FigureRunOptions,
  checkRequest,
  configVerdicts,
} from '../engine/engine.js';
import { CONFIG_NAMES, type FigureResult } from '../engine/results.js';
import { SIM_FIGURES } from './figures.js';
import { type JobRunner, SIM_FIGURE_IDS, reproduceSim } from './reproduce.js';
import { RunStore } from './run-store.js';

/**
 * The simulator as an engine: every figure and configuration, deterministic (seeds 1-5), on worker
 * threads. It only wraps `reproduceSim`, whose results it returns unchanged. Its runs take seconds
 * to minutes and touch nothing outside the process, so `signal` is looked at before they start only.
 */
export const simEngine: Engine = {
  name: 'sim',
  summary: "the deterministic simulator of the paper's machine (every figure and configuration)",
  figures: SIM_FIGURE_IDS.map((id) => ({
    id,
    configs: SIM_FIGURES[id]!.configs,
    x: SIM_FIGURES[id]!.x,
    ...(SIM_FIGURES[id]!.withGuestSwap ? { guestSwap: true } : {}),
  })),
  configs: CONFIG_NAMES,
  cannot: {},
  unthrottled: false,
  // Some parts of the workloads do not shrink with the scale (Eclipse touches its heap in runs of
  // 64 pages, QEMU's code keeps at least 64 pages: job.ts), so a tiny machine no longer holds them.
  // Measured on every figure: at 0.004 fig3, fig13 and fig15 fail (a process touches pages outside
  // its shrunken address space, or every run is killed); at 0.01 all of them run.
  minScale: 0.01,
  availability(): Promise<Availability> {
    return Promise.resolve({
      engine: { ok: true },
      configs: configVerdicts(simEngine, { ok: true }),
      notes: [`${availableParallelism()} worker thread(s)`],
    });
  },
  async runFigure(figure: string, o: FigureRunOptions): Promise<FigureResult> {
    return (await runSimFigures([figure], o))[0]!;
  },
  runFigures: runSimFigures,
};

/** Figures that share runs (fig3 and fig9) run them once. */
async function runSimFigures(figures: readonly string[], o: FigureRunOptions): Promise<FigureResult[]> {
  let scale = 1;
  for (const f of figures) scale = checkRequest(simEngine, f, o).scale;
  o.signal?.throwIfAborted();
  // BullMQ is loaded only when a queue is asked for: local runs need neither it nor a Redis.
  const runner: JobRunner | undefined =
    o.queue !== undefined ? (await import('./queue-runner.js')).makeQueueRunner(o.queue) : undefined;
  let t0 = 0;
  return reproduceSim([...figures], {
    scale,
    ...(o.configs ? { configs: o.configs } : {}),
    ...(o.seeds ? { seeds: o.seeds } : {}),
    ...(o.jobs !== undefined ? { workers: o.jobs } : {}),
    ...(o.storeDir !== undefined ? { store: new RunStore(o.storeDir) } : {}),
    ...(o.fresh ? { fresh: true } : {}),
    ...(o.guestSwapMiB ? { guestSwapMiB: o.guestSwapMiB } : {}),
    ...(runner ? { runner } : {}),
    ...(o.onRuns ? { onRuns: o.onRuns } : {}),
    onProgress: (e) => {
      t0 ||= performance.now();
      // The estimate counts computed runs only: those from the store took no time.
      const etaS =
        e.computed > 0
          ? ((performance.now() - t0) / 1000 / e.computed) * (e.toCompute - e.computed)
          : undefined;
      o.onProgress?.({
        message: `${e.done}/${e.total} runs done; ${e.job.config}${e.iteration ? ` iteration ${e.iteration}` : ''} ${e.event}`,
        fraction: e.done / e.total,
        step: e.event === 'done',
        ...(etaS !== undefined ? { etaS } : {}),
      });
    },
  });
}
