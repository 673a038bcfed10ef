import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GuestBalloonStats, HostMemoryStats } from '../src/policy/balloon-policy.js';
import { MOM_DEFAULTS, MomBalloonPolicy } from '../src/policy/mom-policy.js';

/** Every expected value below is worked out by hand from MOM's doc/balloon.rules. */
const HOST_KIB = 8 * 1024 * 1024;

function host(freeFraction: number): HostMemoryStats {
  return { memTotalKiB: HOST_KIB, memFreeKiB: freeFraction * HOST_KIB, swapInPages: 0, swapOutPages: 0 };
}

function guest(cur: number, unused: number, max = 2_000_000, min = 0): GuestBalloonStats {
  return {
    balloonCurKiB: cur,
    balloonMaxKiB: max,
    balloonMinKiB: min,
    memUnusedKiB: unused,
    memAvailableKiB: cur,
    swapInKiB: 0,
    swapOutKiB: 0,
    majorFaults: 0,
  };
}

function decideOnce(hostFree: number, g: GuestBalloonStats): number | undefined {
  const p = new MomBalloonPolicy();
  p.observeHost(host(hostFree));
  p.observeGuest('g', g);
  const d = p.decide();
  assert.ok(d.length <= 1);
  return d[0]?.targetKiB;
}

test('the defaults are those of MOM doc/balloon.rules and doc/mom-balloon.conf', () => {
  assert.deepEqual(MOM_DEFAULTS, {
    pressureThreshold: 0.2,
    pressureCritical: 0.05,
    minGuestFreePercent: 0.2,
    maxBalloonChangePercent: 0.05,
    minBalloonChangePercent: 0.0025,
    statsIntervalS: 5,
    policyIntervalS: 10,
    sampleHistoryLength: 10,
  });
});

test('no pressure: an unballooned guest is left alone', () => {
  assert.equal(decideOnce(0.5, guest(2_000_000, 1_000_000)), undefined);
  // Exactly at the threshold is not pressure (the rules test host_free_percent < 0.20).
  assert.equal(decideOnce(0.2, guest(2_000_000, 1_000_000)), undefined);
  // Nothing observed about the host yet: no decision.
  const p = new MomBalloonPolicy();
  p.observeGuest('g', guest(2_000_000, 0));
  assert.deepEqual(p.decide(), []);
});

test('pressure: every guest shrinks by 5 % of its memory, never below what it uses plus a margin', () => {
  // Host 10 % free: margin = 0.2 x (0.1 / 0.2) = 0.1. Used 1e6: floor = max(0, 1e6 + 0.1 x 2e6) =
  // 1.2e6, below the 5 % step's 1.9e6: the step binds.
  assert.equal(decideOnce(0.1, guest(2_000_000, 1_000_000)), 1_900_000);
  // Used 880000: floor = 880000 + 0.1 x 1e6 = 980000, above the step's 950000: the floor binds.
  assert.equal(decideOnce(0.1, guest(1_000_000, 120_000)), 980_000);
  // Used 990000: floor 1,090,000 is above its memory: a guest is never grown under pressure, and
  // never ballooned below what it uses (MOM v0.3.2's min() did that: the bug 8974f3d fixed).
  assert.equal(decideOnce(0.1, guest(1_000_000, 10_000)), undefined);
  // A guarantee (min_guarantee 990000) above used + margin (600000) is the floor.
  assert.equal(decideOnce(0.1, guest(1_000_000, 500_000, 2_000_000, 990_000)), 990_000);
  // Fully guaranteed: floor = cur, no change.
  assert.equal(decideOnce(0.1, guest(1_000_000, 500_000, 2_000_000, 1_000_000)), undefined);
  // Two guests shrink alike (host 15 %: margin 0.15; floors 1.8e6 and 650000 below the steps).
  const p = new MomBalloonPolicy();
  p.observeHost(host(0.15));
  p.observeGuest('a', guest(2_000_000, 500_000));
  p.observeGuest('b', guest(1_000_000, 500_000));
  assert.deepEqual(p.decide(), [
    { guest: 'a', targetKiB: 1_900_000 },
    { guest: 'b', targetKiB: 950_000 },
  ]);
});

