import { PAGE_SIZE_BYTES, pagesFromMiB } from '../core/index.js';
import { PBZIP2_PAPER } from './pbzip2.js';
import type { Workload, WorkloadContext } from './types.js';

export interface Bzip2Params {
  /** The input file. */
  inputMiB: number;
  /** bzip2 -9's block: 900,000 bytes. */
  blockKB: number;
  /** Guest CPU time per input byte. */
  cpuNsPerByte: number;
  /** Compressed size over input size. */
  compressedRatio: number;
}

/**
 * §5.4: bzip2 in the Windows guest. The paper names neither the input nor the options: we take
 * §5.1's (the Linux source tarball, bzip2 -9, pbzip2.ts), and with it §5.1's CPU time per byte,
 * measured there on Linux (Fig. 5's unconstrained run), as the Windows build's. Both are assumptions.
 */
export const BZIP2_PAPER: Bzip2Params = {
  inputMiB: PBZIP2_PAPER.inputMiB,
  blockKB: PBZIP2_PAPER.blockKB,
  cpuNsPerByte: PBZIP2_PAPER.cpuNsPerByte,
  compressedRatio: PBZIP2_PAPER.compressedRatio,
};

/** Steps the compressor interleaves its CPU time with its memory accesses in (as pbzip2.ts). */
const STEPS_PER_BLOCK = 16;
/** bzip2 reads and writes through 5,000-byte buffers (bzip2.c: ibuf/obuf): two pages. */
const IO_BUFFER_PAGES = 2;

/**
 * The bzip2 program (1.0.x), one thread: it allocates its compression state once per stream (400 KB
 * plus 8 bytes per block byte, of which the block itself is the first part: bzip2 manual, "Memory
 * management"), then for each block reads the input into it through its small buffer, sorts and
 * encodes it (CPU, touching the state), and writes the compressed block through the same buffer.
 */
export function bzip2(params: Bzip2Params = BZIP2_PAPER): Workload {
  const inputPages = pagesFromMiB(params.inputMiB);
  const blockPages = Math.max(1, Math.round((params.blockKB * 1000) / PAGE_SIZE_BYTES));
  if (!(inputPages > 0)) throw new RangeError(`bzip2.inputMiB: must be positive, got ${params.inputMiB}`);
  if (!(params.compressedRatio > 0 && params.compressedRatio <= 1))
    throw new RangeError(`bzip2.compressedRatio: must be within (0, 1], got ${params.compressedRatio}`);
  if (!(params.cpuNsPerByte >= 0))
    throw new RangeError(`bzip2.cpuNsPerByte: must be >= 0, got ${params.cpuNsPerByte}`);
  const blocks = Math.ceil(inputPages / blockPages);
  const outPagesOf = (pages: number): number => Math.max(1, Math.ceil(pages * params.compressedRatio));
  const statePages = Math.max(blockPages, Math.ceil((400_000 + 8 * params.blockKB * 1000) / PAGE_SIZE_BYTES));
  const cpuPerPageNs = params.cpuNsPerByte * PAGE_SIZE_BYTES;
  return {
    name: 'bzip2',
    files: [
      { name: 'linux-3.7.tar', sizePages: inputPages },
      { name: 'linux-3.7.tar.bz2', sizePages: blocks * outPagesOf(blockPages) },
    ],
    userBufferPages: IO_BUFFER_PAGES,
    iterations: 1,
    *program(ctx: WorkloadContext) {
      const os = ctx.os;
      ctx.iterationStart(1);
      const proc = os.anon.createProcess('bzip2');
      const state = proc.reserve(statePages);
      let out = 0;
      for (let n = 0; n < blocks; n++) {
        const first = n * blockPages;
        const pages = Math.min(blockPages, inputPages - first);
        // fread() into the buffer, copied into the block array (the state's first pages).
        for (let j = 0; j < pages; j++) {
          yield* os.read(0, first + j, 1);
          yield* os.anon.touchRange(proc, state + j, 1, true);
        }
        const cpuNs = pages * cpuPerPageNs;
        for (let s = 0; s < STEPS_PER_BLOCK; s++) {
          const from = Math.floor((s * statePages) / STEPS_PER_BLOCK);
          const to = Math.floor(((s + 1) * statePages) / STEPS_PER_BLOCK);
          if (to > from) yield* os.anon.touchRange(proc, state + from, to - from, true);
          yield* os.compute(cpuNs / STEPS_PER_BLOCK);
        }
        const outPages = outPagesOf(pages);
        yield* os.cache.write(1, out, outPages);
        out += outPages;
      }
      ctx.iterationEnd(1);
      os.anon.exit(proc);
    },
  };
}
