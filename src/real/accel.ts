import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export type Accel = 'tcg' | 'kvm';

/** KVM only where the host has hardware virtualization; PVM (these machines) cannot boot Linux. */
export function detectAccel(): { accel: Accel; why: string } {
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

export function qemuVersion(): string {
  try {
    return execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

/** Whether a command is on the PATH. */
export function hasCommand(cmd: string): Promise<boolean> {
  return new Promise((res) => execFile('sh', ['-c', `command -v ${cmd}`], (err) => res(!err)));
}

/**
 * What every real engine needs of the host: Linux, root, and QEMU (or apt-get, through which the
 * guest image builder installs it on first use). Undefined when all is there.
 */
export async function realHostProblem(engine: string, rootFor: string): Promise<string | undefined> {
  if (process.platform !== 'linux') return `the ${engine} engine needs Linux`;
  if (process.getuid?.() !== 0) return `the ${engine} engine needs root (${rootFor})`;
  if (!(await hasCommand('qemu-system-x86_64')) && !(await hasCommand('apt-get')))
    return 'no qemu-system-x86_64, and no apt-get to install it';
  return undefined;
}
