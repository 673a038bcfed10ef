import { join } from 'node:path';
import type { ConfigName } from '../engine/results.js';
import {
  type IterationRecord,
  GuestRun,
  type RealRunOptions,
  type RealRunResult,
} from '../real/guest-run.js';
import { type Measured, sysbenchTotalTime } from '../real/guest-workload.js';
import { sh } from '../real/host-changes.js';
import { resizeBalloon } from '../real/balloon.js';
import { cacheDir, MiB } from '../real/paths.js';
import { processMemory } from '../real/proc.js';
import { type QemuLaunch, guestArgs, qemuBaseArgs } from '../real/qemu-process.js';
import type { DaemonProcess } from './daemon-client.js';
import {
  PATCHED_QEMU_FIRMWARE_ARGS,
  attachAndContinue,
  buildShim,
  pagerQemuArgs,
  patchedQemu,
  preventerProblem,
  shimEnv,
  startPagerDaemon,
} from './launch.js';
import { type Stats, pagerMetrics, pagerNotes } from './metrics.js';
import { explainEarlyEnd } from './supervision.js';
import { PAGE_SIZE_BYTES as PAGE } from '../core/index.js';

/**
 * The pager's configurations: the Swap Mapper, the same pager with it off, and VSwapper (the Mapper
 * and the False Reads Preventer, which needs the patched QEMU's TCG intercept).
 */
export type PagerConfigName = Extract<
  ConfigName,
  'baseline' | 'mapper' | 'vswapper' | 'balloon' | 'balloon+vswapper' | 'balloon+mapper' | 'baseline+fpr'
>;

/** Whether a configuration inflates QEMU's virtio-balloon (before the workload, unless scheduled otherwise). */
export function usesBalloon(c: PagerConfigName): boolean {
  return c === 'balloon' || c === 'balloon+vswapper' || c === 'balloon+mapper';
}

/** Whether the guest has a virtio-balloon device: to inflate it, or for free page reporting alone. */
function hasBalloonDevice(o: PagerRunOptions): boolean {
  return usesBalloon(o.config) || reportsFreePages(o);
}

/** Whether the guest reports its free pages: `baseline+fpr`, or a balloon configuration asking for it. */
function reportsFreePages(o: PagerRunOptions): boolean {
  return o.config === 'baseline+fpr' || o.freePageReporting === true;
}

/** Whether a configuration runs the False Reads Preventer (the patched QEMU's intercept). */
export function usesPreventer(c: PagerConfigName): boolean {
  return c === 'vswapper' || c === 'balloon+vswapper';
}

/** Whether a configuration runs the Swap Mapper (VSwapper is the Mapper plus the Preventer). */
function usesMapper(c: PagerConfigName): boolean {
  return c === 'mapper' || c === 'balloon+mapper' || usesPreventer(c);
}

/**
 * One change of the balloon during a run: at a point of it, the guest is made to keep `keepMiB`
 * (QMP `balloon`: an inflation when that is less than it has, a deflation when more). `after` is
 * 'boot' (before the warm-up), 'warmup' (after it) or a measured iteration's number (after it).
 */
export interface BalloonStep {
  after: 'boot' | 'warmup' | number;
  keepMiB: number;
}