test('critical pressure: the free margin goes negative, pushing a guest below what it uses', () => {
  // Host 4 % free (<= 5 %): margin = -0.05 + 0.04 = -0.01; used 1e6: floor = 1e6 - 10000 = 990000.
  assert.equal(decideOnce(0.04, guest(1_000_000, 0)), 990_000);
  // Exactly 5 % is critical too (<=): margin 0, floor = used = cur, no change.
  assert.equal(decideOnce(0.05, guest(1_000_000, 0)), undefined);
  // A guarantee still holds: floor = max(1e6, 990000).
  assert.equal(decideOnce(0.04, guest(1_000_000, 0, 2_000_000, 1_000_000)), undefined);
});

test('growth back: without pressure a ballooned guest grows by 5 %, to its need, never past its RAM', () => {
  // Used 500000: floor = 500000 + 0.2 x 1e6 = 700000, below the step: 1.05e6.
  assert.equal(decideOnce(0.5, guest(1_000_000, 500_000)), 1_050_000);
  // Used 900000: floor = 900000 + 200000 = 1.1e6, above the step: the guest gets what it needs.
  assert.equal(decideOnce(0.5, guest(1_000_000, 100_000)), 1_100_000);
  // Guarantee 1.5e6: floor = max(1.5e6, 700000) = 1.5e6.
  assert.equal(decideOnce(0.5, guest(1_000_000, 500_000, 2_000_000, 1_500_000)), 1_500_000);
  // Floor 1.89e6 + 0.2 x 1.99e6 = 2.288e6 is past the max: capped last (e0f3d3b), at 2e6.
  assert.equal(decideOnce(0.5, guest(1_990_000, 100_000)), 2_000_000);
  // 1000 KiB short of the max: under 0.25 % of 1,999,000 (4997.5), not worth a balloon operation.
  assert.equal(decideOnce(0.5, guest(1_999_000, 1_500_000)), undefined);
});

test('decisions use moving averages over the last 10 samples: pressure is seen late', () => {
  const p = new MomBalloonPolicy();
  p.observeGuest('g', guest(2_000_000, 1_000_000));
  for (let i = 0; i < 9; i++) p.observeHost(host(0.5));
  p.observeHost(host(0.1));
  // (9 x 0.5 + 0.1) / 10 = 0.46: no pressure yet although the host is at 10 %.
  assert.ok(Math.abs(p.hostFreeFraction() - 0.46) < 1e-12);
  assert.deepEqual(p.decide(), []);
  // Five more samples at 10 %: (4 x 0.5 + 6 x 0.1) / 10 = 0.26, still none; three more: 0.14.
  for (let i = 0; i < 5; i++) p.observeHost(host(0.1));
  assert.deepEqual(p.decide(), []);
  for (let i = 0; i < 3; i++) p.observeHost(host(0.1));
  assert.ok(Math.abs(p.hostFreeFraction() - 0.14) < 1e-12);
  assert.deepEqual(p.decide(), [{ guest: 'g', targetKiB: 1_900_000 }]);
});

test("a guest's used memory is averaged too, and a forgotten guest gets no target", () => {
  const p = new MomBalloonPolicy();
  p.observeHost(host(0.5));
  // cur 1e6 with unused 0 then 100000: averages 950000 used; floor = 950000 + 0.2 x 1e6 = 1.15e6
  // (the latest sample alone would give 1.1e6, the first alone 1.2e6).
  p.observeGuest('g', guest(1_000_000, 0));
  p.observeGuest('g', guest(1_000_000, 100_000));
  assert.deepEqual(p.decide(), [{ guest: 'g', targetKiB: 1_150_000 }]);
  p.forgetGuest('g');
  assert.deepEqual(p.decide(), []);
});

test('bad parameters are refused before any decision', () => {
  assert.throws(() => new MomBalloonPolicy({ ...MOM_DEFAULTS, pressureCritical: 0.3 }), /pressureCritical/);
  assert.throws(() => new MomBalloonPolicy({ ...MOM_DEFAULTS, policyIntervalS: 0 }), /intervals/);
  assert.throws(() => new MomBalloonPolicy({ ...MOM_DEFAULTS, sampleHistoryLength: 0 }), /history length/);
});
