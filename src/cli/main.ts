#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ExperimentFileError, loadExperiment, runExperiment } from '../experiments/experiment-file.js';
import {
  type Engine,
  EngineInputError,
  EngineUnavailableError,
  type FigureRunOptions,
  GUEST_SWAP_MAX_MIB,
  checkRequest,
  requireAvailable,
} from '../engine/engine.js';
import { type ConfigName, EXTRA_CONFIG_NAMES, type FigureResult, isPaperConfig } from '../engine/results.js';
import { ENGINES, findEngine } from '../experiments/engines.js';
import { UnknownFigureError } from '../experiments/reproduce.js';
import {
  ClaimsFileError,
  PaperTargetsError,
  checkClaims,
  claimsJson,
  claimsMarkdown,
  defaultClaimsPath,
  loadClaims,
  paperSource,
  crossCheck,
  crossCheckMarkdown,
  loadPaperTargets,
  readStoredResults,
  writeReport,
} from '../report/index.js';
import { runMultiJob } from '../experiments/multi-job.js';
import { DYNAMIC_CONFIGS, DYNAMIC_SETUP, dynamicJob } from '../experiments/section-5-2.js';
import { renderTimelineSvg } from '../report/timeline-svg.js';
import { Progress } from './progress.js';
import { OutputFolderError, prepareFolder } from './out-dir.js';
import { defaultStoreDir } from '../experiments/run-store.js';
import { modelVersion } from '../experiments/model-version.js';
import { BALLOON_MANAGER_INPUT_ERRORS, registerBalloonManager } from './balloon-manager.js';
import { registerGuests } from './guests.js';
import { CTL_INPUT_ERRORS, registerCtl } from './ctl.js';
import { VM_INPUT_ERRORS, VM_RUN_ERRORS, registerVm } from './vm.js';
import { HOST_INPUT_ERRORS, registerHost } from './vm-host.js';
import { registerIdleProbe } from './idle-probe.js';
import { intFlag } from './int-flag.js';

/** A Redis to queue runs on: redis://[user:password@]host[:port][/db], rediss://..., or unix:///path. */
function parseQueue(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError(
      `--queue must be a Redis URL (redis://host:port or unix:///path), got "${v}"`,
    );
  }
  if (
    !['redis:', 'rediss:', 'unix:'].includes(u.protocol) ||
    (u.protocol === 'unix:' ? !u.pathname : !u.hostname)
  )
    throw new InvalidArgumentError(
      `--queue must be a Redis URL (redis://host:port or unix:///path), got "${v}"`,
    );
  return v;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function parseScale(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`--scale must be a number in (0, 1], got "${v}"`);
  return n;
}

const ENGINE_NAMES = ENGINES.map((e) => e.name);
const orList = (xs: readonly string[]): string =>
  xs.length > 1 ? `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}` : (xs[0] ?? '');

function parseDynamicConfig(v: string): ConfigName {
  if (!(DYNAMIC_CONFIGS as readonly string[]).includes(v))
    throw new InvalidArgumentError(`--config must be one of ${DYNAMIC_CONFIGS.join(', ')}, got "${v}"`);
  return v as ConfigName;
}

function parseEngine(v: string): string {
  if (!findEngine(v)) throw new InvalidArgumentError(`--engine must be ${orList(ENGINE_NAMES)}, got "${v}"`);
  return v;
}

function parseConfigs(v: string): ConfigName[] {
  return v.split(',').map((c) => c.trim()) as ConfigName[];
}

async function report(out: string, results: FigureResult[], paper: string | undefined): Promise<void> {
  const { indexPath, paperNote } = await writeReport(out, results, paper ? { paperTargetsPath: paper } : {});
  if (paperNote !== undefined) process.stderr.write(`vswapper: ${paperNote}\n`);
  process.stdout.write(`report: ${indexPath}\n`);
}

/** A --paper file the user named is read before any simulation, so a typo costs nothing. */
function checkPaper(path: string | undefined): void {
  if (path !== undefined) loadPaperTargets(path);
}

const PAPER_HELP = "paper-targets.json (default: the package's data/paper-targets.json)";

/**
 * Checks the whole request before any work: every figure and configuration known to the engine,
 * the engine and those configurations available on this host. Throws naming the problem.
 */
async function checkAll(engine: Engine, figures: string[], opts: FigureRunOptions): Promise<void> {
  if (opts.unthrottled && !engine.unthrottled)
    throw new EngineInputError(
      `--unthrottled applies to the real engines (${ENGINES.filter((e) => e.unthrottled)
        .map((e) => e.name)
        .join(', ')}) only; the ${engine.name} engine models the paper's drive`,
    );
  const asked = figures.map((f) => checkRequest(engine, f, opts));
  const availability = await engine.availability();
  for (const a of asked) requireAvailable(engine, availability, a.configs);
}

