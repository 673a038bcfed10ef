import assert from 'node:assert/strict';
import { test } from 'node:test';
import { paperJob, runJob } from '../src/experiments/job.js';
import { SYSBENCH_200MB } from '../src/experiments/figures.js';
import { CONFIG_NAMES, type Metrics } from '../src/engine/results.js';

const SMALL = 0.25;
const small = (config: (typeof CONFIG_NAMES)[number], seed = 1) =>
  runJob(paperJob(config, 100, { ...SYSBENCH_200MB, iterations: 3 }, SMALL, seed));
const strip = (r: ReturnType<typeof small>) => JSON.stringify({ ...r, wallMs: 0 });

test('the simulator is deterministic: same inputs, byte-identical results; another seed, other results', () => {
  assert.equal(strip(small('baseline')), strip(small('baseline')));
  assert.notEqual(strip(small('baseline', 1)), strip(small('baseline', 2)));
});

test('every configuration reads back exactly what it wrote (integrity) and finishes every iteration', () => {
  for (const c of CONFIG_NAMES) {
    const r = small(c);
    assert.equal(r.iterations.length, 3, c);
    for (const m of r.iterations) assert.equal(m.integrityViolations, 0, `${c}: integrity`);
  }
});

test('the five problems appear only where the paper says: stale reads and silent writes in the baseline, none with the Mapper', () => {
  const base = small('baseline');
  const mapper = small('mapper');
  const balloon = small('balloon');
  assert.ok(base.iterations[0]!.staleSwapReads! > 100, `stale reads ${base.iterations[0]!.staleSwapReads}`);
  for (const m of base.iterations.slice(1))
    assert.equal(m.staleSwapReads, 0, 'no guest I/O after iteration 1, so no stale reads');
  for (const m of base.iterations)
    assert.ok(m.silentSwapWrites! > 1000, `silent writes ${m.silentSwapWrites}`);
  for (const m of mapper.iterations) {
    // None caused by the Mapper; swap readahead of anonymous pages may still cover a free frame.
    assert.ok(
      m.staleSwapReads! <= 0.001 * base.iterations[0]!.staleSwapReads! + 5,
      `mapper stale reads ${m.staleSwapReads}`,
    );
    assert.equal(m.silentSwapWrites, 0);
  }
  for (const m of balloon.iterations)
    assert.equal(m.swapWriteSectors, 0, 'the balloon keeps the guest within its memory');
  assert.ok(mapper.iterations[2]!.mapperTrackedPages! > 0);
});

test('vswapper runs the whole Preventer: small guest kernel writes to absent pages are emulated, then remapped or merged', () => {
  const v = small('vswapper');
  assert.deepEqual(v.notes, []);
  const emulated = v.iterations.reduce((a, m) => a + m.preventerEmulatedPages!, 0);
  const fallbacks = v.iterations.reduce((a, m) => a + m.preventerFallbacks!, 0);
  assert.ok(emulated > 0, 'some writes were emulated');
  assert.ok(fallbacks > 0 && fallbacks <= emulated, `fallbacks ${fallbacks} of ${emulated}`);
  for (const m of small('mapper').iterations) assert.equal(m.preventerEmulatedPages, 0);
});

test('an SSD shrinks the baseline penalty (the model is not tied to one disk)', () => {
  const job = paperJob('baseline', 100, { ...SYSBENCH_200MB, iterations: 2 }, SMALL);
  const hdd = runJob(job).iterations[1]!.runtimeS!;
  const ssd = runJob({ ...job, disk: { kind: 'ssd' } }).iterations[1]!.runtimeS!;
  assert.ok(ssd < hdd / 2, `ssd ${ssd} s vs hdd ${hdd} s`);
});

test('bad run parameters are rejected with the field named', () => {
  assert.throws(
    () => runJob({ ...paperJob('baseline', 100, SYSBENCH_200MB), scale: 2 }),
    /scale: must be within/,
  );
  assert.throws(
    () => runJob(paperJob('baseline', 600, SYSBENCH_200MB)),
    /guestActualMiB \(600\) exceeds guestBelievedMiB/,
  );
  assert.throws(
    () => runJob(paperJob('baseline', 100, { ...SYSBENCH_200MB, iterations: 0 })),
    /sysbench.iterations/,
  );
});

test('swap sequentiality decays where Linux gives slots back: after async page faults, or with swap over half full', () => {
  // Quarter-size guest (128 MiB believed, about 0.11 GiB swapped). KVM's async page faults fault
  // each page a swap read was for in as a write, which gives its slot up: re-evicted, it goes to
  // a new slot and the layout scatters, whatever the swap size. Without them a page keeps its
  // slot unless swap is over half full (vm_swap_full): 160 MiB is, 768 MiB is not.
  const run = (swapMiB: number, guestAsyncPageFaults: boolean) =>
    runJob({ ...paperJob('baseline', 100, SYSBENCH_200MB, SMALL), swapMiB, guestAsyncPageFaults }).iterations;
  const faults = (it: Metrics[], n: number) => it[n - 1]!.hostFaultsInGuest!;
  const runLength = (it: Metrics[], n: number) => it[n - 1]!.swapReadRunLengthMean!;
  const decays = (it: Metrics[], what: string): void => {
    assert.ok(faults(it, 8) > 1.3 * faults(it, 2), `${what}: faults ${faults(it, 2)} -> ${faults(it, 8)}`);
    assert.ok(runLength(it, 8) < runLength(it, 3), `${what}: reads come in shorter runs`);
    assert.ok(it[7]!.runtimeS! > it[2]!.runtimeS!, `${what}: iteration 8 is slower than 3`);
  };
  decays(run(768, true), 'async page faults');
  decays(run(160, false), 'vm_swap_full');
  const roomy = run(768, false);
  const flat = [3, 4, 5, 6, 7, 8].map((n) => faults(roomy, n));
  assert.ok(Math.max(...flat) < 1.1 * Math.min(...flat), `roomy: ${flat.join(' ')}`);
});
