import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryCore, asBlock, asGfn } from '../src/core/index.js';
import type { PageTable } from '../src/core/store/page-table.js';
import { SMALL_CORE_CONFIG } from './support/small-core.js';
import { clearBit, hasBit, newBitmap, setBit, setBitOn } from '../src/core/store/bitmap.js';

/** The core's page table, reached past its privacy: the planted bugs below write it behind its back. */
function pageTable(core: MemoryCore): PageTable {
  return (core as unknown as { s: { pt: PageTable } }).s.pt;
}

/** A small core after pins, device fills that link pages to blocks, and enough touches to swap. */
function exercisedCore(): MemoryCore {
  const core = new MemoryCore(SMALL_CORE_CONFIG);
  const drainAll = (): void => {
    while (core.hasActions)
      for (const a of core.drain()) {
        if (a.kind === 'read') core.readDone(a.id);
        else if (a.kind === 'write') core.writeDone(a.id);
      }
  };
  for (let g = 0; g < 40; g++) {
    assert.equal(core.beginDmaWrite(asGfn(g)), 0);
    core.endDmaWrite(asGfn(g), asBlock(g));
  }
  assert.equal(core.pinHost(asGfn(100), false), 0);
  drainAll();
  for (let i = 0; i < 3000; i++) {
    core.touch(asGfn((i * 37) % 512), i % 5 === 0, 'guest');
    drainAll();
  }
  return core;
}

test('the pinned and linked bitmaps agree with the pin counts and blocks after pins, device fills and swapping', () => {
  const core = exercisedCore();
  assert.deepEqual(core.checkInvariants(), []);
  assert.ok(core.counters.swapWriteOps > 0, 'the run swapped');
});

test('planted: a pin count changed behind the bitmap is reported by the invariants', () => {
  const core = exercisedCore();
  const pt = pageTable(core);
  const p = 100;
  assert.ok(core.isResident(asGfn(p)));
  pt.pins[p] = 0;
  assert.ok(
    core.checkInvariants().some((m) => m.includes(`page ${p}: pinned bit`)),
    'the stale pinned bit went unnoticed',
  );
});

test('planted: a block changed behind the bitmap is reported by the invariants', () => {
  const core = exercisedCore();
  const pt = pageTable(core);
  const p = (() => {
    for (let q = 0; q < 512; q++) if (pt.block[q] === -1) return q;
    return -1;
  })();
  assert.ok(p >= 0);
  pt.block[p] = 7;
  assert.ok(
    core.checkInvariants().some((m) => m.includes(`page ${p}: linked bit`)),
    'the stale linked bit went unnoticed',
  );
});

test('setBitOn and clearBit set and clear one bit, at word edges too, as setBit does, leaving the others', () => {
  const size = 100;
  const a = newBitmap(size);
  const b = newBitmap(size);
  // Word edges (31/32, 63/64) and the last index, set then some cleared, in both maps alike.
  const on = [0, 1, 31, 32, 33, 63, 64, 99];
  for (const i of on) {
    setBitOn(a, i);
    setBit(b, i, true);
  }
  for (const i of [1, 32, 64]) {
    clearBit(a, i);
    setBit(b, i, false);
  }
  assert.deepEqual([...a], [...b]);
  const set = [...Array(size).keys()].filter((i) => hasBit(a, i));
  assert.deepEqual(set, [0, 31, 33, 63, 99]);
});
