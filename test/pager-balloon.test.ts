/**
 * QEMU's balloon with the pager (root: userfaultfd for another process is privileged here). This
 * process plays QEMU against a real daemon: it discards part of its guest RAM as QEMU's balloon
 * does (fallocate punch on the memfd, then madvise(MADV_DONTNEED), which the registered userfaultfd
 * reports as a remove event that QEMU waits on), with most of those pages in the daemon's swap and
 * some resident. The daemon's core takes them as ballooned: their swap copies are freed and never
 * read back (the next touch is a zero page, no swap read), the memfd holds less, and every page
 * outside the balloon still has its content.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MADV_DONTNEED, madvise, punchHole } from '../src/pager/sys.js';
import { PAGED_PROCESS_SKIP as skip, type PagedProcess, withPagedProcess } from './support/paged-process.js';

const PAGES = 2048;
const PAGE = 4096;
/** The ring's pages (RING_LAYOUT: pages 0-3) are left alone. */
const FIRST = 16;

/** This process as QEMU over a daemon without the Mapper, its disk of 256 zero blocks; `body` runs with it. */
const balloonProcess = <T>(body: (p: PagedProcess) => Promise<T>, sabotage?: 'ignore-discards'): Promise<T> =>
  withPagedProcess(
    {
      prefix: 'vswapper-balloon-',
      imagePages: 256,
      pages: PAGES,
      mapper: false,
      disk: 'immediate',
      residentLimitPages: PAGES,
      queueSize: 16,
      ...(sabotage ? { sabotage } : {}),
    },
    body,
  );

/** QEMU's balloon discarding [a, b) of guest RAM: a hole in the memfd, then madvise on its mapping. */
function discard(proc: PagedProcess, a: number, b: number): void {
  punchHole(proc.ramFd, a * PAGE, (b - a) * PAGE);
  madvise(proc.ram!.addr + a * PAGE, (b - a) * PAGE, MADV_DONTNEED);
}

test(
  'a page QEMU discards (its balloon) is never read back from swap; the memfd shrinks; the rest is intact',
  { skip, timeout: 120_000 },
  async (t) => {
    await balloonProcess(async (proc) => {
      const words = proc.words();
      const mark = (p: number): number => (p * 2654435761) | 1;
      for (let p = FIRST; p < PAGES; p++) words[p * 1024 + 5] = mark(p);
      // Most pages to swap: the resident pages are the last ones written.
      await proc.daemon.cmd({ cmd: 'limit', pages: 512 });
      const before = await proc.stats();
      assert.ok(before.swapWritePages! > 1000, `pages written to swap: ${before.swapWritePages}`);
      // The balloon: the first half of RAM after the ring (swapped pages) and the last 256 (resident).
      const ranges: [number, number][] = [
        [FIRST, PAGES / 2],
        [PAGES - 256, PAGES],
      ];
      for (const [a, b] of ranges) discard(proc, a, b);
      const after = await proc.stats();
      const ballooned = ranges.reduce((n, [a, b]) => n + b - a, 0);
      assert.equal(after.balloonRemoved, ballooned, 'every discarded page reached the core');
      assert.ok(
        after.balloonRemovedSwapped! > 500,
        `swapped pages ballooned: ${after.balloonRemovedSwapped}`,
      );
      assert.equal(after.balloonRemovePinned, 0);
      assert.ok(
        after.memfdBytes! < before.memfdBytes!,
        `memfd ${before.memfdBytes} -> ${after.memfdBytes} bytes`,
      );
      assert.ok(after.swapUsedSlots! < before.swapUsedSlots! - 500, 'their swap slots were freed');
      // Touching ballooned pages: zero pages, no swap read.
      for (const [a, b] of ranges)
        for (let p = a; p < b; p++) assert.equal(words[p * 1024 + 5], 0, `ballooned page ${p} reads zero`);
      const touched = await proc.stats();
      assert.equal(touched.swapReadPages, after.swapReadPages, 'no ballooned page was read from swap');
      assert.equal(touched.balloonSwapReadBacks, 0, "the pager's never-read-back counter agrees");
      // Every other page still has its content (from swap or resident).
      for (let p = PAGES / 2; p < PAGES - 256; p++) assert.equal(words[p * 1024 + 5], mark(p), `page ${p}`);
      const end = await proc.stats();
      assert.ok(end.swapReadPages! > touched.swapReadPages!, 'pages outside the balloon came back from swap');
      assert.equal(end.lostPages, 0);
      assert.equal(end.balloonSwapReadBacks, 0, 'pages read back from swap were not ballooned ones');
      const k = ['balloonRemoved', 'balloonRemovedSwapped', 'memfdBytes', 'swapUsedSlots', 'swapReadPages'];
      t.diagnostic(`before ${JSON.stringify(Object.fromEntries(k.map((n) => [n, before[n]])))}`);
      t.diagnostic(`after  ${JSON.stringify(Object.fromEntries(k.map((n) => [n, after[n]])))}`);
      t.diagnostic(
        `end    ${JSON.stringify(Object.fromEntries(k.map((n) => [n, end[n]])))}; ioctls that met EAGAIN ${end.uffdEagainRetries}`,
      );
    });
  },
);

