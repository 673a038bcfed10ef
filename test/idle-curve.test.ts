import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  IDLE_WINDOWS_S,
  type IdleFault,
  byKind,
  byRegion,
  faultsFromTrace,
  kpageflagsCommand,
  pageKind,
  pageRuns,
  parseKpageflags,
  firstTouches,
  histogram,
  kernelRegions,
  median,
  modelNewPagesPerSec,
  modelWss,
  newPagesPerSec,
  wssCurve,
} from '../src/pager/idle-curve.js';

/** Six pages; page 1 faults twice (a read, then a write-protect fault); one fault before the eviction ended. */
const FAULTS: IdleFault[] = [
  { tS: 25, page: 4, read: true },
  { tS: 0.1, page: 1, read: true },
  { tS: 0.7, page: 2, read: false },
  { tS: 0.8, page: 1, read: false },
  { tS: 3, page: 3, read: true },
  { tS: 61, page: 5, read: true },
  { tS: 90, page: 6, read: true },
  { tS: -0.1, page: 7, read: true },
];

test('WSS(W) counts each page once, at its first fault, and nothing before the eviction ended', () => {
  assert.deepEqual(wssCurve(FAULTS, IDLE_WINDOWS_S), [1, 2, 2, 3, 3, 3, 4, 4, 6]);
  assert.deepEqual(
    firstTouches(FAULTS).map((f) => [f.page, f.read]),
    [
      [1, true],
      [2, false],
      [3, true],
      [4, true],
      [5, true],
      [6, true],
    ],
  );
  // The curve never falls, whatever order the faults come in.
  const c = wssCurve([...FAULTS].reverse(), IDLE_WINDOWS_S);
  for (let i = 1; i < c.length; i++) assert.ok(c[i]! >= c[i - 1]!);
});

test('the long-W rate is the new distinct pages between two windows per second', () => {
  assert.equal(newPagesPerSec(FAULTS, 30, 60), 0);
  assert.equal(newPagesPerSec(FAULTS, 60, 120), 2 / 60);
  assert.equal(newPagesPerSec(FAULTS, 0.5, 1), 2);
  assert.throws(() => newPagesPerSec(FAULTS, 60, 60), /must exceed/);
});

test("the model's curve: uniform touches over K pages give K(1 - exp(-rW/K))", () => {
  const k = 10_240;
  assert.equal(modelWss(k, 1000, 0), 0);
  assert.equal(Math.round(modelWss(k, 1000, 10)), 6384);
  assert.ok(Math.abs(modelWss(k, 1000, 0.001) - 1) < 1e-3, 'at first each touch is a new page');
  assert.ok(k - modelWss(k, 1000, 120) < 1, 'after two minutes the whole area');
  // 1000/s over 16,384 pages (a 2 GB guest's 64 MB) still finds new pages at 60-120 s.
  const r = modelNewPagesPerSec(16_384, 1000, 60, 120);
  assert.ok(r > 6 && r < 7, String(r));
});

test("the kernel image's ranges from /proc/iomem, and first touches by region and by bucket", () => {
  const iomem = [
    '00000000-00000fff : Reserved',
    '00100000-1ffdffff : System RAM',
    '  01000000-01e00816 : Kernel code',
    '  02000000-0265dfff : Kernel rodata',
    '  02800000-02b3b9ff : Kernel data',
    '  0306f000-035fffff : Kernel bss',
    'fd000000-fdffffff : 0000:00:02.0',
  ];
  const regions = kernelRegions(iomem);
  assert.deepEqual(
    regions.map((r) => [r.name, r.startPage, r.endPage]),
    [
      ['Kernel code', 0x1000, 0x1e01],
      ['Kernel rodata', 0x2000, 0x265e],
      ['Kernel data', 0x2800, 0x2b3c],
      ['Kernel bss', 0x306f, 0x3600],
    ],
  );
  const faults: IdleFault[] = [
    { tS: 1, page: 0x1000, read: true },
    { tS: 2, page: 0x1e00, read: true },
    { tS: 3, page: 0x1e01, read: true },
    { tS: 4, page: 0x2b3b, read: true },
    { tS: 5, page: 0x35ff, read: true },
    { tS: 6, page: 0x5000, read: true },
    { tS: 7, page: 0x5000, read: false },
  ];
  assert.deepEqual(byRegion(faults, regions), {
    'Kernel code': 2,
    'Kernel rodata': 0,
    'Kernel data': 1,
    'Kernel bss': 1,
    elsewhere: 2,
  });
  assert.deepEqual(histogram(faults, 0x1000), [
    [0x1000, 3],
    [0x2000, 1],
    [0x3000, 1],
    [0x5000, 1],
  ]);
});

test("the daemon's fault trace as faults: times from t0, a read when the read stage was passed", () => {
  const fields = 4;
  const readStartAt = 2;
  // [page, woke ns, read start ns, released ns]; JSON turns the trace's NaN into null.
  const rows = [
    10,
    1_500_000_000,
    1_600_000_000,
    1_700_000_000,
    11,
    3_000_000_000,
    null,
    3_100_000_000,
    12,
    2e9,
    NaN,
    2.1e9,
  ];
  assert.deepEqual(faultsFromTrace(rows, { fields, readStartAt }, 1e9), [
    { tS: 0.5, page: 10, read: true },
    { tS: 2, page: 11, read: false },
    { tS: 1, page: 12, read: false },
  ]);
  // A fault served in the loop's turn that started the trace carries that turn's earlier wake-up.
  assert.equal(faultsFromTrace([13, 0.9e9, null, 1e9], { fields, readStartAt }, 1e9)[0]!.tS, 0);
  // A torn last row is left out.
  assert.equal(faultsFromTrace(rows.slice(0, 6), { fields, readStartAt }, 0).length, 1);
});

test('median of an odd and an even count', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test("pages by what they hold, from the guest's kpageflags read in runs of consecutive pages", () => {
  const bit = (...b: number[]): bigint => b.reduce((a, x) => a | (1n << BigInt(x)), 0n);
  assert.equal(pageKind(bit(7)), 'slab');
  assert.equal(pageKind(bit(26)), 'page table');
  assert.equal(pageKind(bit(10)), 'free (buddy)');
  assert.equal(pageKind(bit(5, 12)), 'anon (LRU)');
  assert.equal(pageKind(bit(5, 3)), 'file (LRU)');
  assert.equal(pageKind(bit(32, 7)), 'reserved');
  assert.equal(pageKind(bit(20)), 'no page');
  assert.equal(pageKind(0n), 'other kernel');
  assert.deepEqual(pageRuns([9, 3, 4, 5, 4, 7]), [
    [3, 3],
    [7, 1],
    [9, 1],
  ]);
  assert.equal(kpageflagsCommand([[3, 2]]), 'echo @R 3; busybox od -v -An -tu8 -j 24 -N 16 /proc/kpageflags');
  // busybox od's output: two words a line; a run starts at its marker.
  const flags = parseKpageflags([
    '@R 3',
    '                  128                 1024',
    '@R 9',
    '      4294967424',
  ]);
  assert.deepEqual(
    [...flags],
    [
      [3, 128n],
      [4, 1024n],
      [9, 4294967424n],
    ],
  );
  assert.deepEqual(byKind([3, 4, 9, 9, 11], flags), { slab: 1, 'free (buddy)': 1, reserved: 1, unknown: 1 });
});