/** Runs the figures on the engine, with progress on stderr; figures that share runs share them. */
async function runEngine(engine: Engine, figures: string[], opts: FigureRunOptions): Promise<FigureResult[]> {
  const progress = (p: Progress): FigureRunOptions => ({
    ...opts,
    onProgress: (e) => p.update(e.message, e.step, e.etaS),
  });
  if (engine.runFigures) {
    const p = new Progress(`${engine.name} ${figures.join(' ')}`);
    const results = await engine.runFigures(figures, progress(p));
    p.done(`${figures.length} figure(s)`);
    return results;
  }
  const out: FigureResult[] = [];
  for (const f of figures) {
    const p = new Progress(`${engine.name} ${f}`);
    out.push(await engine.runFigure(f, progress(p)));
    p.done('done');
  }
  return out;
}

const program = new Command();
program
  .name('vswapper')
  .description('VSwapper (ASPLOS 2014) rebuilt: reproduce the paper, run your own experiments')
  .showHelpAfterError('(vswapper help <command> for its usage)')
  // A bad flag is bad input like any other: one line, exit code 2 (help and --version exit 0).
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
  .version(`${packageVersion()} (model ${modelVersion()})`, '-V, --version');

program
  .command('reproduce')
  .description(
    `reproduce paper figures, or all of an engine's (${ENGINES.map((e) => `${e.name}: ${e.figures.map((f) => f.id).join(', ')}`).join('; ')})`,
  )
  .argument('<figures...>', 'figures to reproduce, e.g. fig3 fig9, or all')
  .option('--out <dir>', 'output folder', 'results')
  .option('--engine <engine>', orList(ENGINE_NAMES), parseEngine, 'sim')
  .option('--scale <factor>', 'shrink memory sizes for quick runs (0, 1]', parseScale, 1)
  .option(
    '--configs <list>',
    `only these configurations, comma-separated (default: the paper's five that the engine runs; extra ones, run only when named: ${EXTRA_CONFIG_NAMES.join(', ')})`,
    parseConfigs,
  )
  .option('--seed <n>', 'sim: first seed of every point', intFlag('--seed', 1, 2 ** 31), 1)
  .option('--runs <n>', "sim: runs (seeds) per point, the paper's 5", intFlag('--runs', 1, 1000), 5)
  .option(
    '--jobs <n>',
    'sim: runs at once on this machine (default: one per core)',
    intFlag('--jobs', 1, 1024),
  )
  .option(
    '--store <dir>',
    `sim: results store, finished runs kept and reused (default: ${defaultStoreDir()})`,
  )
  .option('--fresh', 'sim: compute every run even if the store has it')
  .option('--queue <url>', 'sim: send the runs to BullMQ workers on this Redis (vswapper worker)', parseQueue)
  .option('--paper <path>', PAPER_HELP)
  .option(
    '--guest-swap <MiB>',
    `sim, fig4 and fig14 only: a swap partition of this size in each guest, on its own image (scaled with --scale; default 0: none, the paper's setup; the results' metadata says guestSwapMiB)`,
    intFlag('--guest-swap', 0, GUEST_SWAP_MAX_MIB),
  )
  .option(
    '--unthrottled',
    "real engines: use this machine's disk as it is instead of throttling swap and image to the paper's HDD",
  )
  .action(
    async (
      figures: string[],
      o: {
        out: string;
        engine: string;
        scale: number;
        configs?: ConfigName[];
        seed: number;
        runs: number;
        jobs?: number;
        store?: string;
        fresh?: boolean;
        queue?: string;
        paper?: string;
        unthrottled?: boolean;
        guestSwap?: number;
      },
    ) => {
      const engine = findEngine(o.engine)!;
      const asked = figures.includes('all') ? engine.figures.map((f) => f.id) : figures;
      const opts: FigureRunOptions = {
        scale: o.scale,
        ...(o.unthrottled ? { unthrottled: true } : {}),
        ...(o.configs ? { configs: o.configs } : {}),
        ...(o.guestSwap ? { guestSwapMiB: o.guestSwap } : {}),
        seeds: Array.from({ length: o.runs }, (_, i) => o.seed + i),
        ...(o.jobs !== undefined ? { jobs: o.jobs } : {}),
        ...(o.fresh ? { fresh: true } : {}),
        ...(o.queue !== undefined ? { queue: o.queue } : {}),
        onRuns: (c) =>
          process.stdout.write(
            `${c.computed} runs computed, ${c.fromStore} from the store${c.damaged ? ` (${c.damaged} damaged entries computed again)` : ''}\n`,
          ),
      };
      // Every input first (the queue answers), the folders last (they are created): nothing runs on a bad request.
      checkPaper(o.paper);
      await checkAll(engine, asked, opts);
      if (o.queue !== undefined) await (await import('../experiments/queue-runner.js')).checkQueue(o.queue);
      const out = prepareFolder('--out', o.out);
      if (engine.name === 'sim') opts.storeDir = prepareFolder('--store', o.store ?? defaultStoreDir());
      const results = await runEngine(engine, asked, opts);
      await report(out, results, o.paper);
    },
  );

