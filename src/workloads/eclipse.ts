import { pagesFromMiB } from '../core/index.js';
import type { Program } from '../sim/guest/guest-os.js';
import type { Workload, WorkloadContext } from './types.js';

/** One stretch of the benchmark: its CPU time and the file traffic that happens during it. */
export interface EclipsePhase {
  cpuSec: number;
  /** New data read from the DaCapo jar and Eclipse's plugins (page cache that stays clean). */
  readMiB: number;
  /** Files written (the unpacked workspace, build output, indexes): dirty page cache. */
  writeMiB: number;
  /** Files deleted at the end of the phase, from the oldest written. */
  deleteMiB: number;
}

export interface EclipseParams {
  /** -Xmx: the Java heap (§5.1: 128 MB). */
  heapMiB: number;
  /** HotSpot's NewRatio=2: the young generation is a third of the heap. */
  youngFraction: number;
  /** Live data of the old generation that every full collection keeps. */
  liveMiB: number;
  /** Young-collection survivors promoted to the old generation, per collection. */
  promotedMiBPerGc: number;
  /** The JVM outside the heap: class metadata (PermGen), JIT code cache, malloc'd native memory. */
  nonHeapMiB: number;
  /** The JDK and the DaCapo jar read at startup: the page cache when the benchmark starts. */
  startupReadMiB: number;
  /** Allocation rate of the Eclipse workload per CPU second. */
  allocMiBPerCpuSec: number;
  phases: EclipsePhase[];
}

/**
 * §5.1 / Figs. 13 and 15: DaCapo's eclipse benchmark on OpenJDK with a 128 MB heap (serial
 * collector: a 1-vCPU, 512 MB guest is not a "server-class machine"). The file traffic is the page
 * cache of Fig. 15 (83 MB at the start, growing to ~275 MB, files removed at ~30 s and ~63 s, dirty
 * data up to ~40 MB at ~15 s); the CPU time adds up to the paper's unconstrained run (Fig. 13,
 * 512 MB: ~140 s). What the paper does not give is estimated: ~70 MB outside the heap, ~55 MB of
 * long-lived data, ~30 MB allocated per CPU second.
 */
export const ECLIPSE_PAPER: EclipseParams = {
  heapMiB: 128,
  youngFraction: 1 / 3,
  liveMiB: 55,
  promotedMiBPerGc: 2,
  nonHeapMiB: 70,
  startupReadMiB: 80,
  allocMiBPerCpuSec: 30,
  phases: [
    { cpuSec: 8, readMiB: 110, writeMiB: 0, deleteMiB: 0 },
    { cpuSec: 6, readMiB: 0, writeMiB: 40, deleteMiB: 0 },
    { cpuSec: 14, readMiB: 30, writeMiB: 5, deleteMiB: 15 },
    { cpuSec: 32, readMiB: 5, writeMiB: 5, deleteMiB: 35 },
    { cpuSec: 72, readMiB: 5, writeMiB: 18, deleteMiB: 0 },
  ],
};

/** Eden pages the program allocates between two slices of CPU time. */
const CHUNK_PAGES = 64;
/** Reads of live old-generation data and of class metadata per chunk (the mutator's working set). */
const OLD_READS_PER_CHUNK = 16;
const META_READS_PER_CHUNK = 4;
/**
 * Pages of the JDK's and Eclipse's jars read per chunk as classes load and resources are used,
 * skewed to a hot core (page i of n picked as floor(n * u^3), as QEMU's code pages are).
 */
const JAR_READS_PER_CHUNK = 1;

