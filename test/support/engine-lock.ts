import { existsSync, readFileSync } from 'node:fs';
import { cacheDir } from '../../src/real/paths.js';
import { join } from 'node:path';

/**
 * Who holds the host's run lock in `cacheDir`: nobody, a lock that cannot be read, or a pid and
 * whether that is another live process (not this one, and still running).
 */
function lockHolder(cacheDir: string): 'none' | 'unreadable' | { pid: number; otherLive: boolean } {
  const lock = join(cacheDir, 'run.lock');
  if (!existsSync(lock)) return 'none';
  let pid: number;
  try {
    pid = (JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid;
  } catch {
    return 'unreadable';
  }
  return { pid, otherLive: pid !== process.pid && existsSync(`/proc/${pid}`) };
}

/**
 * Waits while another real-engine run (the other e2e file of the same suite, a helper's suite, a CLI
 * run) holds the host's run lock in `cacheDir`: a test's "host as found" snapshot must not include
 * that run's swap, cgroups and journals, which it will undo itself.
 */
export async function waitForIdleEngine(cacheDir: string, maxWaitS = 30 * 60): Promise<void> {
  for (let i = 0; i < maxWaitS; i++) {
    const h = lockHolder(cacheDir);
    if (typeof h === 'string' || !h.otherLive) return;
    if (i % 30 === 0) process.stderr.write(`# waiting for the engine run of pid ${h.pid} to finish\n`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Whether a live run of another process holds the host's run lock in `cacheDir` now. */
export function anotherRunHoldsLock(cacheDir: string): boolean {
  const h = lockHolder(cacheDir);
  return typeof h !== 'string' && h.otherLive;
}

/**
 * The run lock in `cacheDir` when a run left it behind: held by this process, or by one that no
 * longer exists. A lock held by a live run of another process (the other engine's test file, which
 * waits for the same lock) is that run's, not a leftover.
 */
export function leftoverLock(cacheDir: string): string[] {
  const h = lockHolder(cacheDir);
  if (h === 'none') return [];
  if (h === 'unreadable') return ['run.lock (unreadable)'];
  return h.otherLive ? [] : [`run.lock (pid ${h.pid})`];
}

/** The line of `text` (an error message, a child's stderr) saying another run held the lock, if any. */
export function lockBusyLine(text: string): string | undefined {
  return /another real-engine run \(pid \d+\) holds .*one run at a time on a host/.exec(text)?.[0];
}

/** A run (in this process or a child's output) that gave up because another run held the lock. */
export function isLockBusy(e: unknown): boolean {
  return lockBusyLine(e instanceof Error ? e.message : String(e)) !== undefined;
}

/**
 * Runs `attempt` once the host's real engine is idle, again if another run took the lock first (the
 * run inside is started with `VSWAPPER_LOCK_WAIT_S=0`, so it fails at once instead of waiting inside
 * a test's timeout); when other runs keep the host busy for `budgetS`, the test skips, saying who:
 * a second suite on the machine is not a failure of this one.
 */
export async function onIdleEngine<T>(
  t: { skip: (why: string) => void },
  attempt: () => Promise<T>,
  budgetS = 40 * 60,
): Promise<T | undefined> {
  const dir = cacheDir();
  const deadline = Date.now() + budgetS * 1000;
  const before = process.env.VSWAPPER_LOCK_WAIT_S;
  process.env.VSWAPPER_LOCK_WAIT_S = '0';
  try {
    while (Date.now() < deadline) {
      await waitForIdleEngine(dir, Math.max(1, Math.round((deadline - Date.now()) / 1000)));
      try {
        return await attempt();
      } catch (e) {
        if (!isLockBusy(e)) throw e;
        process.stderr.write(`# the run lost the lock to another run; trying again once the host is idle\n`);
      }
    }
  } finally {
    if (before === undefined) delete process.env.VSWAPPER_LOCK_WAIT_S;
    else process.env.VSWAPPER_LOCK_WAIT_S = before;
  }
  const h = lockHolder(dir);
  t.skip(
    `other real-engine runs kept this host busy for ${Math.round(budgetS / 60)} min` +
      (typeof h === 'object' ? ` (now pid ${h.pid})` : ''),
  );
  return undefined;
}
