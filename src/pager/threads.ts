import { readFileSync } from 'node:fs';
import type { FaultContext } from '../core/index.js';
import { isVcpuThread } from '../real/proc.js';

/**
 * Which of QEMU's threads faulted: a vCPU thread ("CPU 0/TCG", named with -name ...,debug-threads=on)
 * runs the guest (the paper's Fig. 9c: faults while guest code runs); every other thread (main loop,
 * RCU, workers) is QEMU serving the guest (Fig. 9b). userfaultfd's THREAD_ID feature gives the
 * faulting thread's id; its name is read once from /proc.
 */
export class ThreadContexts {
  private readonly known = new Map<number, FaultContext>();
  readonly names = new Map<number, string>();

  constructor(private readonly pid: number) {}

  of(tid: number): FaultContext {
    let c = this.known.get(tid);
    if (c) return c;
    let name = '';
    try {
      name = readFileSync(`/proc/${this.pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      // The thread is gone already: it cannot have been a vCPU, which lives as long as QEMU.
    }
    c = isVcpuThread(name) ? 'guest' : 'host';
    this.known.set(tid, c);
    this.names.set(tid, name);
    return c;
  }
}
