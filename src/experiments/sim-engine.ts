import { availableParallelism } from 'node:os';
import {
  type Availability,
  type Engine,
  type FigureRunOptions,
  checkRequest,
  configVerdicts,
} from '../engine/engine.js';
import { CONFIG_NAMES, type ConfigName, type FigureResult } from '../engine/results.js';
import { SIM_FIGURES } from './figures.js';
import { SIM_FIGURE_IDS, reproduceSim } from './reproduce.js';

/**
 * The simulator as an engine: every figure and configuration, deterministic (seeds 1-5), on worker
 * threads. It only wraps `reproduceSim`, whose results it returns unchanged. Its runs take seconds
 * to minutes and touch nothing outside the process, so `signal` is looked at before they start only.
 */
export const simEngine: Engine = {
  name: 'sim',
  summary: "the deterministic simulator of the paper's machine (every figure and configuration)",
  figures: SIM_FIGURE_IDS.map((id) => ({ id, configs: SIM_FIGURES[id]!.configs, x: SIM_FIGURES[id]!.x })),
  configs: CONFIG_NAMES,
  cannot: {},
  unthrottled: false,
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
  const configs: { configs?: readonly ConfigName[] } = o.configs ? { configs: o.configs } : {};
  return reproduceSim([...figures], {
    scale,
    ...configs,
    onProgress: (e) =>
      o.onProgress?.({
        message: `${e.done}/${e.total} runs done; ${e.job.config}${e.iteration ? ` iteration ${e.iteration}` : ''} ${e.event}`,
        fraction: e.done / e.total,
        step: e.event === 'done',
      }),
  });
}
