import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CoreAction, DEFAULT_CORE_TUNABLES, type Gfn, MemoryCore, asGfn } from '../src/core/index.js';

/**
 * A guest of 64 pages at a limit of 16 whose swap writes are held back: every page is written once,
 * reads complete at once, writes stay in flight. Returns the core and the held writes.
 */
function heldWrites(hostAssumesDirty = true): {
  core: MemoryCore;
  writes: { id: number; pages: number[] }[];
} {
  const core = new MemoryCore({
    ...DEFAULT_CORE_TUNABLES,
    zoneWeights: [1],
    guestPages: 64,
    vmmPages: 0,
    imageBlocks: 64,
    swapSlots: 256,
    residentLimitPages: 16,
    mapper: false,
    hostAssumesDirty,
  });
  const writes: { id: number; pages: number[] }[] = [];
  const take = (): void => {
    for (let a: CoreAction | undefined = core.nextAction(); a !== undefined; a = core.nextAction()) {
      if (a.kind === 'read') core.readDone(a.id);
      else if (a.kind === 'write') writes.push({ id: a.id, pages: [...a.pages] });
    }
  };
  for (let p = 0; p < 64; p++) {
    core.touch(asGfn(p), true, 'guest');
    take();
  }
  return { core, writes };
}

// writebackDone frees a page whose swap write is done only when nothing happened to it meanwhile
// (its usual fate, told by one test of its flags): a page written to, read, or being read by a
// device while the write was in flight stays resident and keeps its slot. A fast path that left out
// the referenced bit would free the pages touched (written pages are referenced too), one that left
// out the pin test would free the page the device is reading.
test('a page touched or pinned by a device during its swap write stays resident', () => {
  const { core, writes } = heldWrites();
  const pages = writes.flatMap((w) => w.pages);
  assert.ok(pages.length >= 4, `expected held writes, got ${pages.length} pages`);
  const [dirtied, referenced, pinned, untouched] = pages as [Gfn, Gfn, Gfn, Gfn];
  core.touch(dirtied, true, 'guest');
  core.touch(referenced, false, 'guest');
  // A disk write from the page: the device pins it and sets no flag.
  const flagsBefore = core.inspect(pinned).flags;
  assert.equal(core.beginDmaRead(pinned), 0);
  assert.equal(core.inspect(pinned).flags, flagsBefore);
  for (const w of writes) core.writeDone(w.id as never);
  assert.ok(core.isResident(dirtied), 'a page written during writeback was freed');
  assert.ok(core.inspect(dirtied).slot >= 0, 'it keeps its slot');
  assert.ok(core.isResident(referenced), 'a page read during writeback was freed');
  assert.ok(core.isResident(pinned), 'a page a device reads during writeback was freed');
  assert.ok(!core.isResident(untouched), 'an untouched page stays in memory after its write');
  core.endDmaRead(pinned, 3 as never);
  assert.deepEqual(core.checkInvariants(), []);
});

// With a host that does not take a read for a write (hostAssumesDirty off: EPT with dirty bits), a
// guest read during writeback sets only the referenced bit, and that alone must keep the page. With
// the default every touch sets both bits, so the test above cannot tell a fast path that forgets the
// referenced bit; this one can. (One that forgets the dirty bit alone is still not caught: no test
// here dirties a page without referencing it.)
test('a page only read during its swap write stays resident when reads do not dirty', () => {
  const { core, writes } = heldWrites(false);
  const pages = writes.flatMap((w) => w.pages);
  assert.ok(pages.length >= 2, `expected held writes, got ${pages.length} pages`);
  const [read, untouched] = pages as [Gfn, Gfn];
  core.touch(read, false, 'guest');
  assert.ok(!core.isDirty(read), 'the read dirtied the page: this test needs reads that do not');
  // Room for every page, so that no reclaim drops the clean page (its slot holds its content) after
  // writebackDone has kept it: what is resident then is writebackDone's choice alone.
  core.setResidentLimit(64);
  for (const w of writes) core.writeDone(w.id as never);
  assert.ok(core.isResident(read), 'a page read during writeback was freed');
  assert.ok(core.inspect(read).slot >= 0, 'it keeps its slot');
  assert.ok(!core.isResident(untouched), 'an untouched page stays in memory after its write');
  assert.deepEqual(core.checkInvariants(), []);
});
