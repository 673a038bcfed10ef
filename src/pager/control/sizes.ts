/**
 * Sizes with units as operators write them (QEMU's -m, qemu-img): a number with an optional
 * binary suffix, K/M/G/T (KiB, MiB, GiB, TiB; a trailing "B" or "iB" allowed), bytes without one.
 */
export class SizeError extends Error {
  override name = 'SizeError';
}

const UNIT: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Bytes; throws SizeError naming `what` and the text. */
export function parseSize(what: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (!m) throw new SizeError(`${what} must be a size like 512M or 2G, got "${text}"`);
  const bytes = Math.floor(Number(m[1]) * UNIT[m[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw new SizeError(`${what} must be a positive size, got "${text}"`);
  return bytes;
}
