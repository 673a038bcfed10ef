import { pagesFromMiB } from '../core/index.js';
import type { Program } from '../sim/guest/guest-os.js';
import type { AnonMemory } from '../sim/guest/anon.js';
import type { GuestProcess } from '../sim/guest/process.js';
import type { Rng } from '../sim/rng.js';
import { FlooredExponentialTable } from './floored-exponential.js';
import { Condition } from './sync.js';
import type { Workload, WorkloadContext } from './types.js';

export interface MetisWcParams {
  /** The input file (§5.2: 300 MB holding 1M keys). */
  inputMiB: number;
  /** Distinct words in the input (§5.2: 1M keys). */
  keys: number;
  /** Bytes of input per word, the separating space included. */
  bytesPerWord: number;
  /** Map (and reduce) worker threads: Metis runs one per core; the paper's guests have 2 vCPUs. */
  threads: number;
  /** The workers' hash tables (B+trees of (key, count)) once every key is in them. */
  tablesMiB: number;
  /** The final (key, count) array: 1M keys x 16 bytes (a key pointer and a count). */
  resultsMiB: number;
  /** Pages one read() of the input brings (the guest's readahead window, 128 KiB). */
  readPages: number;
  /** Guest CPU time of the map phase, per input byte; and of the reduce phase, per table byte. */
  mapCpuNsPerByte: number;
  reduceCpuNsPerByte: number;
  /** Guest CPU time of the final merge (sorting 1M results by count), in total. */
  mergeCpuNs: number;
  /** Reduce walks the tables in segments of this many pages (one bucket's B+tree of one worker). */
  reduceSegmentPages: number;
}

/**
 * The word count's phases as Metis prints them (sample and map together), for timelines.
 */
export const METIS_PHASES = ['map', 'reduce', 'merge'] as const;

/** Metis's own run on this machine (see METIS_WC_PAPER): map, reduce, merge in milliseconds. */
const METIS_MEASURED_MS = { map: 8204 + 295_387, reduce: 2520, merge: 5991 };
const METIS_MEASURED_TOTAL_MS = METIS_MEASURED_MS.map + METIS_MEASURED_MS.reduce + METIS_MEASURED_MS.merge;
/** The paper's unconstrained run: Fig. 14, 1 guest, about 33.7 s. */
const PAPER_ALONE_NS = 33.7e9;

/**
 * §5.2: Metis's word count (app/wc.cc of the Metis MapReduce library, github.com/ydmao/Metis at
 * e5b04e2, the test suite's `wc data/wc/300MB_1M_Keys.txt`) on a 300 MB input with 1M distinct
 * keys. What the source says:
 * - the input is mmapped (lib/defsplitter.hh, mmap_file), so its pages are page cache the workers
 *   fault in; here they read() it through the same page cache (same pages, same disk reads).
 * - wc has a value modifier (`has_value_modifier`, `modify_function` adds): map_emit() looks the
 *   word up in the worker's table (a hash of B+trees, DEFAULT_MAP_DS index_btree) and adds 1 to
 *   its count in place. A worker's table holds each distinct key it has seen once, so it grows
 *   with the distinct keys, not with the words, and every word updates a random entry: the whole
 *   table is written at random for the whole map phase.
 * - reduce merges the workers' trees bucket by bucket into (key, count) arrays; merge sorts those
 *   (PSRS, USE_PSRS 1).
 * Sizes and times:
 * - paper: 300 MB input, 1M keys, 2 vCPUs (2 workers); "the memory consumption of Metis is large,
 *   as it holds large tables in memory, amounting to roughly 1GB": its consumption, which holds the
 *   mmapped input (300 MB) besides the tables. So tables = 1000 - 300 - the 16 MB of results.
 *   (An earlier version read it as 1 GB of tables on top of the input and a 64 MB index: 1.38 GB.)
 *   Metis itself, built from that commit and run here with 2 workers on 300 MB of words drawn
 *   uniformly from 1M (999,670 distinct), peaked at 641 MB resident, the input included: the
 *   paper's 1 GB is an upper figure (its data file, allocator and build are not given).
 * - measured, same run: sample 8.2 s + map 295.4 s, reduce 2.5 s, merge 6.0 s (Metis's own phase
 *   timer; this shared VM is slow, the proportions are what we use): 97.3 % / 0.8 % / 1.9 % of the
 *   paper's unconstrained 33.7 s. Our guest has one vCPU (the guest model runs one), so the two
 *   workers share it: their CPU time is that run's wall time, not twice it.
 * - estimate: 7.5 bytes per word (Metis's data_tool/gen.cc draws words of 1-12 letters); a worker
 *   has seen a fraction 1 - exp(-w / keys) of the keys after w words (uniform keys), so its table
 *   is fully grown within the first tenth of the input.
 * - a map step updates one count per word of its read, each in a random entry of the worker's
 *   table: the ~17.5K words of a 128 KiB read write ~16K of a worker's ~88K table pages. Every
 *   update is a touch here. (Until session 10 a sample of 1,024 a read stood for them; it was as
 *   hot to the host's reclaim as the real updates only while the guest ran at full speed. A guest
 *   stalled on host swap makes fewer steps a second, and each page of the sample was written 16x
 *   less often per step than the real one, so the host's reclaim found most of a running guest's
 *   tables unreferenced and took them: ten guests, seed 1, took 344 s with the sample.)
 * - estimate: reduce reads each bucket's trees (segments of 8 pages) in bucket order, which is not
 *   the order their nodes were allocated in (a permutation of the segments).
 */
