/**
 * Round tick values covering [lo, hi] with about `target` intervals, steps of 1, 2, 2.5 or 5 times a
 * power of ten. The first tick is <= lo and the last >= hi, so an axis drawn to them holds all data.
 */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    // A flat series still needs a visible axis: widen around the value (or up from zero).
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = lo >= 0 && lo - pad < 0 ? [0, hi + pad] : [lo - pad, hi + pad];
  }
  const step = niceStep((hi - lo) / Math.max(1, target));
  // Integer multiples of the step, so float error does not accumulate along the axis.
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5]) if (m * magnitude >= raw * (1 - 1e-9)) return m * magnitude;
  return 10 * magnitude;
}

/** Tick labels with as many decimals as the step needs (0.25 -> "0.25", 2.5 -> "2.5", 20 -> "20"), all alike. */
export function formatTicks(ticks: number[]): string[] {
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : 1;
  const stepText = Number(step.toPrecision(6)).toString();
  const decimals = stepText.includes('e-')
    ? Math.ceil(-Math.log10(step) - 1e-9)
    : (stepText.split('.')[1]?.length ?? 0);
  return ticks.map((t) => {
    const s = t.toFixed(Math.min(decimals, 10));
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
  });
}
