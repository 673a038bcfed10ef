import { MissingBlockError } from '../errors.js';
import { Flag, State } from '../store/page-table.js';
import { NONE } from '../types.js';
import type { Readahead, ReadaheadContext, ReadWindow } from './readahead.js';

/**
 * filemap_fault()'s read-around for a mapped file (mm/filemap.c, 3.7): a window of
 * fileReadaroundPages pages of the file, centred on the faulting one, of which the dropped pages are
 * read. For the Mapper's named guest pages the file is the disk image (only blocks that back a
 * dropped guest page are read: the host keeps no cache of its own); for QEMU's code, its executable.
 */
export class FileReadaround implements Readahead {
  readonly name = 'readaround';
  readonly source = 'file';
  readonly tracksHits = false;

  constructor(private readonly c: ReadaheadContext) {}

  window(p: number, out: ReadWindow): number {
    const { pt, firstVmmPage } = this.c;
    const vmm = p >= firstVmmPage;
    const unit = vmm ? p - firstVmmPage : pt.block[p]!;
    if (unit === NONE) throw new MissingBlockError(p, 'is in the image but names no block');
    const size = this.c.fileReadaroundPages;
    const lo = Math.max(0, unit - (size >> 1));
    const hi = Math.min((vmm ? this.c.vmmPages : this.c.imageBlocks) - 1, lo + size - 1);
    const { pages, units } = out;
    let n = 0;
    for (let u = lo; u <= hi; u++) {
      if (vmm) {
        const q = firstVmmPage + u;
        if (pt.state[q] === State.InImage) {
          pages[n] = q;
          units[n++] = u;
        }
      } else {
        for (let q = pt.firstOfBlock(u); q !== NONE; q = pt.nextSameBlock[q]!) {
          if (pt.state[q] === State.InImage && pt.flags[q]! & Flag.Named) {
            pages[n] = q;
            units[n++] = u;
          }
        }
      }
    }
    return n;
  }

  started(): void {}

  hit(): void {}
}
