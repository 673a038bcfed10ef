import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CoreAction, MemoryCore, asGfn } from '../src/core/index.js';
import { SMALL_CORE_CONFIG } from './support/small-core.js';

const config = SMALL_CORE_CONFIG;

/**
 * drainInto is drain() into the caller's array: two cores fed the same touches, one drained each
 * way, hand out the same actions in the same order, batch by batch; the array's entries past the
 * batch are left alone, and a drained core has nothing queued.
 */
test('drainInto hands out what drain() would, batch by batch, and leaves the queue empty', () => {
  const a = new MemoryCore(config);
  const b = new MemoryCore(config);
  const out: CoreAction[] = [];
  const sentinel: CoreAction = { kind: 'zero', page: asGfn(-1) };
  let seed = 1;
  let batches = 0;
  for (let i = 0; i < 4000; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const g = asGfn((seed >>> 8) % config.guestPages);
    const write = (seed & 3) === 0;
    assert.equal(a.touch(g, write, 'guest'), b.touch(g, write, 'guest'));
    for (let guard = 0; a.hasActions && guard < 1000; guard++) {
      const want = a.drain();
      for (let k = 0; k < out.length; k++) out[k] = sentinel;
      const tail = out.length;
      const n = b.drainInto(out);
      batches++;
      assert.equal(b.hasActions, false);
      assert.deepEqual(out.slice(0, n), want);
      for (let k = n; k < tail; k++) assert.equal(out[k], sentinel);
      for (const x of want) {
        if (x.kind === 'read') {
          a.readDone(x.id);
          b.readDone(x.id);
        } else if (x.kind === 'write') {
          a.writeDone(x.id);
          b.writeDone(x.id);
        }
      }
    }
    assert.equal(b.hasActions, false);
  }
  assert.ok(batches > 1000, `${batches} batches`);
  assert.deepEqual(a.counters.snapshot(), b.counters.snapshot());
});

/** Carries out one action as an infinitely fast disk would (what the bench's driver does). */
function carryOut(core: MemoryCore, a: CoreAction): void {
  if (a.kind === 'read') core.readDone(a.id);
  else if (a.kind === 'write') core.writeDone(a.id);
}

/** The n-th touch of a test's random walk over the small core's guest (a write one time in four). */
function walk(seed: number): { g: ReturnType<typeof asGfn>; write: boolean; seed: number } {
  const s = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return { g: asGfn((s >>> 8) % config.guestPages), write: (s & 3) === 0, seed: s };
}

/**
 * nextAction() is drain() one action at a time: two cores fed the same touches, one drained in
 * batches and the other action by action, each action carried out as it is taken (so completions
 * queue more while older ones wait), hand out the same actions in the same order. Each is compared
 * as it was when taken: an action changed after the driver took it (a drop joined by a later
 * page) would be missed by a driver that already carried it out.
 */
test('nextAction hands out what drain() would, in order, with completions queuing more', () => {
  const a = new MemoryCore(config);
  const b = new MemoryCore(config);
  let seed = 7;
  let taken = 0;
  for (let i = 0; i < 4000; i++) {
    const t = walk(seed);
    seed = t.seed;
    assert.equal(a.touch(t.g, t.write, 'guest'), b.touch(t.g, t.write, 'guest'));
    const want: string[] = [];
    while (a.hasActions)
      for (const x of a.drain()) {
        want.push(JSON.stringify(x));
        carryOut(a, x);
      }
    const got: string[] = [];
    for (let x = b.nextAction(); x !== undefined; x = b.nextAction()) {
      got.push(JSON.stringify(x));
      carryOut(b, x);
    }
    assert.deepEqual(got, want);
    assert.equal(b.hasActions, false);
    taken += got.length;
  }
  assert.ok(taken > 4000, `${taken} actions`);
  assert.deepEqual(a.counters.snapshot(), b.counters.snapshot());
});

/**
 * A driver that takes a few actions after each event and leaves the rest queued: every frame the
 * core frees must reach it in a drop it takes, and every frame it fills in a zero or a read. At the
 * end (everything taken and completed) the pages the driver holds are exactly the resident ones.
 * The events are touches and balloon inflations (each frees a frame at once: a drop queued right
 * after one the driver may just have taken).
 */
test('actions taken a few at a time, with events in between: the driver sees every frame come and go', () => {
  const core = new MemoryCore(config);
  const held = new Uint8Array(config.guestPages);
  // A frame filled that the driver still holds, or dropped that it does not: a drop it missed.
  const fill = (p: number): void => {
    assert.equal(held[p], 0, `page ${p} filled again without a drop between`);
    held[p] = 1;
  };
  const take = (x: CoreAction): void => {
    if (x.kind === 'zero') fill(x.page);
    else if (x.kind === 'read' && x.source === 'swap') for (const p of x.pages) fill(p);
    else if (x.kind === 'drop')
      for (const p of x.pages) {
        assert.equal(held[p], 1, `page ${p} dropped but not held`);
        held[p] = 0;
      }
    carryOut(core, x);
  };
  let seed = 3;
  for (let i = 0; i < 6000; i++) {
    const t = walk(seed);
    seed = t.seed;
    if ((seed & 0xe0) === 0) core.balloonInflate(t.g);
    else core.touch(t.g, t.write, 'guest');
    for (let k = 0; k < seed >>> 29 && core.hasActions; k++) take(core.nextAction()!);
  }
  for (let x = core.nextAction(); x !== undefined; x = core.nextAction()) take(x);
  assert.equal(core.hasActions, false);
  assert.equal(core.nextAction(), undefined);
  for (let p = 0; p < config.guestPages; p++)
    assert.equal(held[p] === 1, core.isResident(asGfn(p)), `page ${p}: the driver and the core disagree`);
});
