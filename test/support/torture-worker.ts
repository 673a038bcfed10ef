/**
 * A "vCPU" of the pager torture test: a worker thread of the process that plays QEMU, named like a
 * QEMU vCPU, that writes and checks pages of guest RAM as fast as it can while the pager evicts
 * them. Writers own their pages: every word of a page holds (page << 16 | version), and the current
 * version of each page is published in a shared array. A toucher reads whatever page the main
 * thread points it at, to make faults race with the back end's disk reads into that page.
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import { setThreadName } from '../../src/pager/sys.js';

interface Job {
  kind: 'writer' | 'toucher';
  name: string;
  addr: number;
  ramBytes: number;
  lo: number;
  hi: number;
  /** versions[p]: the last version written to page p (writers publish; the main thread checks). */
  versions: SharedArrayBuffer;
  /** control[0]: stop flag; control[1]: the page a toucher reads (-1: none); control[2+id]: errors. */
  control: SharedArrayBuffer;
  id: number;
  seed: number;
}

const job = workerData as Job;
setThreadName(job.name);
// SAFETY: the main thread mapped [addr, addr + ramBytes) (guest RAM) before starting us and unmaps
// it only after every worker has exited.
const words = new Int32Array(koffi.view(job.addr, job.ramBytes));
const versions = new Int32Array(job.versions);
const control = new Int32Array(job.control);
let x = job.seed >>> 0 || 1;
const rnd = (n: number): number => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) % n;
};

let ops = 0;
if (job.kind === 'writer') {
  while (Atomics.load(control, 0) === 0) {
    const p = job.lo + rnd(job.hi - job.lo);
    const base = p * 1024;
    const v = versions[p]!;
    if (rnd(2) === 0) {
      const nv = (v + 1) & 0xffff;
      words.fill((p << 16) | nv, base, base + 1024);
      Atomics.store(versions, p, nv);
    } else {
      const want = (p << 16) | v;
      for (let i = 0; i < 1024; i++) {
        if (words[base + i] !== want) {
          Atomics.add(control, 2 + job.id, 1);
          parentPort!.postMessage({
            error: `page ${p} word ${i}: 0x${(words[base + i]! >>> 0).toString(16)}, want 0x${(want >>> 0).toString(16)}`,
          });
          // Repair the model so one loss is reported once.
          words.fill(want, base, base + 1024);
          break;
        }
      }
    }
    ops++;
  }
} else {
  while (Atomics.load(control, 0) === 0) {
    const p = Atomics.load(control, 1);
    if (p >= 0) void words[p * 1024 + rnd(1024)];
    ops++;
  }
}
parentPort!.postMessage({ done: ops });
