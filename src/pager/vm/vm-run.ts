import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Accel } from '../../real/accel.js';
import { HostChanges, processStartTicks, recoverStaleJournals, sh } from '../../real/host-changes.js';
import { setThpDisabled } from '../../real/qemu-process.js';
import { QmpClient } from '../../real/qmp.js';
import { flattenStats } from '../control/flat-stats.js';
import { MetricsServer } from '../control/metrics-server.js';
import type { DaemonProcess } from '../daemon-client.js';
import {
  PATCHED_QEMU_FIRMWARE_ARGS,
  attachAndContinue,
  buildShim,
  pagerQemuArgs,
  patchedQemu,
  shimEnv,
  startPagerDaemon,
} from '../launch.js';
import { pagerCacheDir } from '../run.js';
import { HEARTBEATS_PER_TIMEOUT, WATCHDOG_TIMEOUT_MS } from '../supervision.js';
import { statusLine } from './status.js';
import { PAGE_SIZE_BYTES as PAGE } from '../../core/index.js';

const MiB = 2 ** 20;
/**
 * How long a daemon's end may precede QEMU's and still be QEMU's doing: QEMU tears its address
 * space down before its exit is reported, and the daemon's next ioctl on it fails meanwhile.
 */
const DAEMON_GRACE_MS = 5000;

/** What `vswapper vm` runs, its inputs checked (src/experiments/vm-inputs.ts). */
export interface VmRunOptions {
  image: string;
  memoryBytes: number;
  limitBytes: number;
  /** The pager's swap file: used as it is when it exists, else made and removed at the end. */
  swap?: string;
  accel: Accel;
  control?: string;
  metricsPort?: number;
  mapper: boolean;
  /** The False Reads Preventer when the patched QEMU is built (TCG and the Mapper only). */
  preventer: boolean;
  /** The QEMU binary; undefined: Debian's (or the patched build for the Preventer). */
  qemu?: string;
  qemuArgs: readonly string[];
  /** Seconds between status lines; 0: none. */
  statusEveryS: number;
  /** Progress and status lines (stderr in the CLI). */
  onProgress: (line: string) => void;
  signal?: AbortSignal;
  /** Called once the metrics endpoint listens, with its port (port 0 picks one). */
  onMetricsPort?: (port: number) => void;
}

/** How the VM ended: the guest powered off (QEMU exit code 0), or a signal stopped it. */
export interface VmOutcome {
  ended: 'poweroff' | 'stopped';
  qemuExit: string;
  runS: number;
}

/** QEMU ended with an error (it refused its command line, or crashed): its last words. */
export class VmQemuError extends Error {
  override name = 'VmQemuError';
}

/** The pager daemon ended while the guest ran: QEMU is stopped (its RAM has no pager behind it). */
export class VmDaemonDiedError extends Error {
  override name = 'VmDaemonDiedError';
}

/** Where `vswapper vm` keeps its journals and work files (sockets, a temporary swap file). */
export function vmDir(): string {
  return join(pagerCacheDir(), 'vm');
}

/**
 * A user's VM under the pager, until the guest powers off or `signal` aborts: the same launch as the
 * experiments' runs (launch.ts), on the user's image and QEMU arguments. Everything it changes on
 * the host (processes, sockets, a swap file it made) is on a journaled ledger, undone when it ends,
 * also on failure; on abort QEMU is asked to quit through QMP first.
 */
export async function runVm(o: VmRunOptions): Promise<VmOutcome> {
  o.signal?.throwIfAborted();
  const dir = vmDir();
  mkdirSync(dir, { recursive: true });
  for (const s of recoverStaleJournals(dir)) o.onProgress(`undid a change left by a killed vm: ${s}`);
  const shim = await buildShim();
  const patched = o.preventer ? await patchedQemu() : undefined;
  if (o.preventer && !patched) o.onProgress('the patched QEMU is not built: stock QEMU, no Preventer');
  const run = new VmRun(o, dir, shim, patched);
  return run.run();
}

