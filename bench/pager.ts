/**
 * The qemu-pager's external fault path, measured: this process plays QEMU (its own memfd guest RAM,
 * its own userfaultfd handed to a real pager daemon), touches pages the daemon has evicted and
 * times each access. Run as root (userfaultfd for another process is privileged here).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULT_TRACE_FIELDS, FaultStage } from '../src/pager/fault-trace.js';
import { RawFile } from '../src/pager/image-file.js';
import { BUSY_POLL_NS } from '../src/pager/loop.js';
import { PAGE, Scratch, anonymous, munmap, pinToCpu } from '../src/pager/sys.js';
import { PagedProcess } from '../test/support/paged-process.js';

const PAGES = 16384; // 64 MiB of guest RAM
const BLOCKS = 16384; // a 64 MiB image
const LIMIT = 2048;
const SWAP_LO = 4096;
const MAPPED_LO = 8192;
/** An access slower than this faulted (a resident page is read in well under a microsecond). */
const FAULT_NS = 2000;
/** Rounds of the throughput comparison (the median ratio is quoted). */
const THROUGHPUT_ROUNDS = 3;

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function shuffle(n: number, lo: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => lo + i);
  let x = seed;
  for (let i = n - 1; i > 0; i--) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** One access that faulted: the page, and when (CLOCK_MONOTONIC, ns) it started and ended. */
interface Access {
  page: number;
  t0: number;
  t1: number;
}

/** Times one read of a word in each page; returns the accesses that faulted. */
function timeAccesses(words: Int32Array, pages: number[]): Access[] {
  const out: Access[] = [];
  let sink = 0;
  for (const p of pages) {
    const t0 = process.hrtime.bigint();
    sink += words[p * 1024 + 7]!;
    const t1 = process.hrtime.bigint();
    if (Number(t1 - t0) > FAULT_NS) out.push({ page: p, t0: Number(t0), t1: Number(t1) });
  }
  if (sink === 0.5) console.log(sink);
  return out;
}

const latencies = (xs: Access[]): number[] => xs.map((a) => a.t1 - a.t0);

const us = (ns: number): string => (ns / 1000).toFixed(1).padStart(7);

/**
 * The stages of a fault's service, each between two moments: the bench's own (`t0` the access
 * began, `t1` it returned) and the daemon's (fault-trace.ts). The last two overlap: the page's copy
 * wakes the faulting thread while the daemon goes on with the rest of the fault.
 */
const STAGES: [string, (a: Access, r: (s: FaultStage) => number) => number][] = [
  ['fault to the daemon awake (fault entry, wake-up)', (a, r) => r(FaultStage.woke) - a.t0],
  ['poll return to messages read and parsed', (_, r) => r(FaultStage.parsed) - r(FaultStage.woke)],
  ["the core's touch", (_, r) => r(FaultStage.touched) - r(FaultStage.parsed)],
  ['touch to read issued (carry-out, evictions)', (_, r) => r(FaultStage.submitted) - r(FaultStage.touched)],
  ['read issued to its completion running', (_, r) => r(FaultStage.readStart) - r(FaultStage.submitted)],
  ['the O_DIRECT pread', (_, r) => r(FaultStage.readEnd) - r(FaultStage.readStart)],
  ["readDone (and any copies before this page's)", (_, r) => r(FaultStage.copying) - r(FaultStage.readEnd)],
  ["the UFFDIO_COPY of this page's run", (_, r) => r(FaultStage.installed) - r(FaultStage.copying)],
  ['copy issued to the faulting thread running', (a, r) => a.t1 - r(FaultStage.copying)],
  ['(daemon: page installed to fault released)', (_, r) => r(FaultStage.released) - r(FaultStage.installed)],
  ['total', (a) => a.t1 - a.t0],
];

/** Prints each stage's p50 and p99 over the faults the daemon's trace and the accesses both saw. */
function printBreakdown(what: string, accesses: Access[], records: number[]): void {
  const byPage = new Map<number, number>();
  for (let i = 0; i < records.length; i += FAULT_TRACE_FIELDS) byPage.set(records[i]!, i);
  const rows: ((s: FaultStage) => number)[] = [];
  const matched: Access[] = [];
  for (const a of accesses) {
    const i = byPage.get(a.page);
    if (i === undefined) continue;
    // JSON carries NaN as null: a stage the fault did not pass.
    const r = (st: FaultStage): number => records[i + 1 + st] ?? NaN;
    if (!(r(FaultStage.woke) >= a.t0 && r(FaultStage.woke) <= a.t1) || Number.isNaN(r(FaultStage.readEnd)))
      continue;
    rows.push(r);
    matched.push(a);
  }
  console.log(`  ${what}: where the time goes (${matched.length} faults traced), p50 / p99 in us:`);
  for (const [name, f] of STAGES) {
    const xs = matched.map((a, k) => f(a, rows[k]!));
    console.log(`    ${name.padEnd(50)} ${us(percentile(xs, 50))} ${us(percentile(xs, 99))}`);
  }
}

