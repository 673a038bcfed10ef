import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostChanges, recoverStaleJournals, undoStep } from '../src/real/host-changes.js';

const HERE = dirname(fileURLToPath(import.meta.url));

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'vsw-ledger-'));
}

test('the ledger undoes newest first and keeps going past a failing step', () => {
  const d = tmp();
  const log: string[] = [];
  const a = join(d, 'a');
  const b = join(d, 'b');
  const ledger = new HostChanges();
  ledger.doing({ kind: 'rm', path: a }, () => writeFileSync(a, 'x'));
  // A "restore" that fails (its folder does not exist) must not stop the others.
  ledger.did({ kind: 'write', path: join(d, 'missing', 'f'), value: 'old' });
  ledger.doing({ kind: 'rm', path: b }, () => writeFileSync(b, 'y'));
  assert.deepEqual(ledger.pending, [`rm ${a}`, `restore ${join(d, 'missing', 'f')}`, `rm ${b}`]);
  const origWrite = process.stderr.write.bind(process.stderr);
  process.stderr.write = (s: string) => (log.push(String(s)), true);
  let failed: string[];
  try {
    failed = ledger.undoAll();
  } finally {
    process.stderr.write = origWrite;
  }
  assert.equal(existsSync(a), false);
  assert.equal(existsSync(b), false);
  assert.equal(failed.length, 1);
  assert.match(failed[0]!, /restore/);
  assert.equal(log.length, 1);
  assert.deepEqual(ledger.pending, []);
  // Undoing again is harmless.
  assert.deepEqual(ledger.undoAll(), []);
  rmSync(d, { recursive: true, force: true });
});

test('a "write" step restores the old value', () => {
  const d = tmp();
  const f = join(d, 'setting');
  writeFileSync(f, '60');
  const ledger = new HostChanges();
  ledger.doing({ kind: 'write', path: f, value: readFileSync(f, 'utf8') }, () => writeFileSync(f, '100'));
  assert.equal(readFileSync(f, 'utf8'), '100');
  ledger.undoAll();
  assert.equal(readFileSync(f, 'utf8'), '60');
  rmSync(d, { recursive: true, force: true });
});

test('the journal follows the ledger and disappears when all is undone', () => {
  const d = tmp();
  const ledger = new HostChanges({ journalDir: d });
  const f = join(d, 'made');
  ledger.doing({ kind: 'rm', path: f }, () => writeFileSync(f, ''));
  const j = ledger.journalPath!;
  const saved = JSON.parse(readFileSync(j, 'utf8')) as { pid: number; steps: unknown[] };
  assert.equal(saved.pid, process.pid);
  assert.deepEqual(saved.steps, [{ kind: 'rm', path: f }]);
  ledger.undoAll();
  assert.equal(existsSync(j), false);
  rmSync(d, { recursive: true, force: true });
});

test("recovery undoes a dead process's journal and leaves a live one's alone", () => {
  const d = tmp();
  const orphan = join(d, 'orphan');
  const mine = join(d, 'mine');
  writeFileSync(orphan, '');
  writeFileSync(mine, '');
  // pid 2^22 + 1 is above pid_max: that process cannot exist.
  writeFileSync(
    join(d, 'host-changes-4194305-1.json'),
    JSON.stringify({ pid: 4194305, startTicks: 1, steps: [{ kind: 'rm', path: orphan }] }),
  );
  const ledger = new HostChanges({ journalDir: d });
  ledger.did({ kind: 'rm', path: mine });
  const undone = recoverStaleJournals(d);
  assert.deepEqual(undone, [`rm ${orphan}`]);
  assert.equal(existsSync(orphan), false);
  assert.equal(existsSync(mine), true);
  assert.deepEqual(
    readdirSync(d).filter((n) => n.startsWith('host-changes-')),
    [ledger.journalPath!.split('/').pop()],
  );
  ledger.undoAll();
  rmSync(d, { recursive: true, force: true });
});

test('a "kill" step kills only the process it recorded', async () => {
  const child = spawn('sleep', ['30']);
  const pid = child.pid!;
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const { processStartTicks } = await import('../src/real/host-changes.js');
  const ticks = processStartTicks(pid)!;
  // A wrong start time means "a different process with the same pid": left alone.
  undoStep({ kind: 'kill', pid, startTicks: ticks + 1 });
  assert.equal(processStartTicks(pid), ticks);
  undoStep({ kind: 'kill', pid, startTicks: ticks });
  await exited;
  assert.equal(child.signalCode, 'SIGKILL');
});

