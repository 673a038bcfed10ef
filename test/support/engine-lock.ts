import { existsSync, readFileSync } from 'node:fs';
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
