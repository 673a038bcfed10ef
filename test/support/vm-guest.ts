import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { vmDir } from '../../src/pager/vm/vm-run.js';
import { GuestChannel } from '../../src/real/channel.js';
import type { GuestImage } from '../../src/real/guest-image.js';
import { recoverStaleJournals } from '../../src/real/host-changes.js';
import { cacheDir } from '../../src/real/paths.js';
import { GUEST_KERNEL_ARGS } from '../../src/real/qemu-process.js';
import { leftoverLock } from './engine-lock.js';

/**
 * The QEMU arguments after `vswapper vm ... --` that boot the project's guest image as a user's
 * own kernel and initramfs would: no default devices, no display, the guest's console to a file
 * and its command channel (the second serial port) on stdio.
 */
export function guestQemuArgs(img: GuestImage, consoleLog: string): string[] {
  return [
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    '-kernel',
    img.kernel,
    '-initrd',
    img.initrd,
    '-append',
    GUEST_KERNEL_ARGS,
    '-serial',
    `file:${consoleLog}`,
    '-serial',
    'stdio',
  ];
}

/** The built CLI (dist/src/cli/main.js), beside the compiled tests. */
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');

/**
 * `node <CLI> vm` running the project's guest on `disk`: its memory, starting limit and control
 * socket, then `flags`, then the guest's QEMU arguments.
 */
export function vmCommand(o: {
  img: GuestImage;
  disk: string;
  memoryMiB: number;
  limitMiB: number;
  sock: string;
  consoleLog: string;
  flags?: string[];
}): string[] {
  return [
    process.execPath,
    CLI,
    'vm',
    '--image',
    o.disk,
    '--memory',
    `${o.memoryMiB}M`,
    '--limit',
    `${o.limitMiB}M`,
    '--control',
    o.sock,
    ...(o.flags ?? []),
    '--',
    ...guestQemuArgs(o.img, o.consoleLog),
  ];
}

/** What a vm could leave behind: its QEMU and daemon, its work files and journals, the run lock. */
export function vmHostState(): { processes: string[]; files: string[] } {
  const processes: string[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes('vswapper-vm-') || (cmd.includes('/pager/daemon.js') && cmd.includes(vmDir())))
        processes.push(`${p} ${cmd.replace(/\0/g, ' ').slice(0, 80)}`);
    } catch {
      // gone
    }
  }
  let files: string[] = [];
  try {
    files = readdirSync(vmDir());
  } catch {
    // no folder yet
  }
  return { processes, files: [...files, ...leftoverLock(cacheDir())] };
}

/**
 * The host as a vm finds it: `vswapper vm` first undoes what vms that died left behind (their
 * journals), so a killed earlier run's work files are not "the host as found" that this run must
 * leave (see pagerHostBefore). For the state before a run only.
 */
export function vmHostBefore(): { processes: string[]; files: string[] } {
  recoverStaleJournals(vmDir());
  return vmHostState();
}

/** `vswapper vm` started as a user would, with the guest's command channel and its stderr. */
export interface VmProcess {
  child: ChildProcess;
  ch: GuestChannel;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `argv` (a `vswapper vm` command line whose QEMU arguments end in `guestQemuArgs`): the
 * guest's channel on its stdio, its stderr collected (and handed to `onStderr` as it comes); when it
 * exits, the channel fails with the last lines of its stderr.
 */
export function spawnVm(argv: string[], onStderr?: (all: string, chunk: string) => void): VmProcess {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    onStderr?.(stderr, d.toString());
  });
  const ch = new GuestChannel(child.stdout, child.stdin);
  child.stdin.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => {
      ch.fail(
        new Error(
          `vswapper vm ended (${code ?? signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
        ),
      );
      res({ code, signal });
    }),
  );
  return { child, ch, stderr: () => stderr, exited };
}