test('SIGINT to a process with pending changes undoes them, then ends it by the signal', async () => {
  const d = tmp();
  const marker = join(d, 'made-by-child');
  mkdirSync(join(d, 'sub'));
  const script = join(d, 'child.mjs');
  const mod = resolve(HERE, '../src/real/host-changes.js');
  writeFileSync(
    script,
    `import { writeFileSync } from 'node:fs';
import { HostChanges } from ${JSON.stringify(mod)};
const l = new HostChanges({ journalDir: ${JSON.stringify(join(d, 'sub'))} });
l.doing({ kind: 'rm', path: ${JSON.stringify(marker)} }, () => writeFileSync(${JSON.stringify(marker)}, ''));
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  assert.equal(existsSync(marker), true);
  const done = new Promise<void>((r) => child.on('exit', () => r()));
  child.kill('SIGINT');
  await done;
  assert.equal(child.signalCode, 'SIGINT');
  assert.equal(existsSync(marker), false);
  assert.deepEqual(readdirSync(join(d, 'sub')), []);
  rmSync(d, { recursive: true, force: true });
});

test('one run at a time: a live holder makes the next run wait (or time out naming it), a dead one is taken over', async () => {
  const { takeLock } = await import('../src/real/run-lock.js');
  const { processStartTicks } = await import('../src/real/host-changes.js');
  const d = tmp();
  const lock = join(d, 'run.lock');
  const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = holder.pid ?? -1;
  writeFileSync(lock, JSON.stringify({ pid, startTicks: processStartTicks(pid) }));
  const msgs: string[] = [];
  try {
    await assert.rejects(
      takeLock(new HostChanges(), d, { waitMs: 100, onProgress: (m) => msgs.push(m) }),
      new RegExp(`another real-engine run \\(pid ${pid}\\) holds ${lock}`),
    );
    assert.ok(
      msgs.some((m) => m.includes(`pid ${pid}`)),
      'the wait is reported',
    );
    // The holder ends while we wait: we get the lock and record it for undoing.
    setTimeout(() => holder.kill('SIGKILL'), 300);
    const ledger = new HostChanges();
    await takeLock(ledger, d, { waitMs: 20_000 });
    assert.equal((JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid, process.pid);
    assert.deepEqual(ledger.pending, [`rm ${lock}`]);
    ledger.undoAll();
    assert.equal(existsSync(lock), false);
    // VSWAPPER_LOCK_WAIT_S=0 fails at once, with the error a test harness recognizes and retries on.
    const { RunLockBusy, lockWaitMs } = await import('../src/real/run-lock.js');
    const holder2 = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid2 = holder2.pid ?? -1;
    rmSync(lock, { force: true });
    writeFileSync(lock, JSON.stringify({ pid: pid2, startTicks: processStartTicks(pid2) }));
    process.env.VSWAPPER_LOCK_WAIT_S = '0';
    try {
      const t0 = Date.now();
      await assert.rejects(
        takeLock(new HostChanges(), d),
        (e: Error) => e instanceof RunLockBusy && e.holderPid === pid2,
      );
      assert.ok(Date.now() - t0 < 1500, 'no wait');
    } finally {
      delete process.env.VSWAPPER_LOCK_WAIT_S;
      holder2.kill('SIGKILL');
    }
    assert.equal(lockWaitMs({}), 3_600_000);
    assert.equal(lockWaitMs({ VSWAPPER_LOCK_WAIT_S: '2.5' }), 2500);
    assert.throws(
      () => lockWaitMs({ VSWAPPER_LOCK_WAIT_S: 'soon' }),
      /VSWAPPER_LOCK_WAIT_S must be a number of seconds >= 0, got "soon"/,
    );
    assert.throws(() => lockWaitMs({ VSWAPPER_LOCK_WAIT_S: '-1' }), /VSWAPPER_LOCK_WAIT_S/);
    // A lock left by a process that no longer exists is stale: taken at once.
    writeFileSync(lock, JSON.stringify({ pid, startTicks: 1 }));
    const l2 = new HostChanges();
    await takeLock(l2, d, { waitMs: 0 });
    l2.undoAll();
  } finally {
    holder.kill('SIGKILL');
    rmSync(d, { recursive: true, force: true });
  }
});
