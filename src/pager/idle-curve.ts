/**
 * The idle probe's arithmetic (pure): from the faults a guest took after the pager evicted all it
 * could, the working-set curve WSS(W), the rate of new pages at long W, where the pages are, and
 * what the simulator's uniform background touches give for the same.
 */

/** One fault after an eviction: seconds since the eviction ended, the guest page, whether it was read from swap. */
export interface IdleFault {
  tS: number;
  page: number;
  /** Read back from swap (the page had content the host took); false: zero-filled, or a write-protect fault. */
  read: boolean;
}

/** The windows the curve is given at (seconds after the eviction). */
export const IDLE_WINDOWS_S = [0.5, 1, 2, 5, 10, 20, 30, 60, 120] as const;

/** Each page's first fault, in time order (later faults on a page add nothing to the working set). */
export function firstTouches(faults: readonly IdleFault[]): IdleFault[] {
  const seen = new Set<number>();
  const out: IdleFault[] = [];
  for (const f of [...faults].sort((a, b) => a.tS - b.tS)) {
    if (f.tS < 0 || seen.has(f.page)) continue;
    seen.add(f.page);
    out.push(f);
  }
  return out;
}

/** WSS(W): distinct pages touched within W seconds after the eviction, for each W. */
export function wssCurve(faults: readonly IdleFault[], windowsS: readonly number[]): number[] {
  const firsts = firstTouches(faults);
  return windowsS.map((w) => firsts.filter((f) => f.tS <= w).length);
}

/** New distinct pages per second between W = fromS and W = toS. */
export function newPagesPerSec(faults: readonly IdleFault[], fromS: number, toS: number): number {
  if (!(toS > fromS)) throw new RangeError(`newPagesPerSec: toS (${toS}) must exceed fromS (${fromS})`);
  const [a, b] = wssCurve(faults, [fromS, toS]);
  return (b! - a!) / (toS - fromS);
}

/**
 * The simulator's guest kernel: `touchesPerSec` uniform touches over `kernelPages` pages
 * (GuestOs.background), so the distinct pages after W seconds are K(1 - exp(-rW/K)).
 */
export function modelWss(kernelPages: number, touchesPerSec: number, wS: number): number {
  return kernelPages * (1 - Math.exp((-touchesPerSec * wS) / kernelPages));
}

/** The model's new distinct pages per second between two windows (its long-W rate). */
export function modelNewPagesPerSec(
  kernelPages: number,
  touchesPerSec: number,
  fromS: number,
  toS: number,
): number {
  return (
    (modelWss(kernelPages, touchesPerSec, toS) - modelWss(kernelPages, touchesPerSec, fromS)) / (toS - fromS)
  );
}

/** The median of a list (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A named range of guest pages, [startPage, endPage). */
export interface PageRegion {
  name: string;
  startPage: number;
  endPage: number;
}

const KERNEL_IMAGE = /^Kernel (code|rodata|data|bss)$/;

/** The kernel image's ranges (code, rodata, data, bss) in the guest's /proc/iomem, as pages. */
export function kernelRegions(iomemLines: readonly string[], pageBytes = 4096): PageRegion[] {
  const out: PageRegion[] = [];
  for (const line of iomemLines) {
    const m = /^\s*([0-9a-f]+)-([0-9a-f]+) : (.+)$/.exec(line);
    if (!m || !KERNEL_IMAGE.test(m[3]!.trim())) continue;
    const start = Number.parseInt(m[1]!, 16);
    const end = Number.parseInt(m[2]!, 16) + 1;
    out.push({
      name: m[3]!.trim(),
      startPage: Math.floor(start / pageBytes),
      endPage: Math.ceil(end / pageBytes),
    });
  }
  return out;
}

/** Which region a page is in, or 'elsewhere'. */
export function regionOf(page: number, regions: readonly PageRegion[]): string {
  return regions.find((r) => page >= r.startPage && page < r.endPage)?.name ?? 'elsewhere';
}

