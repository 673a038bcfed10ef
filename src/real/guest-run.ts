import { mkdirSync } from 'node:fs';
import type { ConfigName, Metrics } from '../engine/results.js';
import { type Accel, detectAccel } from './accel.js';
import type { GuestChannel } from './channel.js';
import { type GuestImage, buildGuestImage } from './guest-image.js';
import {
  type Measured,
  POWEROFF,
  allocationCommand,
  failureNote,
  guestFileMd5,
  guestMeminfo,
  guestVmstat,
  sysbenchCommand,
  warmupCommand,
} from './guest-workload.js';
import { HostChanges, recoverStaleJournals } from './host-changes.js';
import { cacheDir } from './paths.js';
import { type QemuLaunch, type QemuProcess, launchQemu } from './qemu-process.js';
import { QmpClient } from './qmp.js';
import { takeLock } from './run-lock.js';

/** What both real engines run: the Sysbench loop and Fig. 10's allocation. */
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
  /** Let the guest use all its memory once before the workload (default true; §3.1). */
  warmup?: boolean;
  onProgress?: (msg: string) => void;
  signal?: AbortSignal;
}

export interface IterationRecord {
  metrics: Metrics;
  notes: string[];
  killed?: boolean;
}

/** What a real engine's run returns, per iteration and overall. */
export interface RealRunResult<C extends ConfigName = ConfigName> {
  config: C;
  iterations: IterationRecord[];
  /** The allocation phase (Fig. 10), when asked for. */
  alloc?: IterationRecord;
  checksumOk: boolean | undefined;
  /** QEMU itself ended (e.g. killed by the memory cgroup's OOM killer) before the run did. */
  qemuKilled?: string;
  accel: Accel;
  notes: string[];
  info: Record<string, string | number | boolean>;
}

/** Refuses sizes no run can have, naming the option, before anything is built or touched. */
export function checkRunOptions(o: RealRunOptions): void {
  const whole = (k: 'believedMiB' | 'actualMiB' | 'fileMiB' | 'iterations', min: number): void => {
    const v = o[k];
    if (!(Number.isInteger(v) && v >= min))
      throw new RangeError(`${k} must be a whole number >= ${min}, got ${v}`);
  };
  whole('believedMiB', 1);
  whole('actualMiB', 1);
  whole('fileMiB', 1);
  whole('iterations', 1);
  if (o.actualMiB > o.believedMiB)
    throw new RangeError(`actualMiB (${o.actualMiB}) must not exceed believedMiB (${o.believedMiB})`);
  if (!(Number.isInteger(o.allocMiB) && o.allocMiB >= 0))
    throw new RangeError(`allocMiB must be a whole number >= 0, got ${o.allocMiB}`);
  if (o.tbMiB !== undefined && !(Number.isInteger(o.tbMiB) && o.tbMiB >= 1))
    throw new RangeError(`tbMiB must be a whole number >= 1, got ${o.tbMiB}`);
}

/**
 * One configuration's run on a real guest, the steps both real engines share: the guest image, the
 * run lock and the ledger of host changes (undone whatever happens, also on abort), QEMU's launch
 * and boot, the warm-up, the measured iterations and allocation, the checksum, the power-off. An
 * engine fills in its own steps: how it sets up the host, QEMU's command line, what it samples
 * around a command and makes of it, what it collects at the end and releases.
 */
export abstract class GuestRun<C extends ConfigName, S> {
  protected readonly ledger: HostChanges;
  protected readonly notes: string[] = [];
  protected readonly info: Record<string, string | number | boolean>;
  protected readonly accel: Accel;
  protected readonly tbMiB: number;
  protected readonly iterations: IterationRecord[] = [];
  protected img!: GuestImage;
  protected qemu: QemuProcess | undefined;
  protected qmp: QmpClient | undefined;
  private alloc: IterationRecord | undefined;
  private checksumOk: boolean | undefined;

  constructor(
    protected readonly o: RealRunOptions & { config: C },
    /** This engine's folder in the cache: journals and work files. */
    protected readonly dir: string,
  ) {
    checkRunOptions(o);
    const { accel, why } = detectAccel();
    this.accel = accel;
    this.tbMiB = o.tbMiB ?? 32;
    this.info = { accel, accelWhy: why };
    this.ledger = new HostChanges({ journalDir: dir });
  }

  protected progress(m: string): void {
    this.o.onProgress?.(m);
  }

  protected get channel(): GuestChannel {
    if (!this.qemu) throw new Error('QEMU is not running');
    return this.qemu.channel;
  }

