import { pagesFromMiB } from '../core/index.js';
import type { GuestOs, Program } from '../sim/guest/guest-os.js';
import { MAPPED } from '../sim/guest/page-cache.js';
import type { GuestProcess } from '../sim/guest/process.js';
import type { Rng } from '../sim/rng.js';
import { Condition } from './sync.js';
import type { Workload, WorkloadContext } from './types.js';

export interface KernbenchParams {
  /** Translation units the build compiles. */
  units: number;
  /** make -j: concurrent compile jobs. */
  jobs: number;
  /** Guest CPU time per unit (cc1, as, and make's share). */
  cpuSecPerUnit: number;
  /** A unit's own source file. */
  sourceKiB: number;
  /** The headers all units include from (include/, arch/x86/include). */
  headersMiB: number;
  /** Header bytes one unit reads (its #include closure). */
  headersPerUnitKiB: number;
  /** cc1's memory (its garbage-collected heap, obstacks, tables). */
  cc1MiB: number;
  /** The assembler's memory. */
  asMiB: number;
  /** make's own memory, which each job's fork shares copy-on-write. */
  makeMiB: number;
  /** The assembly file cc1 writes for as (to /tmp), and the object file as writes. */
  asmKiB: number;
  objectKiB: number;
  /**
   * The whole source tree, which kernbench reads once before its warm-up build ("Caching kernel
   * source in ram...": `cat` of every file `find -type f` lists); the compiled sources and the
   * headers are part of it. 0 = kernbench -f (fast run), which skips that step.
   */
  treeMiB: number;
  /**
   * Whether the toolchain's programs run from files in the guest's page cache (below: of each, the
   * pages a run maps, text and read-only data, and its file; cc1's, as's with libbfd, and libc's).
   * Off: they take no page cache, as before this was modelled (see KERNBENCH_PAPER for why).
   */
  mapToolchain: boolean;
  cc1MappedMiB: number;
  cc1FileMiB: number;
  asMappedMiB: number;
  asFileMiB: number;
  libcMappedMiB: number;
  libcFileMiB: number;
}

/**
 * §5.1 / Fig. 12: Kernbench compiling Linux 3.7 in the 1-vCPU guest, at kernbench's optimal load
 * (make -j 4 x CPUs), timed after its warm-up build and a `make clean`. Kernbench's script (Con
 * Kolivas, v0.42 in LTP's utils/benchmark/kernbench-0.42/kernbench, the same in v0.50): `make clean`;
 * unless -f, "Caching kernel source in ram..." (`for i in $(find -type f); do cat $i > /dev/null;
 * done`, the whole tree); the warm-up `make -j`; then per timed run `make clean; sync; sleep 5;
 * make -j`. The tree is larger than the 512 MB guest's memory, so the guest's page cache is full
 * before the first build starts. Sizes are those of an x86_64 defconfig build of that era: about 2,000 C files
 * of ~20 KiB, each including ~1.5 MiB of headers out of ~30 MiB, cc1 peaking at ~24 MiB, and
 * ~100 KiB written per unit (the object, its share of the built-in.o links, .cmd and .d files). CPU per unit: the paper's own unconstrained run (Fig. 12a, 512 MB, ballooned:
 * 19.73 min) over the number of units.
 */
export const KERNBENCH_PAPER: KernbenchParams = {
  units: 2000,
  jobs: 4,
  cpuSecPerUnit: (19.73 * 60) / 2000,
  sourceKiB: 20,
  headersMiB: 30,
  headersPerUnitKiB: 1536,
  cc1MiB: 24,
  asMiB: 2,
  makeMiB: 8,
  asmKiB: 120,
  objectKiB: 100,
  // Off in the paper's figures: their numbers (README, Fig. 12) were produced without this step, and
  // with it the model moves away from the paper (remaps at 384 MB: 13.9K without, 7.7K with, seed 1;
  // the timed build still misses nothing). treeMiB 480, the linux-3.7 tree (the same ~480 MB that
  // pbzip2's tarball holds, src/workloads/pbzip2.ts), runs kernbench's caching step as its script does.
  treeMiB: 0,
  // Off by default. On (seed 1, full size, fig12's sizes 384/320/256/192 MB), Fig. 12b's remaps
  // go from 3.8/16.0/35.7/54.1K to 7.3/31.8/45.9/67.1K (paper 51.5/66.0/74.2/80.2K) and Fig. 12a's
  // median error from 1.4% to 0.9%, but the baseline at 192 MB from 22.8 to 25.2 min (paper 22.7:
  // the host swaps the compiler's text too), failing §5.1's "15% slower at 192 MB". These sizes are
  // gcc 12's; the paper's gcc 4.6 (Ubuntu 12.04) is smaller, by how much is not measured here.
  mapToolchain: false,
  // Measured on this project's build machine (Debian 12, gcc 12.2.0, binutils 2.40; the paper's
  // Ubuntu 12.04 gcc 4.6 is older and smaller): /usr/lib/gcc/x86_64-linux-gnu/12/cc1 is
  // 33,342,568 bytes (`ls -l`); compiling a 116 KB C file with -O2 (wrapt's _wrappers.c and
  // Python.h), cc1 had 15,884 kB of its text and 5,948 kB of its read-only data mapped (Rss of its
  // r-xp and r--p mappings in /proc/PID/smaps, at the peak) and 1,036 kB of libc.so.6's text.
  // as: x86_64-linux-gnu-as 918,952 bytes and libbfd-2.40 1,514,448 (`ls -l`), text 619,963 and
  // 1,416,730 bytes (`size`), taken as all mapped; libc.so.6 1,926,232 bytes.
  cc1MappedMiB: (15_884 + 5_948) / 1024,
  cc1FileMiB: 33_342_568 / 2 ** 20,
  asMappedMiB: (619_963 + 1_416_730) / 2 ** 20,
  asFileMiB: (918_952 + 1_514_448) / 2 ** 20,
  libcMappedMiB: 1_036 / 1024,
  libcFileMiB: 1_926_232 / 2 ** 20,
};