test(
  "planted bug: discards kept from the core are read back from swap, and the pager's counter says so",
  { skip, timeout: 120_000 },
  async () => {
    await balloonProcess(async (proc) => {
      const words = proc.words();
      for (let p = FIRST; p < PAGES; p++) words[p * 1024 + 5] = p | 1;
      await proc.daemon.cmd({ cmd: 'limit', pages: 512 });
      const [a, b] = [FIRST, PAGES / 2];
      discard(proc, a, b);
      let stale = 0;
      for (let p = a; p < b; p++) if (words[p * 1024 + 5] !== 0) stale++;
      const s = await proc.stats();
      assert.ok(stale > 500, `discarded pages that came back with their old content: ${stale}`);
      assert.ok(s.balloonSwapReadBacks! >= stale, `counter ${s.balloonSwapReadBacks}, stale pages ${stale}`);
    }, 'ignore-discards');
  },
);

test(
  'a discarded page given back (deflation) and filled by a disk read is no balloon page: its later swap reads are not read-backs',
  { skip, timeout: 120_000 },
  async () => {
    await balloonProcess(async (proc) => {
      const words = proc.words();
      for (let p = FIRST; p < PAGES; p++) words[p * 1024 + 5] = p | 1;
      // Ballooned, then deflated: the guest has the pages back and reads disk blocks into them.
      const [a, b] = [FIRST, FIRST + 64];
      discard(proc, a, b);
      for (let p = a; p < b; p += 8)
        assert.equal(
          proc.frontend!.io(
            'read',
            p,
            Array.from({ length: 8 }, (_, k) => (p + k) * PAGE),
          ),
          0,
        );
      // To swap and back (they were faulted in last, so a limit of 16 pages evicts most of them):
      // they come from swap with the disk's content (zeros), and none of those reads is of a
      // discarded page.
      await proc.daemon.cmd({ cmd: 'limit', pages: 16 });
      // The evictions' swap writes complete on the daemon's own time: wait for them.
      for (let i = 0; i < 100 && (await proc.stats()).residentPages! > 16; i++)
        await new Promise((r) => setTimeout(r, 20));
      await proc.daemon.cmd({ cmd: 'limit', pages: PAGES });
      for (let p = a; p < b; p++) assert.equal(words[p * 1024 + 5], 0, `page ${p} holds its block`);
      const s = await proc.stats();
      assert.ok(s.swapReadPages! >= (b - a) / 2, `pages read from swap: ${s.swapReadPages}`);
      assert.equal(s.balloonSwapReadBacks, 0, 'pages filled by the disk were counted as ballooned');
      assert.equal(s.lostPages, 0);
    });
  },
);
