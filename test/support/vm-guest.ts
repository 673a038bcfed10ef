import { readdirSync, readFileSync } from 'node:fs';
import { vmDir } from '../../src/pager/vm/vm-run.js';
import type { GuestImage } from '../../src/real/guest-image.js';
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
