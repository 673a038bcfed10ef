import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PagedProcess, pagedProcessFiles } from './paged-process.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface TortureOptions {
  mapper: boolean;
  disk: 'immediate' | 'hdd-model';
  /** DMA operations the main thread performs while the writers run. */
  ops: number;
  residentLimitPages: number;
  sabotage?: 'skip-write-protect';
  /** Access sampling depth (0: none, so every eviction goes through the write-protect-then-copy path). */
  samplingDepth?: number;
  seed: number;
}

export interface TortureResult {
  /** Mismatches between what a page or block holds and what was last written to it. */
  lost: string[];
  pager: Record<string, number>;
  problems: string[];
  writerOps: number;
  dmaOps: number;
}

const PAGES = 4096; // 16 MiB of guest RAM
const BLOCKS = 2048; // an 8 MiB disk
const QSIZE = 64;
/** Pages 0-3 hold the ring and request headers; writers own [WRITER_LO, DMA_LO), DMA uses the rest. */
const WRITER_LO = 16;
const DMA_LO = 2048;
const blockWord = (b: number, v: number): number => ((0x4000 + b) << 16) | (v & 0xffff);
const dmaWord = (p: number, v: number): number => ((0x2000 + p) << 16) | (v & 0xffff);

/**
 * Plays QEMU against a real pager daemon: this process owns the guest RAM (a memfd, registered with
 * a userfaultfd it hands over like the shim does), worker threads named like vCPUs write and check
 * their pages nonstop, and the main thread drives virtio-blk requests through the vring: disk reads
 * into pages (some while a toucher thread faults on the same page), disk writes from pages, reads
 * back. A small resident limit keeps the pager evicting all along. Every page and block is checked
 * against what was last written to it.
 */
