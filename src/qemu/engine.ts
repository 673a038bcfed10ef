import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import type { Metrics } from '../engine/results.js';
import { GuestChannel, type GuestReply, Qmp } from './channel.js';
import { HDD, hddThrottles } from './hdd.js';
import { HostChanges, processStartTicks, recoverStaleJournals } from './host-changes.js';
import {
  type BlockStat,
  blockStat,
  cgroupStat,
  faultsByThread,
  loopDevice,
  makeCgroups,
  makeSwap,
  makeSwapFile,
  memoryUsage,
  parseKeyValues,
  qemuMemory,
  type RunCgroups,
  setMemoryLimit,
  setSwappiness,
  throttleDevice,
  vmstat,
} from './host-setup.js';

export const DEFAULT_CACHE = '/var/cache/vswapper';
export function cacheDir(): string {
  return process.env.VSWAPPER_CACHE ?? DEFAULT_CACHE;
}

/** What both real engines (this one and the pager's) run: the Sysbench loop and Fig. 10's allocation. */
export interface RealRunOptions {
  /** What the guest believes it has (the paper: 512 MiB). */
  believedMiB: number;
  /** What the host lets it keep resident (the paper: 100 MiB): cgroup cap, balloon target or pager limit. */
  actualMiB: number;
  /** The Sysbench file (the paper: 200 MiB). */
  fileMiB: number;
  iterations: number;
  /** After the reads, a process allocates and touches this much (Fig. 10); 0 = none. */
  allocMiB: number;
  /** Swap and image timed as the paper's drive instead of this machine's disk. */
  hddLike: boolean;
  /** TCG translation cache, MiB (it counts against the memory limit like the rest of QEMU). */
  tbMiB?: number;
  onProgress?: (msg: string) => void;
  signal?: AbortSignal;
}

/** The paper's baseline or balloon, one run of the Sysbench loop (and Fig. 10's allocation). */
export interface QemuRunOptions extends RealRunOptions {
  config: 'baseline' | 'balloon';
  /** Added to QEMU's measured own memory in the cgroup cap (I/O buffers, heap growth). */
  marginMiB?: number;
  /** Explicit cgroup cap in MiB instead of the measured one (for investigations). */
  limitMiB?: number;
  /** Recalibrate the cap after the warm-up (QEMU's working set under pressure); default true. */
  recalibrate?: boolean;
  /** QEMU's disk AIO engine (default native with cache=none, see README). */
  aio?: 'threads' | 'native';
  /** The memory cgroup's swappiness (v1; default 60, the kernel's default and the paper's). */
  swappiness?: number;
  /** Let the guest use all its memory once before the workload (default true; §3.1). */
  warmup?: boolean;
  /** Size of the host's swap area (default believed + 128 MiB: room for all the guest's memory). */
  swapMiB?: number;
  /** Swap area on a loop device over a file (default: its I/O counted and throttled on its own) or a plain swap file. */
  swapOn?: 'loop' | 'file';
  /** Let QEMU use transparent huge pages (default false: 4 KiB pages, as the paper's host swapped). */
  thp?: boolean;
  /** QEMU's disk cache mode (default none = O_DIRECT, the paper's non-VSwapper setting). */
  diskCache?: 'none' | 'writeback' | 'writethrough';
}

export interface IterationRecord {
  metrics: Metrics;
  notes: string[];
  killed?: boolean;
}

/** What a real engine's run returns, per iteration and overall. */
export interface RealRunResult<C extends string> {
  config: C;
  iterations: IterationRecord[];
  /** The allocation phase (Fig. 10), when asked for. */
  alloc?: IterationRecord;
  checksumOk: boolean | undefined;
  /** QEMU itself was killed (e.g. by the memory cgroup's OOM killer) before the run ended. */
  qemuKilled?: string;
  accel: 'tcg' | 'kvm';
  notes: string[];
  info: Record<string, string | number | boolean>;
}

export type QemuRunResult = RealRunResult<'baseline' | 'balloon'>;

/**
 * Sets this process's "no transparent huge pages" flag (prctl PR_SET_THP_DISABLE), which children
 * inherit across fork and exec; returns whether it worked.
 */