export interface PagerRunOptions extends RealRunOptions {
  config: PagerConfigName;
  /** Pages armed per inactive list for access sampling (default 64; 0 = none). */
  samplingDepth?: number;
  /**
   * The balloon's free page reporting (`free-page-reporting=on`, QEMU 5.1; the guest kernel's
   * CONFIG_PAGE_REPORTING, set in Debian's 6.1 cloud kernel): the guest reports free pages of 2 MiB
   * and more, QEMU discards them, the pager hears it. A balloon configuration only.
   */
  freePageReporting?: boolean;
  /**
   * Inflate the balloon after the warm-up instead of before it: over a guest the pager has already
   * swapped (most free pages then have their only copy in swap), which the static experiments'
   * order never shows. A balloon configuration only.
   */
  inflateAfterWarmup?: boolean;
  /**
   * The balloon's sizes during the run, in order (a balloon configuration only): e.g. inflate after
   * the warm-up, deflate after iteration 1, inflate again after iteration 2. Default: the guest
   * keeps `actualMiB` from before the warm-up (after it with `inflateAfterWarmup`).
   */
  balloonSchedule?: readonly BalloonStep[];
  /**
   * The resident limit's changes during the run, in order: after measured iteration `after`, the
   * limit becomes `pages` (as an operator's `set-limit`); a lowering waits until the evicted pages
   * have left guest RAM, so the next iteration starts from what the lowering left.
   */
  limitSchedule?: readonly LimitStep[];
  /** Linux's vm.page-cluster for the pager's swap readahead (default 3, Linux's; 0 = none). */
  pageClusterLog2?: number;
  /**
   * A measurement of the booted guest, run after the warm-up (or the boot, without one) and before
   * the iterations, with the daemon's commands and the guest's command channel (the idle probe).
   */
  probe?: (r: PagerProbeAccess) => Promise<void>;
}

/** What a run's `probe` may do: the daemon's commands, the pager's limit, the guest's commands. */
export interface PagerProbeAccess {
  /** The guest's RAM in pages (what it believes it has). */
  readonly ramPages: number;
  daemon(cmd: Record<string, unknown>): Promise<Record<string, unknown>>;
  stats(): Promise<Stats>;
  /** The resident limit to `pages`; after a lowering, waits until guest RAM stops shrinking: the memfd's bytes before and then. */
  setLimit(pages: number): Promise<{ beforeBytes: number; afterBytes: number }>;
  /** One command in the guest (its lines and exit status). */
  guest(command: string): Promise<{ rc: number; lines: string[] }>;
  progress(m: string): void;
}

/** One change of the pager's resident limit during a run (see `limitSchedule`). */
export interface LimitStep {
  after: number;
  pages: number;
}

/** The schedule a run follows: the one asked for, or the static inflation of the balloon configurations. */
export function balloonScheduleOf(o: PagerRunOptions): BalloonStep[] {
  if (!usesBalloon(o.config)) return [];
  if (o.balloonSchedule) return [...o.balloonSchedule];
  return [{ after: o.inflateAfterWarmup ? 'warmup' : 'boot', keepMiB: o.actualMiB }];
}

/** Refuses a schedule no run can follow, naming the step, before any work. */
function checkSchedule(o: PagerRunOptions): void {
  const steps = o.balloonSchedule;
  if (steps === undefined) return;
  if (!usesBalloon(o.config))
    throw new RangeError(`runPagerConfig: balloonSchedule needs a balloon configuration, not ${o.config}`);
  if (o.inflateAfterWarmup)
    throw new RangeError('runPagerConfig: balloonSchedule and inflateAfterWarmup exclude each other');
  if (steps.length === 0) throw new RangeError('runPagerConfig: balloonSchedule has no step');
  let at = -1;
  steps.forEach((st, i) => {
    const pos = st.after === 'boot' ? -1 : st.after === 'warmup' ? 0 : st.after;
    if (!(Number.isInteger(pos) && pos >= -1 && pos <= o.iterations))
      throw new RangeError(
        `runPagerConfig: balloonSchedule step ${i}: after must be 'boot', 'warmup' or an iteration 1..${o.iterations}, got ${String(st.after)}`,
      );
    if (pos < at)
      throw new RangeError(`runPagerConfig: balloonSchedule step ${i} comes before the step ahead of it`);
    at = pos;
    if (!(Number.isInteger(st.keepMiB) && st.keepMiB >= 1 && st.keepMiB <= o.believedMiB))
      throw new RangeError(
        `runPagerConfig: balloonSchedule step ${i}: keepMiB must be a whole number in 1..${o.believedMiB}, got ${st.keepMiB}`,
      );
  });
}

