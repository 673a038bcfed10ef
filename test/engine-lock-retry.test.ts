/**
 * The real-engine tests' harness around the host's run lock: a run that lost the lock to another
 * suite's run is tried again once the host is idle, and a host kept busy skips the test (saying who)
 * instead of failing it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HostChanges, processStartTicks } from '../src/real/host-changes.js';
import { RunLockBusy, takeLock } from '../src/real/run-lock.js';
import { isLockBusy, onIdleEngine } from './support/engine-lock.js';

/** What a real run does first: take the host's lock (failing at once when it is held), then let go. */
async function lockedRun<T>(dir: string, v: T): Promise<T> {
  const ledger = new HostChanges();
  await takeLock(ledger, dir);
  ledger.undoAll();
  return v;
}

function holdLock(dir: string, seconds: number): ReturnType<typeof spawn> {
  const holder = spawn('sleep', [String(seconds)], { stdio: 'ignore' });
  const pid = holder.pid ?? -1;
  writeFileSync(join(dir, 'run.lock'), JSON.stringify({ pid, startTicks: processStartTicks(pid) }));
  return holder;
}

test('a run that lost the lock is retried once the holder ends; a host busy past the budget skips', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-lock-'));
  const was = process.env.VSWAPPER_CACHE;
  process.env.VSWAPPER_CACHE = dir;
  const holder = holdLock(dir, 30);
  try {
    // The holder ends after 1.5 s; until then each attempt loses the lock.
    setTimeout(() => {
      holder.kill('SIGKILL');
      rmSync(join(dir, 'run.lock'), { force: true });
    }, 1500);
    let attempts = 0;
    const skipped: string[] = [];
    let lockWait: string | undefined;
    const r = await onIdleEngine({ skip: (w) => skipped.push(w) }, () => {
      attempts++;
      lockWait = process.env.VSWAPPER_LOCK_WAIT_S;
      return lockedRun(dir, 'ran');
    });
    assert.equal(r, 'ran');
    assert.equal(attempts, 1, 'the attempt waited for the idle host instead of losing');
    assert.equal(lockWait, '0', 'the run inside fails at once rather than waiting inside the timeout');
    assert.equal(skipped.length, 0);

    // Another run takes the lock between the idle check and the attempt: tried again.
    let n = 0;
    const r2 = await onIdleEngine({ skip: () => assert.fail('not busy for long') }, () => {
      n++;
      if (n < 3) return Promise.reject(new RunLockBusy(4242, join(dir, 'run.lock'), 0));
      return Promise.resolve(n);
    });
    assert.equal(r2, 3);

    // Any other failure is the test's own: not swallowed.
    await assert.rejects(
      onIdleEngine({ skip: () => {} }, () => Promise.reject(new Error('guest panicked'))),
      /guest panicked/,
    );

    // Busy for longer than the budget: skipped, naming the holder.
    const h2 = holdLock(dir, 30);
    try {
      const r3 = await onIdleEngine({ skip: (w) => skipped.push(w) }, () => lockedRun(dir, 'ran'), 2);
      assert.equal(r3, undefined);
      assert.match(skipped[0] ?? '', new RegExp(`busy .*pid ${h2.pid}`));
    } finally {
      h2.kill('SIGKILL');
    }
    assert.ok(isLockBusy(new RunLockBusy(1, '/x/run.lock', 3)));
    assert.ok(!isLockBusy(new Error('cannot take the run lock /x/run.lock')));
  } finally {
    holder.kill('SIGKILL');
    if (was === undefined) delete process.env.VSWAPPER_CACHE;
    else process.env.VSWAPPER_CACHE = was;
    rmSync(dir, { recursive: true, force: true });
  }
});