class VmRun {
  private readonly name = `vswapper-vm-${process.pid}-${Date.now()}`;
  private readonly ledger: HostChanges;
  private daemon: DaemonProcess | undefined;
  private qemu: ChildProcess | undefined;
  private qemuExit: Promise<string> | undefined;
  private qemuStderr = '';
  private qmp: QmpClient | undefined;
  private metrics: MetricsServer | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: VmRunOptions,
    private readonly dir: string,
    private readonly shim: string,
    /** The patched QEMU when the Preventer runs. */
    private readonly patched: string | undefined,
  ) {
    // Signals are the caller's (it aborts `signal`): QEMU quits through QMP before the undo.
    this.ledger = new HostChanges({ journalDir: dir, handleSignals: false });
  }

  private work(suffix: string): string {
    const p = join(this.dir, `${this.name}.${suffix}`);
    this.ledger.did({ kind: 'rm', path: p });
    return p;
  }

  async run(): Promise<VmOutcome> {
    const t0 = performance.now();
    let stopped = false;
    const onAbort = (): void => {
      stopped = true;
    };
    this.o.signal?.addEventListener('abort', onAbort);
    try {
      try {
        await this.start();
      } catch (e) {
        // A signal during the start is a stop, not a failure.
        if (!this.o.signal?.aborted) throw e;
      }
      const why = this.o.signal?.aborted ? ({ kind: 'aborted' } as const) : await this.untilEnd();
      const runS = Math.round(performance.now() - t0) / 1000;
      if (why.kind === 'aborted' || stopped) {
        const qemuExit = await this.quitQemu();
        return { ended: 'stopped', qemuExit, runS };
      }
      if (why.kind === 'daemon')
        throw new VmDaemonDiedError(
          `the pager daemon ended while the guest ran (QEMU stopped): ${this.daemon!.stderr.trim().split('\n').slice(-3).join(' | ')}`,
        );
      if (why.exit !== 'exit code 0')
        throw new VmQemuError(
          `QEMU ended (${why.exit}): ${this.qemuStderr.trim().split('\n').slice(-3).join(' | ') || 'no message'}`,
        );
      return { ended: 'poweroff', qemuExit: why.exit, runS };
    } finally {
      this.o.signal?.removeEventListener('abort', onAbort);
      await this.tearDown();
    }
  }

  private async start(): Promise<void> {
    const o = this.o;
    let swap = o.swap;
    if (swap === undefined || !existsSync(swap)) {
      if (swap === undefined) swap = this.work('swap');
      else this.ledger.did({ kind: 'rm', path: swap });
      sh('fallocate', ['-l', String(o.memoryBytes), swap]);
    }
    const vhostSocket = this.work('vhost.sock');
    const shimSocket = this.work('shim.sock');
    const qmpSocket = this.work('qmp');
    // The daemon removes the control socket when it stops; if it is killed, the ledger does.
    if (o.control !== undefined) this.ledger.did({ kind: 'rm', path: o.control });
    const preventer = this.patched !== undefined;
    this.daemon = await startPagerDaemon(
      this.ledger,
      {
        vhostSocket,
        shimSocket,
        image: o.image,
        swap,
        mode: 'pager',
        ramBytes: o.memoryBytes,
        mapper: o.mapper,
        preventer,
        disk: 'immediate',
        // The shim's watchdog on a hung daemon (supervision.ts), beaten from the daemon's loop.
        heartbeatMs: WATCHDOG_TIMEOUT_MS / HEARTBEATS_PER_TIMEOUT,
        ...(o.control !== undefined ? { controlSocket: o.control } : {}),
      },
      { ownProcessGroup: true },
    );
    const ramMiB = o.memoryBytes / MiB;
    const args = [
      ...(preventer ? PATCHED_QEMU_FIRMWARE_ARGS : []),
      '-accel',
      o.accel,
      ...(o.accel === 'kvm' ? ['-cpu', 'host'] : []),
      '-m',
      `${ramMiB}M`,
      ...pagerQemuArgs({ ramMiB, vhostSocket, name: this.name }),
      '-qmp',
      `unix:${qmpSocket},server=on,wait=off`,
      ...o.qemuArgs,
    ];
    const env = shimEnv(process.env, {
      shim: this.shim,
      shimSocket,
      watchdogMs: WATCHDOG_TIMEOUT_MS,
      ...(preventer ? { preventerRamBytes: o.memoryBytes } : {}),
    });
    this.spawnQemu(this.patched ?? o.qemu ?? 'qemu-system-x86_64', args, env);
    const pid = this.qemu!.pid!;
    const limitPages = Math.floor(o.limitBytes / PAGE);
    // QEMU ends early on a bad command line: say so rather than wait for a hand-over.
    const adopted = await Promise.race([
      attachAndContinue(this.daemon, pid, () => this.connectQmp(qmpSocket), limitPages),
      this.aborted(),
      this.qemuExit!.then((why) => {
        throw new VmQemuError(
          `QEMU ended before the guest started (${why}): ${this.qemuStderr.trim().split('\n').slice(-3).join(' | ') || 'no message'}`,
        );
      }),
    ]);
    o.onProgress(
      `running: QEMU pid ${pid} (${this.patched ? 'patched, False Reads Preventer on' : 'stock'}, ${o.accel}), ${ramMiB} MiB guest, limit ${o.limitBytes / MiB} MiB, ${o.mapper ? 'Swap Mapper on' : 'baseline pager (no Mapper)'}, ${adopted} pages adopted${o.control ? `; control: vswapper ctl ${o.control}` : ''}`,
    );
    if (o.metricsPort !== undefined) {
      this.metrics = await MetricsServer.listen(o.metricsPort, () => this.flatStats(), { vm: this.name });
      o.onProgress(`metrics: http://127.0.0.1:${this.metrics.port}/metrics`);
      o.onMetricsPort?.(this.metrics.port);
    }
    if (o.statusEveryS > 0) {
      const t0 = performance.now();
      this.timer = setInterval(() => {
        this.flatStats().then(
          (s) => o.onProgress(statusLine((performance.now() - t0) / 1000, s)),
          () => undefined,
        );
      }, o.statusEveryS * 1000);
    }
  }

  /** Rejects when the caller aborts (a signal while waiting for QEMU's hand-over). */
  private aborted(): Promise<never> {
    return new Promise((_, rej) => {
      const s = this.o.signal;
      if (!s) return;
      if (s.aborted) rej(new Error('stopped'));
      s.addEventListener('abort', () => rej(new Error('stopped')), { once: true });
    });
  }

  private async flatStats(): Promise<Record<string, number>> {
    const d = this.daemon;
    if (!d?.alive) throw new Error('the pager daemon is not running');
    return flattenStats((await d.cmd({ cmd: 'stats' })).stats as Record<string, unknown>);
  }

  private async connectQmp(path: string): Promise<QmpClient> {
    // QEMU creates the socket a moment after it starts.
    this.qmp ??= await QmpClient.connect(path, { retryMs: 30_000 });
    return this.qmp;
  }

  /**
   * QEMU with the terminal (stdin, stdout) of `vswapper vm`, so -nographic and -serial stdio reach
   * the user; its stderr is passed on and kept for an error message. Without transparent huge pages
   * (inherited through exec), as the experiments' QEMU.
   */
  private spawnQemu(binary: string, args: string[], env: NodeJS.ProcessEnv): void {
    const thpOff = setThpDisabled(true);
    let child: ChildProcess;
    try {
      child = spawn(binary, args, { stdio: ['inherit', 'inherit', 'pipe'], env });
    } finally {
      if (thpOff) setThpDisabled(false);
    }
    if (child.pid === undefined) {
      child.on('error', () => undefined);
      throw new VmQemuError(`could not start QEMU (${binary})`);
    }
    const ticks = processStartTicks(child.pid);
    if (ticks !== undefined) this.ledger.did({ kind: 'kill', pid: child.pid, startTicks: ticks });
    child.stderr!.on('data', (d: Buffer) => {
      this.qemuStderr = (this.qemuStderr + d.toString()).slice(-4096);
      process.stderr.write(d);
    });
    this.qemu = child;
    this.qemuExit = new Promise((res) =>
      child.on('exit', (code, sig) => res(sig ? `signal ${sig}` : `exit code ${code}`)),
    );
  }

  /** The first of: QEMU ends, the daemon ends, the caller aborts. */
  private untilEnd(): Promise<{ kind: 'qemu'; exit: string } | { kind: 'daemon' } | { kind: 'aborted' }> {
    const d = this.daemon!;
    return Promise.race([
      this.qemuExit!.then((exit) => ({ kind: 'qemu' as const, exit })),
      new Promise<{ kind: 'daemon' }>((res) => {
        if (!d.alive) res({ kind: 'daemon' });
        d.child.once('exit', () => res({ kind: 'daemon' }));
      }).then((r) => this.daemonEnded(r)),
      new Promise<{ kind: 'aborted' }>((res) => {
        if (this.o.signal?.aborted) res({ kind: 'aborted' });
        this.o.signal?.addEventListener('abort', () => res({ kind: 'aborted' }), { once: true });
      }),
    ]);
  }

  /**
   * The daemon ended: when QEMU is ending too (the guest powered off, and the daemon's next
   * userfaultfd ioctl on QEMU's vanished address space failed), QEMU's end is the VM's, reported
   * as such; the daemon's own end is said on stderr. Otherwise the daemon died under a running guest.
   */
  private async daemonEnded(r: {
    kind: 'daemon';
  }): Promise<{ kind: 'qemu'; exit: string } | { kind: 'daemon' }> {
    const grace = new Promise<undefined>((res) => setTimeout(() => res(undefined), DAEMON_GRACE_MS).unref());
    const exit = await Promise.race([this.qemuExit!, grace]);
    if (exit === undefined) return r;
    const lines = this.daemon!.stderr.trim().split('\n');
    const why = lines.find((l) => l.startsWith('vswapper pager daemon:')) ?? lines[lines.length - 1];
    if (why) this.o.onProgress(`the pager daemon ended with QEMU: ${why}`);
    return { kind: 'qemu', exit };
  }

  /** QMP `quit` (QEMU ends at once, cleanly), SIGKILL if it has not within 10 s. */
  private async quitQemu(): Promise<string> {
    const q = this.qemu;
    if (!q || q.exitCode !== null || q.signalCode !== null) return (await this.qemuExit) ?? 'not started';
    await this.qmp?.execute('quit').catch(() => undefined);
    const t = setTimeout(() => q.kill('SIGKILL'), 10_000);
    const why = await this.qemuExit!;
    clearTimeout(t);
    return why;
  }

  private async tearDown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.metrics?.close();
    // QEMU first: its guest must not run on with no pager behind its RAM.
    const q = this.qemu;
    if (q && q.exitCode === null && q.signalCode === null) {
      q.kill('SIGKILL');
      await this.qemuExit;
    }
    this.qmp?.close();
    await this.daemon?.quit();
    this.ledger.undoAll();
  }
}