/** Refuses a limit schedule no run can follow, naming the step, before any work. */
function checkLimitSchedule(o: PagerRunOptions): void {
  const ramPages = Math.round((o.believedMiB * MiB) / PAGE);
  let at = 1;
  (o.limitSchedule ?? []).forEach((st, i) => {
    if (!(Number.isInteger(st.after) && st.after >= at && st.after <= o.iterations))
      throw new RangeError(
        `runPagerConfig: limitSchedule step ${i}: after must be an iteration ${at}..${o.iterations} (in order), got ${String(st.after)}`,
      );
    at = st.after;
    if (!(Number.isInteger(st.pages) && st.pages >= 1 && st.pages <= ramPages))
      throw new RangeError(
        `runPagerConfig: limitSchedule step ${i}: pages must be a whole number in 1..${ramPages}, got ${String(st.pages)}`,
      );
  });
  const n = o.pageClusterLog2;
  if (n !== undefined && !(Number.isInteger(n) && n >= 0 && n <= 8))
    throw new RangeError(`runPagerConfig: pageClusterLog2 must be a whole number in 0..8, got ${n}`);
}

export { buildShim, patchedQemu, preventerProblem } from './launch.js';

export type PagerRunResult = RealRunResult<PagerConfigName>;

/** The pager engine's own folder in the cache (journals, work files): apart from the qemu engine's. */
export function pagerCacheDir(): string {
  return join(cacheDir(), 'pager');
}

/**
 * One configuration on the qemu-pager engine: stock QEMU with its guest RAM in a memfd paged by our
 * daemon through a userfaultfd the preloaded shim hands over, and its disk served by the daemon's
 * vhost-user-blk back end. Same guest, workload, warm-up and measurements as the qemu engine; the
 * resident limit is the pager's (guest RAM only), not a cgroup's. Everything the run changes on
 * the host is undone before it returns, also on failure and on signals.
 */
export async function runPagerConfig(o: PagerRunOptions): Promise<PagerRunResult> {
  if (o.samplingDepth !== undefined && !(Number.isInteger(o.samplingDepth) && o.samplingDepth >= 0))
    throw new RangeError(`runPagerConfig: samplingDepth must be a whole number >= 0, got ${o.samplingDepth}`);
  if (o.inflateAfterWarmup && !usesBalloon(o.config))
    throw new RangeError(`runPagerConfig: inflateAfterWarmup needs a balloon configuration, not ${o.config}`);
  if (o.freePageReporting && !usesBalloon(o.config))
    throw new RangeError(
      `runPagerConfig: free page reporting needs a balloon configuration (or baseline+fpr), not ${o.config}`,
    );
  checkSchedule(o);
  checkLimitSchedule(o);
  return new PagerRun(o).run();
}

class PagerRun extends GuestRun<PagerConfigName, Stats> {
  private readonly name = `vswapper-pager-${process.pid}-${Date.now()}`;
  private shim = '';
  /** The QEMU binary: the patched one for vswapper (and for mapper when built, so both compare the same QEMU). */
  private qemuBinary: string | undefined;
  private daemon: DaemonProcess | undefined;
  private vhostSocket = '';
  private shimSocket = '';
  private maxTotal = 0;
  private balloonPages = 0;
  /** The balloon's steps still to come, in order. */
  private readonly steps: BalloonStep[];
  private stepsDone = 0;
  protected override readonly bootNote = ', guest RAM paged by the daemon';

  constructor(private readonly p: PagerRunOptions) {
    super(p, pagerCacheDir());
    this.steps = balloonScheduleOf(p);
  }

  protected override get reclaimedBy(): string {
    return `the pager keeps ${this.p.actualMiB} MiB`;
  }

  protected override async prepare(): Promise<void> {
    await super.prepare();
    this.progress('userfaultfd shim (cached after the first build)');
    this.shim = await buildShim();
    // The balloon alone compares with the pager's baseline: Debian's QEMU.
    if (usesMapper(this.p.config)) this.qemuBinary = await patchedQemu();
    if (usesPreventer(this.p.config) && !this.qemuBinary)
      throw new Error((await preventerProblem()) ?? 'the patched QEMU is missing');
    this.info.qemuBinary = this.qemuBinary ?? 'qemu-system-x86_64 (Debian)';
  }

