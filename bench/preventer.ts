/**
 * The False Reads Preventer's costs on the pager's side, measured: the daemon's work per page QEMU
 * hands over written whole (a remap), per store handed over one by one (the path the write buffer
 * replaces), and per merge (a partly written page, its old content read back); and the wake-up round
 * trip between two processes that every request to the daemon pays (QEMU's vCPU sleeps until the
 * reply). The daemon's part runs the real core and `Emulation` over a region in this process, with
 * reads that complete at once (no disk), so it is CPU only. QEMU's own part (TCG's slow path for an
 * intercepted store, the TLB fill as I/O and the hand-over) is bench/preventer-qemu.ts, on the
 * patched QEMU with the real guest.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { DEFAULT_CORE_TUNABLES, MemoryCore, type ReadAction, asGfn } from '../src/core/index.js';
import { CoreDriver, type DriverAction } from '../src/driver/core-driver.js';
import { Emulation } from '../src/pager/emulation.js';
import {
  INTERCEPT_BUFFER_OFFSET,
  InterceptRegion,
  interceptRegionBytes,
  postRequestAsQemu,
  takeReplyAsQemu,
} from '../src/pager/intercept-region.js';

const PAGE = 4096;
const PAGES = 4096;

/** The daemon's side over memory: the core's actions on plain arrays; reads complete at once. */
class Harness {
  readonly mem = new Uint8Array(PAGES * PAGE);
  readonly swap = new Uint8Array(PAGES * PAGE);
  readonly regionBytes = new Uint8Array(interceptRegionBytes(PAGES));
  readonly region = new InterceptRegion(this.regionBytes, PAGES, true);
  readonly core = new MemoryCore({
    ...DEFAULT_CORE_TUNABLES,
    guestPages: PAGES,
    vmmPages: 0,
    imageBlocks: 16,
    swapSlots: PAGES,
    residentLimitPages: PAGES,
    mapper: false,
    preventer: true,
    asyncPfWriteFaults: false,
  });
  readonly driver = new CoreDriver(this.core, { carryOut: (a) => this.carryOut(a) });
  readonly timers: number[] = [];
  readonly emu = new Emulation(
    {
      core: this.core,
      after: (id, k) => this.driver.after(id, k),
      guestBytes: (g) => this.mem.subarray(g * PAGE, (g + 1) * PAGE),
    },
    this.region,
    () => {},
  );
  private readonly scratch = new Uint8Array(PAGE);

  private carryOut(a: DriverAction): void {
    switch (a.kind) {
      case 'write':
        for (let i = 0; i < a.pages.length; i++)
          this.swap.set(
            this.mem.subarray(a.pages[i]! * PAGE, (a.pages[i]! + 1) * PAGE),
            (a.start + i) * PAGE,
          );
        this.core.writeDone(a.id);
        return;
      case 'drop':
        for (const page of a.pages) this.region.mark(page);
        return;
      case 'read':
        this.read(a);
        return;
      case 'zero':
        this.emu.claim(a.page);
        this.scratch.fill(0);
        this.emu.mergeInto(a.page, this.scratch);
        this.mem.set(this.scratch, a.page * PAGE);
        return;
      case 'remap':
        this.emu.claim(a.page);
        this.emu.remapSource(a.page);
        return;
      case 'discardBuffer':
        this.emu.discard(a.page);
        return;
      case 'timer':
        this.timers.push(a.page);
        return;
      default:
        throw new Error(`unexpected action ${a.kind}`);
    }
  }

  private read(a: ReadAction): void {
    if (a.source === 'vmm') throw new Error('no hypervisor pages here');
    this.core.readDone(a.id);
    for (let i = 0; i < a.pages.length; i++) {
      const p = a.pages[i]!;
      if (!this.core.isResident(p)) continue;
      this.emu.claim(p);
      const dst = this.mem.subarray(p * PAGE, (p + 1) * PAGE);
      dst.set(this.swap.subarray(a.units[i]! * PAGE, (a.units[i]! + 1) * PAGE));
      this.emu.mergeInto(p, dst);
    }
  }

  /** Every page written once, then all but `keep` evicted (to swap, marked). */
  evictAll(keep: number): void {
    for (let p = 0; p < PAGES; p++) this.driver.after(this.core.touch(asGfn(p), true, 'guest'), () => {});
    this.core.setResidentLimit(keep);
    this.driver.pump();
    this.core.setResidentLimit(PAGES);
    this.driver.pump();
  }

