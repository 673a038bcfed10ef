/**
 * The qemu-pager's external fault path, measured: this process plays QEMU (its own memfd guest RAM,
 * its own userfaultfd handed to a real pager daemon), touches pages the daemon has evicted and
 * times each access. Run as root (userfaultfd for another process is privileged here).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawFile } from '../src/pager/image-file.js';
import { PAGE, Scratch, anonymous, munmap, pinToCpu } from '../src/pager/sys.js';
import { PagedProcess } from '../test/support/paged-process.js';

const PAGES = 16384; // 64 MiB of guest RAM
const BLOCKS = 16384; // a 64 MiB image
const LIMIT = 2048;
const SWAP_LO = 4096;
const MAPPED_LO = 8192;
/** An access slower than this faulted (a resident page is read in well under a microsecond). */
const FAULT_NS = 2000;

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

/** Times one read of a word in each page; returns the latencies of the accesses that faulted. */
function timeAccesses(words: Int32Array, pages: number[]): number[] {
  const out: number[] = [];
  let sink = 0;
  for (const p of pages) {
    const t0 = process.hrtime.bigint();
    sink += words[p * 1024 + 7]!;
    const dt = Number(process.hrtime.bigint() - t0);
    if (dt > FAULT_NS) out.push(dt);
  }
  if (sink === 0.5) console.log(sink);
  return out;
}

const us = (ns: number): string => (ns / 1000).toFixed(1).padStart(7);

async function evictAll(proc: PagedProcess): Promise<void> {
  await proc.daemon.cmd({ cmd: 'limit', pages: 64 });
  await proc.daemon.cmd({ cmd: 'limit', pages: LIMIT });
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
  });
  const s = new Scratch(4096);
  const allCpus = `0-${cpus().length - 1}`;
  const daemonPid = proc.daemon.child.pid!;
  try {
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
    console.log(
      `pager (external fault path: this process plays QEMU, a daemon pages it; ${LIMIT} of ${PAGES} pages resident):`,
    );
    for (const pinned of [true, false]) {
      if (pinned) {
        execFileSync('taskset', ['-pc', '0', String(daemonPid)], { stdio: 'ignore' });
        pinToCpu(0, s, 0);
      } else {
        execFileSync('taskset', ['-pc', allCpus, String(daemonPid)], { stdio: 'ignore' });
        execFileSync('taskset', ['-pc', allCpus, String(process.pid)], { stdio: 'ignore' });
      }
      const how = pinned ? 'both on CPU 0' : 'unpinned    ';
      await evictAll(proc);
      const swapIn = timeAccesses(words, shuffle(MAPPED_LO - SWAP_LO, SWAP_LO, 11).slice(0, 1500));
      await evictAll(proc);
      const refault = timeAccesses(words, shuffle(PAGES - MAPPED_LO, MAPPED_LO, 13).slice(0, 1500));
      console.log(
        `  swap-in fault, ${how}: p50 ${us(percentile(swapIn, 50))} us, p99 ${us(percentile(swapIn, 99))} us (${swapIn.length} faults)`,
      );
      console.log(
        `  mapped refault, ${how}: p50 ${us(percentile(refault, 50))} us, p99 ${us(percentile(refault, 99))} us (${refault.length} faults)`,
      );
    }
    // The disk alone, in the same run: random O_DIRECT reads of a swap-in cluster (8 pages) and of a
    // Mapper refault window (32 pages), so the fault path's own share can be read off.
    {
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
          `  raw O_DIRECT random read of ${String(n).padStart(2)} pages:       p50 ${us(percentile(lat, 50))} us, p99 ${us(percentile(lat, 99))} us`,
        );
      }
      munmap(buf);
      raw.close();
    }
    // Throughput: all named pages dropped, then read in block order (each fault reads the
    // Mapper's 32-page window from the image), against a raw O_DIRECT read of the same blocks.
    await evictAll(proc);
    const n = PAGES - MAPPED_LO;
    let t0 = performance.now();
    let sink = 0;
    for (let p = MAPPED_LO; p < PAGES; p++) sink += words[p * 1024]!;
    const refaultMs = performance.now() - t0;
    const raw = new RawFile(image);
    const buf = anonymous(32 * PAGE);
    t0 = performance.now();
    for (let b = 0; b < n; b += 32) raw.read(buf.addr, 32 * PAGE, b * PAGE);
    const rawMs = performance.now() - t0;
    munmap(buf);
    raw.close();
    const mbps = (ms: number): number => (n * PAGE) / 1048576 / (ms / 1000);
    console.log(
      `  refault throughput ${mbps(refaultMs).toFixed(0)} MB/s vs raw O_DIRECT read of the image ${mbps(rawMs).toFixed(0)} MB/s (128 KiB requests): ratio ${(mbps(refaultMs) / mbps(rawMs)).toFixed(2)}${sink === 0.5 ? '' : ''}`,
    );
    const st = await proc.stats();
    console.log(`  (lost pages ${st.lostPages}, doubly installed ${st.copyExists})`);
  } finally {
    await proc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
