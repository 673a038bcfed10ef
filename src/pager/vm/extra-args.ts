import { statSync } from 'node:fs';
import { resolve } from 'node:path';

/** An extra QEMU argument of `vswapper vm` would break the pager's contract: refused before launch. */
export class QemuArgsError extends Error {
  override name = 'QemuArgsError';
}

/** QEMU's options whose value says where a disk's file is, and how to read the path from it. */
const DISK_FILE: Record<string, (v: string) => string | undefined> = {
  '-drive': (v) => optionValue(v, 'file'),
  '-blockdev': (v) => optionValue(v, 'filename'),
  '-hda': (v) => v,
  '-hdb': (v) => v,
  '-hdc': (v) => v,
  '-hdd': (v) => v,
  '-cdrom': (v) => v,
};

/** `key=value` in QEMU's comma-separated option syntax (",," is a literal comma). */
function optionValue(opts: string, key: string): string | undefined {
  const parts = opts.replace(/,,/g, '\0').split(',');
  for (const p of parts) {
    const i = p.indexOf('=');
    if (i > 0 && p.slice(0, i) === key) return p.slice(i + 1).replace(/\0/g, ',');
  }
  return undefined;
}

/** Whether two paths are the same file (same device and inode), or the same path when absent. */
function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return resolve(a) === resolve(b);
  }
}

/**
 * Refuses the extra QEMU arguments that would break what `vswapper vm` sets up: guest RAM is the
 * pager's memfd (`-m`, `-mem-path`, `-mem-prealloc`, a memory backend or `-machine
 * memory-backend=`), the accelerator is --accel's, QEMU's `-name` carries `debug-threads=on`
 * (the pager tells vCPU faults from QEMU's by thread name), QEMU stays our child (`-daemonize`),
 * and the image is served by the daemon alone (a second writer through `-drive` would corrupt it
 * behind the Mapper's back). Everything else passes through (`-nographic`, `-serial`, netdev, -smp).
 */
export function checkExtraQemuArgs(args: readonly string[], image: string): void {
  for (let i = 0; i < args.length; i++) {
    const raw = args[i]!;
    // QEMU accepts both -opt and --opt.
    const opt = raw.startsWith('--') ? raw.slice(1) : raw;
    const value = args[i + 1];
    const bad = (why: string): never => {
      throw new QemuArgsError(`extra QEMU argument ${raw}${value !== undefined ? ` ${value}` : ''}: ${why}`);
    };
    switch (opt) {
      case '-m':
        bad('the guest memory is --memory (the pager sizes its memfd from it)');
        break;
      case '-mem-path':
      case '-mem-prealloc':
        bad("guest RAM is the pager's shared memfd; it cannot be backed by another file or preallocated");
        break;
      case '-accel':
      case '-enable-kvm':
        bad('the accelerator is chosen with --accel tcg|kvm');
        break;
      case '-name':
        bad(
          "vswapper vm names QEMU itself with debug-threads=on: the pager tells the guest's faults from QEMU's by thread name",
        );
        break;
      case '-daemonize':
        bad('QEMU must stay the child of vswapper vm, which stops the pager when it ends');
        break;
      case '-machine':
      case '-M':
        if (value !== undefined && /(^|,)memory-backend=/.test(value))
          bad("guest RAM is the pager's memfd backend: give the machine type without memory-backend=");
        break;
      case '-object':
        if (value !== undefined && /^memory-backend-/.test(value))
          bad("guest RAM is the pager's memfd backend; another memory backend is not paged");
        break;
      default: {
        const fileOf = DISK_FILE[opt];
        const file = fileOf && value !== undefined ? fileOf(value) : undefined;
        if (file !== undefined && sameFile(file, image))
          bad(
            "this is --image, which the pager's daemon serves as the guest's vhost-user-blk disk; a second writer would corrupt it",
          );
      }
    }
  }
}
