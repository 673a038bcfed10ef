import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { EngineUnavailableError } from '../engine/engine.js';
import { findEngine } from '../experiments/engines.js';
import { idleProbeExperiment } from '../experiments/idle-probe.js';
import { intFlag } from './int-flag.js';
import { prepareFolder } from './out-dir.js';

export function registerIdleProbe(program: Command): void {
  program
    .command('idle-probe')
    .description(
      "measure an idle real guest's working set over time on the qemu-pager engine: evict all but the pager's floor, record which pages fault back within W seconds, several rounds; beside the simulator's uniform background touches",
    )
    .option(
      '--believed <MiB>',
      "the guest's memory: 512 (§3.1/§5.1) or 2048 (§5.2)",
      intFlag('--believed', 64, 8192),
      512,
    )
    .option('--rounds <n>', 'evictions', intFlag('--rounds', 1, 100), 3)
    .option(
      '--window <s>',
      'seconds of faults recorded after each eviction',
      intFlag('--window', 1, 3600),
      120,
    )
    .option('--settle <s>', 'seconds the booted guest is left alone first', intFlag('--settle', 0, 3600), 60)
    .option(
      '--floor <pages>',
      "pages the eviction keeps (default 128, the pager's virtqueue size; the hottest pages hide in them)",
      intFlag('--floor', 1, 1 << 20),
    )
    .option('--out <dir>', 'output folder', 'results')
    .action(
      async (o: {
        believed: number;
        rounds: number;
        window: number;
        settle: number;
        floor?: number;
        out: string;
      }) => {
        // The folder first: a probe takes minutes, and its results are written at the end.
        const dir = prepareFolder('--out', o.out);
        const a = await findEngine('qemu-pager')!.availability();
        if (!a.engine.ok) throw new EngineUnavailableError(`engine qemu-pager: ${a.engine.reason}`);
        const say = (m: string): void => {
          process.stderr.write(`idle-probe: ${m}\n`);
        };
        const ac = new AbortController();
        const onSignal = (sig: NodeJS.Signals): void => {
          say(`${sig}: stopping (QEMU, the daemon and every host change undone)`);
          ac.abort(new Error(sig));
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let out;
        try {
          out = await idleProbeExperiment({
            believedMiB: o.believed,
            rounds: o.rounds,
            windowS: o.window,
            settleS: o.settle,
            ...(o.floor !== undefined ? { floorPages: o.floor } : {}),
            onProgress: say,
            signal: ac.signal,
          });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        const { result: r, model, csv } = out;
        const k = model.kernelPages;
        const rate = model.touchesPerSec;
        const base = `idle-${o.believed}M-floor${r.floorPages}`;
        await writeFile(join(dir, `${base}.json`), JSON.stringify({ ...r, model }, null, 1));
        await writeFile(join(dir, `${base}.csv`), csv);
        const lines = [
          `guest ${r.guestKernel}, ${o.believed} MiB, ${r.rounds.length} rounds of ${o.window} s after ${o.settle} s idle, eviction to ${r.floorPages} pages`,
          'W [s]   measured (median) [pages]   model uniform ' + `${rate}/s over ${k} pages`,
          ...r.windowsS.map(
            (w) =>
              `${String(w).padStart(5)}   ${String(r.medianWssPages[String(w)]).padStart(8)}   ${String(model.wssPages[String(w)]).padStart(8)}`,
          ),
          ...r.longRates.map(
            (x, i) =>
              `new pages/s between ${x.fromS} and ${x.toS} s: ${x.pagesPerSec} (rounds ${x.perRound.join(', ')}); model ${model.longRates[i]!.pagesPerSec}`,
          ),
          `pages touched in any round, by what they held after: ${Object.entries(r.byKind)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')}`,
          `results in ${dir} (${base}.json, ${base}.csv)`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      },
    );
}
