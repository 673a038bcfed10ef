/**
 * npm run bench: speed goals live here, never in tests. Prints absolute numbers and ratios measured
 * in this one run (these machines are shared and noisy: compare ratios, not runs).
 */
import { cpus } from 'node:os';
import { coreReplay, makeTrace, plainLru } from './replays.js';
import { instructionsBench } from './instructions.js';
import { reproduceSim } from '../src/experiments/reproduce.js';
import { paperJob, runJob } from '../src/experiments/job.js';
import { SYSBENCH_200MB } from '../src/experiments/figures.js';
import { mapperCostsBench } from './mapper-costs.js';
import { pagerBench } from './pager.js';
import { preventerBench } from './preventer.js';
import { preventerQemuBench } from './preventer-qemu.js';
import { sweepsBench } from './sweeps.js';
import { multiGuestsBench } from './multi-guests.js';
import { reproduceAllBench } from './reproduce-all.js';

/** The median of some numbers. */
function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Rounds of the core section: each path is timed beside a fresh plain-LRU replay, alternating. */
const CORE_ROUNDS = 5;

/**
 * The core's hit path and swapping path against the plain LRU. Each round replays the plain LRU
 * just before each core replay, so every ratio compares two runs a moment apart (on a shared,
 * noisy machine the absolute rates drift from round to round; the ratio drifts much less); the
 * medians over the rounds are reported, with every round's ratio.
 */
function coreBench(trace: Uint32Array, pages: number): void {
  console.log(`core (single core, synchronous driver, no disk model), ${CORE_ROUNDS} rounds, medians:`);
  // Rates per ms of wall time and per ms of this process's CPU time: on a loaded machine the
  // replay is descheduled part of the wall time, and only the CPU rate says what one core does.
  const lru: number[] = [];
  const hit: number[] = [];
  const swap: number[] = [];
  const lruCpu: number[] = [];
  const hitCpu: number[] = [];
  const swapCpu: number[] = [];
  const hitRatio: number[] = [];
  const swapRatio: number[] = [];
  const swapRatioCpu: number[] = [];
  let faults = 0;
  let swapEvents = 0;
  for (let r = 0; r < CORE_ROUNDS; r++) {
    const l1 = plainLru(trace, pages, pages / 2);
    const h = coreReplay(trace, pages, pages);
    const l2 = plainLru(trace, pages, pages / 2);
    const s = coreReplay(trace, pages, pages / 4);
    lru.push(trace.length / l1.ms, trace.length / l2.ms);
    lruCpu.push(trace.length / l1.cpuMs, trace.length / l2.cpuMs);
    hit.push(h.events / h.ms);
    hitCpu.push(h.events / h.cpuMs);
    swap.push(s.events / s.ms);
    swapCpu.push(s.events / s.cpuMs);
    hitRatio.push(h.events / h.ms / (trace.length / l1.ms));
    swapRatio.push(s.events / s.ms / (trace.length / l2.ms));
    swapRatioCpu.push(s.events / s.cpuMs / (trace.length / l2.cpuMs));
    faults = s.faults;
    swapEvents = s.events;
  }
  const mps = (perMs: number): string => `${(perMs / 1e3).toFixed(2).padStart(7)} M events/s`;
  const both = (wall: number[], cpu: number[]): string =>
    `${mps(median(wall))} wall, ${mps(median(cpu))} CPU`;
  const rounds = (xs: number[]): string => xs.map((x) => x.toFixed(3)).join(' ');
  console.log(`  plain typed-array LRU replay (reference)                  ${both(lru, lruCpu)}`);
  console.log(`  core hit path (everything resident)                       ${both(hit, hitCpu)}`);
  console.log(
    `  core swapping path (limit 1/4 of the guest, ${faults} faults, ${swapEvents} page events) ${both(swap, swapCpu)}`,
  );
  console.log(
    `  ratio core hit path / plain LRU:       ${median(hitRatio).toFixed(3)}  (rounds: ${rounds(hitRatio)})`,
  );
  console.log(
    `  ratio core swapping path / plain LRU:  ${median(swapRatio).toFixed(3)}  (rounds: ${rounds(swapRatio)})`,
  );
  console.log(
    `  the same by CPU time:                  ${median(swapRatioCpu).toFixed(3)}  (rounds: ${rounds(swapRatioCpu)})`,
  );
  console.log(
    `  goal: swapping path at least 15 M page events/s on one core (CPU time): ${median(swapCpu) >= 15e3 ? 'met' : 'not met'} on this machine in this run`,
  );
  const mem = process.memoryUsage();
  console.log(
    `  page table of ${pages} pages: ${((22 * pages) / 1024 / 1024).toFixed(1)} MiB by layout; process RSS ${(mem.rss / 1024 / 1024).toFixed(0)} MiB\n`,
  );
}

async function main(): Promise<void> {
  // `npm run bench -- core` runs only the core section (seconds instead of minutes).
  const only = process.argv[2];
  console.log(`vswapper bench on ${cpus()[0]?.model ?? 'cpu'} x ${cpus().length}, node ${process.version}\n`);
  // `npm run bench -- sweeps`: only the sweep throughput (local pool, BullMQ with 1, 2 and 4 workers).
  if (only === 'sweeps') {
    await sweepsBench();
    return;
  }
  // `npm run bench -- pager`: only the pager's fault path (root; about a minute).
  if (only === 'pager') {
    await pagerBench();
    return;
  }
  // `npm run bench -- reproduce-all`: only `reproduce all`'s wall time (the whole paper: ~30 min here).
  if (only === 'reproduce-all') {
    await reproduceAllBench();
    return;
  }
  // `npm run bench -- instructions`: only the replays' instruction counts (valgrind; a few minutes).
  if (only === 'instructions') {
    instructionsBench();
    return;
  }
  const pages = 262_144; // a 1 GiB guest
  const trace = makeTrace(4_000_000, pages, 7);
  // Warm up both paths once so the JIT has compiled them.
  plainLru(trace.subarray(0, 200_000), pages, pages);
  coreReplay(trace.subarray(0, 200_000), pages, pages);
  coreBench(trace, pages);
  if (only === 'core') return;
  instructionsBench();

  console.log('simulator:');
  for (const c of ['baseline', 'mapper'] as const) {
    const r = runJob(paperJob(c, 100, SYSBENCH_200MB));
    console.log(
      `  fig9 ${c.padEnd(9)} one thread: ${r.wallMs.toFixed(0).padStart(5)} ms wall for ${r.simEvents} events (${(((r.simEvents / r.wallMs) * 1000) / 1e6).toFixed(2)} M events/s), ${r.iterations.reduce((a, m) => a + m.runtimeS!, 0).toFixed(0)} s simulated`,
    );
  }
  const t0 = performance.now();
  await reproduceSim(['fig3', 'fig9']);
  const wall = performance.now() - t0;
  console.log(
    `  fig3 + fig9, all five configurations, ${cpus().length} workers: ${(wall / 1000).toFixed(2)} s (goal < 10 s)`,
  );
  console.log('');
  await sweepsBench();
  console.log('');
  multiGuestsBench();
  console.log('');
  await pagerBench();
  console.log('');
  mapperCostsBench();
  console.log('');
  await preventerBench();
  console.log('');
  await preventerQemuBench();
  console.log('');
  // Last: the longest section by far.
  await reproduceAllBench();
}

void main();
