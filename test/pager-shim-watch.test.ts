/**
 * The shim's half of the crash contract (src/pager/README.md, "When the daemon dies") without QEMU:
 * the shim preloaded into `sleep` hands its userfaultfd to a real pager daemon; the shim must keep
 * its own copy (so the registrations outlive the daemon) and end the process with exit code 69 and
 * its message as soon as the daemon dies. Each half is also planted broken and must be seen so.
 * Root (userfaultfd needs it here) and gcc; skipped with the reason otherwise. About a second each.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DaemonProcess, buildShim } from '../src/pager/index.js';
import {
  SHIM_DAEMON_DIED_EXIT,
  SHIM_DAEMON_DIED_MESSAGE,
  SHIM_DAEMON_HUNG_MESSAGE,
  explainEarlyEnd,
  stoppedByShim,
} from '../src/pager/supervision.js';

const isRoot = process.getuid?.() === 0;
let shim = '';
let skipReason: string | false = isRoot ? false : 'needs root (userfaultfd is root-only here)';
if (!skipReason)
  try {
    shim = await buildShim();
  } catch (e) {
    skipReason = `the shim does not build here: ${(e as Error).message}`;
  }

interface Outcome {
  /** Descriptors of the preloaded process that are userfaultfds, once the hand-over is done. */
  uffdCopies: number;
  /** How the process ended after the daemon's end, and how long after (undefined: still running at the deadline). */
  end: string | undefined;
  stopMs: number | undefined;
  stderr: string;
}

function uffdFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((f) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${f}`) === 'anon_inode:[userfaultfd]';
    } catch {
      return false;
    }
  }).length;
}

/** The watchdog in these trials: the shim's timeout, and the daemon's heartbeat period. */
const WATCHDOG = { timeoutMs: 1000, periodMs: 200 };

/**
 * Preloads the shim into `sleep`, lets the daemon take its userfaultfd, then ends the daemon `how`
 * (SIGSTOP: hangs it; 'none': leaves it be). `watchdog`: the shim expects heartbeats (`shimOnly`:
 * but the daemon sends none). Waits `deadlineMs` for the process to end.
 */
async function trial(
  how: 'SIGKILL' | 'quit' | 'SIGSTOP' | 'none',
  sabotage?: string,
  o: { watchdog?: 'both' | 'shim-only' | 'daemon-only'; deadlineMs?: number } = {},
): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-shim-'));
  for (const f of ['img', 'swap']) {
    writeFileSync(join(dir, f), '');
    truncateSync(join(dir, f), 1 << 20);
  }
  const d = new DaemonProcess({
    vhostSocket: join(dir, 'v.sock'),
    shimSocket: join(dir, 's.sock'),
    image: join(dir, 'img'),
    swap: join(dir, 'swap'),
    mode: 'pager',
    ramBytes: 1 << 20,
    mapper: true,
    ...(o.watchdog === 'both' || o.watchdog === 'daemon-only' ? { heartbeatMs: WATCHDOG.periodMs } : {}),
  });
  let child: ChildProcess | undefined;
  try {
    await d.next((m) => m.event === 'listening');
    const c = spawn('sleep', ['30'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        LD_PRELOAD: shim,
        VSWAPPER_UFFD_SOCK: join(dir, 's.sock'),
        ...(sabotage ? { VSWAPPER_SHIM_TEST_SABOTAGE: sabotage } : {}),
        ...(o.watchdog === 'both' || o.watchdog === 'shim-only'
          ? { VSWAPPER_HEARTBEAT_MS: String(WATCHDOG.timeoutMs) }
          : {}),
      },
    });
    child = c;
    let stderr = '';
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<string>((r) =>
      c.on('exit', (code, sig) => r(sig ? `signal ${sig}` : `exit code ${code}`)),
    );
    await d.next((m) => m.event === 'uffd' && m.pid === c.pid);
    // The shim's constructor returns after the acknowledgement; then `sleep` sleeps (its main
    // thread in clock_nanosleep or nanosleep, /proc/PID/syscall): the hand-over is over.
    for (let i = 0; i < 500 && !inSleep(c.pid!); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(inSleep(c.pid!), 'the preloaded sleep never got to sleep');
    const uffdCopies = uffdFds(c.pid!);
    const t0 = performance.now();
    if (how === 'SIGKILL' || how === 'SIGSTOP') d.child.kill(how);
    else if (how === 'quit') await d.quit();
    let stopMs: number | undefined;
    const end = await Promise.race([
      exited.then((e) => {
        stopMs = performance.now() - t0;
        return e;
      }),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), o.deadlineMs ?? 2000)),
    ]);
    return { uffdCopies, end, stopMs: end === undefined ? undefined : stopMs, stderr };
  } finally {
    child?.kill('SIGKILL');
    if (how === 'SIGSTOP') d.child.kill('SIGCONT');
    await d.quit();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether the process's main thread is in clock_nanosleep (230) or nanosleep (35), x86-64 numbers. */
function inSleep(pid: number): boolean {
  try {
    return /^(230|35) /.test(readFileSync(`/proc/${pid}/syscall`, 'utf8'));
  } catch {
    return false;
  }
}

test(
  'the shim keeps its userfaultfd copy and stops the process at once when the daemon is killed',
  {
    skip: skipReason,
  },
  async () => {
    const o = await trial('SIGKILL');
    assert.equal(o.uffdCopies, 1, 'the shim keeps one copy of the userfaultfd');
    assert.equal(o.end, `exit code ${SHIM_DAEMON_DIED_EXIT}`);
    assert.ok(o.stderr.includes(SHIM_DAEMON_DIED_MESSAGE), `stderr: ${o.stderr}`);
    assert.ok(stoppedByShim(o.end, o.stderr));
    process.stderr.write(`stopped ${o.stopMs!.toFixed(1)} ms after the daemon's SIGKILL\n`);
  },
);

