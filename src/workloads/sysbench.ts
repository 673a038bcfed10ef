import { pagesFromMiB } from '../core/index.js';
import type { Workload, WorkloadContext } from './types.js';

export interface SysbenchParams {
  fileMiB: number;
  blockKiB: number;
  iterations: number;
  /**
   * After the measured iterations, an integrity check the reads alone cannot give: one pass of
   * sysbench's sequential rewrite (--file-test-mode=seqrewr) over the file, then one more read.
   * Not measured. Reads never make the CPU write a page the Mapper has named; the rewrite does,
   * and the read-back shows a page whose name the host kept (it drops the page and reads the old
   * block back), as the guest's reference check counts.
   */
  checkRewrite?: boolean;
}

/** §3.1: Sysbench fileio, sequential reads of one 200 MB file in 16 KiB requests, 8 times in a row. */
export const SYSBENCH_PAPER: SysbenchParams = { fileMiB: 200, blockKiB: 16, iterations: 8 };

export function sysbenchSeqRead(params: SysbenchParams = SYSBENCH_PAPER): Workload {
  const filePages = pagesFromMiB(params.fileMiB);
  const reqPages = Math.max(1, Math.round(params.blockKiB / 4));
  if (!(filePages > 0)) throw new RangeError(`sysbench.fileMiB: must be positive, got ${params.fileMiB}`);
  if (!Number.isInteger(params.iterations) || params.iterations < 1) {
    throw new RangeError(`sysbench.iterations: must be a positive integer, got ${params.iterations}`);
  }
  return {
    name: 'sysbench-seqrd',
    files: [{ name: 'test_file.0', sizePages: filePages }],
    userBufferPages: reqPages,
    iterations: params.iterations,
    *program(ctx: WorkloadContext) {
      for (let it = 1; it <= params.iterations; it++) {
        ctx.iterationStart(it);
        for (let off = 0; off < filePages; off += reqPages) yield* ctx.os.read(0, off, reqPages);
        ctx.iterationEnd(it);
      }
      if (!params.checkRewrite) return;
      for (let off = 0; off < filePages; off += reqPages)
        yield* ctx.os.cache.write(0, off, Math.min(reqPages, filePages - off));
      for (let off = 0; off < filePages; off += reqPages) yield* ctx.os.read(0, off, reqPages);
    },
  };
}
