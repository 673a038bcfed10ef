/**
 * The daemon's `stats` object ({ uptimeS, device, image, swap, disk, pager }) as one flat map of
 * numbers, the control socket's `query-stats` and the metrics' input: the pager's counters keep
 * their names (the experiments' names); the others are prefixed by where they come from
 * (`disk.swap.readOps` becomes `diskSwapReadOps`, `swap.readOps` (the swap file's) `swapFileReadOps`).
 */
export function flattenStats(stats: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (prefix: string, v: unknown): void => {
    if (typeof v === 'number') {
      if (Number.isFinite(v)) out[prefix] = v;
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v))
      walk(prefix === '' ? k : `${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, x);
  };
  // The swap and image files' own counts would collide with the pager's (`swapReadOps`).
  const prefix: Record<string, string> = { pager: '', swap: 'swapFile', image: 'imageFile' };
  for (const [k, v] of Object.entries(stats)) walk(prefix[k] ?? k, v);
  return out;
}