  /** A work file of this run, removed when the run ends. */
  private work(suffix: string): string {
    const p = join(this.dir, `${this.name}.${suffix}`);
    this.ledger.did({ kind: 'rm', path: p });
    return p;
  }

  /** The daemon, with a copy of the image (the guest writes to its disk) and a swap file of its own. */
  protected async setUpHost(): Promise<void> {
    const disk = this.work('disk');
    sh('cp', ['--reflink=auto', '--sparse=always', this.img.disk, disk]);
    const swap = this.work('swap');
    sh('fallocate', ['-l', String(this.p.believedMiB * MiB), swap]);
    this.vhostSocket = this.work('vhost.sock');
    this.shimSocket = this.work('shim.sock');
    this.daemon = await startPagerDaemon(this.ledger, {
      vhostSocket: this.vhostSocket,
      shimSocket: this.shimSocket,
      image: disk,
      swap,
      mode: 'pager',
      ramBytes: this.p.believedMiB * MiB,
      mapper: usesMapper(this.p.config),
      preventer: usesPreventer(this.p.config),
      disk: this.p.hddLike ? 'hdd-model' : 'immediate',
      ...(this.p.samplingDepth !== undefined ? { samplingDepth: this.p.samplingDepth } : {}),
      ...(this.p.pageClusterLog2 !== undefined ? { pageClusterLog2: this.p.pageClusterLog2 } : {}),
    });
  }

  private get d(): DaemonProcess {
    if (!this.daemon) throw new Error('the pager daemon is not running');
    return this.daemon;
  }

  protected launchSpec(): QemuLaunch & { qmpSocket: string } {
    const qmpSocket = this.work('qmp');
    const consoleLog = this.work('console');
    const args = [
      ...qemuBaseArgs(this.accel, this.tbMiB, this.p.believedMiB),
      ...pagerQemuArgs({
        ramMiB: this.p.believedMiB,
        vhostSocket: this.vhostSocket,
        name: 'vswapper-pager',
        machineType: 'pc',
      }),
      // Its discards punch the memfd and madvise QEMU's mapping: the pager hears UFFD_EVENT_REMOVE.
      ...(hasBalloonDevice(this.p)
        ? [
            '-device',
            `virtio-balloon-pci,id=balloon0${reportsFreePages(this.p) ? ',free-page-reporting=on' : ''}`,
          ]
        : []),
      ...guestArgs(this.img, qmpSocket, consoleLog),
    ];
    const env = shimEnv(process.env, {
      shim: this.shim,
      shimSocket: this.shimSocket,
      ...(usesPreventer(this.p.config) ? { preventerRamBytes: this.p.believedMiB * MiB } : {}),
    });
    if (!this.qemuBinary) return { args, env, consoleLog, qmpSocket };
    return {
      args: [...PATCHED_QEMU_FIRMWARE_ARGS, ...args],
      env,
      consoleLog,
      qmpSocket,
      binary: this.qemuBinary,
    };
  }

  /** The daemon takes over guest RAM (userfaultfd from the shim, what QEMU populated), then the guest runs. */
  protected override async beforeGuestStarts(): Promise<void> {
    this.info.pagesAdoptedAtAttach = await attachAndContinue(this.d, this.qemu!.pid, () => this.connectQmp());
  }

  private async stats(): Promise<Stats> {
    return (await this.d.cmd({ cmd: 'stats' })).stats as Stats;
  }

  /**
   * The balloon's steps before the warm-up (the static experiments': inflated first, the guest
   * keeps `actualMiB`), their discards measured on the memfd; then the resident limit, the pager's
   * (guest RAM only), which stays as the fallback host swapping.
   */
  protected async beforeWarmup(): Promise<void> {
    this.info.freePageReporting = reportsFreePages(this.p);
    this.info.balloonInflatedAfterWarmup = this.p.inflateAfterWarmup === true;
    await this.balloonSteps('boot');
    await this.d.cmd({ cmd: 'limit', pages: Math.round((this.p.actualMiB * MiB) / PAGE) });
    this.info.residentLimitMiB = this.p.actualMiB;
  }

