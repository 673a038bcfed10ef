/**
 * `vswapper vm` end to end, as an operator runs it (root and QEMU needed; skipped otherwise): the
 * built CLI boots the project's guest image (its kernel and initramfs given as extra QEMU
 * arguments, its command channel on QEMU's stdio, which is the CLI's), a guest workload fills more
 * memory than the limit, `vswapper ctl` lowers then raises the limit while the guest works, the
 * metrics endpoint is scraped, and the guest powers off: exit code 0, the host as found. Then the
 * same, stopped by SIGINT in the middle of the workload. The test holds the host's run lock (the
 * lead's measured runs wait for it); `vswapper vm` itself takes none (several VMs run at once).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pagerEngine } from '../src/pager/index.js';
import { detectAccel } from '../src/real/accel.js';
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
const LIMIT_MIB = 96;

async function settled(): Promise<ReturnType<typeof hostState>> {
  for (let i = 0; i < 50 && hostState().processes.length > 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  return hostState();
}

/** `vswapper ctl SOCKET COMMAND [ARGS]`, its JSON reply. */
function ctl(sock: string, command: string, args?: object): Promise<Record<string, number>> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [CLI, 'ctl', sock, command, ...(args ? [JSON.stringify(args)] : [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) =>
      code === 0 ? res(JSON.parse(out) as Record<string, number>) : rej(new Error(`ctl ${command}: ${err}`)),
    );
  });
}

/** Prometheus' text: metric name (labels dropped) to value. */
async function scrape(port: number): Promise<Record<string, number>> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const out: Record<string, number> = {};
  for (const l of (await r.text()).split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(l);
    if (m) out[m[1]!] = Number(m[3]);
  }
  return out;
}

/** The CLI running a VM on a copy of the guest's disk, with its channel, stderr and metrics port. */
interface Vm extends VmProcess {
  metricsPort: Promise<number>;
}

function startVm(img: GuestImage, disk: string, sock: string, consoleLog: string, flags: string[] = []): Vm {
  let gotPort: (p: number) => void = () => undefined;
  const metricsPort = new Promise<number>((res) => (gotPort = res));
  const vm = spawnVm(
    vmCommand({
      img,
      disk,
      memoryMiB: MEMORY_MIB,
      limitMiB: LIMIT_MIB,
      sock,
      consoleLog,
      flags: ['--metrics-port', '0', '--status-every', '2', ...flags],
    }),
    (all, chunk) => {
      process.stderr.write(`# ${chunk}`);
      const m = /metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(all);
      if (m) gotPort(Number(m[1]));
    },
  );
  return { ...vm, metricsPort };
}

/** Polls query-stats until `ok`, up to 60 s; returns the last stats. */
async function until(
  sock: string,
  ok: (s: Record<string, number>) => boolean,
): Promise<Record<string, number>> {
  let s = await ctl(sock, 'query-stats');
  for (let i = 0; i < 120 && !ok(s); i++) {
    await new Promise((r) => setTimeout(r, 500));
    s = await ctl(sock, 'query-stats');
  }
  return s;
}

/**
 * The guest image, a scratch folder with a copy of its disk, and the host's run lock for the test
 * (waiting up to 30 min for another run to end: the tests' timeouts include that wait).
 */
async function setUp(t: {
  skip: (why: string) => void;
}): Promise<{ img: GuestImage; dir: string; disk: string; lock: HostChanges } | undefined> {
  let img: GuestImage;
  try {
    img = await buildGuestImage(50);
  } catch (e) {
    t.skip(`no guest image: ${(e as Error).message}`);
    return undefined;
  }
  await waitForIdleEngine(cacheDir());
  const lock = new HostChanges();
  await takeLock(lock, cacheDir(), { waitMs: 30 * 60_000 });
  // The disk must take O_DIRECT (not tmpfs): beside the cache.
  const dir = mkdtempSync(join(cacheDir(), 'vm-e2e-'));
  const disk = join(dir, 'disk.raw');
  copyFileSync(img.disk, disk);
  return { img, dir, disk, lock };
}

