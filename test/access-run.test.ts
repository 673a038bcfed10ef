import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asGfnArray } from '../src/core/index.js';
import type { ConfigName } from '../src/engine/results.js';
import type { GuestOs, Program } from '../src/sim/guest/guest-os.js';
import { PG_REFERENCED } from '../src/sim/guest/memory.js';
import type { Machine } from '../src/sim/machine.js';
import { Rng } from '../src/sim/rng.js';
import { runAfterSetup, smallMachine } from './support/small-machine.js';

/** What GuestOs keeps private and tryAccessRun's write loop changes: read here to compare, never written. */
interface GuestInternals {
  refHasOver: Uint8Array;
  nextVersion: number;
}

/**
 * A guest that believes 32 MiB on a host that gives it `actualMiB`, after the paper's setup (its
 * history, then the host's limit: a limit below 32 MiB leaves some frames absent), running `body`.
 */
function runOn(config: ConfigName, actualMiB: number, body: (m: Machine) => Program): Machine {
  const m = smallMachine({ config, guestActualMiB: actualMiB });
  runAfterSetup(m, () => body(m));
  return m;
}

/** One page's write as tryTouch() and touch() make it: the guest's flag, then the access, faulting if it must. */
function* writeOne(os: GuestOs, g: number): Program {
  os.mem.flags[g]! |= PG_REFERENCED;
  if (!os.tryAccess(g, true)) yield* os.access(g, true);
}

/**
 * Random work on the guest's frames: runs of writes (clustered, with repeats and some far pages),
 * partial writes of one chunk (overrides on the page and on the guest's reference), and reads
 * (which mark a page checked against its reference). The runs of writes go through tryAccessRun()
 * (and writeOne() for the page it stops at) when `byRun`, else through writeOne() page by page,
 * i.e. tryAccess()'s applyAccess(): setRef() and the data plane's writePage() for each page.
 */
function work(byRun: boolean, stats: { inRuns: number; stops: number }) {
  return function* (m: Machine): Program {
    const os = m.guest;
    const pages = os.mem.pages;
    const rng = new Rng(11);
    const frames = asGfnArray(new Int32Array(64));
    for (let r = 0; r < 1500; r++) {
      const what = rng.next();
      const g = rng.int(pages);
      if (what < 0.15) {
        yield* os.writeChunk(g, rng.int(32));
        continue;
      }
      if (what < 0.35) {
        yield* os.access(g, false);
        continue;
      }
      const n = 1 + rng.int(64);
      const base = rng.int(pages - 96);
      for (let i = 0; i < n; i++) frames[i] = rng.next() < 0.05 ? rng.int(pages) : base + rng.int(96);
      if (!byRun) {
        for (let i = 0; i < n; i++) yield* writeOne(os, frames[i]!);
        continue;
      }
      for (let i = 0; i < n;) {
        const done = os.tryAccessRun(frames, i, n, true, PG_REFERENCED);
        stats.inRuns += done - i;
        if (done === n) break;
        stats.stops++;
        yield* writeOne(os, frames[done]!);
        i = done + 1;
      }
    }
  };
}

/**
 * tryAccessRun()'s write loop writes out, for a run of pages at once, what applyAccess(), setRef()
 * and DataPlane.writePage() do for each page: the same runs of writes through it and through the
 * per-page path leave every page's reference (version, chunk overrides), data-plane content
 * (version, chunk overrides, checked mark) and guest flags the same, and the same change count,
 * version counter, counters and clock. Under vswapper the frames held named pages, so the first
 * write of a run also pays copy-on-write exits.
 */
for (const config of ['baseline', 'vswapper'] as const) {
  test(`tryAccessRun's writes leave every page as tryAccess() page by page does (${config})`, () => {
    const stats = { inRuns: 0, stops: 0 };
    const a = runOn(config, 20, work(true, stats));
    const b = runOn(config, 20, work(false, { inRuns: 0, stops: 0 }));
    assert.ok(
      stats.inRuns > 10_000 && stats.stops > 50,
      `${stats.inRuns} pages in runs, ${stats.stops} stops`,
    );
    const ga = a.guest as unknown as GuestInternals;
    const gb = b.guest as unknown as GuestInternals;
    const da = a.host.data;
    const db = b.host.data;
    let overridden = 0;
    let checked = 0;
    for (let g = 0; g < a.guest.mem.pages; g++) {
      assert.equal(a.guest.refMem[g], b.guest.refMem[g], `reference version of frame ${g}`);
      assert.deepEqual(a.guest.refOver.get(g), b.guest.refOver.get(g), `reference overrides of frame ${g}`);
      assert.equal(ga.refHasOver[g], gb.refHasOver[g], `reference override mark of frame ${g}`);
      assert.equal(
        ga.refHasOver[g],
        a.guest.refOver.has(g) ? 1 : 0,
        `override mark agrees with the map, frame ${g}`,
      );
      assert.equal(da.mem[g], db.mem[g], `content version of frame ${g}`);
      assert.deepEqual(da.memOver.get(g), db.memOver.get(g), `content overrides of frame ${g}`);
      assert.equal(da.refChecked[g], db.refChecked[g], `checked mark of frame ${g}`);
      assert.equal(a.guest.mem.flags[g], b.guest.mem.flags[g], `guest flags of frame ${g}`);
      assert.deepEqual(a.core.inspect(g), b.core.inspect(g), `host page ${g}`);
      if (a.guest.refOver.has(g)) overridden++;
      if (da.refChecked[g]) checked++;
    }
    assert.ok(
      overridden > 20 && checked > 20,
      `${overridden} pages with overrides, ${checked} checked at the end`,
    );
    assert.equal(da.changes, db.changes, "the data plane's change count");
    assert.equal(ga.nextVersion, gb.nextVersion, "the guest's next version");
    assert.deepEqual(a.core.counters.snapshot(), b.core.counters.snapshot());
    assert.deepEqual(a.guest.counters, b.guest.counters);
    assert.equal(a.events.nowNs, b.events.nowNs);
    assert.equal(a.guest.counters.integrityViolations, 0);
  });
}
