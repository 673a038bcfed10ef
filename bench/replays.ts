/**
 * The replays the core section of the bench times (bench/main.ts) and the instruction counts measure
 * (bench/instructions.ts): one synthetic trace, a plain typed-array LRU as the reference, and the
 * core driven synchronously.
 */
import { DEFAULT_CORE_TUNABLES, MemoryCore, asGfn } from '../src/core/index.js';

/** Wall and CPU time of one replay, in ms. */
export interface Timing {
  ms: number;
  cpuMs: number;
}

/** This process's CPU time (user + system) in ms: what the replay got of a core on a shared machine. */
export function cpuNowMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Touches per call of a replay's inner loop. V8 optimizes a long-running loop by on-stack
 * replacement, which does not happen under valgrind (bench/instructions.ts): there one long loop
 * would run in baseline code throughout, where natively it runs optimized. A loop called once per
 * chunk is optimized by its calls in both, and costs a call per 4,096 touches.
 */
const CHUNK_TOUCHES = 4096;

/** The reference: a typed-array LRU (hash-free, indexed by page) replaying the same trace. */
export function plainLru(trace: Uint32Array, pages: number, capacity: number): Timing & { misses: number } {
  const next = new Int32Array(pages).fill(-1);
  const prev = new Int32Array(pages).fill(-1);
  const inCache = new Uint8Array(pages);
  // head, tail, size and misses: kept between chunks.
  const ends = Int32Array.of(-1, -1, 0, 0);
  const c0 = cpuNowMs();
  const t0 = performance.now();
  for (let i = 0; i < trace.length; i += CHUNK_TOUCHES)
    lruChunk(trace, i, Math.min(trace.length, i + CHUNK_TOUCHES), next, prev, inCache, ends, capacity);
  return { ms: performance.now() - t0, cpuMs: cpuNowMs() - c0, misses: ends[3]! };
}

/** plainLru's touches `from` .. `to` - 1. */
function lruChunk(
  trace: Uint32Array,
  from: number,
  to: number,
  next: Int32Array,
  prev: Int32Array,
  inCache: Uint8Array,
  ends: Int32Array,
  capacity: number,
): void {
  let head = ends[0]!;
  let tail = ends[1]!;
  let size = ends[2]!;
  let misses = ends[3]!;
  for (let i = from; i < to; i++) {
    const p = trace[i]!;
    if (inCache[p]) {
      if (head === p) continue;
      const a = prev[p]!;
      const b = next[p]!;
      if (a >= 0) next[a] = b;
      if (b >= 0) prev[b] = a;
      else tail = a;
    } else {
      misses++;
      if (size === capacity) {
        const t = tail;
        tail = prev[t]!;
        if (tail >= 0) next[tail] = -1;
        inCache[t] = 0;
        size--;
      }
      inCache[p] = 1;
      size++;
    }
    prev[p] = -1;
    next[p] = head;
    if (head >= 0) prev[head] = p;
    head = p;
    if (tail < 0) tail = p;
  }
  ends[0] = head;
  ends[1] = tail;
  ends[2] = size;
  ends[3] = misses;
}

export function makeTrace(n: number, pages: number, seed: number): Uint32Array {
  const t = new Uint32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // 90% of accesses to a hot fifth of the pages, the rest anywhere.
    const hot = (s & 0xff) < 230;
    t[i] = hot ? (s >>> 8) % Math.floor(pages / 5) : (s >>> 8) % pages;
  }
  return t;
}

/** Drives the core synchronously: touches, and I/O completed at once (no disk model). */
export function coreReplay(
  trace: Uint32Array,
  pages: number,
  limit: number,
): Timing & { events: number; faults: number } {
  const core = new MemoryCore({
    ...DEFAULT_CORE_TUNABLES,
    guestPages: pages,
    vmmPages: 0,
    imageBlocks: 1024,
    swapSlots: pages * 2,
    residentLimitPages: limit,
    mapper: false,
  });
  // Page events and faults, summed over the chunks.
  const counts = new Float64Array(2);
  const c0 = cpuNowMs();
  const t0 = performance.now();
  for (let i = 0; i < trace.length; i += CHUNK_TOUCHES)
    coreChunk(core, trace, i, Math.min(trace.length, i + CHUNK_TOUCHES), counts);
  return { ms: performance.now() - t0, cpuMs: cpuNowMs() - c0, events: counts[0]!, faults: counts[1]! };
}

/** coreReplay's touches `from` .. `to` - 1; adds their page events and faults to `counts`. */
function coreChunk(
  core: MemoryCore,
  trace: Uint32Array,
  from: number,
  to: number,
  counts: Float64Array,
): void {
  let events = 0;
  let faults = 0;
  for (let i = from; i < to; i++) {
    const id = core.touch(asGfn(trace[i]!), (i & 7) === 0, 'guest');
    events++;
    if (id !== 0) faults++;
    // Complete everything in flight, as an infinitely fast disk would: the actions taken one at a
    // time, in order (those a completion queues come after the ones already queued). No test of
    // hasActions first: nextAction() finds an empty queue as cheaply, where the getter, a call
    // when the compiler's inlining budget for this loop is spent, cost a call per touch.
    for (let a = core.nextAction(); a !== undefined; a = core.nextAction()) {
      // Page events: every page read, written or dropped counts, as every touch does. The kind is
      // read once, as a switch would (a chain of tests read it up to three times, and when the
      // load is a call, as a megamorphic one is, the compiler cannot merge them).
      const kind = a.kind;
      if (kind === 'read') {
        core.readDone(a.id);
        events += a.pages.length;
      } else if (kind === 'write') {
        core.writeDone(a.id);
        events += a.pages.length;
      } else if (kind === 'drop') {
        events += a.pages.length;
      }
    }
  }
  counts[0]! += events;
  counts[1]! += faults;
}
