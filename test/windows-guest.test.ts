import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_FAULT } from '../src/core/index.js';
import type { ConfigName } from '../src/engine/results.js';
import { QEMU_1_2 } from '../src/sim/costs.js';
import { Rng } from '../src/sim/rng.js';
import { sectorIoThread } from '../src/sim/guest/sector-io.js';
import { WindowsGuestOs } from '../src/sim/guest/windows-os.js';
import { Machine, PAPER_MACHINE } from '../src/sim/machine.js';
import { runAfterSetup } from './support/small-machine.js';

const FILE_PAGES = 2048;

/** A small Windows guest: it believes 32 MiB, of which the host gives it `actualMiB`. */
function windows(config: ConfigName, actualMiB: number, sectorIoPerSec = 0, seed = 1): Machine {
  return new Machine({
    ...PAPER_MACHINE,
    seed,
    config,
    guestOs: 'windows',
    guestAsyncPageFaults: false,
    guestSectorIoPerSec: sectorIoPerSec,
    guestBelievedMiB: 32,
    guestActualMiB: actualMiB,
    guestKernelMiB: 4,
    vmm: { ...QEMU_1_2, codePages: 64 },
    files: [{ name: 'data', sizePages: FILE_PAGES }],
  });
}

function win(m: Machine): WindowsGuestOs {
  assert.ok(m.guest instanceof WindowsGuestOs);
  return m.guest;
}

/** Boot (the zero page thread zeroes every frame), the host limit, then `body` (its configurations have no balloon). */
const run = runAfterSetup;

test('at boot every free frame is zeroed onto the zeroed list; a demand-zero fault maps one without zeroing it', () => {
  const m = windows('baseline', 32);
  const os = win(m);
  let zeroings = 0;
  run(m, function* () {
    assert.equal(os.mem.freePages, 0, 'the free list is empty after boot');
    assert.equal(os.zeroed.size, os.freePages);
    assert.ok(os.zeroed.size > 6000, `most of the 8192 frames are zeroed (${os.zeroed.size})`);
    const overwrite = os.overwritePage.bind(os);
    const tryOverwrite = os.tryOverwrite.bind(os);
    os.overwritePage = (g, c) => (zeroings++, overwrite(g, c));
    os.tryOverwrite = (g, c) => (zeroings++, tryOverwrite(g, c));
    const p = os.anon.createProcess('p');
    const v = p.reserve(100);
    const before = os.zeroed.size;
    yield* os.anon.touchRange(p, v, 100, true);
    assert.equal(os.zeroed.size, before - 100, 'the 100 pages came off the zeroed list');
    assert.equal(zeroings, 0, 'none was zeroed again at the fault');
    os.overwritePage = overwrite;
    os.tryOverwrite = tryOverwrite;
    // Exit puts the frames on the free list; the zero page thread, woken, zeroes them while idle.
    os.anon.exit(p);
    assert.equal(os.mem.freePages, 100);
    yield* os.sleep(50e6);
    assert.equal(os.mem.freePages, 0, 'the zero page thread emptied the free list');
    assert.equal(os.zeroed.size, before);
  });
  assert.equal(m.guest.counters.integrityViolations, 0);
});

test('the zero page thread steps aside while another thread is ready (priority 0)', () => {
  const m = windows('baseline', 32);
  const os = win(m);
  run(m, function* () {
    const p = os.anon.createProcess('p');
    const v = p.reserve(64);
    yield* os.anon.touchRange(p, v, 64, true);
    os.anon.exit(p);
    // A compute-bound thread beside this one: the zero page thread waits for both to sleep.
    let spinning = true;
    os.spawn(
      (function* () {
        yield* os.compute(20e6);
        spinning = false;
      })(),
    );
    yield* os.compute(20e6);
    assert.equal(os.mem.freePages, 64, 'nothing zeroed while the two threads computed');
    while (spinning) yield* os.sleep(1e6);
    yield* os.sleep(20e6);
    assert.equal(os.mem.freePages, 0, 'all zeroed once the vCPU was idle');
  });
});

/**
 * The same guest activity under each configuration: a process's memory freed while the host has
 * swapped it out, so the zero page thread writes whole pages the host does not have.
 */