async function evictAll(proc: PagedProcess): Promise<void> {
  await proc.daemon.cmd({ cmd: 'limit', pages: 64 });
  await proc.daemon.cmd({ cmd: 'limit', pages: LIMIT });
}

/**
 * Time the daemon's main thread (its loop) has spent on a CPU, ns: the first field of
 * /proc/PID/schedstat (busy polling shows here as CPU a fault).
 */
function onCpuNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

/** A daemon paging this process over the bench's image and swap, its pages laid out. */
async function startPaged(
  dir: string,
  image: string,
  swap: string,
  busyPollNs: number,
): Promise<PagedProcess> {
  const proc = await PagedProcess.start({
    dir,
    pages: PAGES,
    image,
    swap,
    mapper: true,
    disk: 'immediate',
    residentLimitPages: LIMIT,
    queueSize: 64,
    // No sampling: every access measured is a plain fault, not an armed page coming back.
    samplingDepth: 0,
    busyPollNs,
  });
  const words = proc.words();
  // Anonymous pages: written once (dirty), then evicted to swap by the limit.
  for (let p = SWAP_LO; p < MAPPED_LO; p++) words.fill(p, p * 1024, (p + 1) * 1024);
  // Named pages: read from the image through the device (the Mapper), 32 blocks a request.
  const fe = proc.frontend!;
  for (let b = 0; b < PAGES - MAPPED_LO; b += 32)
    fe.io(
      'read',
      b,
      Array.from({ length: 32 }, (_, k) => (MAPPED_LO + b + k) * PAGE),
    );
  return proc;
}

/** The random accesses of each kind of fault: swap-ins, and refaults of named pages. */
const SWAP_IN = (): number[] => shuffle(MAPPED_LO - SWAP_LO, SWAP_LO, 11).slice(0, 1500);
const REFAULT = (): number[] => shuffle(PAGES - MAPPED_LO, MAPPED_LO, 13).slice(0, 1500);

/** Fault latencies, pinned (both processes on CPU 0) and not, then the same accesses traced. */
async function latencyPasses(
  proc: PagedProcess,
  tag: string,
  pinnedToo: boolean,
  traced: boolean,
): Promise<void> {
  const s = new Scratch(4096);
  const allCpus = `0-${cpus().length - 1}`;
  const daemonPid = proc.daemon.child.pid!;
  const words = proc.words();
  for (const pinned of pinnedToo ? [true, false] : [false]) {
    if (pinned) {
      execFileSync('taskset', ['-pc', '0', String(daemonPid)], { stdio: 'ignore' });
      pinToCpu(0, s, 0);
    } else {
      execFileSync('taskset', ['-pc', allCpus, String(daemonPid)], { stdio: 'ignore' });
      execFileSync('taskset', ['-pc', allCpus, String(process.pid)], { stdio: 'ignore' });
    }
    const how = `${tag}, ${pinned ? 'both on CPU 0' : 'unpinned'}`;
    await evictAll(proc);
    let cpu0 = onCpuNs(daemonPid);
    const swapIn = timeAccesses(words, SWAP_IN());
    const swapInCpu = onCpuNs(daemonPid) - cpu0;
    await evictAll(proc);
    cpu0 = onCpuNs(daemonPid);
    const refault = timeAccesses(words, REFAULT());
    const refaultCpu = onCpuNs(daemonPid) - cpu0;
    const line = (what: string, xs: Access[], cpuNs: number): string =>
      `  ${what}, ${how}: p50 ${us(percentile(latencies(xs), 50))} us, p99 ${us(percentile(latencies(xs), 99))} us (${xs.length} faults; daemon on CPU ${us(cpuNs / xs.length)} us a fault)`;
    console.log(line('swap-in fault ', swapIn, swapInCpu));
    console.log(line('mapped refault', refault, refaultCpu));
  }
  if (!traced) return;
  // The same accesses again (unpinned), with the daemon stamping each fault's stages (a few clock
  // reads a fault: this pass is not the one quoted above).
  for (const [what, pages] of [
    ['swap-in fault', SWAP_IN()],
    ['mapped refault', REFAULT()],
  ] as const) {
    await evictAll(proc);
    await proc.daemon.cmd({ cmd: 'fault-trace', on: true });
    const acc = timeAccesses(words, pages);
    const r = await proc.daemon.cmd({ cmd: 'fault-trace', on: false });
    printBreakdown(`${what}, ${tag}`, acc, r.records as number[]);
  }
}

/**
 * Throughput: all named pages dropped, then read in block order (each fault reads the Mapper's
 * 32-page window from the image), against a raw O_DIRECT read of the same blocks just after; rounds
 * alternate the two so that each ratio compares runs a moment apart. The median round is printed.
 */