export function eclipse(params: EclipseParams = ECLIPSE_PAPER): Workload {
  const p = params;
  const heapPages = pagesFromMiB(p.heapMiB);
  if (!(heapPages > 0)) throw new RangeError(`eclipse.heapMiB: must be positive, got ${p.heapMiB}`);
  if (!(p.youngFraction > 0 && p.youngFraction < 1))
    throw new RangeError(`eclipse.youngFraction: must be within (0, 1), got ${p.youngFraction}`);
  const youngPages = Math.round(heapPages * p.youngFraction);
  // SurvivorRatio=8: eden and two survivor spaces of a tenth of the young generation each.
  const survivorPages = Math.max(1, Math.round(youngPages / 10));
  const edenPages = youngPages - 2 * survivorPages;
  const oldPages = heapPages - youngPages;
  const livePages = Math.min(oldPages - 1, pagesFromMiB(p.liveMiB));
  const promotePages = Math.max(1, pagesFromMiB(p.promotedMiBPerGc));
  const nonHeapPages = Math.max(1, pagesFromMiB(p.nonHeapMiB));
  const startupPages = Math.max(1, pagesFromMiB(p.startupReadMiB));
  const readPages = p.phases.reduce((a, ph) => a + pagesFromMiB(ph.readMiB), 0);
  const writePages = p.phases.reduce((a, ph) => a + pagesFromMiB(ph.writeMiB), 0);
  const chunkCpuNs = ((CHUNK_PAGES * 4096) / (p.allocMiBPerCpuSec * 1024 * 1024)) * 1e9;
  const JDK = 0;
  const DATA = 1;
  const WORKSPACE = 2;
  return {
    name: 'eclipse',
    files: [
      { name: 'jdk+dacapo.jar', sizePages: startupPages },
      { name: 'eclipse-plugins', sizePages: Math.max(1, readPages) },
      // One file per written MiB, so that deleting files frees their cache piecemeal.
      ...Array.from({ length: Math.max(1, Math.ceil(writePages / 256)) }, (_, i) => ({
        name: `workspace/${i}`,
        sizePages: 256,
      })),
    ],
    userBufferPages: 0,
    iterations: 1,
    *program(ctx: WorkloadContext) {
      const os = ctx.os;
      const rng = os.workloadRng;
      const jvm = os.anon.createProcess('java', heapPages + nonHeapPages);
      const nonHeap = jvm.reserve(nonHeapPages);
      const old = jvm.reserve(oldPages);
      const eden = jvm.reserve(edenPages);
      const survivors = jvm.reserve(2 * survivorPages);
      // JVM startup: the JDK and the benchmark jar are read, classes loaded and compiled. DaCapo
      // times the benchmark from here on, and Fig. 15 starts with this page cache.
      for (let i = 0; i < startupPages; i += 32) yield* os.cache.read(JDK, i, Math.min(32, startupPages - i));
      yield* os.anon.touchRange(jvm, nonHeap, nonHeapPages, true);
      ctx.iterationStart(1);
      let oldUsed = 0;
      let from = 0;
      let edenUsed = 0;
      let readAt = 0;
      let writtenFiles = 0;
      let deletedFiles = 0;
      let writeAt = 0;
      function* youngGc(): Program {
        // Copy the survivors of eden to the other survivor space and promote some to the old generation.
        const to = 1 - from;
        yield* os.anon.touchRange(jvm, survivors + from * survivorPages, survivorPages, false);
        yield* os.anon.touchRange(jvm, survivors + to * survivorPages, survivorPages, true);
        const promote = Math.min(promotePages, oldPages - oldUsed);
        if (promote > 0) yield* os.anon.touchRange(jvm, old + oldUsed, promote, true);
        oldUsed += promote;
        from = to;
        edenUsed = 0;
        if (oldUsed + promotePages > oldPages) {
          // Full collection (serial mark-compact): every heap page is visited, live data slides down.
          yield* os.anon.touchRange(jvm, old, oldUsed, false);
          yield* os.anon.touchRange(jvm, old, livePages, true);
          yield* os.anon.touchRange(jvm, eden, edenPages, false);
          oldUsed = livePages;
        }
      }
      function* mutate(cpuNs: number): Program {
        for (let left = cpuNs; left > 0; left -= chunkCpuNs) {
          if (edenUsed + CHUNK_PAGES > edenPages) yield* youngGc();
          yield* os.anon.touchRange(jvm, eden + edenUsed, CHUNK_PAGES, true);
          edenUsed += CHUNK_PAGES;
          for (let k = 0; k < OLD_READS_PER_CHUNK && oldUsed > 0; k++)
            yield* os.anon.touchRange(jvm, old + rng.int(oldUsed), 1, false);
          for (let k = 0; k < META_READS_PER_CHUNK; k++)
            yield* os.anon.touchRange(jvm, nonHeap + rng.int(nonHeapPages), 1, false);
          for (let k = 0; k < JAR_READS_PER_CHUNK; k++) {
            const j = Math.floor((startupPages + readAt) * rng.next() ** 3);
            if (j < startupPages) yield* os.cache.read(JDK, j, 1);
            else yield* os.cache.read(DATA, j - startupPages, 1);
          }
          yield* os.compute(Math.min(left, chunkCpuNs));
        }
      }
      for (const ph of p.phases) {
        const reads = pagesFromMiB(ph.readMiB);
        const writes = pagesFromMiB(ph.writeMiB);
        // The phase's CPU time, with its file traffic spread over it in 32-page requests.
        const ioSteps = Math.ceil(reads / 32) + Math.ceil(writes / 32);
        const steps = Math.max(1, ioSteps);
        let r = reads;
        let w = writes;
        for (let s = 0; s < steps; s++) {
          yield* mutate((ph.cpuSec * 1e9) / steps);
          if (r > 0) {
            const n = Math.min(32, r);
            yield* os.cache.read(DATA, readAt, n);
            readAt += n;
            r -= n;
          } else if (w > 0) {
            const n = Math.min(32, w, 256 - (writeAt % 256));
            const file = WORKSPACE + Math.floor(writeAt / 256);
            const buf = nonHeap + (writeAt % Math.max(1, nonHeapPages - 32));
            yield* os.cache.write(file, writeAt % 256, n, { proc: jvm, vpage: buf });
            writeAt += n;
            writtenFiles = Math.ceil(writeAt / 256);
            w -= n;
          }
        }
        for (let d = pagesFromMiB(ph.deleteMiB); d >= 256 && deletedFiles < writtenFiles - 1; d -= 256)
          yield* os.cache.remove(WORKSPACE + deletedFiles++);
      }
      ctx.iterationEnd(1);
      os.anon.exit(jvm);
    },
  };
}
