import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { qemuEngine } from '../src/qemu/index.js';
import { cacheDir } from '../src/real/paths.js';
import { multiGuestScenario, runMultiGuestQemu } from '../src/experiments/multi-guest.js';
import { recoverStaleJournals, sh } from '../src/real/host-changes.js';
import { lockBusyLine, onIdleEngine } from './support/engine-lock.js';

/**
 * The many-guest scenario on real guests (root + QEMU; skipped with the reason otherwise). It holds
 * the real engines' run lock, so it waits for any other real run on this host.
 */
const why = (await qemuEngine.availability()).engine;
const skip = why.ok ? false : `needs the qemu engine: ${why.reason}`;

/** What a multi-guest run of process `pid` could have left on the host. */
function leftovers(pid: number): string[] {
  const out: string[] = [];
  const prefix = `vswapper-multi-${pid}-`;
  for (const root of ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'])
    if (existsSync(root))
      for (const d of readdirSync(root)) if (d.startsWith(prefix)) out.push(`cgroup ${root}/${d}`);
  const dir = join(cacheDir(), 'multi');
  for (const l of sh('losetup', ['-a']).split('\n')) if (l.includes(dir)) out.push(`loop device ${l}`);
  for (const l of readFileSync('/proc/swaps', 'utf8').split('\n').slice(1))
    if (l.includes(dir)) out.push(`swap ${l}`);
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes(prefix)) out.push(`process ${p}: ${cmd.replace(/\0/g, ' ').slice(0, 120)}`);
  }
  if (existsSync(dir))
    for (const f of readdirSync(dir)) if (f.includes(`-${pid}-`)) out.push(`file ${join(dir, f)}`);
  return out;
}

/** Starts a two-guest run in a child that sends itself `sig` once its guests are up. */
async function interrupted(sig: NodeJS.Signals): Promise<{
  pid: number;
  seen: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}> {
  const mod = join(import.meta.dirname, '..', 'src', 'qemu', 'multi-guest.js');
  // Two small guests: the interruption comes after both booted, the cgroups, the swap area and
  // the QEMUs all in place.
  const script = `
    import { runQemuMulti } from ${JSON.stringify(mod)};
    await runQemuMulti({
      config: 'balloon', guests: 2, guestMiB: 256, hostMiB: 200, inputMiB: 8, keys: 20000, startIntervalS: 5,
      onProgress: (m) => console.error(m),
      onBooted: () => { console.log('BOOTED'); setTimeout(() => process.kill(process.pid, ${JSON.stringify(sig)}), 500); },
    });
    console.log('FINISHED');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<[number | null, NodeJS.Signals | null]>((r) =>
    child.on('exit', (c, s) => r([c, s])),
  );
  // While it runs, its changes are there (checked once it has booted).
  const seen = await new Promise<string[]>((resolve) => {
    const t = setInterval(() => {
      if (stdout.includes('BOOTED')) {
        clearInterval(t);
        resolve(leftovers(child.pid!));
      }
    }, 50);
    child.on('exit', () => {
      clearInterval(t);
      resolve([]);
    });
  });
  const [code, signal] = await ended;
  // It gave up because another run held the host's lock (VSWAPPER_LOCK_WAIT_S=0): `onIdleEngine` retries.
  const busy = lockBusyLine(stderr);
  if (!stdout.includes('BOOTED') && busy !== undefined) throw new Error(busy);
  return { pid: child.pid!, seen, code, signal, stdout, stderr };
}

test(
  'a many-guest run interrupted by SIGINT once its guests are up leaves the host as it found it',
  { skip, timeout: 60 * 60_000 },
  async (t) => {
    await onIdleEngine(t, async () => {
      const r = await interrupted('SIGINT');
      assert.ok(
        r.seen.some((s) => s.startsWith('cgroup')),
        `the run's cgroup existed while it ran: ${r.seen.join('; ')}\n${r.stderr}`,
      );
      assert.ok(
        r.seen.some((s) => s.startsWith('process')),
        'its QEMUs ran',
      );
      assert.equal(
        r.signal,
        'SIGINT',
        `ended by the signal (code ${r.code}); stderr: ${r.stderr.slice(-2000)}`,
      );
      assert.ok(!r.stdout.includes('FINISHED'));
      // The QEMUs are SIGKILLed by the undo; give the kernel a moment to reap them.
      await new Promise((res) => setTimeout(res, 1000));
      assert.deepEqual(leftovers(r.pid), []);
    });
  },
);

test(
  'the leftovers check sees a run killed outright (SIGKILL: nothing undone), and its journal then undoes it',
  { skip, timeout: 60 * 60_000 },
  async (t) => {
    await onIdleEngine(t, async () => {
      const r = await interrupted('SIGKILL');
      assert.equal(r.signal, 'SIGKILL');
      await new Promise((res) => setTimeout(res, 500));
      const left = leftovers(r.pid);
      assert.ok(
        left.some((s) => s.startsWith('cgroup')),
        `left: ${left.join('; ')}`,
      );
      assert.ok(
        left.some((s) => s.startsWith('process')),
        `left: ${left.join('; ')}`,
      );
      assert.ok(
        left.some((s) => s.startsWith('swap') || s.startsWith('loop')),
        `left: ${left.join('; ')}`,
      );
      // What the next run does first: replay the dead process's journal.
      recoverStaleJournals(join(cacheDir(), 'multi'));
      await new Promise((res) => setTimeout(res, 1000));
      assert.deepEqual(leftovers(r.pid), []);
    });
  },
);

test(
  'baseline and balloon on real guests: per-guest host swap, equal checksums, the manager moving balloons under pressure, the host as found',
  { skip, timeout: 30 * 60_000 },
  async () => {
    // Two guests of the scaled scenario (scale 1/8: 256 MiB guests, 38 MiB inputs) on a host of
    // the paper's 8 GB per 10 guests.
    const sc = multiGuestScenario(2, 0.125);
    const { figure, runs } = await runMultiGuestQemu(sc, ['baseline', 'balloon']);
    const [base, bal] = runs;
    assert.equal(figure.engine, 'qemu');
    // Baseline: every word count finishes with the host's own output, and the host swapped for them.
    for (const g of base!.guests) {
      assert.equal(g.killed, undefined, g.killed);
      assert.ok(g.md5Ok, `guest ${g.guest + 1}: output md5 equals the host's`);
      assert.ok(g.runtimeS! > 0);
    }
    assert.ok(
      base!.guests.some((g) => g.swapPeakMiB > 1),
      `host swap per guest: ${base!.guests.map((g) => g.swapPeakMiB).join(', ')} MiB`,
    );
    // Balloon: the manager saw the pressure and shrank balloons; each guest finished with the same
    // output or is reported killed with the reason, never dropped.
    const shrinks = bal!.manager.filter((r) => r.kind === 'decision' && r.targetMiB < r.actualMiB);
    assert.ok(shrinks.length > 0, 'decisions under pressure');
    assert.ok(
      bal!.manager.some((r) => r.kind === 'balloon-change'),
      'QEMU reported the balloon moving',
    );
    assert.equal(bal!.guests.length, 2);
    for (const g of bal!.guests) assert.ok(g.killed !== undefined ? g.killed.length > 0 : g.md5Ok);
    assert.ok(
      bal!.guests.some((g) => g.balloonMinActualMiB < sc.guestMiB),
      'a balloon inflated',
    );
    assert.deepEqual(leftovers(process.pid), []);
  },
);
