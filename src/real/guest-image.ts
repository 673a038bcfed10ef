import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { MiB, PKG_ROOT } from './paths.js';

/** The guest both real engines boot: Debian's cloud kernel, our initramfs, an ext4 disk with the file. */
export interface GuestImage {
  kernel: string;
  initrd: string;
  disk: string;
  /** md5 of the Sysbench file on the disk, as the builder wrote it. */
  md5: string;
  cache: string;
}

/** Runs the project's image builder (idempotent, cached) for a file of `fileMiB`. */
export function buildGuestImage(fileMiB: number): Promise<GuestImage> {
  return runBuilder([String(fileMiB)]);
}

/**
 * One guest of the many-guest scenario: the same kernel and initramfs, and a disk of its own with
 * the word count (scripts/guest/wc.c, static) and `inputMiB` of text over `keys` words drawn with
 * `seed`; `md5` is that of the word count's output as the host computed it.
 */
export function buildWcGuestImage(seed: number, inputMiB: number, keys: number): Promise<GuestImage> {
  return runBuilder(['--wc', String(seed), String(inputMiB), String(keys)]);
}

async function runBuilder(args: string[]): Promise<GuestImage> {
  const script = join(PKG_ROOT, 'scripts', 'build-guest-image.sh');
  const out = await new Promise<string>((res, rej) =>
    execFile('bash', [script, ...args], { encoding: 'utf8', maxBuffer: 16 * MiB }, (err, stdout, stderr) =>
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

/** `KEY=value` lines (what the builder scripts print). */
export function parseKeyValueLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(l.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