async function throughput(proc: PagedProcess, image: string, tag: string, traced: boolean): Promise<void> {
  const words = proc.words();
  const n = PAGES - MAPPED_LO;
  const mbps = (ms: number): number => (n * PAGE) / 1048576 / (ms / 1000);
  const ratios: number[] = [];
  const rates: [number, number][] = [];
  let windows = 0;
  for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
    await evictAll(proc);
    const before = await proc.stats();
    const t0 = performance.now();
    let sink = 0;
    for (let p = MAPPED_LO; p < PAGES; p++) sink += words[p * 1024]!;
    const refaultMs = performance.now() - t0;
    const after = await proc.stats();
    windows =
      after.uffdFaultsHost! + after.uffdFaultsGuest! - before.uffdFaultsHost! - before.uffdFaultsGuest!;
    const raw = new RawFile(image);
    const buf = anonymous(32 * PAGE);
    const t1 = performance.now();
    for (let b = 0; b < n; b += 32) raw.read(buf.addr, 32 * PAGE, b * PAGE);
    const rawMs = performance.now() - t1;
    munmap(buf);
    raw.close();
    rates.push([mbps(refaultMs), mbps(rawMs)]);
    ratios.push(mbps(refaultMs) / mbps(rawMs) + (sink === 0.5 ? 1 : 0));
  }
  const mid = ratios.indexOf([...ratios].sort((a, b) => a - b)[ratios.length >> 1]!);
  console.log(
    `  refault throughput, ${tag}: ${rates[mid]![0].toFixed(0)} MB/s vs raw O_DIRECT read of the image ${rates[mid]![1].toFixed(0)} MB/s (128 KiB requests, ${windows} faults): ratio ${ratios[mid]!.toFixed(2)} (median of ${THROUGHPUT_ROUNDS} rounds: ${ratios.map((r) => r.toFixed(2)).join(' ')})`,
  );
  if (!traced) return;
  // The sequential refault once more, traced: each window's fault, stage by stage.
  await evictAll(proc);
  await proc.daemon.cmd({ cmd: 'fault-trace', on: true });
  const seq = timeAccesses(
    words,
    Array.from({ length: n }, (_, k) => MAPPED_LO + k),
  );
  const r = await proc.daemon.cmd({ cmd: 'fault-trace', on: false });
  printBreakdown(`sequential refault, ${tag}`, seq, r.records as number[]);
}

/** The disk alone: random O_DIRECT reads of a swap-in cluster (8 pages) and a Mapper window (32). */
function rawReads(image: string): void {
  const raw = new RawFile(image);
  const buf = anonymous(32 * PAGE);
  for (const n of [8, 32]) {
    const lat: number[] = [];
    for (const b of shuffle(BLOCKS / n, 0, 17).slice(0, 500)) {
      const t = process.hrtime.bigint();
      raw.read(buf.addr, n * PAGE, b * n * PAGE);
      lat.push(Number(process.hrtime.bigint() - t));
    }
    console.log(
      `  raw O_DIRECT random read of ${String(n).padStart(2)} pages: p50 ${us(percentile(lat, 50))} us, p99 ${us(percentile(lat, 99))} us`,
    );
  }
  munmap(buf);
  raw.close();
}

export async function pagerBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('pager: skipped (needs root: userfaultfd for another process is privileged here)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vswapper-bench-'));
  const image = join(dir, 'disk.img');
  const swap = join(dir, 'swap');
  const bytes = new Uint8Array(BLOCKS * PAGE);
  for (let i = 0; i < bytes.length; i += 4096) bytes.fill((i >> 12) & 0xff, i, i + 4096);
  writeFileSync(image, bytes);
  writeFileSync(swap, new Uint8Array(PAGES * PAGE));
  console.log(
    `pager (external fault path: this process plays QEMU, a daemon pages it; ${LIMIT} of ${PAGES} pages resident; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}):`,
  );
  let proc: PagedProcess | undefined;
  try {
    // The daemon as it runs (busy polling after each event), then one that always sleeps in poll,
    // so the busy polling's share is read off the same run.
    proc = await startPaged(dir, image, swap, BUSY_POLL_NS);
    await latencyPasses(proc, 'busy-poll', true, true);
    rawReads(image);
    await throughput(proc, image, 'busy-poll', true);
    const st = await proc.stats();
    console.log(`  (lost pages ${st.lostPages}, doubly installed ${st.copyExists})`);
    await proc.close();
    proc = await startPaged(dir, image, swap, 0);
    await latencyPasses(proc, 'sleeping ', false, false);
    await throughput(proc, image, 'sleeping ', false);
    console.log(
      `  (load after: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')})`,
    );
  } finally {
    await proc?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