  /** QEMU's buffer as it hands over `bytes` bytes of page `p` from its start. */
  fillBuffer(p: number, bytes: number): void {
    const dv = new DataView(this.regionBytes.buffer);
    this.regionBytes.fill(0xab, INTERCEPT_BUFFER_OFFSET, INTERCEPT_BUFFER_OFFSET + bytes);
    this.regionBytes.fill(1, INTERCEPT_BUFFER_OFFSET + PAGE, INTERCEPT_BUFFER_OFFSET + PAGE + bytes);
    dv.setUint32(116, bytes, true); // buf_bytes
    dv.setBigUint64(120, BigInt(p), true); // buf_page
  }

  /** Posts a request and serves it; throws if the daemon did not answer at once. */
  request(write: boolean | 'flush', offset: number, data: Uint8Array): void {
    const seq = postRequestAsQemu(this.regionBytes, write, offset, data);
    this.emu.poll();
    this.driver.pump();
    if (takeReplyAsQemu(this.regionBytes, seq, 8) === undefined) throw new Error('no reply at once');
  }

  fireTimers(): void {
    for (const p of this.timers.splice(0)) this.core.timerFired(asGfn(p));
    this.driver.pump();
  }
}

function perOp(label: string, n: number, ms: number): number {
  const us = (ms * 1000) / n;
  console.log(`  ${label.padEnd(62)} ${us.toFixed(2).padStart(7)} µs  (${n} in ${ms.toFixed(0)} ms)`);
  return us;
}

function daemonCosts(): void {
  // Remap: a page handed over written whole (one FLUSH): emulate, remap, install.
  let h = new Harness();
  h.evictAll(64);
  const absent = (from: number): number[] => {
    const out: number[] = [];
    for (let p = from; p < PAGES && out.length < 2048; p++) if (h.region.isMarked(p)) out.push(p);
    return out;
  };
  let pages = absent(0);
  let t0 = performance.now();
  for (const p of pages) {
    h.fillBuffer(p, PAGE);
    h.request('flush', 0, new Uint8Array(0));
  }
  perOp('daemon: a page handed over whole, remapped (per page)', pages.length, performance.now() - t0);
  const remaps = h.core.counters.snapshot().preventerRemaps ?? 0;
  if (remaps < pages.length) throw new Error(`only ${remaps} of ${pages.length} pages remapped`);

  // One store per request (what every store cost before QEMU combined them): 8 bytes, absent page.
  h = new Harness();
  h.evictAll(64);
  pages = absent(0).slice(0, 16);
  const stores = 16 * 512;
  t0 = performance.now();
  for (const p of pages)
    for (let at = 0; at < PAGE; at += 8) h.request(true, p * PAGE + at, new Uint8Array(8).fill(7));
  perOp('daemon: one 8-byte store handed over alone (per store)', stores, performance.now() - t0);

  // Merge: half a page handed over, the 1 ms deadline passes, the old content read and merged.
  h = new Harness();
  h.evictAll(64);
  pages = absent(0).slice(0, 1024);
  t0 = performance.now();
  for (let i = 0; i < pages.length; i += 16) {
    for (const p of pages.slice(i, i + 16)) {
      h.fillBuffer(p, PAGE / 2);
      h.request('flush', 0, new Uint8Array(0));
    }
    h.fireTimers();
  }
  perOp(
    'daemon: half a page handed over, then merged with its old content',
    pages.length,
    performance.now() - t0,
  );
  const fallbacks = h.core.counters.snapshot().preventerFallbacks ?? 0;
  if (fallbacks < pages.length) throw new Error(`only ${fallbacks} of ${pages.length} pages merged`);
}

/** The child: answers each byte on one FIFO with a byte on the other (the daemon's reply). */
const ECHO = `
const fs = require('node:fs');
const [a, b, n] = process.argv.slice(1);
const rd = fs.openSync(a, 'r'), wr = fs.openSync(b, 'w'), buf = Buffer.alloc(1);
for (let i = 0; i < Number(n); i++) { fs.readSync(rd, buf, 0, 1, null); fs.writeSync(wr, buf, 0, 1); }
`;

async function roundTrip(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vswapper-bench-rt-'));
  try {
    const req = join(dir, 'req');
    const rep = join(dir, 'rep');
    execFileSync('mkfifo', [req, rep]);
    const n = 20000;
    const child = spawn(process.execPath, ['-e', ECHO, req, rep, String(n)], { stdio: 'inherit' });
    const wr = openSync(req, 'w');
    const rd = openSync(rep, 'r');
    const buf = Buffer.alloc(1);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      writeSync(wr, buf, 0, 1);
      readSync(rd, buf, 0, 1, null);
    }
    perOp('a blocking wake-up round trip between two processes', n, performance.now() - t0);
    closeSync(wr);
    closeSync(rd);
    await new Promise((r) => child.once('exit', r));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function preventerBench(): Promise<void> {
  console.log('preventer (the daemon side, CPU only; and the request round trip):');
  daemonCosts();
  await roundTrip();
}
