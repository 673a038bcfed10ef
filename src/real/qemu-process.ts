import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Accel } from './accel.js';
import { GuestChannel } from './channel.js';
import { type HostChanges, processStartTicks } from './host-changes.js';

/**
 * The guest kernel's command line. init_on_alloc=0: Debian's kernel zeroes every page it allocates
 * (page cache included); the paper's Linux 3.7 guest zeroed only anonymous pages, which Linux still does.
 */
export const GUEST_KERNEL_ARGS = 'console=ttyS0 panic=-1 loglevel=4 init_on_alloc=0';

/** QEMU's arguments both real engines share: accelerator, memory size, one vCPU, no devices or UI. */
export function qemuBaseArgs(accel: Accel, tbMiB: number, believedMiB: number): string[] {
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

/**
 * The guest's kernel, initramfs, console (a file) and command channel (QEMU's stdio), and a QMP
 * socket: what every real engine's QEMU has besides its memory and disk.
 */
export function guestArgs(
  img: { kernel: string; initrd: string },
  qmpSocket: string,
  consoleLog: string,
): string[] {
  return [
    '-kernel',
    img.kernel,
    '-initrd',
    img.initrd,
    '-append',
    GUEST_KERNEL_ARGS,
    '-qmp',
    `unix:${qmpSocket},server=on,wait=off`,
    '-serial',
    `file:${consoleLog}`,
    '-serial',
    'stdio',
  ];
}

/**
 * Sets this process's "no transparent huge pages" flag (prctl PR_SET_THP_DISABLE), which children
 * inherit across fork and exec; returns whether it worked. koffi is loaded on first use only, so
 * that listing the engines does not load a native module.
 */
let prctl: ((option: number, a: number, b: number, c: number, d: number) => number) | undefined;
export function setThpDisabled(disabled: boolean): boolean {
  try {
    if (!prctl) {
      const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
      prctl = koffi
        .load('libc.so.6')
        .func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)');
    }
    return prctl(41 /* PR_SET_THP_DISABLE */, disabled ? 1 : 0, 0, 0, 0) === 0;
  } catch {
    return false;
  }
}

export interface QemuLaunch {
  args: string[];
  /** The QEMU binary (default: qemu-system-x86_64 on the PATH, Debian's). */
  binary?: string;
  /** Shell commands run first by the process that then becomes QEMU (joining cgroups). */
  prelude?: string;
  env?: NodeJS.ProcessEnv;
  /** Let QEMU use transparent huge pages (default: 4 KiB pages, as the paper's host swapped). */
  thp?: boolean;
  /** The guest console's file (its tail explains an early end). */
  consoleLog: string;
}

/** A QEMU we started: its guest's command channel, and how it ended. */
export class QemuProcess {
  readonly channel: GuestChannel;
  /** Resolves with how QEMU ended ("exit code 0", "signal SIGKILL"). */
  readonly exited: Promise<string>;
  private stderr = '';

  constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    /** What became of transparent huge pages for it (said in the run's facts). */
    readonly thp: string,
    consoleLog: string,
  ) {
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    const ch = new GuestChannel(child.stdout!, child.stdin!);
    this.channel = ch;
    this.exited = new Promise<string>((res) =>
      child.on('exit', (code, sig) => {
        const why = sig ? `signal ${sig}` : `exit code ${code}`;
        let console = '';
        try {
          console = readFileSync(consoleLog, 'utf8').trim().split('\n').slice(-12).join(' | ');
        } catch {
          // no console output
        }
        const last = this.stderr.trim().split('\n').pop() ?? '';
        ch.fail(
          new Error(`QEMU ended (${why}) ${last}${console ? `; guest console: ${console}` : ''}`.trim()),
        );
        res(why);
      }),
    );
    child.stdin!.on('error', () => undefined);
  }

  get ended(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  kill(): void {
    if (!this.ended) this.child.kill('SIGKILL');
  }
}

/**
 * Starts QEMU (without transparent huge pages unless asked: the flag is inherited through fork and
 * exec) and records it on the ledger, with its start time, which tells it from a later process with
 * the same pid.
 */
export function launchQemu(ledger: HostChanges, spec: QemuLaunch): QemuProcess {
  const thpOff = !spec.thp && setThpDisabled(true);
  let child: ChildProcess;
  try {
    const opts = { stdio: ['pipe', 'pipe', 'pipe'] as ('pipe' | 'ignore')[], env: spec.env ?? process.env };
    child = spec.prelude
      ? spawn(
          'sh',
          ['-c', `${spec.prelude} && exec "$0" "$@"`, spec.binary ?? 'qemu-system-x86_64', ...spec.args],
          opts,
        )
      : spawn(spec.binary ?? 'qemu-system-x86_64', spec.args, opts);
  } finally {
    if (thpOff) setThpDisabled(false);
  }
  const pid = child.pid;
  if (pid === undefined) {
    child.on('error', () => undefined);
    throw new Error('could not start QEMU (qemu-system-x86_64)');
  }
  const startTicks = processStartTicks(pid);
  if (startTicks !== undefined) ledger.did({ kind: 'kill', pid, startTicks });
  const thp = spec.thp
    ? 'allowed'
    : thpOff
      ? 'disabled for QEMU (prctl PR_SET_THP_DISABLE)'
      : 'could not disable';
  return new QemuProcess(child, pid, thp, spec.consoleLog);
}
