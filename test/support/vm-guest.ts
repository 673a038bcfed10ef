import type { GuestImage } from '../../src/real/guest-image.js';
import { GUEST_KERNEL_ARGS } from '../../src/real/qemu-process.js';

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