export async function runTorture(o: TortureOptions): Promise<TortureResult> {
  const blocks = new Int32Array(BLOCKS);
  const init = new Int32Array(BLOCKS * 1024);
  for (let b = 0; b < BLOCKS; b++) init.fill(blockWord(b, 0), b * 1024, (b + 1) * 1024);
  const files = pagedProcessFiles('vswapper-torture-', new Uint8Array(init.buffer), PAGES);
  for (let b = 0; b < BLOCKS; b++) blocks[b] = blockWord(b, 0);
  const workers: Worker[] = [];
  const lost: string[] = [];
  const versions = new SharedArrayBuffer(PAGES * 4);
  const control = new SharedArrayBuffer(64);
  const ctl = new Int32Array(control);
  let proc: PagedProcess | undefined;
  try {
    proc = await PagedProcess.start({
      ...files.paths,
      pages: PAGES,
      mapper: o.mapper,
      disk: o.disk,
      residentLimitPages: o.residentLimitPages,
      queueSize: QSIZE,
      ...(o.sabotage ? { sabotage: o.sabotage } : {}),
      ...(o.samplingDepth !== undefined ? { samplingDepth: o.samplingDepth } : {}),
    });
    const ram = proc.ram!;
    const words = proc.words();
    const frontend = proc.frontend!;
    const daemon = proc.daemon;

    // Writers initialise their pages first, so every page has a known version.
    const vs = new Int32Array(versions);
    for (let p = WRITER_LO; p < DMA_LO; p++) words.fill((p << 16) | 0, p * 1024, (p + 1) * 1024);
    ctl[1] = -1;
    const half = WRITER_LO + Math.floor((DMA_LO - WRITER_LO) / 2);
    const start = (job: Record<string, unknown>): Worker => {
      const w = new Worker(join(HERE, 'torture-worker.js'), {
        workerData: { addr: ram.addr, ramBytes: PAGES * 4096, versions, control, seed: o.seed, ...job },
      });
      w.on('message', (m: { error?: string }) => {
        if (m.error) lost.push(`writer: ${m.error}`);
      });
      workers.push(w);
      return w;
    };
    start({ kind: 'writer', name: 'CPU 0/TCG', lo: WRITER_LO, hi: half, id: 0 });
    start({ kind: 'writer', name: 'CPU 1/TCG', lo: half, hi: DMA_LO, id: 1 });
    start({ kind: 'toucher', name: 'CPU 2/TCG', lo: 0, hi: 0, id: 2 });

    // The main thread: disk reads and writes through the vring, each checked.
    const expect = new Int32Array(PAGES);
    const dmaVersion = new Int32Array(PAGES);
    let x = o.seed >>> 0 || 7;
    const rnd = (n: number): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const dmaPage = (): number => DMA_LO + rnd(PAGES - DMA_LO);
    const check = (p: number, what: string): void => {
      const want = expect[p]!;
      const base = p * 1024;
      for (let i = 0; i < 1024; i++) {
        if (words[base + i] !== want) {
          lost.push(
            `${what}: page ${p} word ${i} is 0x${(words[base + i]! >>> 0).toString(16)}, want 0x${(want >>> 0).toString(16)}`,
          );
          words.fill(want, base, base + 1024);
          return;
        }
      }
    };
    // DMA pages start as copies of blocks, so each has a known content.
    for (let p = DMA_LO; p < PAGES; p += 16) {
      const b = rnd(BLOCKS - 16);
      const gpas = Array.from({ length: 16 }, (_, k) => (p + k) * 4096);
      if (frontend.io('read', b, gpas) !== 0) throw new Error('initial read failed');
      for (let k = 0; k < 16; k++) expect[p + k] = blocks[b + k]!;
    }
    for (let i = 0; i < o.ops; i++) {
      if (i % 100 === 50) {
        // Squeeze: everything goes, the ring's and the headers' pages too, which the back end must
        // then fault back in before it can serve the next request.
        await daemon.cmd({ cmd: 'limit', pages: 8 });
        await daemon.cmd({ cmd: 'limit', pages: o.residentLimitPages });
      }
      const kind = rnd(10);
      const n = 1 + rnd(4);
      const b = rnd(BLOCKS - n);
      const pages = Array.from({ length: n }, dmaPage).filter((p, k, a) => a.indexOf(p) === k);
      const gpas = pages.map((p) => p * 4096);
      if (kind < 3) {
        // Disk read into pages, most of them evicted by now (the Mapper only reserves frames).
        if (frontend.io('read', b, gpas) !== 0) lost.push(`read of block ${b} failed`);
        pages.forEach((p, k) => (expect[p] = blocks[b + k]!));
        for (const p of pages) check(p, `after reading block(s) ${b}+`);
      } else if (kind < 5) {
        // The CPU writes the pages (breaking any Mapper association), then the disk gets them.
        for (const p of pages) {
          expect[p] = dmaWord(p, ++dmaVersion[p]!);
          words.fill(expect[p], p * 1024, (p + 1) * 1024);
        }
        if (frontend.io('write', b, gpas) !== 0) lost.push(`write of block ${b} failed`);
        pages.forEach((p, k) => (blocks[b + k] = expect[p]!));
      } else if (kind < 6) {
        // Pages written to disk unmodified: named (Mapper) for the new blocks, still equal to the old.
        if (frontend.io('write', b, gpas) !== 0) lost.push(`write of block ${b} failed`);
        pages.forEach((p, k) => (blocks[b + k] = expect[p]!));
      } else if (kind < 8) {
        // A disk read into a page another thread keeps faulting on.
        const p = pages[0]!;
        Atomics.store(ctl, 1, p);
        if (frontend.io('read', b, [p * 4096]) !== 0) lost.push(`racing read of block ${b} failed`);
        Atomics.store(ctl, 1, -1);
        expect[p] = blocks[b]!;
        check(p, `after a read raced by faults, block ${b}`);
      } else {
        for (const p of pages) check(p, 'later');
      }
    }
    Atomics.store(ctl, 0, 1);
    let writerOps = 0;
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((res) => {
            w.on('message', (m: { done?: number }) => {
              if (m.done !== undefined) writerOps += m.done;
            });
            w.once('exit', () => res());
          }),
      ),
    );
    workers.length = 0;
    // Everything, once more: writers' pages, DMA pages, and every block read back.
    for (let p = WRITER_LO; p < DMA_LO; p++) {
      expect[p] = (p << 16) | vs[p]!;
      check(p, 'final writer page');
    }
    for (let p = DMA_LO; p < PAGES; p++) check(p, 'final');
    // Pages 4-11: free of the ring, the headers and the writers' pages.
    const scratch = Array.from({ length: 8 }, (_, k) => (4 + k) * 4096);
    for (let b = 0; b < BLOCKS; b += 8) {
      if (frontend.io('read', b, scratch) !== 0) lost.push(`final read of block ${b} failed`);
      for (let k = 0; k < 8; k++) {
        expect[4 + k] = blocks[b + k]!;
        check(4 + k, `final block ${b + k}`);
      }
    }
    const stats = (await daemon.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number> };
    const problems = (await daemon.cmd({ cmd: 'check' })).problems as string[];
    return { lost, pager: stats.pager, problems, writerOps, dmaOps: o.ops };
  } finally {
    Atomics.store(ctl, 0, 1);
    await Promise.all(workers.map((w) => w.terminate()));
    await proc?.close();
    files.remove();
  }
}
