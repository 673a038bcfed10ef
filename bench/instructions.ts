/**
 * The core's replays counted in instructions instead of seconds: valgrind's cachegrind counts every
 * instruction a process executes, and with `node --predictable` (one thread, no concurrent JIT or
 * GC) the count of one replay repeats to about 0.01 %, where CPU time on these shared machines
 * varies by ±20 %. A replay of 2N touches minus one of N leaves the instructions of touches N..2N:
 * the process's start, the trace's making (one length for both) and most compilation cancel. Changes of a few percent,
 * which timing cannot separate from noise, can be compared here build against build.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The timed bench's guest (1 GiB) and half of its 4 M touches: valgrind runs node ~30x slower. */
const PAGES = 262_144;
const TOUCHES = 1_000_000;

const CHILD = join(import.meta.dirname, 'instructions-child.js');

/** Instructions and page events of one replay of `touches` touches, or why there are none. */
function countReplay(mode: string, touches: number): { ir: number; events: number } | string {
  // SAFETY: a child process (valgrind running node on our own child script, fixed arguments); it
  // only reads the build and writes nothing (cachegrind's output file is /dev/null).
  const r = spawnSync(
    'valgrind',
    [
      '--tool=cachegrind',
      '--cache-sim=no',
      '--cachegrind-out-file=/dev/null',
      // V8 writes and then runs its compiled code: valgrind must notice code it already translated
      // being rewritten.
      '--smc-check=all-non-file',
      process.execPath,
      '--predictable',
      CHILD,
      mode,
      String(PAGES),
      String(touches),
      String(2 * TOUCHES),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.error) return `valgrind could not run (${r.error.message})`;
  if (r.status !== 0)
    return `valgrind ${mode} exited with ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (!m) return `no instruction count in valgrind's output for ${mode}`;
  return { ir: Number(m[1]!.replace(/,/g, '')), events: (JSON.parse(line) as { events: number }).events };
}

/** Instructions per event of touches N..2N of one mode, or why there is no count. */
function perEvent(mode: string): number | string {
  const a = countReplay(mode, TOUCHES);
  if (typeof a === 'string') return a;
  const b = countReplay(mode, 2 * TOUCHES);
  if (typeof b === 'string') return b;
  return (b.ir - a.ir) / (b.events - a.events);
}

export function instructionsBench(): void {
  console.log(
    `instructions (valgrind cachegrind, node --predictable; a replay of ${(2 * TOUCHES) / 1e6} M touches minus one of ${TOUCHES / 1e6} M, ${PAGES} pages):`,
  );
  // SAFETY: a child process asking valgrind for its version; no input, no side effect.
  const probe = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    console.log('  skipped: valgrind is not installed here (Debian: apt-get install valgrind)\n');
    return;
  }
  const rows: [string, string][] = [
    ['lru', 'plain typed-array LRU replay (reference)'],
    ['hit', 'core hit path (everything resident)'],
    ['swap', 'core swapping path (limit 1/4 of the guest)'],
  ];
  const got = new Map<string, number>();
  for (const [mode, label] of rows) {
    const x = perEvent(mode);
    if (typeof x === 'string') {
      console.log(`  ${label}: not counted: ${x}`);
      continue;
    }
    got.set(mode, x);
    console.log(`  ${label.padEnd(44)} ${x.toFixed(1).padStart(7)} instructions per page event`);
  }
  const lru = got.get('lru');
  for (const mode of ['hit', 'swap'] as const) {
    const x = got.get(mode);
    if (lru !== undefined && x !== undefined)
      console.log(
        `  instructions per event, core ${mode === 'hit' ? 'hit' : 'swapping'} path / plain LRU: ${(x / lru).toFixed(2)}`,
      );
  }
  console.log('');
}