function zeroingUnderPressure(config: ConfigName): Machine {
  const m = windows(config, 12);
  const os = win(m);
  run(m, function* () {
    const p = os.anon.createProcess('p');
    const v = p.reserve(4096);
    yield* os.anon.touchRange(p, v, 4096, true);
    // Reading the file pushes the process's pages out of the host's 12 MiB.
    for (let j = 0; j < FILE_PAGES; j += 4) yield* os.read(0, j, 4);
    os.anon.exit(p);
    // Each frame the host swapped out costs the zeroing a disk read, unless the Preventer takes it.
    for (let t = 0; t < 600 && os.mem.freePages > 0; t++) yield* os.sleep(100e6);
    assert.equal(os.mem.freePages, 0, 'everything freed was zeroed');
  });
  return m;
}

test("the Preventer takes the zero page thread's writes to swapped-out frames: false reads without it, remaps with it", () => {
  const counts = new Map<ConfigName, Record<string, number>>();
  for (const c of ['baseline', 'mapper', 'vswapper'] as const) {
    const m = zeroingUnderPressure(c);
    counts.set(c, m.core.counters.snapshot());
    assert.equal(m.guest.counters.integrityViolations, 0, `${c}: no page differs from the reference`);
  }
  const b = counts.get('baseline')!;
  const mp = counts.get('mapper')!;
  const vs = counts.get('vswapper')!;
  assert.ok(b.falseSwapReads! > 500, `baseline: false reads (${b.falseSwapReads})`);
  assert.equal(mp.preventerRemaps, 0, 'the Mapper alone remaps nothing');
  assert.ok(vs.falseSwapReads! < b.falseSwapReads! / 10, `vswapper: few false reads (${vs.falseSwapReads})`);
  assert.ok(vs.preventerRemaps! > 500, `vswapper: remaps (${vs.preventerRemaps})`);
  assert.ok(
    b.staleSwapReads! > 100,
    `baseline: the file's reads into swapped-out frames are stale reads (${b.staleSwapReads})`,
  );
  assert.ok(mp.staleSwapReads! < b.staleSwapReads! / 10, `mapper: few stale reads (${mp.staleSwapReads})`);
});

/** Sector requests at 2000/s over the file's blocks and as many before them, while the file is read 3 times. */
function sectorTraffic(config: ConfigName, planted = false): { m: Machine; requests: number } {
  // 6 MiB: less than the 8 MiB file, so the host keeps dropping the pages the Mapper has named.
  const m = windows(config, 6);
  const os = win(m);
  if (planted) m.core.beginBlockWrite = () => NO_FAULT;
  const dataStart = os.params.dataStartBlock;
  let requests = 0;
  run(m, function* () {
    os.spawnKernelThread(
      sectorIoThread(os, 2000, { firstBlock: dataStart - FILE_PAGES, blocks: 2 * FILE_PAGES }, new Rng(7)),
    );
    const before = os.counters.ioRequests;
    for (let pass = 0; pass < 3; pass++) for (let j = 0; j < FILE_PAGES; j += 4) yield* os.read(0, j, 4);
    requests = os.counters.ioRequests - before;
  });
  return { m, requests };
}

test('512-byte requests over blocks the Mapper has named keep every page and block right', () => {
  for (const config of ['baseline', 'mapper', 'vswapper'] as const) {
    const { m, requests } = sectorTraffic(config);
    assert.ok(requests > 100, `${config}: requests were made (${requests})`);
    assert.equal(m.guest.counters.integrityViolations, 0, `${config}: no page differs from the reference`);
    assert.deepEqual(m.core.checkInvariants(), [], `${config}: the core is consistent`);
  }
});

test('planted: a host that writes part of a block without the Mapper preserving its named holders is caught', () => {
  const { m } = sectorTraffic('mapper', true);
  assert.ok(m.guest.counters.integrityViolations > 0, 'the guest read back a page that changed under it');
});

test('a Windows guest cannot have KVM asynchronous page faults', () => {
  assert.throws(
    () => new Machine({ ...windows('baseline', 32).spec, guestAsyncPageFaults: true }),
    /Windows guest has no KVM asynchronous page faults/,
  );
});
