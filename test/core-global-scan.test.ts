import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CORE_TUNABLES, type GlobalScan, MemoryCore, asGfn, asVmmPage } from '../src/core/index.js';

/**
 * What Linux 3.7's get_scan_count() and shrink_lruvec() do differently when the host's memory as a
 * whole is short (kswapd, try_to_free_pages()) rather than one cgroup's limit: a list smaller than
 * 2^priority is not scanned at that priority (no force_scan), a cgroup whose file pages plus the
 * zone's free pages are at most the zone's high watermark gives up anonymous pages only, and direct
 * reclaim stops scanning a cgroup's zone once it has freed nr_to_reclaim pages below DEF_PRIORITY.
 */

/** A one-zone core holding every guest page (written) and every QEMU code page (executed). */
function populated(guestPages: number, vmmPages: number): MemoryCore {
  const core = new MemoryCore({
    ...DEFAULT_CORE_TUNABLES,
    zoneWeights: [1],
    guestPages,
    vmmPages,
    imageBlocks: 64,
    swapSlots: guestPages * 2,
    residentLimitPages: guestPages + vmmPages,
    mapper: false,
  });
  for (let g = 0; g < guestPages; g++) core.touch(asGfn(g), true, 'guest');
  for (let v = 0; v < vmmPages; v++) core.touchVmm(asVmmPage(v));
  settle(core);
  return core;
}

/** Completes every read and write the core asks for, as an infinitely fast disk would. */
function settle(core: MemoryCore): void {
  for (let guard = 0; core.hasActions && guard < 1e6; guard++) {
    for (const a of core.drain()) {
      if (a.kind === 'read') core.readDone(a.id);
      else if (a.kind === 'write') core.writeDone(a.id);
    }
  }
}

const kswapd = (freePages: number, highPages: number): GlobalScan => ({
  freePages,
  highPages,
  nrToReclaimPages: Infinity,
});

test('global reclaim does not force-scan lists smaller than 2^priority', () => {
  const core = populated(2048, 256);
  // Every list holds fewer than 4096 pages: at DEF_PRIORITY (12) each scans size >> 12 = 0.
  assert.equal(core.scanAtPriority(12, kswapd(0, 0)), 0);
  settle(core);
  assert.equal(core.counters.pagesScanned, 0);
  // At priority 4 the same lists are scanned.
  core.scanAtPriority(4, kswapd(0, 0));
  settle(core);
  assert.ok(core.counters.pagesScanned > 0);
});

test('global reclaim scans only anonymous pages of a cgroup whose file pages and the free pages are under the high watermark', () => {
  const vmmPages = 512;
  const rounds = (core: MemoryCore, scan: GlobalScan): void => {
    for (let i = 0; i < 12; i++) {
      core.scanAtPriority(2, scan);
      settle(core);
    }
  };
  // file (512) + free (100) <= high (1000): QEMU's code is left alone, the guest's pages go to swap.
  const low = populated(8192, vmmPages);
  rounds(low, kswapd(100, 1000));
  assert.equal(low.counters.namedDrops, 0);
  assert.ok(low.residentPages < 8192 + vmmPages, 'anonymous pages were reclaimed');
  // With more free memory than the watermark, the file lists are scanned and code pages dropped.
  const high = populated(8192, vmmPages);
  rounds(high, kswapd(2000, 1000));
  assert.ok(high.counters.namedDrops > 0);
});

test("direct reclaim stops a cgroup's scan of a zone at nr_to_reclaim; kswapd does not", () => {
  const perCall = (nrToReclaimPages: number): number => {
    const core = populated(16384, 0);
    let most = 0;
    // The inactive list fills a batch per scan (shrink_active_list), so later scans find more.
    for (let i = 0; i < 16; i++) {
      most = Math.max(most, core.scanAtPriority(2, { freePages: 0, highPages: 0, nrToReclaimPages }));
      settle(core);
    }
    return most;
  };
  // One round over the lists scans at most SWAP_CLUSTER_MAX pages of each before the check.
  const direct = perCall(32);
  const background = perCall(Infinity);
  assert.ok(direct <= 2 * 32, String(direct));
  assert.ok(background > 4 * 32, String(background));
});
