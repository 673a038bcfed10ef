import { DEFAULT_CORE_TUNABLES, MemoryCore, asGfn } from '../../src/core/index.js';

/** The guest pages of swappedCore()'s core. */
export const SWAPPED_CORE_PAGES = 256;

/**
 * A small core (256 pages, no Mapper) whose first `writtenPages` pages were written once, in order,
 * under a limit of a quarter of its pages, every I/O completed at once: the last ones written are
 * resident, most of the others in swap, and the pages after them were never touched.
 */
export function swappedCore(writtenPages = SWAPPED_CORE_PAGES): MemoryCore {
  const guestPages = SWAPPED_CORE_PAGES;
  const core = new MemoryCore({
    ...DEFAULT_CORE_TUNABLES,
    guestPages,
    vmmPages: 0,
    imageBlocks: 64,
    swapSlots: guestPages * 2,
    residentLimitPages: guestPages / 4,
    mapper: false,
  });
  for (let p = 0; p < writtenPages; p++) {
    core.touch(asGfn(p), true, 'guest');
    for (let guard = 0; core.hasActions && guard < 1e6; guard++)
      for (const a of core.drain()) {
        if (a.kind === 'read') core.readDone(a.id);
        else if (a.kind === 'write') core.writeDone(a.id);
      }
  }
  return core;
}
