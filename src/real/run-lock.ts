import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HostChanges, processStartTicks } from './host-changes.js';

/** The pid of the live process holding the run lock, or undefined once we hold it. */
function tryLock(ledger: HostChanges, lock: string): number | undefined {
  for (let i = 0; i < 2; i++) {
    try {
      writeFileSync(lock, JSON.stringify({ pid: process.pid, startTicks: processStartTicks(process.pid) }), {
        flag: 'wx',
      });
      ledger.did({ kind: 'rm', path: lock });
      return undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner: { pid: number; startTicks: number } | undefined;
      try {
        owner = JSON.parse(readFileSync(lock, 'utf8')) as { pid: number; startTicks: number };
      } catch {
        owner = undefined;
      }
      if (owner && processStartTicks(owner.pid) === owner.startTicks) return owner.pid;
      // The holder died without undoing (SIGKILL): its lock is stale.
      rmSync(lock, { force: true });
    }
  }
  throw new Error(`cannot take the run lock ${lock}`);
}

/** Another real-engine run holds the host's run lock and did not finish within the wait allowed. */
export class RunLockBusy extends Error {
  constructor(
    readonly holderPid: number,
    lock: string,
    waitedS: number,
  ) {
    super(
      `another real-engine run (pid ${holderPid}) holds ${lock} (waited ${waitedS} s); one run at a time on a host`,
    );
    this.name = 'RunLockBusy';
  }
}

/**
 * How long a run waits for another to finish: `VSWAPPER_LOCK_WAIT_S` seconds (0: fail at once, as a
 * test harness that retries on its own wants), else an hour, longer than any figure runs here.
 */
export function lockWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.VSWAPPER_LOCK_WAIT_S;
  if (raw === undefined || raw === '') return 60 * 60_000;
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 0)
    throw new Error(`VSWAPPER_LOCK_WAIT_S must be a number of seconds >= 0, got "${raw}"`);
  return s * 1000;
}

/**
 * One real-engine run at a time on a host (both engines lock the same folder): runs share host-wide
 * counters (/proc/vmstat), swap, the CPU and the disk, so an overlapping run would disturb what the
 * other measures. A second run waits for the first (test suites and CLI runs on one machine), saying
 * so, up to `waitMs` (default: `lockWaitMs()`), then fails with `RunLockBusy`.
 */
export async function takeLock(
  ledger: HostChanges,
  dir: string,
  o: { waitMs?: number; onProgress?: (m: string) => void; signal?: AbortSignal } = {},
): Promise<void> {
  const lock = join(dir, 'run.lock');
  const t0 = Date.now();
  const deadline = t0 + (o.waitMs ?? lockWaitMs());
  for (;;) {
    const owner = tryLock(ledger, lock);
    if (owner === undefined) return;
    if (Date.now() >= deadline) throw new RunLockBusy(owner, lock, Math.round((Date.now() - t0) / 1000));
    o.onProgress?.(`waiting for the run of pid ${owner} to finish (one run at a time on a host)`);
    await sleepMs(2000, o.signal);
  }
}

function sleepMs(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((res, rej) => {
    signal?.throwIfAborted();
    const t = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', onAbort);
      res();
    }
    function onAbort(): void {
      clearTimeout(t);
      rej(signal?.reason as Error);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
