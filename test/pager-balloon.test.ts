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
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MADV_DONTNEED, madvise, punchHole } from '../src/pager/sys.js';
import { PagedProcess } from './support/paged-process.js';

const skip =
  process.platform !== 'linux'
    ? 'the pager needs Linux'
    : process.getuid?.() !== 0
      ? 'needs root: userfaultfd for other processes is privileged here (vm.unprivileged_userfaultfd = 0)'
      : !existsSync('/proc/self/map_files')
        ? 'no /proc/PID/map_files'
        : false;

const PAGES = 2048;
const PAGE = 4096;
/** The ring's pages (RING_LAYOUT: pages 0-3) are left alone. */
const FIRST = 16;

test(
  'a page QEMU discards (its balloon) is never read back from swap; the memfd shrinks; the rest is intact',
  { skip, timeout: 120_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vswapper-balloon-'));
    const image = join(dir, 'disk.img');
    const swap = join(dir, 'swap');
    writeFileSync(image, new Uint8Array(256 * PAGE));
    writeFileSync(swap, new Uint8Array(PAGES * PAGE));
    const proc = await PagedProcess.start({
      dir,
      pages: PAGES,
      image,
      swap,
      mapper: false,
      disk: 'immediate',
      residentLimitPages: PAGES,
      queueSize: 16,
    });
    try {
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
      for (const [a, b] of ranges) {
        punchHole(proc.ramFd, a * PAGE, (b - a) * PAGE);
        madvise(proc.ram!.addr + a * PAGE, (b - a) * PAGE, MADV_DONTNEED);
      }
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
    } finally {
      await proc.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "planted bug: discards kept from the core are read back from swap, and the pager's counter says so",
  { skip, timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vswapper-balloon-'));
    const image = join(dir, 'disk.img');
    const swap = join(dir, 'swap');
    writeFileSync(image, new Uint8Array(256 * PAGE));
    writeFileSync(swap, new Uint8Array(PAGES * PAGE));
    const proc = await PagedProcess.start({
      dir,
      pages: PAGES,
      image,
      swap,
      mapper: false,
      disk: 'immediate',
      residentLimitPages: PAGES,
      queueSize: 16,
      sabotage: 'ignore-discards',
    });
    try {
      const words = proc.words();
      for (let p = FIRST; p < PAGES; p++) words[p * 1024 + 5] = p | 1;
      await proc.daemon.cmd({ cmd: 'limit', pages: 512 });
      const [a, b] = [FIRST, PAGES / 2];
      punchHole(proc.ramFd, a * PAGE, (b - a) * PAGE);
      madvise(proc.ram!.addr + a * PAGE, (b - a) * PAGE, MADV_DONTNEED);
      let stale = 0;
      for (let p = a; p < b; p++) if (words[p * 1024 + 5] !== 0) stale++;
      const s = await proc.stats();
      assert.ok(stale > 500, `discarded pages that came back with their old content: ${stale}`);
      assert.ok(s.balloonSwapReadBacks! >= stale, `counter ${s.balloonSwapReadBacks}, stale pages ${stale}`);
    } finally {
      await proc.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