export const METIS_WC_PAPER: MetisWcParams = {
  inputMiB: 300,
  keys: 1_000_000,
  bytesPerWord: 7.5,
  threads: 2,
  tablesMiB: 1000 - 300 - 16,
  resultsMiB: 16,
  readPages: 32,
  mapCpuNsPerByte: (PAPER_ALONE_NS * METIS_MEASURED_MS.map) / METIS_MEASURED_TOTAL_MS / (300 * 1024 * 1024),
  reduceCpuNsPerByte:
    (PAPER_ALONE_NS * METIS_MEASURED_MS.reduce) / METIS_MEASURED_TOTAL_MS / ((1000 - 300 - 16) * 1024 * 1024),
  mergeCpuNs: (PAPER_ALONE_NS * METIS_MEASURED_MS.merge) / METIS_MEASURED_TOTAL_MS,
  reduceSegmentPages: 8,
};

/** Table pages a map step hands to the guest at once (a batch; any size gives the same run). */
const MAP_RUN_PAGES = 256;

/**
 * A map step's next run of pages: base + at, then each one a gap (gaps.gap() of a draw) + 1 past
 * the last, while below base + end, at most run.length - 1 of them; run[k] gets the one after the
 * last (where the next run starts). Returns k, having drawn k numbers. A plain function rather
 * than a closure in the worker's generator: V8 runs its loop about a third faster.
 */
export function drawPages(
  run: Int32Array,
  base: number,
  at: number,
  end: number,
  rng: Rng,
  gaps: FlooredExponentialTable,
): number {
  const max = run.length - 1;
  let k = 0;
  let next = at;
  for (; k < max && next < end; k++) {
    run[k] = base + next;
    next += 1 + gaps.gap(rng.nextUint32());
  }
  run[k] = base + next;
  return k;
}

/**
 * A map step's pages from base + at on, drawn ahead (drawPages) and touched in runs, up to the end
 * of the step (returns -1) or to a page whose touch must wait (returns it, to be touched with a
 * generator; the draws after it given back). A plain function, not the worker's generator: the
 * step's ~16K pages go through it.
 */
function touchDrawn(
  anon: AnonMemory,
  proc: GuestProcess,
  run: Int32Array,
  base: number,
  at: number,
  end: number,
  rng: Rng,
  gaps: FlooredExponentialTable,
): number {
  while (at < end) {
    const k = drawPages(run, base, at, end, rng, gaps);
    const done = anon.tryTouchRun(proc, run, 0, k, true);
    if (done === k) {
      at = run[k]! - base;
      continue;
    }
    // Page `done` must wait, and the other worker may draw while it does: the draws for the pages
    // after it are given back, to be drawn after the touch as one at a time would.
    rng.unread(k - done);
    return run[done]!;
  }
  return -1;
}

