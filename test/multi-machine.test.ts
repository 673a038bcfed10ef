import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemoryCore } from '../src/core/index.js';
import { type MultiRunSpec, runMulti } from '../src/experiments/multi-runner.js';
import { GlobalReclaim, hostWatermarks } from '../src/sim/global-reclaim.js';
import { buildWorkload } from '../src/workloads/index.js';

/** A guest's cgroup as global reclaim sees it, without a core: a lowered limit drops pages at once. */
function fakeMember(resident: number): {
  core: MemoryCore;
  setResidentLimit(p: number): void;
  limit: number;
} {
  const m = {
    core: { residentPages: resident } as unknown as MemoryCore,
    limit: Infinity,
    setResidentLimit(p: number): void {
      m.limit = p;
      const c = m.core as unknown as { residentPages: number };
      c.residentPages = Math.min(c.residentPages, p);
    },
  };
  return m;
}

test("Linux's watermarks for an 8 GB host: min_free_kbytes = sqrt(16 x 8 GiB in KiB)", () => {
  const w = hostWatermarks(2 * 1024 * 1024);
  // sqrt(8388608 x 16) = 11585 KiB: 2897 pages; low 5/4, high 3/2 of it.
  assert.deepEqual(w, { minPages: 2897, lowPages: 3622, highPages: 4346 });
});

test('global reclaim takes from every guest in proportion to what it holds, then shares the free memory', () => {
  const hostPages = 100_000;
  const { lowPages, highPages, minPages } = hostWatermarks(hostPages);
  const a = fakeMember(60_000);
  const b = fakeMember(30_000);
  const c = fakeMember(10_000 - lowPages + 100);
  const gr = new GlobalReclaim(hostPages, [a, b, c]);
  const before = [a, b, c].map((m) => m.core.residentPages);
  const used = before.reduce((x, y) => x + y, 0);
  gr.tick();
  const need = highPages - (hostPages - used);
  const taken = [a, b, c].map((m, i) => before[i]! - m.core.residentPages);
  for (let i = 0; i < 3; i++) assert.equal(taken[i], Math.round((need * before[i]!) / used), `guest ${i}`);
  // Each guest may now grow by an equal share of what is free above the min watermark, no more.
  const after = [a, b, c].map((m) => m.core.residentPages);
  const headroom = Math.floor((hostPages - minPages - after.reduce((x, y) => x + y, 0)) / 3);
  [a, b, c].forEach((m, i) => assert.equal(m.limit, after[i]! + headroom));
  // Above the low watermark nothing is reclaimed.
  const total = gr.reclaimedPages;
  gr.tick();
  assert.equal(gr.reclaimedPages, total);
});

const small = (config: MultiRunSpec['config'], guests: number, guestMiB = 102.4): MultiRunSpec => ({
  config,
  seed: 1,
  guests,
  guestMiB,
  hostMiB: 8192 * 0.05,
  startIntervalS: 0.5,
  workload: buildWorkload({ kind: 'metis-wc' }, 0.05),
  scale: 0.05,
  sampleEverySec: 0.25,
  managerTimeScale: 0.05,
});

test('many guests under one host limit: every guest finishes intact, global reclaim kept the host within it', () => {
  const r = runMulti(small('baseline', 6));
  assert.equal(r.guests.length, 6);
  for (const g of r.guests) {
    assert.equal(g.killed, undefined, `guest ${g.guest}`);
    assert.ok(g.runtimeS! > 0);
    assert.equal(g.metrics.integrityViolations, 0, `guest ${g.guest}`);
  }
  assert.ok(r.globalReclaimPages > 0, 'six guests overcommit the host: global reclaim ran');
  // The host's memory is never overdrawn by more than what guests may take within one tick.
  assert.ok(
    Math.min(...r.timeline.hostFreePages) > -1000,
    `host free: ${Math.min(...r.timeline.hostFreePages)}`,
  );
  // Under pressure the first guest (finished, idle) lost pages to the later ones.
  const res0 = r.timeline.residentPages[0]!;
  assert.ok(res0[res0.length - 1]! < Math.max(...res0), 'the idle guest gave pages back');
  assert.ok(
    r.guests.some((g) => g.metrics.swapWriteSectors! > 0),
    'the host swapped guest memory',
  );
});

test('balloon configuration: MOM decides targets under pressure and the balloons move', () => {
  const r = runMulti(small('balloon', 6));
  assert.ok(r.timeline.decisions.length > 0);
  assert.ok(
    r.timeline.balloonPages.some((b) => Math.max(...b) > 0),
    'some balloon inflated',
  );
  for (const g of r.guests) assert.equal(g.metrics.integrityViolations, 0);
});

test('a guest whose OOM killer fires is reported as killed, and the others still run', () => {
  // Guests too small for the word count's tables and without swap: the OOM killer ends them.
  const r = runMulti(small('baseline', 2, 40));
  assert.equal(r.guests.length, 2);
  for (const g of r.guests) {
    assert.match(g.killed ?? '', /./, `guest ${g.guest} reported killed`);
    assert.equal(g.runtimeS, undefined);
  }
});
