/**
 * `reproduce all` as a user runs it (issue 15): every figure of the paper in the simulator, the
 * paper's five seeds, full size, through the CLI in a child process, nothing taken from a store
 * (`--fresh`, into a store of its own that is removed afterwards). Prints the wall time against
 * the 10-minute goal and the CPU time the child and its worker threads spent, which says how much
 * of the machine the sweep used (CPU over wall: at most the core count).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
/** The goal issue 15 sets for the whole paper on a 2-core machine. */
const GOAL_S = 600;
/** Linux's USER_HZ: /proc times are in these ticks on every architecture Node runs on here. */
const TICKS_PER_S = 100;

/** CPU seconds of this process's waited-for children (cutime + cstime of /proc/self/stat). */
function childrenCpuS(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name (in parentheses, which may hold spaces): state is field 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) / TICKS_PER_S;
}

export async function reproduceAllBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vswapper-bench-all-'));
  console.log(`reproduce all (sim, full size, seeds 1-5, --fresh, ${availableParallelism()} cores):`);
  let child: ChildProcess | undefined;
  // Ctrl-C (or a SIGINT to this process alone) stops the sweep's child first, then removes the folder.
  const onSigint = (): void => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  try {
    const cpu0 = childrenCpuS();
    const t0 = performance.now();
    const code = await new Promise<number | null>((resolve, reject) => {
      // SAFETY: a child process running our own CLI with fixed arguments; it writes only into `dir`.
      child = spawn(
        process.execPath,
        [CLI, 'reproduce', 'all', '--fresh', '--store', join(dir, 'store'), '--out', join(dir, 'out')],
        // The CLI's progress (with its ETA) goes to our stderr as it comes.
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => (out += d));
      child.once('error', reject);
      child.once('exit', (c) => {
        const last = out.trim().split('\n').slice(-2).join(' | ');
        if (last) console.log(`  ${last}`);
        resolve(c);
      });
    });
    const wallS = (performance.now() - t0) / 1000;
    const cpuS = childrenCpuS() - cpu0;
    if (code !== 0) {
      console.log(`  reproduce all exited with ${code}: no time to report`);
      return;
    }
    console.log(
      `  wall ${(wallS / 60).toFixed(1)} min, CPU ${(cpuS / 60).toFixed(1)} min (${(cpuS / wallS).toFixed(2)} cores busy); goal at most ${GOAL_S / 60} min: ${wallS <= GOAL_S ? 'met' : 'not met'} on this machine in this run`,
    );
  } finally {
    process.off('SIGINT', onSigint);
    rmSync(dir, { recursive: true, force: true });
  }
}
