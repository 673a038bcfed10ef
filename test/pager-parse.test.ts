/**
 * The qemu-pager engine's pure parts (no root): the daemon's configuration errors, finding QEMU's
 * guest RAM in /proc/PID/maps, the shim's hello, request chunking, and counters as deltas.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DaemonConfigError, parseDaemonConfig } from '../src/pager/daemon.js';
import { GuestMemory } from '../src/pager/guest-memory.js';
import { GuestRamError, findRamMapping, parseMaps } from '../src/pager/guest-ram.js';
import { pagerMetrics } from '../src/pager/metrics.js';
import { chunksOf } from '../src/pager/pager-io.js';
import { ShimError, parseHello } from '../src/pager/shim-listener.js';

const base = { vhostSocket: '/tmp/v.sock', image: '/tmp/disk.img' };

test('daemon configuration: bad input gets an error naming the field', () => {
  assert.deepEqual(parseDaemonConfig(JSON.stringify({ ...base, mode: 'backend' })), {
    ...base,
    mode: 'backend',
    queueSize: 128,
  });
  const pager = {
    ...base,
    mode: 'pager',
    shimSocket: '/tmp/s',
    swap: '/tmp/swap',
    ramBytes: 1 << 29,
    mapper: true,
  };
  assert.equal(parseDaemonConfig(JSON.stringify(pager)).samplingDepth, 64);
  assert.equal(parseDaemonConfig(JSON.stringify(pager)).controlSocket, undefined);
  assert.equal(parseDaemonConfig(JSON.stringify(pager)).busyPollNs, undefined);
  assert.equal(parseDaemonConfig(JSON.stringify({ ...pager, busyPollNs: 0 })).busyPollNs, 0);
  assert.equal(
    parseDaemonConfig(JSON.stringify({ ...pager, controlSocket: '/tmp/c' })).controlSocket,
    '/tmp/c',
  );
  const bad: [unknown, RegExp][] = [
    [undefined, /no configuration/],
    ['{', /not JSON/],
    [{ ...base, mode: 'x' }, /mode must be/],
    [{ ...base, mode: 'backend', image: '' }, /image must be a path/],
    [{ ...base, mode: 'backend', queueSize: 100 }, /queueSize must be a power of two/],
    [{ ...pager, ramBytes: 1000 }, /ramBytes must be a positive multiple of 4096/],
    [{ ...pager, mapper: 'yes' }, /mapper must be true or false/],
    [{ ...pager, disk: 'ssd' }, /disk must be 'immediate' or 'hdd-model'/],
    [{ ...pager, samplingDepth: -1 }, /samplingDepth must be an integer/],
    [{ ...pager, busyPollNs: 1.5 }, /busyPollNs must be an integer within/],
    [{ ...pager, busyPollNs: 20_000_000 }, /busyPollNs must be an integer within/],
    [{ ...pager, pageClusterLog2: 9 }, /pageClusterLog2 must be an integer within 0..8, got 9/],
    [{ ...pager, testSabotage: 'other' }, /unknown testSabotage/],
    [{ ...pager, swap: undefined }, /swap must be a path/],
    [{ ...pager, controlSocket: 3 }, /controlSocket must be a path/],
  ];
  for (const [cfg, re] of bad) {
    assert.throws(
      () => parseDaemonConfig(typeof cfg === 'string' || cfg === undefined ? cfg : JSON.stringify(cfg)),
      (e: Error) => e instanceof DaemonConfigError && re.test(e.message),
    );
  }
});

test("QEMU's guest RAM is the one shared memfd mapping of the guest's size", () => {
  const maps = parseMaps(
    [
      '55d0c0000000-55d0c0100000 r-xp 00000000 08:01 123 /usr/bin/qemu-system-x86_64',
      '7f0000000000-7f0020000000 rw-s 00000000 00:01 4567 /memfd:mem (deleted)',
      '7f1000000000-7f1000200000 rw-s 00000000 00:01 4568 /memfd:other (deleted)',
      '7f2000000000-7f2020000000 rw-p 00000000 00:00 0 ',
    ].join('\n'),
  );
  assert.equal(maps.length, 4);
  const m = findRamMapping(maps, 512 << 20);
  assert.equal(m.start, 0x7f0000000000);
  assert.throws(
    () => findRamMapping(maps, 256 << 20),
    (e: Error) => e instanceof GuestRamError && /found 0/.test(e.message),
  );
});

test("the shim's hello carries QEMU's pid; anything else is refused", () => {
  assert.equal(parseHello('VSWUFFD1 4242'), 4242);
  assert.throws(() => parseHello('HELLO 1'), ShimError);
  assert.throws(() => parseHello('VSWUFFD1 x'), ShimError);
});

test('request data is cut at page boundaries in guest RAM, with disk offsets; whole aligned pages stay whole', () => {
  const bytes = new Uint8Array(1 << 20);
  // Guest-physical 0x100000.. is the file's offset 0x20000.. (a region that does not start at 0).
  const mem = new GuestMemory([
    { gpa: 0x100000, sizeBytes: 1 << 20, userAddr: 0x7f0000000000, fileOffset: 0x20000, bytes, addr: 0 },
  ]);
  const chunks = chunksOf(
    {
      kind: 'read',
      type: 0,
      sector: 16,
      data: [
        { gpa: 0x100000, len: 8192 },
        { gpa: 0x100000 + 0x5800, len: 4096 },
      ],
      dataBytes: 12288,
      statusGpa: 0x100000,
    },
    mem,
  );
  assert.deepEqual(chunks, [
    { page: 0x20, at: 0, len: 4096, diskOff: 8192 },
    { page: 0x21, at: 0, len: 4096, diskOff: 12288 },
    { page: 0x25, at: 0x800, len: 2048, diskOff: 16384 },
    { page: 0x26, at: 0, len: 2048, diskOff: 18432 },
  ]);
});

test('counters are deltas of the daemon snapshots; resident counts are the last ones', () => {
  const zero = { readOps: 0, writeOps: 0, readSectors: 0, writeSectors: 0 };
  const a = {
    pager: {
      staleSwapReads: 5,
      hostFaultsInGuest: 10,
      swapReadRuns: 2,
      swapReadPages: 8,
      namedResidentPages: 1,
    },
    disk: { swap: { ...zero, readOps: 3 }, image: zero },
    device: {},
  };
  const b = {
    pager: {
      staleSwapReads: 9,
      hostFaultsInGuest: 30,
      swapReadRuns: 6,
      swapReadPages: 40,
      namedResidentPages: 7,
    },
    disk: {
      swap: { ...zero, readOps: 13, writeOps: 2, writeSectors: 64 },
      image: { ...zero, readOps: 5, readSectors: 80 },
    },
    device: {},
  };
  const m = pagerMetrics({
    a,
    b,
    reply: { rc: 0, lines: [], beginS: 10, endS: 12.5 },
    guestBefore: { pgmajfault: 1 },
    guestAfter: { pgmajfault: 4, nr_file_pages: 99 },
  });
  assert.equal(m.runtimeS, 2.5);
  assert.equal(m.staleSwapReads, 4);
  assert.equal(m.hostFaultsInGuest, 20);
  assert.equal(m.swapReadRunLengthMean, 8);
  assert.equal(m.diskOps, 10 + 2 + 5);
  assert.equal(m.swapWriteSectors, 64);
  assert.equal(m.imageReadSectors, 80);
  assert.equal(m.namedResidentPages, 7);
  assert.equal(m.guestMajorFaults, 3);
  assert.equal(m.guestPageCachePages, 99);
  assert.equal('hostFaultsVmm' in m, false, 'not measured here: absent, not zero');
  assert.equal('falseSwapReads' in m, false, 'not observable by a pager: absent, not zero');
});

test('a bad sampling depth is refused by name before anything is built', async () => {
  const { runPagerConfig } = await import('../src/pager/run.js');
  const o = { config: 'mapper', believedMiB: 512, actualMiB: 100, fileMiB: 200, iterations: 8 } as const;
  await assert.rejects(
    runPagerConfig({ ...o, allocMiB: 0, hddLike: false, samplingDepth: -1 }),
    /samplingDepth must be a whole number >= 0, got -1/,
  );
  await assert.rejects(
    runPagerConfig({ ...o, allocMiB: 0, hddLike: false, believedMiB: 0 }),
    /believedMiB must be a whole number >= 1, got 0/,
  );
});

test('a bad limit schedule or page cluster is refused by name before anything is built', async () => {
  const { runPagerConfig } = await import('../src/pager/run.js');
  const o = { config: 'baseline', believedMiB: 512, actualMiB: 512, fileMiB: 16, iterations: 2 } as const;
  const run = (x: object): Promise<unknown> => runPagerConfig({ ...o, allocMiB: 0, hddLike: false, ...x });
  await assert.rejects(
    run({ limitSchedule: [{ after: 3, pages: 128 }] }),
    /step 0: after must be an iteration 1..2/,
  );
  await assert.rejects(
    run({
      limitSchedule: [
        { after: 2, pages: 128 },
        { after: 1, pages: 128 },
      ],
    }),
    /step 1: after must be an iteration 2..2 \(in order\), got 1/,
  );
  await assert.rejects(
    run({ limitSchedule: [{ after: 1, pages: 0 }] }),
    /step 0: pages must be a whole number in 1..131072, got 0/,
  );
  await assert.rejects(
    run({ limitSchedule: [{ after: 1, pages: 131073 }] }),
    /pages must be a whole number in 1..131072/,
  );
  await assert.rejects(
    run({ pageClusterLog2: -1 }),
    /pageClusterLog2 must be a whole number in 0..8, got -1/,
  );
});