  /** The whole run; the host is left as it was found, whatever happens. */
  async run(): Promise<RealRunResult<C>> {
    this.o.signal?.throwIfAborted();
    mkdirSync(this.dir, { recursive: true });
    await this.prepare();
    for (const s of recoverStaleJournals(this.dir))
      this.progress(`undid a change left by a killed run: ${s}`);
    const onAbort = (): void => {
      this.qemu?.channel.fail(new Error('aborted'));
      this.qemu?.kill();
    };
    this.o.signal?.addEventListener('abort', onAbort);
    try {
      const signal = this.o.signal ? { signal: this.o.signal } : {};
      await takeLock(this.ledger, cacheDir(), { onProgress: (m) => this.progress(m), ...signal });
      await this.setUpHost();
      await this.boot();
      await this.warmUp();
      await this.runIterations();
      await this.runAllocation();
      await this.verify();
      await this.collect();
      await this.powerOff();
      return this.result();
    } catch (e) {
      // QEMU ended before the run did (OOM-killed, or the guest panicked): a result, as the paper
      // reports such runs, not a crash.
      if (!this.qemu?.ended || this.o.signal?.aborted) throw e;
      return this.result(this.whyEnded(e as Error));
    } finally {
      this.o.signal?.removeEventListener('abort', onAbort);
      await this.tearDown();
    }
  }

  /** What the run needs built before the host is touched (cached after the first build). */
  protected async prepare(): Promise<void> {
    this.progress('guest image (cached after the first build)');
    this.img = await buildGuestImage(this.o.fileMiB);
  }

  /** The host changes the engine needs before QEMU starts, each recorded on the ledger. */
  protected abstract setUpHost(): Promise<void> | void;

  /** QEMU's command line (and how it is started), and where its QMP socket will be. */
  protected abstract launchSpec(): QemuLaunch & { qmpSocket: string };

  /** Between QEMU's start and the guest's boot (the pager takes over guest RAM). */
  protected async beforeGuestStarts(): Promise<void> {}

  /** Said in the boot's progress line. */
  protected readonly bootNote: string = '';

  private qmpSocket = '';

  protected async connectQmp(): Promise<QmpClient> {
    // QEMU creates the socket a moment after it starts: retried for up to 30 s.
    this.qmp ??= await QmpClient.connect(this.qmpSocket, { retryMs: 30_000 });
    return this.qmp;
  }

  private async boot(): Promise<void> {
    const spec = this.launchSpec();
    this.qmpSocket = spec.qmpSocket;
    this.qemu = launchQemu(this.ledger, spec);
    this.info.thp = this.qemu.thp;
    await this.beforeGuestStarts();
    const t0 = performance.now();
    await this.channel.ready();
    this.info.bootS = Math.round(performance.now() - t0) / 1000;
    this.progress(`${this.o.config}: guest up in ${this.info.bootS} s (${this.accel}${this.bootNote})`);
    // What the guest holds of its own before anything runs: the balloon can take only the rest.
    const m = await guestMeminfo(this.channel);
    this.info.guestMemTotalAtBootMiB = Math.round((m.MemTotal ?? 0) / 1024);
    this.info.guestMemAvailableAtBootMiB = Math.round((m.MemAvailable ?? 0) / 1024);
    await this.connectQmp();
  }

  /** Before the warm-up: the memory limit (balloon, cgroup cap, the pager's limit). */
  protected abstract beforeWarmup(): Promise<void>;

  /** After it: what the engine measures or recalibrates. */
  protected abstract afterWarmup(): Promise<void>;

  /** Who took back what did not fit, for the warm-up's progress line. */
  protected abstract readonly reclaimedBy: string;

  /**
   * "The guest believes it has 512MB, whereas in fact it is allocated only 100MB and all the rest
   * has been reclaimed by the host" (§3.1): the guest has used its memory before (a process touches
   * all its free memory, then exits), and the host has taken back what does not fit.
   */
  private async warmUp(): Promise<void> {
    await this.beforeWarmup();
    const meminfo = await guestMeminfo(this.channel);
    const touchMiB = Math.floor((meminfo.MemFree ?? 0) / 1024) - 16;
    if (touchMiB > 0 && (this.o.warmup ?? true)) {
      const w = await this.channel.run(warmupCommand(touchMiB));
      this.info.warmupTouchedMiB = touchMiB;
      this.info.warmupFill = 'random bytes (/dev/urandom)';
      this.info.warmupS = +(w.endS - w.beginS).toFixed(2);
      this.progress(
        `${this.o.config}: the guest used ${touchMiB} MiB of free memory once (${this.info.warmupS} s): ${this.reclaimedBy}`,
      );
    }
    await this.afterWarmup();
  }

