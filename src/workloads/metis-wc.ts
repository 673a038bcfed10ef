import { pagesFromMiB } from '../core/index.js';
import type { Program } from '../sim/guest/guest-os.js';
import type { GuestProcess } from '../sim/guest/process.js';
import { Condition } from './sync.js';
import type { Workload, WorkloadContext } from './types.js';

export interface MetisWcParams {
  /** The input file (§5.2: 300 MB holding 1M keys). */
  inputMiB: number;
  /** Map (and reduce) worker threads: Metis runs one per core; the paper's guests have 2 vCPUs. */
  threads: number;
  /** The intermediate tables at the end of the map phase (§5.2: "roughly 1GB"). */
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
  /** The hash index each map thread looks words up in (1M keys x ~32 bytes, per thread). */
  indexMiB: number;
  /** Index pages a map step touches (a sample of the random lookups it makes). */
  indexTouchesPerRead: number;
  /** Reduce walks the tables in segments of this many pages (one bucket's array of one thread). */
  reduceSegmentPages: number;
}

/**
 * §5.2: Metis's word count (app/wc.cc of the Metis MapReduce library) on a 300 MB input with 1M
 * distinct keys. Which values are the paper's and which are estimates:
 * - paper: input 300 MB, 1M keys, tables of roughly 1 GB, 2 vCPUs (so 2 workers).
 * - estimate: the tables grow in proportion to the input mapped: Metis appends a (key, value) pair
 *   per word occurrence to the map worker's bucket arrays (16 bytes per word; 300 MB of text holds
 *   about 50M words, so about 0.8 GB, plus the key copies), so the tables fill as the map proceeds.
 * - estimate: the hash index of 32 bytes per key per worker, sampled at 64 page touches per read.
 * - estimate: reduce reads each bucket's arrays (segments of 8 pages) in bucket order, which is not
 *   the order they were written in (a permutation of the segments).
 * - estimate: CPU time: the paper's unconstrained run (Fig. 14, 1 guest, about 33.7 s) split 80 %
 *   map, 15 % reduce, 5 % merge. Our guest has one vCPU (the guest model runs one), so the two
 *   workers share it: their CPU time is that run's wall time, not twice it.
 * Metis mmaps its input; here the workers read() it through the page cache, which costs the same
 * page-cache pages and disk reads (the copy into the pinned buffer is the one difference).
 */
export const METIS_WC_PAPER: MetisWcParams = {
  inputMiB: 300,
  threads: 2,
  tablesMiB: 1000,
  resultsMiB: 16,
  readPages: 32,
  mapCpuNsPerByte: (0.8 * 33.7e9) / (300 * 1024 * 1024),
  reduceCpuNsPerByte: (0.15 * 33.7e9) / (1000 * 1024 * 1024),
  mergeCpuNs: 0.05 * 33.7e9,
  indexMiB: 32,
  indexTouchesPerRead: 64,
  reduceSegmentPages: 8,
};

export function metisWc(params: MetisWcParams = METIS_WC_PAPER): Workload {
  const inputPages = pagesFromMiB(params.inputMiB);
  const tablePages = Math.max(params.threads, pagesFromMiB(params.tablesMiB));
  const resultPages = Math.max(1, pagesFromMiB(params.resultsMiB));
  const indexPages = Math.max(1, pagesFromMiB(params.indexMiB));
  const readPages = params.readPages;
  const threads = params.threads;
  if (!(inputPages >= readPages)) throw new RangeError(`metis.inputMiB: too small, got ${params.inputMiB}`);
  if (!(Number.isInteger(threads) && threads > 0))
    throw new RangeError(`metis.threads: must be a positive integer, got ${threads}`);
  if (!(Number.isInteger(readPages) && readPages > 0))
    throw new RangeError(`metis.readPages: must be a positive integer, got ${readPages}`);
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
      const proc = os.anon.createProcess('metis-wc', tablePages + resultPages + threads * indexPages + 256);
      const tables: number[] = [];
      const indexes: number[] = [];
      for (let t = 0; t < threads; t++) {
        tables.push(proc.reserve(tablePerThread));
        indexes.push(proc.reserve(indexPages));
      }
      const results = proc.reserve(resultPages);
      ctx.iterationStart(1);
      // Map: the workers take the input's reads in turn (Metis's splits), look every word up in
      // their hash index and append a pair to their tables, whose new pages are zero-filled.
      let nextRead = 0;
      let running = threads;
      const finished = new Condition(os);
      const filled = new Array<number>(threads).fill(0);
      function* mapper(t: number): Program {
        for (;;) {
          const r = nextRead++;
          if (r >= reads) break;
          const first = r * readPages;
          const n = Math.min(readPages, inputPages - first);
          yield* os.read(0, first, n);
          for (let k = 0; k < params.indexTouchesPerRead; k++)
            yield* os.anon.touch(proc, indexes[t]! + rng.int(indexPages), true);
          // This worker's share of the tables, filled in proportion to the input it has mapped.
          const want = Math.min(tablePerThread, Math.ceil(((r + 1) * tablePerThread) / reads));
          if (want > filled[t]!) {
            yield* os.anon.touchRange(proc, tables[t]! + filled[t]!, want - filled[t]!, true);
            filled[t] = want;
          }
          yield* os.compute(n * 4096 * params.mapCpuNsPerByte);
        }
        running--;
        finished.signal();
      }
      const waitWorkers = (): Program => finished.waitUntil(() => running === 0);
      for (let t = 0; t < threads; t++) os.spawn(mapper(t));
      yield* waitWorkers();
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
