import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { pagerCacheDir } from '../../src/pager/index.js';
import { recoverStaleJournals } from '../../src/real/host-changes.js';
import { cacheDir } from '../../src/real/paths.js';
import { anotherRunHoldsLock, leftoverLock, waitForIdleEngine } from './engine-lock.js';

/** What a pager-engine run could leave behind: its QEMU and daemons, work files, journals, the lock. */
export interface PagerHostState {
  processes: string[];
  files: string[];
  /** `losetup -a` when asked for (the runs that set up loop devices). */
  loops?: string;
}

export function pagerHostState(opts: { loops?: boolean } = {}): PagerHostState {
  const processes: string[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      // The engine's QEMU, and its daemons (their work files are in the engine's cache folder; the
      // torture test's daemons, which may run meanwhile, use temporary folders).
      if (
        cmd.includes('vswapper-pager,debug-threads') ||
        (cmd.includes('/pager/daemon.js') && cmd.includes(pagerCacheDir()))
      )
        processes.push(p);
    } catch {
      // gone
    }
  }
  let files: string[] = [];
  try {
    files = readdirSync(pagerCacheDir()).filter(
      (n) => n.startsWith('vswapper-pager-') || n.startsWith('host-changes-'),
    );
  } catch {
    // no cache folder yet
  }
  const state: PagerHostState = { processes, files: [...files, ...leftoverLock(cacheDir())] };
  if (opts.loops) {
    try {
      state.loops = execFileSync('losetup', ['-a'], { encoding: 'utf8' });
    } catch {
      state.loops = ''; // no losetup: nothing to compare
    }
  }
  return state;
}

/**
 * The host as a run finds it: a run first undoes what runs that died left behind (their journals:
 * `recoverStaleJournals`), so a dead run's work files, which a killed earlier run may leave (in CI
 * a test file cancelled at its timeout), are not "the host as found" that the run must leave.
 * For the state before a run only: after it, a leftover is exactly what the test must see.
 */
export function pagerHostBefore(opts: { loops?: boolean } = {}): PagerHostState {
  recoverStaleJournals(pagerCacheDir());
  return pagerHostState(opts);
}

/**
 * The host state once the processes a run killed have been reaped (they may take a moment) and no
 * other process's run holds the engine: another test file's run, which took the lock as this one
 * released it, has a QEMU, a daemon and a journal of its own that it undoes itself, so the state is
 * read again once it is over rather than counted as this run's leftovers.
 */
export async function settledPagerHost(
  before: PagerHostState,
  state: () => PagerHostState = pagerHostState,
): Promise<PagerHostState> {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    await waitForIdleEngine(cacheDir());
    for (let i = 0; i < 50 && state().processes.length > before.processes.length; i++)
      await new Promise((r) => setTimeout(r, 100));
    const now = state();
    if (!anotherRunHoldsLock(cacheDir()) || Date.now() > deadline) return now;
  }
}
