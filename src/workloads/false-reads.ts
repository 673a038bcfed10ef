import { pagesFromMiB } from '../core/types.js';
import { SYSBENCH_PAPER, type SysbenchParams, sysbenchSeqRead } from './sysbench.js';
import type { Workload, WorkloadContext } from './types.js';

export interface FalseReadsParams extends SysbenchParams {
  /** Memory the forked process allocates and then touches, page by page. */
  allocMiB: number;
}

/**
 * §3.1's false-reads microbenchmark (Fig. 10): the Sysbench reads, then a forked process that
 * allocates and sequentially accesses 200 MB. Each page it touches first is zeroed by the guest
 * kernel (a whole-page write, a false read if the host had swapped the frame out), then written.
 * Only the second phase is measured, as the paper's figure does.
 */
export function falseReads(params: FalseReadsParams = { ...SYSBENCH_PAPER, allocMiB: 200 }): Workload {
  const reader = sysbenchSeqRead(params);
  const allocPages = pagesFromMiB(params.allocMiB);
  if (!(allocPages > 0))
    throw new RangeError(`falseReads.allocMiB: must be positive, got ${params.allocMiB}`);
  return {
    name: 'false-reads',
    files: reader.files,
    userBufferPages: reader.userBufferPages,
    iterations: 1,
    *program(ctx: WorkloadContext) {
      yield* reader.program({ ...ctx, iterationStart: () => {}, iterationEnd: () => {} });
      ctx.iterationStart(1);
      const pages: number[] = [];
      for (let i = 0; i < allocPages; i++) {
        const g = ctx.os.allocPage();
        pages.push(g);
        yield* ctx.os.overwritePage(g);
        yield* ctx.os.access(g, true);
      }
      ctx.iterationEnd(1);
      ctx.os.freeAll(pages);
    },
  };
}
