/**
 * The simulator's clock and agenda: a binary min-heap on (time, insertion order), so events at the
 * same instant run in the order they were scheduled and runs are byte-for-byte deterministic.
 */
export class EventQueue {
  private times: number[] = [];
  private seqs: number[] = [];
  private fns: (() => void)[] = [];
  private seq = 0;
  /** Virtual time in nanoseconds. */
  nowNs = 0;
  processed = 0;

  get size(): number {
    return this.fns.length;
  }

  /** Time of the earliest pending event, or +Infinity. */
  peekTimeNs(): number {
    return this.fns.length > 0 ? this.times[0]! : Infinity;
  }

  /**
   * Moves the clock forward to `timeNs` without running anything. Legal only while no event is due
   * earlier: a vCPU that computed locally uses it to act at its own time.
   */
  advanceTo(timeNs: number): void {
    if (timeNs > this.peekTimeNs())
      throw new RangeError(`EventQueue: cannot advance to ${timeNs} ns past a pending event`);
    if (timeNs > this.nowNs) this.nowNs = timeNs;
  }

  at(timeNs: number, fn: () => void): void {
    if (!(timeNs >= this.nowNs))
      throw new RangeError(`EventQueue: event at ${timeNs} ns is before now (${this.nowNs} ns)`);
    const t = this.times;
    const s = this.seqs;
    const f = this.fns;
    let i = f.length;
    t.push(timeNs);
    s.push(this.seq++);
    f.push(fn);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (t[parent]! < t[i]! || (t[parent] === t[i] && s[parent]! < s[i]!)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  after(delayNs: number, fn: () => void): void {
    this.at(this.nowNs + delayNs, fn);
  }

  /** Runs the earliest event; false when none is left. */
  step(): boolean {
    const f = this.fns;
    if (f.length === 0) return false;
    const t = this.times;
    const s = this.seqs;
    const timeNs = t[0]!;
    const fn = f[0]!;
    const last = f.length - 1;
    t[0] = t[last]!;
    s[0] = s[last]!;
    f[0] = f[last]!;
    t.pop();
    s.pop();
    f.pop();
    let i = 0;
    const n = f.length;
    while (true) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && (t[l]! < t[m]! || (t[l] === t[m] && s[l]! < s[m]!))) m = l;
      if (r < n && (t[r]! < t[m]! || (t[r] === t[m] && s[r]! < s[m]!))) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    this.nowNs = timeNs;
    this.processed++;
    fn();
    return true;
  }

  private swap(a: number, b: number): void {
    const t = this.times;
    const s = this.seqs;
    const f = this.fns;
    // Temporaries, not destructuring: the compiler did not always see through the arrays that
    // builds, and each swap of the heap allocated two (5 % of a many-guest run's allocation).
    const ta = t[a]!;
    t[a] = t[b]!;
    t[b] = ta;
    const sa = s[a]!;
    s[a] = s[b]!;
    s[b] = sa;
    const fa = f[a]!;
    f[a] = f[b]!;
    f[b] = fa;
  }
}