  protected async afterWarmup(): Promise<void> {
    await this.balloonSteps('warmup');
    await this.memory('AfterWarmup');
    if (!this.p.probe) return;
    await this.p.probe({
      ramPages: Math.round((this.p.believedMiB * MiB) / PAGE),
      daemon: (c) => this.d.cmd(c),
      stats: () => this.stats(),
      setLimit: (pages) => this.setLimitAndSettle(pages),
      guest: async (c) => {
        const r = await this.channel.run(c);
        return { rc: r.rc, lines: r.lines };
      },
      progress: (m) => this.progress(m),
    });
  }

  /** The steps of the schedule due at `point`, in order. */
  private async balloonSteps(point: BalloonStep['after']): Promise<void> {
    while (this.stepsDone < this.steps.length && this.steps[this.stepsDone]!.after === point)
      await this.balloonStep(this.stepsDone++);
  }

  /**
   * QMP `balloon` to step `i`'s size; what the memfd held before and after, and the discards the
   * pager heard meanwhile, into `info` (the first step also under the names of the static runs').
   */
  private async balloonStep(i: number): Promise<void> {
    const step = this.steps[i]!;
    const before = await this.stats();
    const when =
      step.after === 'boot'
        ? 'before the warm-up'
        : step.after === 'warmup'
          ? 'after the warm-up'
          : `after iteration ${step.after}`;
    const r = await resizeBalloon(await this.connectQmp(), this.p.believedMiB, step.keepMiB, when, (m) =>
      this.progress(m),
    );
    const after = await this.stats();
    const d = (k: string): number => (after.pager[k] ?? 0) - (before.pager[k] ?? 0);
    this.balloonPages = r.balloonPages;
    this.notes.push(...r.notes);
    const mib = (s: Stats): number => +((s.pager.memfdBytes ?? 0) / MiB).toFixed(1);
    const facts = {
      KeptMiB: r.keptMiB,
      MemfdBeforeMiB: mib(before),
      MemfdAfterMiB: mib(after),
      Removed: d('balloonRemoved'),
      RemovedSwapped: d('balloonRemovedSwapped'),
    };
    for (const [k, v] of Object.entries(facts)) this.info[`balloonStep${i}${k}`] = v;
    if (i > 0) return;
    this.info.balloonKeptMiB = facts.KeptMiB;
    this.info.memfdBeforeBalloonMiB = facts.MemfdBeforeMiB;
    this.info.memfdAfterBalloonMiB = facts.MemfdAfterMiB;
    this.info.balloonRemovedByInflate = facts.Removed;
    this.info.balloonRemovedSwappedByInflate = facts.RemovedSwapped;
  }

  /** After iteration k: the memory census, then the balloon's steps due after it. */
  protected override async afterCommand(when: string): Promise<void> {
    await this.memory(when);
    const k = when === 'AtEnd' ? this.p.iterations : /^Iteration(\d+)$/.exec(when)?.[1];
    if (k === undefined) return;
    await this.balloonSteps(Number(k));
    for (const [i, st] of (this.p.limitSchedule ?? []).entries())
      if (st.after === Number(k)) await this.limitStep(st, i);
  }

  /** The limit to `st.pages`; after a lowering, waits until guest RAM stops shrinking (evictions done). */
  private async limitStep(st: LimitStep, i: number): Promise<void> {
    const { beforeBytes, afterBytes } = await this.setLimitAndSettle(st.pages);
    this.info[`limitStep${i}MemfdAfterMiB`] = +(afterBytes / MiB).toFixed(1);
    this.progress(
      `${this.p.config}: resident limit ${st.pages} pages after iteration ${st.after}: guest RAM ${(beforeBytes / MiB).toFixed(1)} -> ${(afterBytes / MiB).toFixed(1)} MiB`,
    );
  }

