#!/usr/bin/env node
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ExperimentFileError, loadExperiment, runExperiment } from '../experiments/experiment-file.js';
import { SIM_FIGURE_IDS, UnknownFigureError, reproduceSim } from '../experiments/reproduce.js';
import type { FigureResult } from '../engine/results.js';
import { crossCheck, crossCheckMarkdown, readStoredResults, writeReport } from '../report/index.js';
import { Progress } from './progress.js';

function parseScale(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`--scale must be a number in (0, 1], got "${v}"`);
  return n;
}

function parseEngine(v: string): 'sim' | 'qemu' | 'qemu-pager' {
  if (v === 'sim' || v === 'qemu' || v === 'qemu-pager') return v;
  throw new InvalidArgumentError(`--engine must be sim, qemu or qemu-pager, got "${v}"`);
}

async function report(out: string, results: FigureResult[], paper: string | undefined): Promise<void> {
  const { indexPath } = await writeReport(out, results, paper ? { paperTargetsPath: paper } : {});
  process.stdout.write(`report: ${indexPath}\n`);
}

/** Runs the paper-engine figures not produced by the simulator (real QEMU engines). */
async function reproduceReal(
  engine: 'qemu' | 'qemu-pager',
  figures: string[],
  scale: number,
  hddLike: boolean,
): Promise<FigureResult[]> {
  const mod = (await import(engine === 'qemu' ? '../qemu/index.js' : '../pager/index.js').catch(
    () => null,
  )) as {
    runQemuFigure?: (
      f: string,
      o: { scale: number; hddLike: boolean; onProgress?: (m: string, f: number) => void },
    ) => Promise<FigureResult>;
  } | null;
  if (!mod?.runQemuFigure) throw new Error(`engine ${engine} is not available in this build`);
  const out: FigureResult[] = [];
  for (const f of figures) {
    const p = new Progress(`${engine} ${f}`);
    out.push(await mod.runQemuFigure(f, { scale, hddLike, onProgress: (m) => p.update(m, true) }));
    p.done('done');
  }
  return out;
}

const program = new Command();
program
  .name('vswapper')
  .description('VSwapper (ASPLOS 2014) rebuilt: reproduce the paper, run your own experiments')
  .showHelpAfterError();

program
  .command('reproduce')
  .description(`reproduce paper figures (sim: ${SIM_FIGURE_IDS.join(', ')})`)
  .argument('<figures...>', 'figures to reproduce, e.g. fig3 fig9')
  .option('--out <dir>', 'output folder', 'results')
  .option('--engine <engine>', 'sim, qemu or qemu-pager', parseEngine, 'sim')
  .option('--scale <factor>', 'shrink memory sizes for quick runs (0, 1]', parseScale, 1)
  .option('--paper <path>', 'paper-targets.json (default: ../shared/paper/paper-targets.json)')
  .option(
    '--unthrottled',
    "real engines: use this machine's disk as it is instead of throttling swap and image to the paper's HDD",
  )
  .action(
    async (
      figures: string[],
      o: {
        out: string;
        engine: 'sim' | 'qemu' | 'qemu-pager';
        scale: number;
        paper?: string;
        unthrottled?: boolean;
      },
    ) => {
      if (o.engine === 'sim' && o.unthrottled)
        program.error('error: --unthrottled applies to the real engines (qemu, qemu-pager) only', {
          exitCode: 2,
        });
      let results: FigureResult[];
      if (o.engine === 'sim') {
        const p = new Progress(`simulating ${figures.join(' ')}`);
        results = await reproduceSim(figures, {
          scale: o.scale,
          onProgress: (e) =>
            p.update(
              `${e.done}/${e.total} runs done; ${e.job.config}${e.iteration ? ` iteration ${e.iteration}` : ''} ${e.event}`,
              e.event === 'done',
            ),
        });
        p.done(`${figures.length} figure(s)`);
      } else {
        results = await reproduceReal(o.engine, figures, o.scale, o.unthrottled !== true);
      }
      await report(resolve(o.out), results, o.paper);
    },
  );

program
  .command('run')
  .description('run an experiment described in a YAML file')
  .argument('<file>', 'experiment file (YAML)')
  .option('--out <dir>', 'output folder', 'results')
  .option('--paper <path>', 'paper-targets.json')
  .action(async (file: string, o: { out: string; paper?: string }) => {
    const e = loadExperiment(file);
    const p = new Progress(`running ${e.name}`);
    const result = await runExperiment(e, (ev) =>
      p.update(`${ev.done}/${ev.total} runs done`, ev.event === 'done'),
    );
    p.done(`${result.runs.length} records`);
    await report(resolve(o.out), [result], o.paper);
  });

program
  .command('compare')
  .description('print the engines side by side, counter by counter, for results stored in a folder')
  .argument('[dir]', 'a report folder written by reproduce', 'results')
  .action(async (dir: string) => {
    const stored = await readStoredResults(resolve(dir));
    process.stdout.write(crossCheckMarkdown(crossCheck(stored.map((s) => s.result))));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const known = e instanceof ExperimentFileError || e instanceof UnknownFigureError;
  process.stderr.write(
    `vswapper: ${known ? (e as Error).message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = known ? 2 : 1;
});