test(
  'vswapper vm: boots the guest, follows set-limit down and up under a workload, serves metrics, exits 0 at power-off, host as found',
  { skip, timeout: 50 * 60_000 },
  async (t) => {
    const s = await setUp(t);
    if (!s) return;
    const { img, dir, disk, lock } = s;
    const sock = join(dir, 'ctl.sock');
    const before = vmHostBefore();
    let vm: Vm | undefined;
    try {
      assert.deepEqual(before.processes, [], 'no vm running before');
      vm = startVm(img, disk, sock, join(dir, 'console'));
      await vm.ch.ready();
      const port = await vm.metricsPort;
      const m0 = await scrape(port);
      const st = await ctl(sock, 'query-status');
      assert.equal(st.memoryPages, (MEMORY_MIB * MiB) / PAGE);
      assert.equal(st.limitPages, (LIMIT_MIB * MiB) / PAGE);
      // More than the limit: the pager swaps.
      await vm.ch.run(warmupCommand(150));
      const full = await ctl(sock, 'query-stats');
      assert.ok(
        full.residentPages! <= (LIMIT_MIB * MiB) / PAGE,
        `resident ${full.residentPages} within the limit`,
      );
      assert.ok(full.swapUsedSlots! > 1000, `the pager swapped (${full.swapUsedSlots} pages)`);
      // Lowered while the guest works: resident follows down.
      const lowPages = (48 * MiB) / PAGE;
      const work = vm.ch.run(`for i in 1 2 3 4 5 6 7 8; do md5sum test_file.0; done`);
      await ctl(sock, 'set-limit', { pages: lowPages });
      const low = await until(sock, (x) => x.residentPages! <= lowPages);
      assert.ok(
        low.residentPages! <= lowPages,
        `resident ${low.residentPages} <= ${lowPages} after lowering`,
      );
      // Raised: the guest's next touches are let in, resident grows past the old limit.
      const highPages = (160 * MiB) / PAGE;
      await ctl(sock, 'set-limit', { pages: highPages });
      const sums = await work;
      assert.equal(sums.rc, 0);
      for (const l of sums.lines) assert.equal(l.split(/\s+/)[0], img.md5, 'the file reads back intact');
      await vm.ch.run(warmupCommand(150));
      const high = await until(sock, (x) => x.residentPages! > lowPages + 4096);
      assert.ok(
        high.residentPages! > lowPages + 4096 && high.residentPages! <= highPages,
        `resident ${high.residentPages} grew past ${lowPages} within ${highPages} after raising`,
      );
      // The metrics moved with the guest.
      const m1 = await scrape(port);
      assert.ok(m1.vswapper_swap_write_bytes_total! > (m0.vswapper_swap_write_bytes_total ?? 0));
      assert.ok(m1.vswapper_swap_read_bytes_total! > (m0.vswapper_swap_read_bytes_total ?? 0));
      assert.equal(m1.vswapper_resident_limit_bytes, highPages * PAGE);
      assert.equal(m1.vswapper_lost_pages_total ?? 0, 0);
      await vm.ch.run(POWEROFF).catch(() => undefined);
      const end = await vm.exited;
      assert.equal(end.code, 0, vm.stderr());
      assert.match(vm.stderr(), /running: QEMU pid \d+/);
      assert.match(vm.stderr(), /\d+ s: resident [\d.]+\/[\d.]+ MiB, swapped \d+ pages/);
      assert.match(vm.stderr(), /the guest powered off after [\d.]+ s; host left as found/);
      assert.equal(existsSync(sock), false, 'the control socket is removed');
      await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'the metrics endpoint is closed');
      assert.deepEqual(await settled(), before, 'the host as found');
    } finally {
      vm?.child.kill('SIGKILL');
      lock.undoAll();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(leftoverLock(cacheDir()), [], 'the run lock released');
  },
);

test(
  'vswapper vm --no-mapper: the baseline pager names nothing; SIGINT in the middle of a workload stops it cleanly (exit 130), the host as found',
  { skip, timeout: 45 * 60_000 },
  async (t) => {
    const s = await setUp(t);
    if (!s) return;
    const { img, dir, disk, lock } = s;
    const sock = join(dir, 'ctl.sock');
    const before = vmHostBefore();
    let vm: Vm | undefined;
    try {
      vm = startVm(img, disk, sock, join(dir, 'console'), ['--no-mapper']);
      await vm.ch.ready();
      const st = (await ctl(sock, 'query-status')) as unknown as { mapper: boolean };
      assert.equal(st.mapper, false);
      // The baseline reads the disk like the Mapper does, but names no page by its block.
      const sums = await vm.ch.run('md5sum test_file.0');
      assert.equal(sums.lines[0]!.split(/\s+/)[0], img.md5);
      const read = await ctl(sock, 'query-stats');
      assert.ok(read.deviceRequests! > 100, `the guest read its disk (${read.deviceRequests} requests)`);
      assert.equal(read.namedResidentPages, 0);
      assert.equal(read.mapperTrackedPages, 0);
      const work = vm.ch.run(warmupCommand(150)).catch((e: Error) => e);
      await until(sock, (x) => x.swapUsedSlots! > 1000);
      assert.ok(hostState().processes.length >= 2, 'QEMU and the daemon run');
      vm.child.kill('SIGINT');
      const end = await vm.exited;
      assert.ok((await work) instanceof Error, 'the workload was cut off');
      assert.equal(end.code, 130, vm.stderr());
      assert.match(vm.stderr(), /SIGINT: stopping the VM/);
      assert.match(vm.stderr(), /stopped by SIGINT after [\d.]+ s \(QEMU: exit code 0\); host left as found/);
      assert.equal(existsSync(sock), false, 'the control socket is removed');
      assert.deepEqual(await settled(), before, 'the host as found');
    } finally {
      vm?.child.kill('SIGKILL');
      lock.undoAll();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

const accel = detectAccel();
test(
  'vswapper vm --accel kvm: the vCPU threads are "CPU n/KVM" and their faults are the guest\'s',
  {
    skip:
      skip ||
      (accel.accel === 'kvm' ? false : `no hardware virtualization here (${accel.why}): KVM is untestable`),
    timeout: 45 * 60_000,
  },
  async (t) => {
    const s = await setUp(t);
    if (!s) return;
    const { img, dir, disk, lock } = s;
    const sock = join(dir, 'ctl.sock');
    let vm: Vm | undefined;
    try {
      vm = startVm(img, disk, sock, join(dir, 'console'), ['--accel', 'kvm']);
      await vm.ch.ready();
      const pid = Number(/running: QEMU pid (\d+)/.exec(vm.stderr())?.[1]);
      const names = readdirSync(`/proc/${pid}/task`).map((tid) =>
        readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
      );
      assert.ok(names.includes('CPU 0/KVM'), names.join(', '));
      await vm.ch.run(warmupCommand(150));
      const st = await ctl(sock, 'query-stats');
      assert.ok(st.hostFaultsInGuest! > 0, `faults in guest context ${st.hostFaultsInGuest}`);
      await vm.ch.run(POWEROFF).catch(() => undefined);
      assert.equal((await vm.exited).code, 0, vm.stderr());
    } finally {
      vm?.child.kill('SIGKILL');
      lock.undoAll();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