program
  .command('timeline')
  .description(
    "one run of §5.2's dynamic experiment (Figs. 4, 14) with its per-guest timeline: balloon target and size, guest free memory, host swap traffic (JSON and SVG)",
  )
  .option('--config <config>', DYNAMIC_CONFIGS.join(', '), parseDynamicConfig, 'balloon')
  .option(
    '--guests <n>',
    `guests (1-${DYNAMIC_SETUP.maxGuests})`,
    intFlag('--guests', 1, DYNAMIC_SETUP.maxGuests),
    10,
  )
  .option('--seed <n>', 'seed', intFlag('--seed', 1, 2 ** 31), 1)
  .option('--scale <factor>', 'shrink memory sizes (and time) for quick runs (0, 1]', parseScale, 1)
  .option(
    '--guest-swap <MiB>',
    'a swap partition of this size in each guest, on its own image (default 0: none; scaled with --scale)',
    intFlag('--guest-swap', 0, GUEST_SWAP_MAX_MIB),
    0,
  )
  .option('--out <dir>', 'output folder', 'results')
  .action(
    async (o: {
      config: ConfigName;
      guests: number;
      seed: number;
      scale: number;
      guestSwap: number;
      out: string;
    }) => {
      const { config, guests, seed } = o;
      // The same floor as reproduce's (the sim engine's), and the folder, before the run (minutes at
      // full size): a bad --scale or --out fails at once.
      const sim = findEngine('sim')!;
      if (sim.minScale !== undefined && o.scale < sim.minScale)
        throw new EngineInputError(
          `scale ${o.scale} is below the sim engine's smallest, ${sim.minScale}: its models do not fit a machine that small`,
        );
      const dir = prepareFolder('--out', o.out);
      const job = dynamicJob(config, guests, o.scale, seed, o.guestSwap);
      const r = runMultiJob(job, job.multi!);
      const { writeFile } = await import('node:fs/promises');
      const swapTag = o.guestSwap > 0 ? `-gswap${o.guestSwap}` : '';
      const base = `${dir}/timeline-${config.replace('+', '-')}-${guests}g-seed${seed}${swapTag}`;
      await writeFile(`${base}.json`, JSON.stringify(r.multi, null, 1));
      const title = `${config}, ${guests} guests, scale ${o.scale}, seed ${seed}${o.guestSwap > 0 ? `, guest swap ${o.guestSwap} MiB` : ''}`;
      await writeFile(`${base}.svg`, renderTimelineSvg(title, r.multi!.timeline));
      for (const g of r.multi!.guests)
        process.stdout.write(
          `guest ${g.guest + 1}: start ${g.startS.toFixed(1)} s, ${g.killed ? `KILLED (${g.killed})` : `runtime ${g.runtimeS!.toFixed(2)} s`}, integrity violations ${g.metrics.integrityViolations ?? 0}, host swap out ${((g.metrics.swapWriteSectors ?? 0) / 2048).toFixed(1)} MB, guest swap out/in ${g.metrics.guestSwapWritePages ?? 0}/${g.metrics.guestSwapReadPages ?? 0} pages\n`,
        );
      process.stdout.write(`${base}.svg\n`);
    },
  );

program
  .command('worker')
  .description('take simulation runs from a BullMQ queue (reproduce --queue) until interrupted')
  .requiredOption('--queue <url>', 'the Redis of the queue: redis://host:port or unix:///path', parseQueue)
  .option('--jobs <n>', 'runs at once (default: one per core)', intFlag('--jobs', 1, 1024))
  .action(async (o: { queue: string; jobs?: number }) => {
    const { checkQueue, startQueueWorker } = await import('../experiments/queue-runner.js');
    await checkQueue(o.queue);
    const jobs = o.jobs ?? availableParallelism();
    const w = startQueueWorker(o.queue, jobs, (e) =>
      process.stderr.write(`worker ${process.pid}: ${e.config} ${e.key.slice(0, 12)} ${e.event}\n`),
    );
    await w.ready();
    process.stderr.write(`worker ${process.pid}: waiting for runs on ${o.queue} (${jobs} at once)\n`);
    // Interrupted: finish the runs in progress, then leave (a second Ctrl-C ends at once).
    await new Promise<void>((r) => {
      process.once('SIGINT', r);
      process.once('SIGTERM', r);
    });
    await w.close();
  });