test('a daemon that quits (its connection closed) stops the process too', { skip: skipReason }, async () => {
  const o = await trial('quit');
  assert.equal(o.end, `exit code ${SHIM_DAEMON_DIED_EXIT}`);
});

test(
  'planted bugs: the legacy shim keeps nothing and stops nothing; no-keep and no-stop each lose one half',
  {
    skip: skipReason,
  },
  async () => {
    const legacy = await trial('SIGKILL', 'legacy');
    assert.equal(legacy.uffdCopies, 0);
    assert.equal(legacy.end, undefined, 'the legacy shim lets the process run on');
    assert.ok(!stoppedByShim(legacy.end ?? '', legacy.stderr));
    const noKeep = await trial('SIGKILL', 'no-keep');
    assert.equal(noKeep.uffdCopies, 0);
    assert.equal(noKeep.end, `exit code ${SHIM_DAEMON_DIED_EXIT}`);
    const noStop = await trial('SIGKILL', 'no-stop');
    assert.equal(noStop.uffdCopies, 1);
    assert.equal(noStop.end, undefined);
  },
);

test(
  'the watchdog: a hung daemon (SIGSTOP) stops the process within the timeout; a live one keeps it running',
  { skip: skipReason },
  async () => {
    const hung = await trial('SIGSTOP', undefined, { watchdog: 'both', deadlineMs: 4 * WATCHDOG.timeoutMs });
    assert.equal(hung.uffdCopies, 1);
    assert.equal(hung.end, `exit code ${SHIM_DAEMON_DIED_EXIT}`);
    assert.ok(hung.stderr.includes(SHIM_DAEMON_HUNG_MESSAGE), `stderr: ${hung.stderr}`);
    assert.ok(stoppedByShim(hung.end, hung.stderr));
    // From the SIGSTOP: at most the timeout after the last heartbeat, which came before it.
    assert.ok(
      hung.stopMs! <= WATCHDOG.timeoutMs + 500,
      `stopped ${hung.stopMs!.toFixed(0)} ms after the SIGSTOP`,
    );
    assert.ok(
      hung.stopMs! >= WATCHDOG.timeoutMs - WATCHDOG.periodMs - 50,
      `not before the timeout: ${hung.stopMs!.toFixed(0)} ms`,
    );
    process.stderr.write(
      `hung daemon: stopped ${hung.stopMs!.toFixed(0)} ms after its SIGSTOP (timeout ${WATCHDOG.timeoutMs} ms)\n`,
    );
    // A daemon beating its heart keeps the process running for three timeouts.
    const live = await trial('none', undefined, { watchdog: 'both', deadlineMs: 3 * WATCHDOG.timeoutMs });
    assert.equal(live.end, undefined, `a live daemon's process ended: ${live.stderr}`);
    // Planted: the daemon sends no heartbeats; the shim expecting them stops a healthy VM (the
    // heartbeats are what keeps it running above). And a shim without the watchdog lets a hung
    // daemon's process run on.
    const silent = await trial('none', undefined, {
      watchdog: 'shim-only',
      deadlineMs: 3 * WATCHDOG.timeoutMs,
    });
    assert.equal(silent.end, `exit code ${SHIM_DAEMON_DIED_EXIT}`);
    assert.ok(silent.stderr.includes(SHIM_DAEMON_HUNG_MESSAGE));
    const unwatched = await trial('SIGSTOP', undefined, {
      watchdog: 'daemon-only',
      deadlineMs: 3 * WATCHDOG.timeoutMs,
    });
    assert.equal(unwatched.end, undefined, 'without the watchdog the hung daemon leaves the process running');
    assert.match(
      explainEarlyEnd(`QEMU ended (exit code 69) ${SHIM_DAEMON_HUNG_MESSAGE}`, { alive: true, stderr: '' }),
      /^the pager daemon hung \(no heartbeat/,
    );
  },
);

test(
  'an unknown sabotage is refused by the shim before anything is handed over',
  { skip: skipReason },
  async () => {
    const c = spawn('true', [], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        LD_PRELOAD: shim,
        VSWAPPER_UFFD_SOCK: '/nonexistent',
        VSWAPPER_SHIM_TEST_SABOTAGE: 'x',
      },
    });
    let stderr = '';
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((r) => c.on('exit', (x) => r(x)));
    assert.equal(code, 1);
    assert.match(stderr, /VSWAPPER_SHIM_TEST_SABOTAGE must be legacy, no-keep or no-stop/);
  },
);

test("the supervisor's account of QEMU's end names a dead daemon first", () => {
  const msg = `QEMU ended (exit code 69) ${SHIM_DAEMON_DIED_MESSAGE}`;
  assert.match(
    explainEarlyEnd(msg, { alive: false, stderr: 'boom\n' }),
    /^the pager daemon died \(boom\); the shim in QEMU stopped the guest/,
  );
  assert.match(
    explainEarlyEnd('QEMU ended (signal SIGKILL)', { alive: false, stderr: '' }),
    /^the pager daemon died; QEMU ended without the shim saying so/,
  );
  assert.equal(explainEarlyEnd('x', { alive: true, stderr: '' }), 'QEMU ended before the run did: x');
  assert.equal(explainEarlyEnd('x', undefined), 'QEMU ended before the run did: x');
  assert.ok(stoppedByShim('exit code 69', `a\n${SHIM_DAEMON_DIED_MESSAGE}\n`));
  assert.ok(!stoppedByShim('exit code 1', SHIM_DAEMON_DIED_MESSAGE));
  assert.ok(!stoppedByShim('exit code 69', 'something else'));
});
