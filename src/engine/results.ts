/**
 * The result schema every engine writes (`DIR/<figure>.json`). Engines fill what they can measure;
 * a metric an engine cannot observe is absent, never zero.
 */

/** The paper's five configurations, named exactly as §5 names them: what a figure runs by default. */
export const PAPER_CONFIG_NAMES = ['baseline', 'balloon', 'mapper', 'vswapper', 'balloon+vswapper'] as const;

/**
 * Configurations the paper does not run, run only when asked for by name (`--configs`):
 * `balloon+mapper`, the balloon with the Swap Mapper as its fallback swapping (the Preventer off);
 * `baseline+fpr`, the baseline guest (the host swaps it uncooperatively) whose virtio-balloon device,
 * never inflated, has free page reporting on (Linux 5.7's CONFIG_PAGE_REPORTING, QEMU 5.1's
 * `free-page-reporting=on`): the guest tells the host which of its pages are free, and the host
 * discards them. It is named after the baseline because that is where the guest's free pages are
 * what the host swaps (stale reads, silent writes); a ballooned guest has little free memory left.
 */
export const EXTRA_CONFIG_NAMES = ['balloon+mapper', 'baseline+fpr'] as const;

/** Every configuration an engine may know: the paper's five, then the extra ones. */
export const CONFIG_NAMES = [...PAPER_CONFIG_NAMES, ...EXTRA_CONFIG_NAMES] as const;
export type ConfigName = (typeof CONFIG_NAMES)[number];

/** Whether `c` is one of the paper's five (run by default) rather than an extra one (run when named). */
export function isPaperConfig(c: ConfigName): boolean {
  return (PAPER_CONFIG_NAMES as readonly string[]).includes(c);
}

export type EngineName = 'sim' | 'qemu' | 'qemu-pager';

/**
 * Every counter a run can report. Units are in the names where they are not counts; sectors are 512 B.
 * See docs in README "Counters" for where each is counted.
 */
export const METRIC_NAMES = [
  'runtimeS',
  'diskOps',
  'diskReadOps',
  'diskWriteOps',
  'swapReadOps',
  'swapWriteOps',
  'imageReadOps',
  'imageWriteOps',
  'swapReadSectors',
  'swapWriteSectors',
  'imageReadSectors',
  'imageWriteSectors',
  'staleSwapReads',
  'falseSwapReads',
  'silentSwapWrites',
  'hostFaultsInGuest',
  'hostFaultsInHost',
  'hostFaultsVmm',
  'swapReadRunLengthMean',
  'swapReadFaults',
  'pagesScanned',
  'namedResidentPages',
  'anonResidentPages',
  'mapperTrackedPages',
  'namedCowFaults',
  'balloonPages',
  'preventerRemaps',
  'preventerEmulatedPages',
  'preventerFallbacks',
  'guestMajorFaults',
  'guestPageCachePages',
  'guestCleanPageCachePages',
  'guestDirtyPages',
  'guestSwapWritePages',
  'guestSwapReadPages',
  'guestOomKills',
  'integrityViolations',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];
export type Metrics = Partial<Record<MetricName, number>>;

export interface RunRecord {
  config: ConfigName;
  /** Iteration number, memory size in MB or seconds, as the figure's x axis; null for bar charts. */
  x: number | null;
  metrics: Metrics;
  /** The workload did not finish (e.g. OOM-killed): reported as killed, not as a number. */
  killed?: boolean;
  /** Over the repeated runs (seeds) behind a mean: each metric's smallest and largest value. */
  spread?: { min: Metrics; max: Metrics };
  /** Honest remarks about this run (e.g. "vswapper runs without the Preventer"). */
  notes?: string[];
}

export interface FigureResult {
  figure: string;
  engine: EngineName;
  runs: RunRecord[];
  /** What produced it: machine, engine mode (tcg/kvm, hdd-like), seed, scale, wall time. */
  meta: Record<string, string | number | boolean | null>;
}
