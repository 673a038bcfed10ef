/**
 * Free page reporting in the simulator (`baseline+fpr`): the guest's worker reports whole free
 * pageblocks only, above the watermark, once per free period; the host discards them; and in the
 * paper's Sysbench run the baseline's stale swap reads (iteration 1) and Fig. 10's false reads go,
 * while every page still reads back what was written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Gfn, asGfn } from '../src/core/index.js';
import { paperJob, runJob } from '../src/experiments/job.js';
import { SYSBENCH_200MB } from '../src/experiments/figures.js';
import type { BalloonPort } from '../src/sim/guest/balloon.js';
import { ANON, GuestMemory } from '../src/sim/guest/memory.js';
import { PAGEBLOCK_PAGES, PAGE_REPORTING_CAPACITY, PageReporter } from '../src/sim/guest/page-reporting.js';
import { Host } from '../src/sim/host.js';
import { Machine, PAPER_MACHINE } from '../src/sim/machine.js';
import { fakeKernel, unusedBy } from './support/fake-kernel.js';

const BLOCKS = PAGE_REPORTING_CAPACITY + 8;

/** A guest of BLOCKS pageblocks, all free but block 0 (the kernel); the reports it makes. */
function guest(lowFreePages = 0): { mem: GuestMemory; reporter: PageReporter; reported: number[] } {
  const mem = new GuestMemory(BLOCKS * PAGEBLOCK_PAGES);
  for (let g = mem.pages - 1; g >= PAGEBLOCK_PAGES; g--) mem.push(g);
  const unused = unusedBy('the page reporter');
  const os = fakeKernel(mem, 'the page reporter');
  const reported: number[] = [];
  const port: BalloonPort = {
    balloonInflate: unused,
    balloonDeflate: unused,
    balloonReportFree: (g: Gfn) => reported.push(g),
  };
  return { mem, reporter: new PageReporter(os, port, lowFreePages), reported };
}

const drain = (p: Iterable<unknown>): void => {
  // The pass's steps: none of them blocks here (cpu() never asks it to yield).
  void [...p];
};

test('the worker reports whole free pageblocks only, each page once until it is used and freed again', () => {
  const { mem, reporter, reported } = guest();
  // Frame 3 of block 5 is in use: that block is not reported, every other free one is.
  const used = 5 * PAGEBLOCK_PAGES + 3;
  mem.use[used] = ANON;
  drain(reporter.pass());
  assert.equal(reported.length, (BLOCKS - 2) * PAGEBLOCK_PAGES);
  assert.ok(reported.every((g) => Math.floor(g / PAGEBLOCK_PAGES) !== 5 && g >= PAGEBLOCK_PAGES));
  assert.equal(reporter.unreportedBlocks(), 0);
  // Nothing new is free: a second pass reports nothing.
  drain(reporter.pass());
  assert.equal(reported.length, (BLOCKS - 2) * PAGEBLOCK_PAGES);
  // The used frame is freed: its block is whole again; only what was not reported goes now.
  mem.push(used);
  // A reported frame used and freed again is new to the host.
  const again = 7 * PAGEBLOCK_PAGES;
  mem.use[again] = ANON;
  mem.push(again);
  reported.length = 0;
  drain(reporter.pass());
  assert.deepEqual(
    reported.sort((a, b) => a - b),
    [again, ...Array.from({ length: PAGEBLOCK_PAGES }, (_, i) => 5 * PAGEBLOCK_PAGES + i)].sort(
      (a, b) => a - b,
    ),
  );
});

test('no report unless free memory exceeds the low watermark by PAGE_REPORTING_CAPACITY blocks', () => {
  const free = (BLOCKS - 1) * PAGEBLOCK_PAGES;
  const { reporter, reported } = guest(free - PAGE_REPORTING_CAPACITY * PAGEBLOCK_PAGES + 1);
  drain(reporter.pass());
  assert.equal(reported.length, 0);
  const ok = guest(free - PAGE_REPORTING_CAPACITY * PAGEBLOCK_PAGES);
  drain(ok.reporter.pass());
  assert.equal(ok.reported.length, free);
});

const run = (config: 'baseline' | 'baseline+fpr', allocMiB = 0) =>
  runJob(
    paperJob(
      config,
      100,
      allocMiB > 0
        ? { kind: 'false-reads', fileMiB: 200, blockKiB: 16, iterations: 2, allocMiB }
        : { ...SYSBENCH_200MB, iterations: 2 },
      0.25,
    ),
  );

test("baseline+fpr: the guest's reported free pages are discarded, so iteration 1 has no stale swap reads", () => {
  const base = run('baseline');
  const fpr = run('baseline+fpr');
  const b = base.iterations[0]!;
  const f = fpr.iterations[0]!;
  assert.ok(b.staleSwapReads! > 1000, `baseline stale reads ${b.staleSwapReads}`);
  assert.equal(f.staleSwapReads, 0);
  assert.ok(
    f.swapReadSectors! < b.swapReadSectors!,
    `swap read ${b.swapReadSectors} -> ${f.swapReadSectors}`,
  );
  assert.ok(f.runtimeS! < b.runtimeS!);
  for (const m of [...base.iterations, ...fpr.iterations]) assert.equal(m.integrityViolations, 0);
  assert.ok(
    fpr.notes.some((n) => /free page reporting: [1-9]\d* blocks/.test(n)),
    fpr.notes.join('; '),
  );
});

test("baseline+fpr on Fig. 10's allocation: the pages it takes were reported free, so no false swap reads", () => {
  const base = run('baseline', 200);
  const fpr = run('baseline+fpr', 200);
  assert.ok(
    base.iterations[0]!.falseSwapReads! > 100,
    `baseline false reads ${base.iterations[0]!.falseSwapReads}`,
  );
  assert.equal(fpr.iterations[0]!.falseSwapReads, 0);
});

test('free page reporting is refused where it is not modelled: a Windows guest', () => {
  assert.throws(
    () =>
      new Machine({
        ...PAPER_MACHINE,
        config: 'baseline+fpr',
        guestActualMiB: 100,
        files: [],
        guestOs: 'windows',
      }),
    /baseline\+fpr: free page reporting is a Linux guest's \(mm\/page_reporting\.c\); the windows guest has none/,
  );
});

test('planted bug: a report of the wrong frames (the block before) is caught by the integrity checks', () => {
  const proto = Host.prototype;
  const honest = Object.getOwnPropertyDescriptor(proto, 'balloonReportFree')!.value as (
    this: Host,
    g: Gfn,
  ) => void;
  // Off by one block: the host discards the pages of the block before the free one, pages the
  // guest may be using (block 0 is its kernel's).
  proto.balloonReportFree = function (this: Host, g: Gfn) {
    honest.call(this, asGfn(g - PAGEBLOCK_PAGES));
  };
  try {
    const r = run('baseline+fpr');
    const violations = r.iterations.reduce((n, m) => n + (m.integrityViolations ?? 0), 0);
    assert.ok(violations > 0, 'discarded pages in use went unnoticed');
  } finally {
    proto.balloonReportFree = honest;
  }
});