/** First touches per region (the kernel image's parts, then 'elsewhere'). */
export function byRegion(
  faults: readonly IdleFault[],
  regions: readonly PageRegion[],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of regions) out[r.name] = 0;
  out.elsewhere = 0;
  for (const f of firstTouches(faults)) {
    const k = regionOf(f.page, regions);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** First touches per guest-physical bucket of `bucketPages` pages: [first page of the bucket, count], non-empty ones. */
export function histogram(faults: readonly IdleFault[], bucketPages: number): [number, number][] {
  const counts = new Map<number, number>();
  for (const f of firstTouches(faults)) {
    const b = Math.floor(f.page / bucketPages) * bucketPages;
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => a[0] - b[0]);
}

/**
 * The fault trace's rows (`layout.fields` numbers each: the page, the daemon's wake-up in ns, ...;
 * null or NaN for a stage not passed; `layout.readStartAt` is the read's start) as faults, timed
 * from `t0Ns` (the same monotonic clock).
 */
export function faultsFromTrace(
  records: readonly (number | null)[],
  layout: { fields: number; readStartAt: number },
  t0Ns: number,
): IdleFault[] {
  const out: IdleFault[] = [];
  for (let i = 0; i + layout.fields <= records.length; i += layout.fields) {
    const page = records[i];
    const woke = records[i + 1];
    if (page === null || page === undefined || woke === null || woke === undefined) continue;
    const readStart = records[i + layout.readStartAt];
    out.push({
      // The trace starts after t0, so every fault in it is after it; one served in the loop's turn
      // that started the trace carries that turn's wake-up, a moment before t0.
      tS: Math.max(0, (woke - t0Ns) / 1e9),
      page,
      read: readStart !== null && readStart !== undefined && !Number.isNaN(readStart),
    });
  }
  return out;
}

/**
 * Bits of the guest's /proc/kpageflags (include/uapi/linux/kernel-page-flags.h; RESERVED is one of
 * the "hacking" bits fs/proc/page.c exports too).
 */
const KPF = {
  SLAB: 7,
  BUDDY: 10,
  ANON: 12,
  LRU: 5,
  NOPAGE: 20,
  PGTABLE: 26,
  RESERVED: 32,
} as const;

/** What a guest page holds, from its kpageflags: the first that applies, in this order. */
export const PAGE_KINDS = [
  'no page',
  'reserved',
  'page table',
  'slab',
  'free (buddy)',
  'anon (LRU)',
  'file (LRU)',
  'other kernel',
] as const;
export type PageKind = (typeof PAGE_KINDS)[number];

/** A page's kind from its kpageflags (a 64-bit value; bit tests through BigInt). */
export function pageKind(flags: bigint): PageKind {
  const has = (bit: number): boolean => ((flags >> BigInt(bit)) & 1n) === 1n;
  if (has(KPF.NOPAGE)) return 'no page';
  if (has(KPF.RESERVED)) return 'reserved';
  if (has(KPF.PGTABLE)) return 'page table';
  if (has(KPF.SLAB)) return 'slab';
  if (has(KPF.BUDDY)) return 'free (buddy)';
  if (has(KPF.LRU)) return has(KPF.ANON) ? 'anon (LRU)' : 'file (LRU)';
  // Kernel stacks, percpu areas, vmalloc, the memmap: allocated pages with no flag of their own.
  return 'other kernel';
}

/** The pages as runs of consecutive pages: [first, length], in order. */
export function pageRuns(pages: Iterable<number>): [number, number][] {
  const sorted = [...new Set(pages)].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const p of sorted) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === p) last[1]++;
    else runs.push([p, 1]);
  }
  return runs;
}

/**
 * The guest's command reading `runs`' flags: per run a marker line, then busybox od's decimal
 * 64-bit words (its -j/-N take bytes: 8 a page; -v, or equal lines would be folded into a '*').
 */
export function kpageflagsCommand(runs: readonly [number, number][]): string {
  return runs
    .map(([p, n]) => `echo @R ${p}; busybox od -v -An -tu8 -j ${p * 8} -N ${n * 8} /proc/kpageflags`)
    .join('; ');
}

/** The flags of each page from kpageflagsCommand's output. */
export function parseKpageflags(lines: readonly string[]): Map<number, bigint> {
  const out = new Map<number, bigint>();
  let page = -1;
  for (const line of lines) {
    const m = /^@R (\d+)$/.exec(line.trim());
    if (m) {
      page = Number(m[1]);
      continue;
    }
    if (page < 0) continue;
    for (const w of line.trim().split(/\s+/)) if (/^\d+$/.test(w)) out.set(page++, BigInt(w));
  }
  return out;
}

/** Distinct pages per kind (pages with no flags read are 'unknown'). */
export function byKind(pages: Iterable<number>, flags: ReadonlyMap<number, bigint>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of new Set(pages)) {
    const f = flags.get(p);
    const k = f === undefined ? 'unknown' : pageKind(f);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