/** cat's read() size: coreutils 8.13 (Ubuntu 12.04) reads in 64 KiB blocks (IO_BUFSIZE, ioblksize.h). */
const CAT_READ_PAGES = 16;

/** Steps cc1 interleaves its CPU time with its memory in. */
const CC1_STEPS = 16;
/** Of a unit's CPU time, what cc1 takes (the rest: as, the gcc driver, make). */
const CC1_SHARE = 0.85;

const kib = (k: number): number => Math.max(1, Math.round(k / 4));

export function kernbench(params: KernbenchParams = KERNBENCH_PAPER): Workload {
  const p = params;
  for (const k of ['units', 'jobs'] as const)
    if (!(Number.isInteger(p[k]) && p[k] > 0))
      throw new RangeError(`kernbench.${k}: must be a positive integer, got ${p[k]}`);
  const srcPages = kib(p.sourceKiB);
  const headerPages = Math.max(1, pagesFromMiB(p.headersMiB));
  const perUnitHeaders = Math.min(headerPages, kib(p.headersPerUnitKiB));
  const cc1Pages = Math.max(1, pagesFromMiB(p.cc1MiB));
  const asPages = Math.max(1, pagesFromMiB(p.asMiB));
  const makePages = Math.max(1, pagesFromMiB(p.makeMiB));
  const asmPages = kib(p.asmKiB);
  const objPages = kib(p.objectKiB);
  if (!(p.treeMiB >= 0)) throw new RangeError(`kernbench.treeMiB: must be at least 0, got ${p.treeMiB}`);
  // The rest of the tree: what the builds never read (other architectures, drivers not configured,
  // Documentation, ...). A file of the guest only when the caching step runs, so that without it
  // the guest's files (and their places on the image) are what they were.
  const otherPages = Math.max(1, pagesFromMiB(p.treeMiB) - p.units * srcPages - headerPages);
  const mib = (m: number): number => Math.max(1, Math.round((m * 1024) / 4));
  const cc1FilePages = mib(p.cc1FileMiB);
  const cc1MappedPages = Math.min(cc1FilePages, mib(p.cc1MappedMiB));
  const asFilePages = mib(p.asFileMiB);
  const asMappedPages = Math.min(asFilePages, mib(p.asMappedMiB));
  const libcFilePages = mib(p.libcFileMiB);
  const libcMappedPages = Math.min(libcFilePages, mib(p.libcMappedMiB));
  const cpuNs = p.cpuSecPerUnit * 1e9;
  const SRC = 0;
  const INCLUDE = 1;
  const OBJ = 2;
  const TMP = 3;
  const OTHER = TMP + p.jobs;
  // After every other file, so that those keep their places on the image.
  const CC1 = OTHER + (p.treeMiB > 0 ? 1 : 0);
  const AS = CC1 + 1;
  const LIBC = CC1 + 2;
  return {
    name: 'kernbench',
    files: [
      { name: 'linux-3.7/*.c', sizePages: p.units * srcPages },
      { name: 'linux-3.7/include', sizePages: headerPages },
      { name: 'linux-3.7/*.o', sizePages: p.units * objPages },
      ...Array.from({ length: p.jobs }, (_, j) => ({ name: `/tmp/cc${j}.s`, sizePages: asmPages })),
      ...(p.treeMiB > 0 ? [{ name: 'linux-3.7/(not built)', sizePages: otherPages }] : []),
      ...(p.mapToolchain
        ? [
            { name: '/usr/lib/gcc/cc1', sizePages: cc1FilePages },
            { name: '/usr/bin/as', sizePages: asFilePages },
            { name: '/lib/libc.so.6', sizePages: libcFilePages },
          ]
        : []),
    ],
    userBufferPages: 0,
    iterations: 1,
    *program(ctx: WorkloadContext) {
      const os = ctx.os;
      const rng = os.workloadRng;
      let make: GuestProcess | undefined;
      let makeHeap = 0;
      let next = 0;
      let running = 0;
      const finished = new Condition(os);
      function* job(slot: number): Program {
        for (let u = next++; u < p.units; u = next++) yield* compileUnit(os, rng, make!, slot, u);
        running--;
        finished.signal();
      }
      function* build(): Program {
        const mk = os.anon.createProcess('make');
        make = mk;
        makeHeap = mk.reserve(makePages);
        // make reads the Makefiles and builds its dependency graph.
        yield* os.anon.touchRange(mk, makeHeap, makePages, true);
        next = 0;
        running = p.jobs;
        for (let j = 0; j < p.jobs; j++) os.spawn(job(j));
        yield* finished.waitUntil(() => running === 0);
        os.anon.exit(mk);
        make = undefined;
      }
      // "Caching kernel source in ram...": cat reads every file once, in find's order, which mixes
      // the built sources and headers with the rest (here: each file in step with its share).
      if (p.treeMiB > 0) {
        const parts = [
          { file: SRC, pages: p.units * srcPages, at: 0 },
          { file: INCLUDE, pages: headerPages, at: 0 },
          { file: OTHER, pages: otherPages, at: 0 },
        ];
        for (;;) {
          let next: (typeof parts)[number] | undefined;
          for (const part of parts)
            if (part.at < part.pages && (!next || part.at / part.pages < next.at / next.pages)) next = part;
          if (!next) break;
          const n = Math.min(CAT_READ_PAGES, next.pages - next.at);
          yield* os.cache.read(next.file, next.at, n);
          next.at += n;
        }
      }
      // Kernbench's warm-up build, then `make clean` (the objects go), then the timed build.
      yield* build();
      yield* os.cache.remove(OBJ);
      ctx.iterationStart(1);
      yield* build();
      ctx.iterationEnd(1);
      function* compileUnit(o: GuestOs, r: Rng, parent: GuestProcess, slot: number, u: number): Program {
        // GNU make starts each job with vfork() + exec(): no copy of its memory; make itself
        // updates its job table.
        yield* o.anon.touchRange(parent, makeHeap + (u % makePages), 1, true);
        const cc1 = o.anon.createProcess('cc1', cc1Pages + srcPages + perUnitHeaders);
        const heap = cc1.reserve(cc1Pages);
        const input = cc1.reserve(srcPages + perUnitHeaders);
        yield* o.cache.read(SRC, u * srcPages, srcPages, { proc: cc1, vpage: input });
        // Every unit includes the common headers first, then its own subsystem's.
        const common = Math.floor(perUnitHeaders / 2);
        yield* o.cache.read(INCLUDE, 0, common, { proc: cc1, vpage: input + srcPages });
        const own = perUnitHeaders - common;
        const at = common + r.int(Math.max(1, headerPages - common - own));
        yield* o.cache.read(INCLUDE, at, own, { proc: cc1, vpage: input + srcPages + common });
        // exec: the dynamic loader and libc's start-up run from libc's pages.
        if (p.mapToolchain) yield* o.cache.read(LIBC, 0, libcMappedPages, MAPPED);
        for (let s = 0; s < CC1_STEPS; s++) {
          const from = Math.floor((s * cc1Pages) / CC1_STEPS);
          const to = Math.floor(((s + 1) * cc1Pages) / CC1_STEPS);
          // Each pass runs its share of cc1's code (parser, then the optimisation passes, then
          // the back end), from the page cache where the file is mapped.
          const textFrom = Math.floor((s * cc1MappedPages) / CC1_STEPS);
          const textTo = Math.floor(((s + 1) * cc1MappedPages) / CC1_STEPS);
          if (p.mapToolchain) yield* o.cache.read(CC1, textFrom, textTo - textFrom, MAPPED);
          // The heap grows (fresh pages, zeroed), and the next pass walks what was just built.
          yield* o.anon.touchRange(cc1, heap + from, to - from, true);
          yield* o.compute((cpuNs * CC1_SHARE) / CC1_STEPS);
          yield* o.anon.touchRange(cc1, heap + from, to - from, false);
        }
        const tmp = TMP + slot;
        yield* o.cache.write(tmp, 0, asmPages, { proc: cc1, vpage: heap });
        o.anon.exit(cc1);
        const as = o.anon.createProcess('as', asPages + asmPages);
        const asHeap = as.reserve(asPages);
        const asIn = as.reserve(asmPages);
        if (p.mapToolchain) {
          yield* o.cache.read(LIBC, 0, libcMappedPages, MAPPED);
          yield* o.cache.read(AS, 0, asMappedPages, MAPPED);
        }
        yield* o.cache.read(tmp, 0, asmPages, { proc: as, vpage: asIn });
        yield* o.anon.touchRange(as, asHeap, asPages, true);
        yield* o.compute(cpuNs * (1 - CC1_SHARE));
        yield* o.cache.write(OBJ, u * objPages, objPages, { proc: as, vpage: asHeap });
        o.anon.exit(as);
        // gcc deletes its temporary file.
        yield* o.cache.remove(tmp);
      }
    },
  };
}
