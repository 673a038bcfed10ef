import { monoNs } from './loop.js';

/**
 * The moments of one fault's service in the daemon, in order. Stamped on CLOCK_MONOTONIC (`monoNs`), which is
 * the faulting process's clock too, so a bench that notes when it touched the page can tell the
 * wake-ups on either side of the daemon's work from the work itself.
 */
export const FaultStage = {
  /** poll(2) returned with the userfaultfd readable (the daemon is awake). */
  woke: 0,
  /** The fault messages were read and parsed. */
  parsed: 1,
  /** The core has seen the access (touch returned). */
  touched: 2,
  /** The core's read that brings the page in was handed to the disk (evictions may come first). */
  submitted: 3,
  /** The read's completion started: the pread is issued now. */
  readStart: 4,
  /** The pread returned. */
  readEnd: 5,
  /** The UFFDIO_COPY of the page's run is issued (the core's readDone and any earlier copies are done). */
  copying: 6,
  /** That UFFDIO_COPY returned (it woke the faulting thread as it finished). */
  installed: 7,
  /** The daemon is done with the fault (its continuation ran: the release). */
  released: 8,
} as const;
export type FaultStage = (typeof FaultStage)[keyof typeof FaultStage];

/** Fields per record: the page, then one time per stage. */
export const FAULT_TRACE_FIELDS = 10;

/**
 * A per-fault timeline of the daemon's work (for `npm run bench`, off otherwise): which stage of a
 * fault's service takes the time. Records are typed-array rows (page, then the stages' times in ns,
 * NaN for a stage the fault did not pass, such as the read of a zero-filled page); a page has at
 * most one open record, closed by its release. At most `capacity` faults are kept.
 */
export class FaultTrace {
  private readonly rows: Float64Array;
  private readonly open: Int32Array;
  private n = 0;

  constructor(
    pages: number,
    readonly capacity: number,
  ) {
    this.rows = new Float64Array(capacity * FAULT_TRACE_FIELDS).fill(NaN);
    this.open = new Int32Array(pages).fill(-1);
  }

  /** A fault on `page` was read: its record starts with the wake-up and parse times. */
  begin(page: number, wokeNs: number, parsedNs: number): void {
    if (this.n >= this.capacity) return;
    const i = this.n++;
    this.open[page] = i;
    const r = i * FAULT_TRACE_FIELDS;
    this.rows[r] = page;
    this.rows[r + 1 + FaultStage.woke] = wokeNs;
    this.rows[r + 1 + FaultStage.parsed] = parsedNs;
  }

  /** Stamps `stage` now on `page`'s open record, if it has one (the first stamp of a stage counts). */
  stamp(page: number, stage: FaultStage, nowNs = monoNs()): void {
    const i = this.open[page]!;
    if (i < 0) return;
    const at = i * FAULT_TRACE_FIELDS + 1 + stage;
    if (Number.isNaN(this.rows[at]!)) this.rows[at] = nowNs;
  }

  /** Whether `page` has an open record (callers skip the clock read otherwise). */
  isOpen(page: number): boolean {
    return this.open[page]! >= 0;
  }

  /** The fault on `page` is served: its record is closed. */
  end(page: number): void {
    this.stamp(page, FaultStage.released);
    this.open[page] = -1;
  }

  /** The records so far, FAULT_TRACE_FIELDS numbers each (NaN as null once JSON-encoded). */
  records(): number[] {
    return Array.from(this.rows.subarray(0, this.n * FAULT_TRACE_FIELDS));
  }
}