  /** The engine's counters, read just before a command is sent and just after its end arrives. */
  protected abstract sample(): Promise<S> | S;

  /** One command's record from the samples around it and the guest's /proc/vmstat before and after. */
  protected abstract phase(m: Measured<S>): IterationRecord;

  /** After each measured command (`Iteration<k>`, `AtEnd`, `AfterAlloc`). */
  protected async afterCommand(_when: string): Promise<void> {}

  private async measure(command: string): Promise<IterationRecord> {
    const ch = this.channel;
    const guestBefore = await guestVmstat(ch);
    const a = await this.sample();
    const t0 = performance.now();
    const reply = await ch.run(command);
    const wallMs = performance.now() - t0;
    const b = await this.sample();
    const guestAfter = await guestVmstat(ch);
    const rec = this.phase({ a, b, reply, guestBefore, guestAfter, wallMs });
    if (reply.rc !== 0) {
      rec.killed = true;
      rec.notes.push(failureNote(reply, rec.metrics.guestOomKills));
    }
    return rec;
  }

  private async runIterations(): Promise<void> {
    const cmd = sysbenchCommand(this.o.fileMiB);
    const n = this.o.iterations;
    for (let k = 1; k <= n; k++) {
      this.o.signal?.throwIfAborted();
      const rec = await this.measure(cmd);
      this.iterations.push(rec);
      const m = rec.metrics;
      const stale = m.staleSwapReads !== undefined ? `, stale reads ${m.staleSwapReads}` : '';
      this.progress(
        `${this.o.config}: iteration ${k}/${n}: ${m.runtimeS?.toFixed(2)} s, swap written ${m.swapWriteSectors} sectors, read ${m.swapReadSectors}${stale}, faults guest/host ${m.hostFaultsInGuest}/${m.hostFaultsInHost}`,
      );
      await this.afterCommand(k === n ? 'AtEnd' : `Iteration${k}`);
    }
  }

  private async runAllocation(): Promise<void> {
    if (this.o.allocMiB <= 0) return;
    const alloc = await this.measure(allocationCommand(this.o.allocMiB));
    this.alloc = alloc;
    this.progress(
      `${this.o.config}: allocation of ${this.o.allocMiB} MiB: ${alloc.metrics.runtimeS?.toFixed(2)} s${alloc.killed ? ' (killed)' : ''}`,
    );
    await this.afterCommand('AfterAlloc');
  }

  /** The file as the guest reads it now against the builder's md5: one integrity violation if it differs. */
  private async verify(): Promise<void> {
    const md5 = this.img.md5;
    this.checksumOk = (await guestFileMd5(this.channel)) === md5;
    this.notes.push(
      `md5 of the file after the run ${this.checksumOk ? 'equals' : 'DIFFERS from'} the image builder's (${md5})`,
    );
    const last = this.iterations[this.iterations.length - 1];
    if (last)
      last.metrics.integrityViolations = (last.metrics.integrityViolations ?? 0) + (this.checksumOk ? 0 : 1);
  }

  /** The engine's facts at the end of the run, into `info` and `notes`. */
  protected abstract collect(): Promise<void>;

  private async powerOff(): Promise<void> {
    await this.channel.run(POWEROFF).catch(() => undefined);
    await Promise.race([this.qemu!.exited, new Promise((r) => setTimeout(r, 20_000))]);
  }

  /** Why QEMU ended early, for the killed record. */
  protected abstract whyEnded(e: Error): string;

  /** What the engine started besides QEMU and must stop before the host changes are undone. */
  protected async release(): Promise<void> {}

  private async tearDown(): Promise<void> {
    this.qmp?.close();
    this.qemu?.kill();
    await this.release();
    const failed = this.ledger.undoAll();
    if (failed.length > 0) this.notes.push(`could not undo: ${failed.join('; ')}`);
  }

  private result(qemuKilled?: string): RealRunResult<C> {
    const common = { config: this.o.config, iterations: this.iterations, accel: this.accel };
    if (qemuKilled !== undefined)
      return { ...common, checksumOk: undefined, qemuKilled, notes: this.notes, info: this.info };
    const alloc = this.alloc ? { alloc: this.alloc } : {};
    return { ...common, ...alloc, checksumOk: this.checksumOk, notes: this.notes, info: this.info };
  }
}
