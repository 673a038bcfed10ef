/**
 * `vswapper host` end to end (root and QEMU needed; skipped otherwise): two of the project's
 * guests, each through `vswapper vm` with its own daemon and control socket, under one host-wide
 * limit held by `vswapper host`. A workload fills one guest past its share while the other idles:
 * the busy VM's limit must rise and the idle one's fall, the limits the arbiter sets never summing
 * above the host limit; both guests read their file back intact, both power off, the arbiter ends
 * on its own ("every VM has gone"), and the host is as found. Holds the host's run lock.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pagerEngine } from '../src/pager/index.js';
import { buildGuestImage, type GuestImage } from '../src/real/guest-image.js';
import {
  type VmProcess,
  spawnVm,
  vmCommand,
  vmHostBefore,
  vmHostState as hostState,
} from './support/vm-guest.js';
import { POWEROFF, warmupCommand } from '../src/real/guest-workload.js';
import { HostChanges } from '../src/real/host-changes.js';
import { cacheDir } from '../src/real/paths.js';
import { takeLock } from '../src/real/run-lock.js';
import { leftoverLock, waitForIdleEngine } from './support/engine-lock.js';

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const pa = (await pagerEngine.availability()).engine;
const skip = pa.ok ? false : `the pager cannot run here: ${pa.reason}`;

const PAGE = 4096;
const MiB = 2 ** 20;
const MEMORY_MIB = 256;
/** Each VM starts at half the host limit. */
const START_LIMIT_MIB = 64;
const HOST_LIMIT_MIB = 128;
const HOST_PAGES = (HOST_LIMIT_MIB * MiB) / PAGE;
const START_PAGES = (START_LIMIT_MIB * MiB) / PAGE;

function startVm(img: GuestImage, disk: string, sock: string, consoleLog: string): VmProcess {
  return spawnVm([
    'nice',
    '-n',
    '10',
    ...vmCommand({
      img,
      disk,
      memoryMiB: MEMORY_MIB,
      limitMiB: START_LIMIT_MIB,
      sock,
      consoleLog,
      flags: ['--quiet'],
    }),
  ]);
}

type Tick = { event: string; sumLimitsPages: number; vms: { socket: string; limitPages: number }[] };

test(
  'vswapper host: two guests under one limit; the busy one gains, the idle one gives, the sum never above the host limit',
  { skip, timeout: 40 * 60_000 },
  async (t) => {
    let img: GuestImage;
    try {
      img = await buildGuestImage(16);
    } catch (e) {
      t.skip(`no guest image: ${(e as Error).message}`);
      return;
    }
    await waitForIdleEngine(cacheDir());
    const lock = new HostChanges();
    await takeLock(lock, cacheDir(), { waitMs: 30 * 60_000 });
    const dir = mkdtempSync(join(cacheDir(), 'vm-host-e2e-'));
    const before = vmHostBefore();
    const vms: VmProcess[] = [];
    let host: ChildProcess | undefined;
    try {
      assert.deepEqual(before.processes, [], 'no vm running before');
      const socks = ['a', 'b'].map((n) => join(dir, `${n}.sock`));
      for (const [i, n] of ['a', 'b'].entries()) {
        const disk = join(dir, `${n}.raw`);
        copyFileSync(img.disk, disk);
        vms.push(startVm(img, disk, socks[i]!, join(dir, `${n}.console`)));
      }
      await Promise.all(vms.map((v) => v.ch.ready()));
      const h = spawn(
        process.execPath,
        [CLI, 'host', '--limit', `${HOST_LIMIT_MIB}M`, '--every', '1', ...socks],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      host = h;
      let out = '';
      let herr = '';
      h.stdout.on('data', (d: Buffer) => (out += d.toString()));
      h.stderr.on('data', (d: Buffer) => (herr += d.toString()));
      const hostExit = new Promise<number | null>((r) => h.on('exit', (c) => r(c)));
      // A fills its memory again and again (anonymous pages past any share); B idles.
      const [a, b] = vms as [VmProcess, VmProcess];
      for (let i = 0; i < 3; i++) assert.equal((await a.ch.run(warmupCommand(96))).rc, 0);
      const sums = await Promise.all([a, b].map((v) => v.ch.run('md5sum test_file.0')));
      for (const s of sums) assert.equal(s.lines[0]!.split(/\s+/)[0], img.md5, 'the file reads back intact');
      await Promise.all(vms.map((v) => v.ch.run(POWEROFF).catch(() => undefined)));
      assert.deepEqual(
        await Promise.all(vms.map(async (v) => (await v.exited).code)),
        [0, 0],
        vms.map((v) => v.stderr()).join('\n'),
      );
      assert.equal(await hostExit, 0, herr);
      assert.match(herr, /every VM has gone/);
      const records = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Tick);
      // The decisions while both ran (after one powers off the other gets the whole host).
      const ticks = records.filter((r) => r.event === 'tick' && r.vms.length === 2);
      assert.ok(ticks.length >= 3, `${ticks.length} decisions`);
      const limitOf = (r: Tick, s: string): number => r.vms.find((v) => v.socket === s)?.limitPages ?? NaN;
      const aMax = Math.max(...ticks.map((r) => limitOf(r, socks[0]!)).filter(Number.isFinite));
      const bMin = Math.min(...ticks.map((r) => limitOf(r, socks[1]!)).filter(Number.isFinite));
      const maxSum = Math.max(...ticks.map((r) => r.sumLimitsPages));
      process.stderr.write(
        `# ${ticks.length} decisions; busy VM's limit up to ${((aMax * PAGE) / MiB).toFixed(1)} MiB, idle VM's down to ${((bMin * PAGE) / MiB).toFixed(1)} MiB (both started at ${START_LIMIT_MIB}); largest sum ${((maxSum * PAGE) / MiB).toFixed(1)} of ${HOST_LIMIT_MIB} MiB\n`,
      );
      assert.ok(aMax > START_PAGES, `the busy VM's limit rose (max ${aMax} pages)`);
      assert.ok(bMin < START_PAGES, `the idle VM's limit fell (min ${bMin} pages)`);
      assert.ok(maxSum <= HOST_PAGES, `the sum never above the host limit (max ${maxSum})`);
      assert.equal(records.filter((r) => r.event === 'vm-gone').length, 2);
      for (let i = 0; i < 50 && hostState().processes.length > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(hostState(), before, 'the host as found');
    } finally {
      host?.kill('SIGKILL');
      // A VM still running (the test failed) is stopped as an operator would: SIGINT undoes its
      // changes; SIGKILL only if it does not end in time (its journal is then undone by the next).
      const running = vms.filter((v) => v.child.exitCode === null && v.child.signalCode === null);
      for (const v of running) v.child.kill('SIGINT');
      await Promise.race([
        Promise.all(running.map((v) => v.exited)),
        new Promise((r) => setTimeout(r, 20_000)),
      ]);
      for (const v of vms) v.child.kill('SIGKILL');
      lock.undoAll();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(leftoverLock(cacheDir()), [], 'the run lock released');
  },
);
