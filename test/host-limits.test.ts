import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HostLimitTooLowError,
  type VmMemoryStats,
  decideHostLimits,
  hostLimitsProblems,
} from '../src/policy/host-limits.js';
import { Rng } from '../src/sim/rng.js';

const vm = (
  memoryPages: number,
  floorPages: number,
  residentPages: number,
  faultedPages: number,
): VmMemoryStats => ({
  memoryPages,
  floorPages,
  residentPages,
  faultedPages,
});

test('demands that fit: each VM gets its demand plus the slack in proportion to its room', () => {
  // A: demand 200 (no faults), room 400; B: demand 300 + 100 = 400, room 200. Slack 1000 - 600 =
  // 400: A gets floor(400 * 400 / 600) = 266, B floor(400 * 200 / 600) = 133.
  const d = decideHostLimits(1000, [vm(600, 128, 200, 0), vm(600, 128, 300, 100)]);
  assert.equal(d.regime, 'fits');
  assert.deepEqual(d.demandsPages, [200, 400]);
  assert.deepEqual(d.limitsPages, [466, 533]);
});

test('demands that do not fit: floors first, the rest in proportion to the demand above the floor', () => {
  // A: demand 500 (idle), B: 500 + 500 = 1000 (thrashing). Rest 1000 - 200 = 800 over weights
  // 400 and 900: A floor(800 * 400 / 1300) = 246, B floor(800 * 900 / 1300) = 553.
  const d = decideHostLimits(1000, [vm(1000, 100, 500, 0), vm(1000, 100, 500, 500)]);
  assert.equal(d.regime, 'short');
  assert.deepEqual(d.demandsPages, [500, 1000]);
  assert.deepEqual(d.limitsPages, [346, 653]);
});

test('a demand is at most the memory and at least the floor', () => {
  const d = decideHostLimits(10_000, [vm(500, 128, 100, 1_000_000), vm(500, 128, 10, 0)]);
  assert.deepEqual(d.demandsPages, [500, 128]);
  // Slack 10000 - 628 shared by room (0 and 372): B gets it all, capped at its memory.
  assert.deepEqual(d.limitsPages, [500, 500]);
});

test('a host limit below the sum of the floors is refused, naming both', () => {
  assert.throws(
    () => decideHostLimits(150, [vm(500, 100, 0, 0), vm(500, 100, 0, 0)]),
    (e: Error) => e instanceof HostLimitTooLowError && /150 pages.*200 pages/.test(e.message),
  );
  assert.throws(() => decideHostLimits(1000, [vm(100, 200, 0, 0)]), RangeError);
});

test('an idle VM gives memory to a thrashing one tick after tick, never below its floor', () => {
  // A tiny model: a VM's resident pages follow its limit (it is full); A stops faulting, B keeps
  // faulting 200 pages a tick. B's limit rises and A's falls until A sits at its floor.
  const host = 1000;
  let limits = [500, 500];
  const seen: number[][] = [];
  for (let t = 0; t < 40; t++) {
    const d = decideHostLimits(host, [vm(1000, 64, limits[0]!, 0), vm(1000, 64, limits[1]!, 200)]);
    assert.deepEqual(hostLimitsProblems(host, [vm(1000, 64, 0, 0), vm(1000, 64, 0, 0)], d.limitsPages), []);
    limits = d.limitsPages;
    seen.push(limits);
  }
  for (let t = 1; t < seen.length; t++) {
    assert.ok(seen[t]![0]! <= seen[t - 1]![0]!, `A's limit never rises (tick ${t})`);
    assert.ok(seen[t]![1]! >= seen[t - 1]![1]!, `B's limit never falls (tick ${t})`);
  }
  assert.ok(seen[0]![0]! < 500 && seen[0]![1]! > 500, 'the first tick already moves memory to B');
  assert.ok(limits[0]! <= 70, `A ends near its floor of 64, got ${limits[0]}`);
});

/** A random case from the project's seeded generator (mulberry32), so a failure reproduces. */
function randomCase(rng: Rng): { host: number; vms: VmMemoryStats[] } {
  const n = 1 + Math.floor(rng.next() * 6);
  const vms: VmMemoryStats[] = [];
  for (let i = 0; i < n; i++) {
    const memoryPages = 1 + Math.floor(rng.next() * 5000);
    const floorPages = Math.floor(rng.next() * Math.min(memoryPages, 256));
    vms.push(
      vm(memoryPages, floorPages, Math.floor(rng.next() * memoryPages), Math.floor(rng.next() * 3000)),
    );
  }
  const floors = vms.reduce((a, v) => a + v.floorPages, 0);
  return { host: floors + Math.floor(rng.next() * 20_000), vms };
}

test('random inputs: the limits never sum above the host limit, each within [floor, memory]', () => {
  const r = new Rng(16);
  for (let k = 0; k < 5000; k++) {
    const { host, vms } = randomCase(r);
    const d = decideHostLimits(host, vms);
    assert.deepEqual(hostLimitsProblems(host, vms, d.limitsPages), [], JSON.stringify({ host, vms }));
  }
});

test('planted bug (shares rounded up): the check catches limits above the host limit', () => {
  // The hand-made case above: 266.67 and 133.33 rounded up give 467 + 534 = 1001 > 1000.
  const vms = [vm(600, 128, 200, 0), vm(600, 128, 300, 100)];
  const d = decideHostLimits(1000, vms, 'round-up');
  assert.deepEqual(d.limitsPages, [467, 534]);
  assert.match(
    hostLimitsProblems(1000, vms, d.limitsPages).join('; '),
    /sum to 1001 pages, above the host's 1000/,
  );
  let caught = 0;
  const r = new Rng(16);
  for (let k = 0; k < 500; k++) {
    const { host, vms: v } = randomCase(r);
    if (hostLimitsProblems(host, v, decideHostLimits(host, v, 'round-up').limitsPages).length > 0) caught++;
  }
  assert.ok(caught > 0, 'the random cases catch the planted bug too');
});
