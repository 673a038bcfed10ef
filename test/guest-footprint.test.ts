import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { footprintOf } from '../src/pager/footprint-probe.js';
import { cachedFootprint, footprintKey, storeFootprint } from '../src/real/footprint.js';

test("the probe's measurement: what the guest cannot give up, and what it touched besides the file", () => {
  const info = {
    guestMemAvailableAtBootMiB: 441,
    limitStep1MemfdAfterMiB: 0.5,
    guestRamResidentAtEndMiB: 27.2,
  };
  const fp = footprintOf(info, 2, true);
  assert.equal(fp.ownMiB, 512 - 441);
  assert.equal(fp.hotMiB, 11); // 27.2 - 0.5 brought back, less the 16 MiB file
  assert.match(fp.how, /441 MiB available after boot/);
  // A probe that did not finish measures nothing.
  assert.throws(() => footprintOf(info, 1, true), /did not finish: 1 of 2/);
  assert.throws(() => footprintOf(info, 2, false), /checksum false/);
  assert.throws(
    () => footprintOf({ ...info, limitStep1MemfdAfterMiB: 'x' }, 2, true),
    /no limitStep1MemfdAfterMiB/,
  );
});

test('the footprint is cached per guest kernel and initramfs, and a torn cache file is measured again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vswapper-fp-'));
  const old = process.env.VSWAPPER_CACHE;
  process.env.VSWAPPER_CACHE = dir;
  try {
    const k = join(dir, 'kernel');
    const i = join(dir, 'initrd');
    writeFileSync(k, 'kernel v1');
    writeFileSync(i, 'initrd v1');
    const key = footprintKey({ kernel: k, initrd: i });
    assert.equal(cachedFootprint(key), undefined);
    storeFootprint(key, { ownMiB: 71, hotMiB: 11, how: 'test' });
    assert.deepEqual(cachedFootprint(key), { ownMiB: 71, hotMiB: 11, how: 'test' });
    // Another kernel is another guest.
    writeFileSync(k, 'kernel v2');
    const key2 = footprintKey({ kernel: k, initrd: i });
    assert.notEqual(key2, key);
    assert.equal(cachedFootprint(key2), undefined);
    writeFileSync(join(dir, `guest-footprint-${key2}.json`), '{"ownMiB": 7');
    assert.equal(cachedFootprint(key2), undefined);
  } finally {
    if (old === undefined) delete process.env.VSWAPPER_CACHE;
    else process.env.VSWAPPER_CACHE = old;
    rmSync(dir, { recursive: true, force: true });
  }
});
