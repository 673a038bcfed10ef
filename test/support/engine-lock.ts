import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Waits while another real-engine run (the other e2e file of the same suite, a helper's suite, a CLI
 * run) holds the host's run lock in `cacheDir`: a test's "host as found" snapshot must not include
 * that run's swap, cgroups and journals, which it will undo itself.
 */
export async function waitForIdleEngine(cacheDir: string, maxWaitS = 30 * 60): Promise<void> {
  const lock = join(cacheDir, 'run.lock');
  for (let i = 0; i < maxWaitS && existsSync(lock); i++) {
    let pid = 0;
    try {
      pid = (JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid;
    } catch {
      return;
    }
    if (pid === process.pid || !existsSync(`/proc/${pid}`)) return;
    if (i % 30 === 0) process.stderr.write(`# waiting for the engine run of pid ${pid} to finish\n`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * The run lock in `cacheDir` when a run left it behind: held by this process, or by one that no
 * longer exists. A lock held by a live run of another process (the other engine's test file, which
 * waits for the same lock) is that run's, not a leftover.
 */
export function leftoverLock(cacheDir: string): string[] {
  const lock = join(cacheDir, 'run.lock');
  if (!existsSync(lock)) return [];
  let pid = 0;
  try {
    pid = (JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid;
  } catch {
    return ['run.lock (unreadable)'];
  }
  return pid === process.pid || !existsSync(`/proc/${pid}`) ? [`run.lock (pid ${pid})`] : [];
}
