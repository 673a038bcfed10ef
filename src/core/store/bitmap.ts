/**
 * One bit per index in an Int32Array: the page table's pinned and linked pages, the pages with
 * fault waiters, the used swap slots. A bitmap (32 KiB per GiB of guest) stays in cache where a
 * byte or word per page, read for pages scattered over the guest, missed on most of them.
 */
export function newBitmap(size: number): Int32Array {
  return new Int32Array((size + 31) >>> 5);
}

export function hasBit(bits: Int32Array, i: number): boolean {
  return (bits[i >>> 5]! & (1 << (i & 31))) !== 0;
}

/** Sets bit `i` (setBit without its branch on a boolean argument, for hot paths that know which). */
export function setBitOn(bits: Int32Array, i: number): void {
  bits[i >>> 5]! |= 1 << (i & 31);
}

/** Clears bit `i` (see setBitOn). */
export function clearBit(bits: Int32Array, i: number): void {
  bits[i >>> 5]! &= ~(1 << (i & 31));
}

/** Sets (or clears) bit `i`. */
export function setBit(bits: Int32Array, i: number, on: boolean): void {
  if (on) bits[i >>> 5]! |= 1 << (i & 31);
  else bits[i >>> 5]! &= ~(1 << (i & 31));
}