  /** The limit to `pages`; then waits until guest RAM stops shrinking (evictions done): its bytes before and then. */
  private async setLimitAndSettle(pages: number): Promise<{ beforeBytes: number; afterBytes: number }> {
    const beforeBytes = (await this.stats()).pager.memfdBytes ?? 0;
    let memfd = beforeBytes;
    await this.d.cmd({ cmd: 'limit', pages });
    let steady = 0;
    const t0 = performance.now();
    while (steady < 3 && performance.now() - t0 < 120_000) {
      await new Promise((r) => setTimeout(r, 200));
      const now = (await this.stats()).pager.memfdBytes ?? 0;
      steady = now >= memfd ? steady + 1 : 0;
      memfd = now;
    }
    return { beforeBytes, afterBytes: memfd };
  }

  /** The memory the run uses: guest RAM, QEMU's and the daemon's own, into `info`. */
  private async memory(when: string): Promise<void> {
    const s = await this.stats();
    const qm = processMemory(this.qemu!.pid);
    const dm = processMemory(this.d.child.pid!);
    const memfd = s.pager.memfdBytes ?? 0;
    const armed = s.pager.armedBytes ?? 0;
    // Guest RAM is counted once, where it is (the memfd, or a sampling slot of the daemon's);
    // QEMU's and the daemon's shared mappings of the memfd are that same memory.
    const qemuOwn = qm.anon + qm.file;
    const daemonOwn = dm.anon + dm.file - armed;
    const total = memfd + armed + qemuOwn + daemonOwn;
    this.maxTotal = Math.max(this.maxTotal, total);
    this.info[`guestRamResident${when}MiB`] = +((memfd + armed) / MiB).toFixed(1);
    this.info[`qemuOwn${when}MiB`] = +(qemuOwn / MiB).toFixed(1);
    this.info[`daemonOwn${when}MiB`] = +(daemonOwn / MiB).toFixed(1);
    this.info[`qemuPlusDaemon${when}MiB`] = +(total / MiB).toFixed(1);
  }

  protected sample(): Promise<Stats> {
    return this.stats();
  }

  protected phase(m: Measured<Stats>): IterationRecord {
    const { a, b } = m;
    const metrics = pagerMetrics(m);
    const rec: IterationRecord = { metrics, notes: pagerNotes(a, b, m.wallMs) };
    const st = sysbenchTotalTime(m.reply.lines);
    if (st !== undefined) rec.notes.push(`sysbench total time ${st} s`);
    const c = (k: string): number => (b.pager[k] ?? 0) - (a.pager[k] ?? 0);
    const lost = c('lostPages') + c('copyExists');
    if (lost > 0) rec.notes.push(`INTEGRITY: ${lost} page(s) missing or doubly installed`);
    metrics.integrityViolations = lost;
    metrics.balloonPages = this.balloonPages;
    const readBacks = c('balloonSwapReadBacks');
    if (readBacks > 0) rec.notes.push(`BALLOON: ${readBacks} discarded page(s) read back from swap`);
    return rec;
  }

  /** The core's invariants, the memory high-water mark and the pager's totals. */
  protected async collect(): Promise<void> {
    const problems = (await this.d.cmd({ cmd: 'check' })).problems as string[];
    if (problems.length > 0) this.notes.push(`core invariants violated: ${problems.slice(0, 3).join('; ')}`);
    this.info.qemuPlusDaemonMaxMiB = +(this.maxTotal / MiB).toFixed(1);
    const end = await this.stats();
    for (const k of [
      'adopted',
      'sampledArmed',
      'sampledHits',
      'uffdFaultsGuest',
      'uffdFaultsHost',
      'wpFaults',
      'lostPages',
      'copyExists',
      'balloonRemoved',
      'balloonRemovedSwapped',
      'balloonRemovePinned',
      'balloonSwapReadBacks',
      'uffdEagainRetries',
    ])
      this.info[`pager.${k}`] = end.pager[k] ?? 0;
    this.info.deviceRequests = end.device.requests ?? 0;
    this.info.deviceMalformed = end.device.malformed ?? 0;
  }

  /** A dead daemon is named first (README, "When the daemon dies"). */
  protected whyEnded(e: Error): string {
    return explainEarlyEnd(e.message, this.daemon);
  }

  protected override async release(): Promise<void> {
    await this.daemon?.quit();
  }
}
