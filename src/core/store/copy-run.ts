/**
 * `a.slice(from, to)` for the short runs the core copies on every fault (a swap readahead window, the
 * pages of a read or write action). Array.prototype.slice with arguments is a call into V8's generic
 * builtin (ArrayPrototypeSlice, then ExtractFastJSArray: about 300 instructions, 6 % of the swapping
 * path's), where an array literal of the run's length is allocated inline by the optimizing compiler.
 * The copy is the same: a fresh packed array of the same small integers, in order. Runs longer than
 * a swap cluster (8 pages by default) are sliced.
 */
export function copyRun(a: readonly number[], from: number, to: number): number[] {
  switch (to - from) {
    case 1:
      return [a[from]!];
    case 2:
      return [a[from]!, a[from + 1]!];
    case 3:
      return [a[from]!, a[from + 1]!, a[from + 2]!];
    case 4:
      return [a[from]!, a[from + 1]!, a[from + 2]!, a[from + 3]!];
    case 5:
      return [a[from]!, a[from + 1]!, a[from + 2]!, a[from + 3]!, a[from + 4]!];
    case 6:
      return [a[from]!, a[from + 1]!, a[from + 2]!, a[from + 3]!, a[from + 4]!, a[from + 5]!];
    case 7:
      return [a[from]!, a[from + 1]!, a[from + 2]!, a[from + 3]!, a[from + 4]!, a[from + 5]!, a[from + 6]!];
    case 8:
      return [
        a[from]!,
        a[from + 1]!,
        a[from + 2]!,
        a[from + 3]!,
        a[from + 4]!,
        a[from + 5]!,
        a[from + 6]!,
        a[from + 7]!,
      ];
    default:
      return a.slice(from, to);
  }
}