program
  .command('engines')
  .description(
    'list the engines: their figures and configurations, and whether they can run here (and why not)',
  )
  .action(async () => {
    for (const e of ENGINES) {
      const a = await e.availability();
      const here = a.engine.ok ? 'available here' : `not available here: ${a.engine.reason}`;
      process.stdout.write(`${e.name}: ${e.summary}\n  ${here}\n`);
      process.stdout.write(`  figures: ${e.figures.map((f) => f.id).join(', ')}\n`);
      for (const [c, v] of Object.entries(a.configs))
        process.stdout.write(
          `  ${c}${isPaperConfig(c as ConfigName) ? '' : ' (extra, not in the paper)'}: ${v.ok ? 'runs' : `no (${v.reason})`}\n`,
        );
      for (const n of a.notes) process.stdout.write(`  ${n}\n`);
    }
  });

program
  .command('run')
  .description('run an experiment described in a YAML file')
  .argument('<file>', 'experiment file (YAML)')
  .option('--out <dir>', 'output folder', 'results')
  .option('--paper <path>', PAPER_HELP)
  .action(async (file: string, o: { out: string; paper?: string }) => {
    const e = loadExperiment(file);
    checkPaper(o.paper);
    // The folder before the runs: a bad --out fails in a second, not after the experiment.
    const out = prepareFolder('--out', o.out);
    const p = new Progress(`running ${e.name}`);
    const result = await runExperiment(e, (ev) =>
      p.update(`${ev.done}/${ev.total} runs done`, ev.event === 'done'),
    );
    p.done(`${result.runs.length} records`);
    await report(out, [result], o.paper);
  });

program
  .command('compare')
  .description('print the engines side by side, counter by counter, for results stored in a folder')
  .argument('[dir]', 'a report folder written by reproduce', 'results')
  .action(async (dir: string) => {
    const stored = await readStoredResults(resolve(dir));
    process.stdout.write(crossCheckMarkdown(crossCheck(stored.map((s) => s.result))));
  });

program
  .command('claims')
  .description(
    'every claim and digitized point of the paper that the results in DIR cover: paper, ours, pass/fail',
  )
  .argument('[dir]', 'a report folder written by reproduce', 'results')
  .option('--json', 'print { figures, claims } as JSON for scripts')
  .option('--points', 'also print every digitized point')
  .option('--paper <path>', PAPER_HELP)
  .option('--claims <path>', "the claims file (default: the package's data/claims.json)")
  .action(async (dir: string, o: { json?: boolean; points?: boolean; paper?: string; claims?: string }) => {
    const source = paperSource(o.paper);
    if (source.why !== undefined) throw new PaperTargetsError(source.why);
    const claimsPath = o.claims ?? defaultClaimsPath();
    if (claimsPath === undefined)
      throw new ClaimsFileError('no data/claims.json in the package; pass --claims PATH');
    const file = loadClaims(claimsPath);
    const stored = existsSync(resolve(dir)) ? await readStoredResults(resolve(dir)) : [];
    if (stored.length === 0)
      throw new EngineInputError(`${resolve(dir)}: no figure results (run vswapper reproduce first)`);
    const report = checkClaims(
      stored.map((s) => s.result),
      source.points,
      file,
    );
    process.stdout.write(
      o.json
        ? `${JSON.stringify(claimsJson(report), null, 2)}\n`
        : claimsMarkdown(report, { points: o.points === true }),
    );
  });

registerBalloonManager(program);
registerGuests(program);
registerVm(program);
registerCtl(program);
registerHost(program);
registerIdleProbe(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  const known =
    e instanceof ExperimentFileError ||
    e instanceof UnknownFigureError ||
    e instanceof EngineInputError ||
    e instanceof PaperTargetsError ||
    e instanceof ClaimsFileError ||
    e instanceof EngineUnavailableError ||
    e instanceof OutputFolderError ||
    (e instanceof Error && e.name === 'QueueUnavailableError') ||
    (e instanceof Error && BALLOON_MANAGER_INPUT_ERRORS.has(e.name)) ||
    (e instanceof Error &&
      (VM_INPUT_ERRORS.has(e.name) || CTL_INPUT_ERRORS.has(e.name) || HOST_INPUT_ERRORS.has(e.name)));
  if (e instanceof Error && VM_RUN_ERRORS.has(e.name)) {
    process.stderr.write(`vswapper vm: ${e.message}\n`);
    process.exitCode = 1;
    return;
  }
  process.stderr.write(
    `vswapper: ${known ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = known ? 2 : 1;
});
