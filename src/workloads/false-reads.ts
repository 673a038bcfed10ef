import { pagesFromMiB } from '../core/index.js';
import { SYSBENCH_PAPER, type SysbenchParams, sysbenchSeqRead } from './sysbench.js';
import type { Workload, WorkloadContext } from './types.js';

export interface FalseReadsParams extends SysbenchParams {
  /** Memory the forked process allocates and then touches, page by page. */
  allocMiB: number;
}

/** Pages per write or read of the check after the measured phase (a 128 KiB request). */
const REWRITE_PAGES = 32;

/**
 * §3.1's false-reads microbenchmark (Fig. 10): the Sysbench reads, then a forked process that
 * allocates and sequentially accesses 200 MB. Each page it touches first is zeroed by the guest
 * kernel (a whole-page write, a false read if the host had swapped the frame out), then written.
 * Only the second phase is measured, as the paper's figure does; a read-back pass follows it.
 */
export function falseReads(params: FalseReadsParams = { ...SYSBENCH_PAPER, allocMiB: 200 }): Workload {
  // Its own check follows the measured phase: the reads before it have none.
  const reader = sysbenchSeqRead({ ...params, checkRewrite: false });
  const allocPages = pagesFromMiB(params.allocMiB);
  if (!(allocPages > 0))
    throw new RangeError(`falseReads.allocMiB: must be positive, got ${params.allocMiB}`);
  return {
    name: 'false-reads',
    files: reader.files,
    userBufferPages: reader.userBufferPages,
    iterations: 1,
    *program(ctx: WorkloadContext) {
      const os = ctx.os;
      const parent = os.anon.createProcess('sysbench');
      yield* reader.program({ ...ctx, iterationStart: () => {}, iterationEnd: () => {} });
      ctx.iterationStart(1);
      const child = os.anon.fork(parent, 'alloc-touch');
      const first = child.reserve(allocPages);
      // Each first touch faults in a page the kernel zeroes, then the program writes it.
      yield* os.anon.touchRange(child, first, allocPages, true);
      ctx.iterationEnd(1);
      // After the measured phase, a check that the measured phase cannot give: the child's pages
      // all came from the guest's free memory, never from its page cache, so in §3.1 the CPU never
      // writes a page the Mapper has named. Here the child writes the file over from its memory
      // (CPU writes into cached, named pages) and reads it back: a host that kept such a page's
      // name drops it and reads the old block back, and the guest's integrity check counts it.
      const filePages = pagesFromMiB(params.fileMiB);
      for (let off = 0; off < filePages; off += REWRITE_PAGES) {
        const n = Math.min(REWRITE_PAGES, filePages - off);
        yield* os.cache.write(0, off, n, { proc: child, vpage: first + (off % (allocPages - n + 1)) });
      }
      for (let off = 0; off < filePages; off += REWRITE_PAGES)
        yield* os.cache.read(0, off, Math.min(REWRITE_PAGES, filePages - off));
      os.anon.exit(child);
      os.anon.exit(parent);
    },
  };
}
