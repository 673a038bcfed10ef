import { SECTORS_PER_PAGE } from '../../core/index.js';
import type { Rng } from '../rng.js';
import type { FrameAccess, Frames, Scheduler } from './kernel.js';
import { KERNEL } from './memory.js';
import { BLOCK, type Program } from './steps.js';

/** What the metadata writer needs: a frame, accesses to it, 512-byte requests and the scheduler. */
export interface SectorIoKernel extends Frames, Scheduler, Pick<FrameAccess, 'access' | 'overwritePage'> {
  writeChunk(g: number, chunk: number): Program;
  submitSectorIo(op: 'read' | 'write', block: number, g: number, sector: number, done?: () => void): void;
}

/** Where on the disk the requests go: blocks [firstBlock, firstBlock + blocks). */
export interface SectorRegion {
  firstBlock: number;
  blocks: number;
}

/** 64-byte chunks in a 512-byte sector. */
const CHUNKS_PER_SECTOR = 8;

/**
 * The file system's sporadic 512-byte requests (§5.4): at `perSec` on average (exponential gaps),
 * one sector of a block of `region` (the file system's metadata) is read into, or
 * written from, a kernel buffer page, half of them each way. A write first puts new bytes in the
 * sector's part of the buffer; a read is followed by the kernel reading what arrived (where the
 * reference checks it).
 */
export function* sectorIoThread(os: SectorIoKernel, perSec: number, region: SectorRegion, rng: Rng): Program {
  if (!(perSec > 0) || region.blocks <= 0) return;
  let g = os.tryAllocFrame();
  if (g < 0) g = yield* os.allocFrame();
  os.mem.use[g] = KERNEL;
  yield* os.overwritePage(g);
  while (!os.stopping) {
    yield* os.sleep((-Math.log(1 - rng.next()) / perSec) * 1e9);
    if (os.stopping) return;
    const block = region.firstBlock + rng.int(region.blocks);
    const sector = rng.int(SECTORS_PER_PAGE);
    const write = rng.next() < 0.5;
    if (write) yield* os.writeChunk(g, sector * CHUNKS_PER_SECTOR);
    let done = false;
    os.submitSectorIo(write ? 'write' : 'read', block, g, sector, () => {
      done = true;
      os.wakeFrame(g);
    });
    while (!done) {
      os.waitFrame(g);
      yield BLOCK;
    }
    if (!write) yield* os.access(g, false);
  }
}
