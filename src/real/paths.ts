import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root (this file is dist/src/real/paths.js): where `scripts/` is. */
export const PKG_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const DEFAULT_CACHE = '/var/cache/vswapper';

/**
 * The real engines' folder outside git: guest image, swap files, journals of host changes and the
 * run lock (`VSWAPPER_CACHE` moves it).
 */
export function cacheDir(): string {
  return process.env.VSWAPPER_CACHE ?? DEFAULT_CACHE;
}

export const MiB = 1048576;
