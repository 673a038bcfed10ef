import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GuestImage } from './guest-image.js';
import { cacheDir } from './paths.js';

/**
 * What the guest keeps of its own memory, measured on the guest (never assumed): what a scaled run
 * must not scale. The paper's guest (Ubuntu 12.04, Linux 3.7) kept little of its 100 MB; ours
 * (Debian's 6.1 cloud kernel and our initramfs) keeps more, and a run whose every size is cut by the
 * same factor loses the paper's shape two ways, measured before this existed: at `--scale 0.25` a
 * guest ballooned to 25 MiB crashes (it cannot give up what it holds), and once the host has swapped
 * the guest's cold pages the scaled file fits beside the hot ones, so the baseline stops swapping.
 */
export interface GuestFootprint {
  /**
   * Memory the guest cannot give up (its RAM less MemAvailable just after boot: the kernel, the
   * initramfs in rootfs, unreclaimable slab). A balloon cannot take it: the floor of a ballooned guest.
   */
  ownMiB: number;
  /**
   * Guest RAM a Sysbench iteration touches besides the file's page cache (kernel paths, the program,
   * what QEMU touches for its devices), counted as the pages that came back in after the pager had
   * evicted them all. Host memory below it thrashes on the guest's own pages: the floor of a host limit.
   */
  hotMiB: number;
  /** How and when it was measured, for the run's meta. */
  how: string;
}

/** The guest's kernel and initramfs decide its footprint: the cache key is their content. */
export function footprintKey(img: Pick<GuestImage, 'kernel' | 'initrd'>): string {
  const h = createHash('sha256');
  for (const f of [img.kernel, img.initrd]) h.update(readFileSync(f));
  return h.digest('hex').slice(0, 16);
}

function footprintFile(key: string): string {
  return join(cacheDir(), `guest-footprint-${key}.json`);
}

/** The footprint measured earlier for this guest, or undefined. */
export function cachedFootprint(key: string): GuestFootprint | undefined {
  const f = footprintFile(key);
  if (!existsSync(f) || statSync(f).size === 0) return undefined;
  try {
    const v = JSON.parse(readFileSync(f, 'utf8')) as Partial<GuestFootprint>;
    if (typeof v.ownMiB === 'number' && typeof v.hotMiB === 'number' && typeof v.how === 'string')
      return { ownMiB: v.ownMiB, hotMiB: v.hotMiB, how: v.how };
  } catch {
    // a torn or foreign file: measured again
  }
  return undefined;
}

/** Keeps a measurement (written whole, then renamed: a crash leaves the old one or none). */
export function storeFootprint(key: string, fp: GuestFootprint): void {
  mkdirSync(cacheDir(), { recursive: true });
  const f = footprintFile(key);
  writeFileSync(`${f}.tmp`, JSON.stringify(fp, null, 2));
  renameSync(`${f}.tmp`, f);
}

/** Measures (or finds, cached) the guest's footprint; given to a real engine by whoever can measure it. */
export type FootprintProvider = (
  onProgress: (m: string) => void,
  signal?: AbortSignal,
) => Promise<GuestFootprint>;

/** A scaled run's sizes do not fit this guest, with the numbers. */
export class ScaledSizesError extends Error {
  override name = 'ScaledSizesError';
}