let prctl: ((option: number, a: number, b: number, c: number, d: number) => number) | undefined;
export function setThpDisabled(disabled: boolean): boolean {
  try {
    prctl ??= koffi
      .load('libc.so.6')
      .func(
        'int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)',
      ) as unknown as typeof prctl;
    return prctl!(41 /* PR_SET_THP_DISABLE */, disabled ? 1 : 0, 0, 0, 0) === 0;
  } catch {
    return false;
  }
}

const PKG_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MiB = 1048576;

/** KVM only where the host has hardware virtualization; PVM (these machines) cannot boot Linux. */
export function detectAccel(): { accel: 'tcg' | 'kvm'; why: string } {
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', why: 'no /dev/kvm' };
  if (existsSync('/sys/module/kvm_pvm'))
    return {
      accel: 'tcg',
      why: '/dev/kvm is PVM (kvm_pvm): it cannot boot an unmodified Linux in practical time',
    };
  if (!/\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8')))
    return { accel: 'tcg', why: 'no vmx/svm in /proc/cpuinfo' };
  return { accel: 'kvm', why: 'hardware virtualization' };
}

export interface GuestImage {
  kernel: string;
  initrd: string;
  disk: string;
  md5: string;
  cache: string;
}

/** Runs the project's image builder (idempotent, cached) for a file of `fileMiB`. */
export async function buildGuestImage(fileMiB: number): Promise<GuestImage> {
  const script = join(PKG_ROOT, 'scripts', 'build-guest-image.sh');
  const out = await new Promise<string>((res, rej) =>
    execFile(
      'bash',
      [script, String(fileMiB)],
      { encoding: 'utf8', maxBuffer: 16 * MiB },
      (err, stdout, stderr) =>
        err
          ? rej(new Error(`guest image builder failed: ${stderr.trim().split('\n').slice(-5).join(' | ')}`))
          : res(stdout),
    ),
  );
  const kv = parseKeyValueLines(out);
  const need = (k: string): string => {
    const v = kv[k];
    if (!v) throw new Error(`guest image builder did not report ${k}`);
    return v;
  };
  return {
    kernel: need('KERNEL'),
    initrd: need('INITRD'),
    disk: need('DISK'),
    md5: need('MD5'),
    cache: need('CACHE'),
  };
}

export function parseKeyValueLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(l.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export function qemuVersion(): string {
  try {
    return execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

/** Sysbench's sequential read of its one file, once, as the paper (16 KiB requests, page cache). */
export function sysbenchCommand(fileMiB: number): string {
  const events = (fileMiB * MiB) / 16384;
  return (
    `sysbench fileio --file-num=1 --file-total-size=${fileMiB}M --file-test-mode=seqrd ` +
    `--file-block-size=16384 --time=0 --events=${events} run`
  );
}

/** Sysbench's own "total time" from its report, if present. */
export function sysbenchTotalTime(lines: string[]): number | undefined {
  for (const l of lines) {
    const m = /total time:\s+([\d.]+)s/.exec(l);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** A single-run lock in the cache folder: host-wide counters and swap allow one run at a time. */
/** QEMU's arguments both real engines share: accelerator, memory size, one vCPU, no devices or UI. */
export function qemuBaseArgs(accel: 'tcg' | 'kvm', tbMiB: number, believedMiB: number): string[] {
  return [
    '-accel',
    accel === 'kvm' ? 'kvm' : `tcg,tb-size=${tbMiB}`,
    ...(accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-m',
    `${believedMiB}M`,
    '-smp',
    '1',
    '-no-reboot',
    '-nodefaults',
    '-display',
    'none',
    '-monitor',
    'none',
  ];
}

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

/**
 * One real-engine run at a time on a host (both engines lock the same folder): runs share host-wide
 * counters (/proc/vmstat), swap, the CPU and the disk, so an overlapping run would disturb what the
 * other measures. A second run waits for the first (test suites and CLI runs on one machine), saying
 * so, up to `waitMs`.
 */
export async function takeLock(
  ledger: HostChanges,
  dir: string,
  o: { waitMs?: number; onProgress?: (m: string) => void; signal?: AbortSignal } = {},
): Promise<void> {
  const lock = join(dir, 'run.lock');
  const deadline = Date.now() + (o.waitMs ?? 60 * 60_000);
  for (;;) {
    const owner = tryLock(ledger, lock);
    if (owner === undefined) return;
    if (Date.now() >= deadline)
      throw new Error(`another real-engine run (pid ${owner}) holds ${lock}; one run at a time on a host`);
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

interface HostSample {
  wallMs: number;
  /** The swap loop device's counters; undefined with a plain swap file (then /proc/vmstat counts). */
  swap: BlockStat | undefined;
  image: BlockStat;
  faults: { vcpu: number; other: number; threads: Record<string, number> };
  vm: Record<string, number>;
}

function delta(a: BlockStat, b: BlockStat): BlockStat {
  return {
    readOps: b.readOps - a.readOps,
    readSectors: b.readSectors - a.readSectors,
    writeOps: b.writeOps - a.writeOps,
    writeSectors: b.writeSectors - a.writeSectors,
  };
}

/** The counters of one measured command, from the host's devices, QEMU's threads and the guest. */
export function phaseMetrics(
  a: HostSample,
  b: HostSample,
  reply: GuestReply,
  guestBefore: Record<string, number>,
  guestAfter: Record<string, number>,
): { metrics: Metrics; notes: string[] } {
  const image = delta(a.image, b.image);
  const g = (k: string): number => (guestAfter[k] ?? 0) - (guestBefore[k] ?? 0);
  const v = (k: string): number => (b.vm[k] ?? 0) - (a.vm[k] ?? 0);
  const metrics: Metrics = {
    runtimeS: reply.endS - reply.beginS,
    imageReadOps: image.readOps,
    imageWriteOps: image.writeOps,
    imageReadSectors: image.readSectors,
    imageWriteSectors: image.writeSectors,
    hostFaultsInGuest: b.faults.vcpu - a.faults.vcpu,
    hostFaultsInHost: b.faults.other - a.faults.other,
    guestMajorFaults: g('pgmajfault'),
    guestOomKills: g('oom_kill'),
  };
  if (a.swap && b.swap) {
    // The swap loop device: operations and sectors as the disk saw them.
    const swap = delta(a.swap, b.swap);
    const readOps = swap.readOps + image.readOps;
    const writeOps = swap.writeOps + image.writeOps;
    Object.assign(metrics, {
      diskOps: readOps + writeOps,
      diskReadOps: readOps,
      diskWriteOps: writeOps,
      swapReadOps: swap.readOps,
      swapWriteOps: swap.writeOps,
      swapReadSectors: swap.readSectors,
      swapWriteSectors: swap.writeSectors,
    });
  } else {
    // A plain swap file: pages swapped in and out (host-wide; this run's swap is the only active
    // one it writes to first); operations are not known.
    metrics.swapReadSectors = v('pswpin') * 8;
    metrics.swapWriteSectors = v('pswpout') * 8;
  }
  if (guestAfter.nr_file_pages !== undefined) metrics.guestPageCachePages = guestAfter.nr_file_pages;
  const byThread = Object.entries(b.faults.threads)
    .map(([t, n]) => [t, n - (a.faults.threads[t] ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  const notes = [
    `host wall ${((b.wallMs - a.wallMs) / 1000).toFixed(2)} s; host vmstat pswpin ${v('pswpin')} pswpout ${v('pswpout')}`,
    `QEMU major faults by thread: ${byThread || 'none'}`,
  ];
  const st = sysbenchTotalTime(reply.lines);
  if (st !== undefined) notes.push(`sysbench total time ${st} s`);
  return { metrics, notes };
}

/**
 * The paper's baseline or balloon on a real Debian guest: stock QEMU in a memory cgroup with a swap
 * area of its own, the guest reading its file `iterations` times with Sysbench and keeping its page
 * cache. Counters come from the kernel (the swap and image loop devices, QEMU's per-thread major
 * faults, /proc/vmstat) sampled around each command, and from the guest's /proc/vmstat. Everything
 * the run changes on the host is undone before it returns, also on failure and on signals.
 */
export async function runQemuConfig(o: QemuRunOptions): Promise<QemuRunResult> {
  const progress = (m: string): void => o.onProgress?.(m);
  o.signal?.throwIfAborted();
  if (o.swapMiB !== undefined && !(Number.isInteger(o.swapMiB) && o.swapMiB >= 1))
    throw new RangeError(`runQemuConfig: swapMiB must be a whole number of MiB >= 1, got ${o.swapMiB}`);
  const cache = cacheDir();
  progress('guest image (cached after the first build)');
  const img = await buildGuestImage(o.fileMiB);
  for (const s of recoverStaleJournals(cache)) progress(`undid a change left by a killed run: ${s}`);
  const { accel, why } = detectAccel();
  const tbMiB = o.tbMiB ?? 32;
  const marginMiB = o.marginMiB ?? 16;
  const diskCache = o.diskCache ?? 'none';
  const ledger = new HostChanges({ journalDir: cache });
  const notes: string[] = [];
  const info: Record<string, string | number | boolean> = { accel, accelWhy: why };
  let qemu: ChildProcess | undefined;
  let qmp: Qmp | undefined;
  let channel: GuestChannel | undefined;
  let cg: RunCgroups | undefined;
  let stderr = '';
  const iterations: IterationRecord[] = [];
  const onAbort = (): void => {
    channel?.fail(new Error('aborted'));
    qemu?.kill('SIGKILL');
  };
  o.signal?.addEventListener('abort', onAbort);
  try {
    await takeLock(ledger, cache, { onProgress: progress, ...(o.signal ? { signal: o.signal } : {}) });
    const name = `vswapper-qemu-${process.pid}-${Date.now()}`;
    cg = makeCgroups(ledger, name, o.hddLike);
    setSwappiness(cg, o.swappiness ?? 60);
    const swapOn = o.swapOn ?? 'loop';
    const swapBytes = (o.swapMiB ?? o.believedMiB + 128) * MiB;
    info.swapMiB = swapBytes / MiB;
    const swap =
      swapOn === 'loop'
        ? makeSwap(ledger, cache, swapBytes)
        : { dev: undefined, file: makeSwapFile(ledger, cache, swapBytes) };
    info.swapOn = swapOn;
    const imageDev = loopDevice(ledger, img.disk);
    info.swapDevice = swap.dev ?? swap.file;
    info.imageDevice = imageDev;
    if (o.hddLike) {
      const pageCluster = Number(readFileSync('/proc/sys/vm/page-cluster', 'utf8').trim());
      const t = hddThrottles(pageCluster);
      if (!swap.dev) throw new Error('HDD-like mode needs the swap area on a loop device');
      throttleDevice(cg, swap.dev, t.swap);
      throttleDevice(cg, imageDev, t.image);
      info.hddThrottleSwap = JSON.stringify(t.swap);
      info.hddThrottleImage = JSON.stringify(t.image);
      info.hddModel = HDD.name;
    }
    const qmpSock = join(cache, `${name}.qmp`);
    const consoleLog = join(cache, `${name}.console`);
    ledger.did({ kind: 'rm', path: qmpSock });
    ledger.did({ kind: 'rm', path: consoleLog });
    const args = [
      ...qemuBaseArgs(accel, tbMiB, o.believedMiB),
      // Thread names ("CPU 0/TCG", "worker", ...) let faults be split by context.
      '-name',
      'vswapper-qemu,debug-threads=on',
      '-kernel',
      img.kernel,
      '-initrd',
      img.initrd,
      '-append',
      // init_on_alloc=0: Debian's kernel zeroes every page it allocates (page cache included); the
      // paper's Linux 3.7 guest zeroed only anonymous pages, which Linux still does.
      'console=ttyS0 panic=-1 loglevel=4 init_on_alloc=0',
      // cache=none: O_DIRECT, no host page cache for the image, as the paper's non-VSwapper runs.
      '-drive',
      `file=${imageDev},if=none,id=d0,format=raw,cache=${diskCache},aio=${o.aio ?? (diskCache === 'none' ? 'native' : 'threads')}`,
      '-device',
      'virtio-blk-pci,drive=d0,logical_block_size=4096,physical_block_size=4096',
      '-device',
      'virtio-balloon-pci,id=balloon0',
      '-qmp',
      `unix:${qmpSock},server=on,wait=off`,
      '-serial',
      `file:${consoleLog}`,
      '-serial',
      'stdio',
    ];
    // The shell puts itself in the cgroups and becomes QEMU, so QEMU never runs outside them.
    const join_ = cg.procsFiles.map((f) => `echo $$ > ${f}`).join(' && ');
    // QEMU without transparent huge pages (the flag is inherited through fork and exec): see README.
    const thp = o.thp ?? false;
    const thpOff = !thp && setThpDisabled(true);
    try {
      qemu = spawn('sh', ['-c', `${join_} && exec qemu-system-x86_64 "$@"`, 'sh', ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } finally {
      if (thpOff) setThpDisabled(false);
    }
    info.thp = thp
      ? 'allowed'
      : thpOff
        ? 'disabled for QEMU (prctl PR_SET_THP_DISABLE)'
        : 'could not disable';
    const q = qemu;
    const pid = q.pid;
    if (pid === undefined) throw new Error('could not start QEMU');
    // Its start time tells it from a later process with the same pid.
    const startTicks = processStartTicks(pid);
    if (startTicks !== undefined) ledger.did({ kind: 'kill', pid, startTicks });
    q.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const ch = new GuestChannel(q.stdout!, q.stdin!);
    channel = ch;
    const exited = new Promise<string>((res) =>
      q.on('exit', (code, sig) => {
        const why = sig ? `signal ${sig}` : `exit code ${code}`;
        let console = '';
        try {
          console = readFileSync(consoleLog, 'utf8').trim().split('\n').slice(-12).join(' | ');
        } catch {
          // no console output
        }
        const last = stderr.trim().split('\n').pop() ?? '';
        ch.fail(
          new Error(`QEMU ended (${why}) ${last}${console ? `; guest console: ${console}` : ''}`.trim()),
        );
        res(why);
      }),
    );
    q.stdin!.on('error', () => undefined);
    const bootT0 = performance.now();
    await ch.ready();
    info.bootS = Math.round(performance.now() - bootT0) / 1000;
    progress(`${o.config}: guest up in ${info.bootS} s (${accel})`);
    qmp = await Qmp.connect(qmpSock);

    const guestVmstat = async (): Promise<Record<string, number>> =>
      parseKeyValues((await ch.run('cat /proc/vmstat')).lines.join('\n'));

    // balloon: inflate before the workload so that the guest keeps `actualMiB` (the paper's static
    // experiments); the cgroup cap stays as the fallback host swapping (the paper's balloon+baseline).
    let balloonPages = 0;
    if (o.config === 'balloon') {
      const target = o.actualMiB * MiB;
      await qmp.execute('balloon', { value: target });
      let last = Infinity;
      let still = 0;
      for (let i = 0; i < 1200 && still < 20; i++) {
        const r = await qmp.execute<{ actual: number }>('query-balloon');
        if (r.actual <= target) break;
        still = r.actual < last ? 0 : still + 1;
        last = r.actual;
        await new Promise((t) => setTimeout(t, 100));
      }
      const r = await qmp.execute<{ actual: number }>('query-balloon');
      balloonPages = Math.round((o.believedMiB * MiB - r.actual) / 4096);
      progress(`balloon inflated: the guest keeps ${Math.round(r.actual / MiB)} MiB`);
      if (r.actual > target + 4 * MiB)
        notes.push(
          `the balloon stopped short of its target: the guest kept ${Math.round(r.actual / MiB)} MiB, not ${o.actualMiB}`,
        );
      notes.push(
        `balloon inflated to ${Math.round((o.believedMiB * MiB - r.actual) / MiB)} MiB before the workload`,
      );
    }

    // The cgroup cap = the guest's resident size + QEMU's own memory (its allowance). QEMU's own
    // memory is what the cgroup holds besides the guest RAM mapping: QEMU's code and heap, the TCG
    // translation cache (bounded by tb-size), page tables, the swap cache. It is measured twice:
    // once with the guest idle (a first cap), and again after the guest has used all its memory
    // under that cap, when the host has also reclaimed QEMU's cold pages (boot-time buffers): the
    // second value is QEMU's working set, and the final cap leaves the guest `actualMiB`.
    info.cgroupVersion = cg.version;
    info.diskCache = diskCache;
    info.marginMiB = marginMiB;
    info.tcgCacheMiB = accel === 'tcg' ? tbMiB : 0;
    const tbBytes = accel === 'tcg' ? tbMiB * MiB : 0;
    const calibrate = (when: string): { limit: number; own: number } => {
      const mem = qemuMemory(pid, o.believedMiB * MiB, tbBytes);
      // Resident pages QEMU maps outside the guest RAM (its code, heap, TCG cache); page cache it
      // does not map (the kernel and initramfs it read at boot) is left out: it is dropped first.
      const own = Math.max(0, mem.totalRss - mem.guestRss);
      const limit = o.limitMiB !== undefined ? o.limitMiB * MiB : o.actualMiB * MiB + own + marginMiB * MiB;
      info[`guestRamResident${when}MiB`] = +(mem.guestRss / MiB).toFixed(1);
      info[`qemuOwn${when}MiB`] = +(own / MiB).toFixed(1);
      info[`tcgCacheResident${when}MiB`] = +(mem.tbRss / MiB).toFixed(1);
      setMemoryLimit(cg!, limit);
      return { limit, own };
    };
    const first = calibrate('AtBoot');
    info.cgroupFirstLimitMiB = +(first.limit / MiB).toFixed(1);

    const seen = new Map<number, { vcpu: boolean; majflt: number }>();
    const sample = (): HostSample => ({
      wallMs: performance.now(),
      swap: swap.dev ? blockStat(swap.dev) : undefined,
      image: blockStat(imageDev),
      faults: faultsByThread(pid, seen),
      vm: vmstat(),
    });
    const measure = async (command: string): Promise<IterationRecord> => {
      const before = await guestVmstat();
      const a = sample();
      const reply = await ch.run(command);
      const b = sample();
      const after = await guestVmstat();
      const { metrics, notes: n } = phaseMetrics(a, b, reply, before, after);
      if (o.config === 'balloon') metrics.balloonPages = balloonPages;
      else metrics.balloonPages = 0;
      const rec: IterationRecord = { metrics, notes: n };
      if (reply.rc !== 0) {
        rec.killed = true;
        const tail = reply.lines.slice(-3).join(' | ');
        rec.notes.push(
          (metrics.guestOomKills ?? 0) > 0
            ? `killed by the guest's OOM killer (exit ${reply.rc})`
            : `exit status ${reply.rc}: ${tail}`,
        );
      }
      return rec;
    };

    // "The guest believes it has 512MB, whereas in fact it is allocated only 100MB and all the rest
    // has been reclaimed by the host" (§3.1): the guest has used its memory before (a process
    // touches all its free memory, then exits) and the host, under the cap, has swapped it out.
    const meminfo = parseKeyValues(
      (await ch.run('cat /proc/meminfo')).lines.map((l) => l.replace(':', '').replace(/ kB$/, '')).join('\n'),
    );
    const touchMiB = Math.floor((meminfo.MemFree ?? 0) / 1024) - 16;
    if (touchMiB > 0 && (o.warmup ?? true)) {
      // Non-zero content, as a guest that ran something leaves behind: since Linux 6.12 the host
      // records a swapped-out page that is all zeros in a bitmap (`zeromap`) and neither writes nor
      // reads it, which the paper's 3.7 host did not; zero-filled free memory would make every later
      // stale or false read of it free. `fullblock` because /dev/urandom returns short reads.
      const w = await ch.run(`dd if=/dev/urandom of=/dev/null bs=${touchMiB}M count=1 iflag=fullblock`);
      info.warmupTouchedMiB = touchMiB;
      info.warmupFill = 'random bytes (/dev/urandom)';
      info.warmupS = +(w.endS - w.beginS).toFixed(2);
      progress(
        `${o.config}: the guest used ${touchMiB} MiB of free memory once (${info.warmupS} s): the host reclaimed what does not fit`,
      );
    }
    const final = (o.recalibrate ?? true) ? calibrate('AfterWarmup') : first;
    info.cgroupLimitMiB = +(final.limit / MiB).toFixed(1);
    progress(
      `${o.config}: cgroup cap ${info.cgroupLimitMiB} MiB = guest ${o.actualMiB} + QEMU's own ${info.qemuOwnAfterWarmupMiB} (TCG cache ${info.tcgCacheResidentAfterWarmupMiB} of it) + margin ${marginMiB}`,
    );

    const cmd = sysbenchCommand(o.fileMiB);
    for (let k = 1; k <= o.iterations; k++) {
      o.signal?.throwIfAborted();
      const rec = await measure(cmd);
      iterations.push(rec);
      const m = rec.metrics;
      progress(
        `${o.config}: iteration ${k}/${o.iterations}: ${m.runtimeS?.toFixed(2)} s, swap written ${m.swapWriteSectors} sectors, read ${m.swapReadSectors}, faults guest/host ${m.hostFaultsInGuest}/${m.hostFaultsInHost}`,
      );
    }
    let alloc: IterationRecord | undefined;
    if (o.allocMiB > 0) {
      // Fig. 10: a new process allocates a buffer and touches it sequentially (dd fills it from
      // /dev/zero), then exits.
      alloc = await measure(`dd if=/dev/zero of=/dev/null bs=${o.allocMiB}M count=1`);
      progress(
        `${o.config}: allocation of ${o.allocMiB} MiB: ${alloc.metrics.runtimeS?.toFixed(2)} s${alloc.killed ? ' (killed)' : ''}`,
      );
    }
    const sum = await ch.run('md5sum test_file.0');
    const got = sum.lines.join(' ').split(/\s+/)[0] ?? '';
    const checksumOk = got === img.md5;
    notes.push(
      `md5 of the file after the run ${checksumOk ? 'equals' : 'DIFFERS from'} the image builder's (${img.md5})`,
    );
    const last = iterations[iterations.length - 1];
    if (last) last.metrics.integrityViolations = checksumOk ? 0 : 1;
    info.cgroupMaxUsageMiB = +(maxUsage(cg) / MiB).toFixed(1);
    const memEnd = qemuMemory(pid, o.believedMiB * MiB, tbBytes);
    info.qemuOwnAtEndMiB = +((memoryUsage(cg) - memEnd.guestRss) / MiB).toFixed(1);
    info.tcgCacheResidentAtEndMiB = +(memEnd.tbRss / MiB).toFixed(1);
    info.guestRamResidentAtEndMiB = +(memEnd.guestRss / MiB).toFixed(1);
    await ch.run('!umount /mnt/proc /mnt/sys /mnt/dev /mnt; poweroff -f').catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    return { config: o.config, iterations, ...(alloc ? { alloc } : {}), checksumOk, accel, notes, info };
  } catch (e) {
    // QEMU ended before the run did (killed by the memory cgroup's OOM killer, or the guest panicked,
    // e.g. out of memory under the balloon): a result, as the paper reports such runs, not a crash.
    if (cg && qemu && (qemu.exitCode !== null || qemu.signalCode !== null) && !o.signal?.aborted) {
      let oom = 0;
      try {
        oom = cgroupStat(cg).oom_kill_events ?? 0;
      } catch {
        // cgroup gone
      }
      const msg =
        oom > 0
          ? `QEMU was OOM-killed by the memory cgroup (${oom} OOM kill(s)): ${(e as Error).message}`
          : `the guest ended before the run did (a guest panic, e.g. out of memory): ${(e as Error).message}`;
      return { config: o.config, iterations, checksumOk: undefined, qemuKilled: msg, accel, notes, info };
    }
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    qmp?.close();
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL');
    const failed = ledger.undoAll();
    if (failed.length > 0) notes.push(`could not undo: ${failed.join('; ')}`);
  }
}

function maxUsage(cg: RunCgroups): number {
  const f = cg.version === 'v1' ? 'memory.max_usage_in_bytes' : 'memory.peak';
  try {
    return Number(readFileSync(join(cg.memoryDir, f), 'utf8').trim());
  } catch {
    return 0;
  }
}
