import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { EngineInputError, EngineUnavailableError } from '../engine/engine.js';
import type { FigureResult } from '../engine/results.js';
import { findEngine } from '../experiments/engines.js';
import {
  MULTI_GUEST_CONFIGS,
  MULTI_GUEST_FIGURE,
  multiGuestScenario,
  runMultiGuestQemu,
  runMultiGuestSim,
} from '../experiments/multi-guest.js';
import { crossCheck, crossCheckMarkdown } from '../report/index.js';
import { Progress } from './progress.js';

type Cfg = (typeof MULTI_GUEST_CONFIGS)[number];

function parseConfigs(v: string): Cfg[] {
  const xs = v.split(',').map((c) => c.trim());
  for (const c of xs)
    if (!MULTI_GUEST_CONFIGS.includes(c as Cfg))
      throw new InvalidArgumentError(
        `--configs: each must be ${MULTI_GUEST_CONFIGS.join(' or ')}, got "${c}"`,
      );
  return xs as Cfg[];
}

function summary(f: FigureResult): string {
  return f.runs
    .map(
      (r) =>
        `${f.engine.padEnd(4)} ${r.config.padEnd(8)} guest ${r.x}: ${r.killed ? 'KILLED' : `${r.metrics.runtimeS?.toFixed(1)} s`}, swap-in faults ${r.metrics.swapReadFaults ?? '-'}, balloon ${Math.round(((r.metrics.balloonPages ?? 0) * 4) / 1024)} MiB, integrity violations ${r.metrics.integrityViolations ?? '-'}`,
    )
    .join('\n');
}

export function registerGuests(program: Command): void {
  program
    .command('guests')
    .description(
      "§5.2's dynamic experiment, scaled, on K real Debian guests (engine qemu: word counts started 10 s apart in one host cgroup, baseline and balloon with the MOM manager over QMP) and the simulator on the same scenario beside it",
    )
    .option(
      '--engine <engine>',
      'qemu (real guests, and the simulator beside) or sim (the simulator alone)',
      'qemu',
    )
    .option('--guests <n>', 'guests (1-10)', '3')
    .option('--scale <factor>', "the paper's memory sizes times this (2 GB guests, 300 MB input)", '0.125')
    .option('--configs <list>', MULTI_GUEST_CONFIGS.join(','), parseConfigs, [...MULTI_GUEST_CONFIGS])
    .option('--seed <n>', 'the simulator run seed', '1')
    .option('--out <dir>', 'output folder', 'results')
    .action(
      async (o: {
        engine: string;
        guests: string;
        scale: string;
        configs: Cfg[];
        seed: string;
        out: string;
      }) => {
        if (o.engine !== 'qemu' && o.engine !== 'sim')
          throw new EngineInputError(`--engine must be qemu or sim, got "${o.engine}"`);
        const seed = Number(o.seed);
        if (!Number.isInteger(seed)) throw new EngineInputError(`--seed must be an integer, got "${o.seed}"`);
        let sc;
        try {
          sc = multiGuestScenario(Number(o.guests), Number(o.scale));
        } catch (e) {
          throw new EngineInputError(`--guests/--scale: ${(e as Error).message}`);
        }
        if (o.engine === 'qemu') {
          const a = await findEngine('qemu')!.availability();
          if (!a.engine.ok) throw new EngineUnavailableError(`engine qemu: ${a.engine.reason}`);
        }
        const dir = resolve(o.out);
        await mkdir(dir, { recursive: true });
        const written: FigureResult[] = [];
        if (o.engine === 'qemu') {
          const p = new Progress(`qemu ${MULTI_GUEST_FIGURE}, ${sc.guests} guests`);
          const ac = new AbortController();
          const r = await runMultiGuestQemu(sc, o.configs, {
            onProgress: (m) => p.update(m, false),
            signal: ac.signal,
          });
          p.done('done');
          await writeFile(join(dir, `${MULTI_GUEST_FIGURE}.qemu.json`), JSON.stringify(r.figure, null, 1));
          // Everything else of the real runs: QMP decision log, per-guest timeline, facts.
          await writeFile(join(dir, `${MULTI_GUEST_FIGURE}.qemu-runs.json`), JSON.stringify(r.runs, null, 1));
          for (const run of r.runs)
            if (run.manager.length > 0)
              await writeFile(
                join(dir, `${MULTI_GUEST_FIGURE}.qemu.${run.config}.balloon-manager.jsonl`),
                run.manager.map((m) => JSON.stringify(m)).join('\n') + '\n',
              );
          written.push(r.figure);
        }
        const p = new Progress(`sim ${MULTI_GUEST_FIGURE}, ${sc.guests} guests`);
        const sim = runMultiGuestSim(sc, o.configs, seed);
        p.done('done');
        await writeFile(join(dir, `${MULTI_GUEST_FIGURE}.json`), JSON.stringify(sim, null, 1));
        written.push(sim);
        for (const f of written) process.stdout.write(`${summary(f)}\n`);
        if (written.length > 1) process.stdout.write(crossCheckMarkdown(crossCheck(written)));
        process.stdout.write(`results in ${dir} (vswapper compare ${o.out})\n`);
      },
    );
}