export function metisWc(params: MetisWcParams = METIS_WC_PAPER): Workload {
  const inputPages = pagesFromMiB(params.inputMiB);
  const tablePages = Math.max(params.threads, pagesFromMiB(params.tablesMiB));
  const resultPages = Math.max(1, pagesFromMiB(params.resultsMiB));
  const readPages = params.readPages;
  const threads = params.threads;
  if (!(inputPages >= readPages)) throw new RangeError(`metis.inputMiB: too small, got ${params.inputMiB}`);
  if (!(Number.isInteger(threads) && threads > 0))
    throw new RangeError(`metis.threads: must be a positive integer, got ${threads}`);
  if (!(Number.isInteger(readPages) && readPages > 0))
    throw new RangeError(`metis.readPages: must be a positive integer, got ${readPages}`);
  if (!(params.keys >= 1 && params.bytesPerWord > 0))
    throw new RangeError(
      `metis: keys and bytesPerWord must be positive, got ${params.keys}, ${params.bytesPerWord}`,
    );
  const reads = Math.ceil(inputPages / readPages);
  const tablePerThread = Math.ceil(tablePages / threads);
  const seg = Math.max(1, params.reduceSegmentPages);
  return {
    name: 'metis-wc',
    files: [{ name: 'wc-300MB-1Mkeys.txt', sizePages: inputPages }],
    userBufferPages: readPages,
    iterations: 1,
    *program(ctx: WorkloadContext) {
      const os = ctx.os;
      const rng = os.workloadRng;
      const proc = os.anon.createProcess('metis-wc', tablePages + resultPages + 256);
      const tables: number[] = [];
      for (let t = 0; t < threads; t++) tables.push(proc.reserve(tablePerThread));
      const results = proc.reserve(resultPages);
      ctx.iterationStart(1);
      ctx.phase?.('map');
      // Map: the workers take the input's splits in turn, and add 1 to each word's count in their
      // table in place; a word not seen before adds an entry, so the table grows (new pages zero-
      // filled) as the worker meets new keys.
      let nextRead = 0;
      let running = threads;
      const finished = new Condition(os);
      const filled = new Array<number>(threads).fill(0);
      const wordsSeen = new Array<number>(threads).fill(0);
      const keysPerTable = params.keys;
      function* mapper(t: number): Program {
        const run = new Int32Array(MAP_RUN_PAGES + 1);
        const gaps = new FlooredExponentialTable();
        for (;;) {
          const r = nextRead++;
          if (r >= reads) break;
          const first = r * readPages;
          const n = Math.min(readPages, inputPages - first);
          yield* os.read(0, first, n);
          wordsSeen[t]! += (n * 4096) / params.bytesPerWord;
          const want = Math.min(
            tablePerThread,
            Math.ceil(tablePerThread * (1 - Math.exp(-wordsSeen[t]! / keysPerTable))),
          );
          if (want > filled[t]!) {
            yield* os.anon.touchRange(proc, tables[t]! + filled[t]!, want - filled[t]!, true);
            filled[t] = want;
          }
          // The read's W words update entries of the P-page table drawn at random, so a page
          // escapes all of them with probability (1 - 1/P)^W ~ exp(-W/P). Taking each page's
          // escape as independent of the others' (they are slightly anti-correlated: the W words
          // land somewhere), the written pages are a Bernoulli sequence and the gap before the next
          // one is geometric, floor(-ln(1 - u) P/W): the ~16K pages of a 17.5K-word step visited
          // once each, in address order (test/metis-wc.test.ts checks their number and spread).
          const words = (n * 4096) / params.bytesPerWord;
          const pagesPerWord = filled[t]! / words;
          const base = tables[t]!;
          const end = filled[t]!;
          gaps.setMean(pagesPerWord);
          for (let at = gaps.gap(rng.nextUint32()); ;) {
            const wait = touchDrawn(os.anon, proc, run, base, at, end, rng, gaps);
            if (wait < 0) break;
            // A generator only for a touch that must wait (most find their page present).
            yield* os.anon.touch(proc, wait, true);
            at = wait - base + 1 + gaps.gap(rng.nextUint32());
          }
          yield* os.compute(n * 4096 * params.mapCpuNsPerByte);
        }
        running--;
        finished.signal();
      }
      const waitWorkers = (): Program => finished.waitUntil(() => running === 0);
      for (let t = 0; t < threads; t++) os.spawn(mapper(t));
      yield* waitWorkers();
      ctx.phase?.('reduce');
      // Reduce: the workers take the buckets in turn, read every worker's array of the bucket (in
      // bucket order, not the order they were appended in), sum the counts, emit a result each.
      const segments: { table: number; at: number; n: number }[] = [];
      for (let t = 0; t < threads; t++)
        for (let at = 0; at < filled[t]!; at += seg)
          segments.push({ table: tables[t]!, at, n: Math.min(seg, filled[t]! - at) });
      for (let i = segments.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const x = segments[i]!;
        segments[i] = segments[j]!;
        segments[j] = x;
      }
      let nextSeg = 0;
      let resultsDone = 0;
      running = threads;
      function* reducer(p: GuestProcess): Program {
        for (;;) {
          const s = nextSeg++;
          if (s >= segments.length) break;
          const g = segments[s]!;
          yield* os.anon.touchRange(p, g.table + g.at, g.n, false);
          yield* os.compute(g.n * 4096 * params.reduceCpuNsPerByte);
          const want = Math.ceil(((s + 1) * resultPages) / segments.length);
          if (want > resultsDone) {
            const from = resultsDone;
            resultsDone = want;
            yield* os.anon.touchRange(p, results + from, want - from, true);
          }
        }
        running--;
        finished.signal();
      }
      for (let t = 0; t < threads; t++) os.spawn(reducer(proc));
      yield* waitWorkers();
      ctx.phase?.('merge');
      // The tables are freed once reduced; the merge sorts the results (two passes over them).
      for (let t = 0; t < threads; t++) os.anon.unmap(proc, tables[t]!, tablePerThread);
      for (let pass = 0; pass < 2; pass++) {
        yield* os.anon.touchRange(proc, results, resultPages, true);
        yield* os.compute(params.mergeCpuNs / 2);
      }
      ctx.iterationEnd(1);
      os.anon.exit(proc);
    },
  };
}
