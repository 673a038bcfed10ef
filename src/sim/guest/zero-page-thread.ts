import type { FrameAccess, Scheduler } from './kernel.js';
import { FREE, type GuestMemory, KERNEL } from './memory.js';
import { type Program, YIELD } from './steps.js';
import type { ZeroedList } from './zeroed-list.js';
import { ZERO_THREAD_WAKE_FREE_PAGES } from './windows-params.js';

/** What the zero page thread needs: the two lists, whole-page writes, and the scheduler. */
export interface ZeroingKernel extends Scheduler, Pick<FrameAccess, 'overwritePage'> {
  readonly mem: GuestMemory;
  readonly zeroed: ZeroedList;
  /** Other threads are ready: a priority-0 thread lets them run first. */
  readonly othersReady: boolean;
}

/** How long the thread sleeps when nobody wakes it (it is woken as soon as there is work). */
const IDLE_NS = 1e9;

/**
 * Windows' zero page thread (Windows Internals, 6th ed., ch. 10, "Page List Dynamics"): woken when
 * the free list holds eight or more pages, it takes them off the free list one at a time, fills each
 * with zeros (a whole-page write: to the host, the same as Linux's clear_page) and puts it on the
 * zeroed list, until the free list is empty. It runs at priority 0, below every other thread, so it
 * steps aside whenever another is ready. `setKick` receives the function that wakes it.
 */
export function* zeroPageThread(os: ZeroingKernel, setKick: (kick: (() => void) | null) => void): Program {
  const mem = os.mem;
  while (!os.stopping) {
    if (mem.freePages === 0) {
      yield* os.sleepUnlessKicked(IDLE_NS, setKick);
      setKick(null);
      continue;
    }
    if (os.othersReady) {
      yield YIELD;
      continue;
    }
    yield* zeroOne(os, mem.pop());
  }
}

/** Zeroes free frame `g` (taken off the free list) and puts it on the zeroed list. */
export function* zeroOne(os: ZeroingKernel, g: number): Program {
  const mem = os.mem;
  // Off every list while it is being zeroed (its PFN is locked): nobody else can take it.
  mem.use[g] = KERNEL;
  yield* os.overwritePage(g);
  mem.use[g] = FREE;
  mem.flags[g] = 0;
  os.zeroed.push(g);
}

/** Whether the free list has reached the size at which the zero page thread is woken. */
export const zeroThreadHasWork = (mem: GuestMemory): boolean => mem.freePages >= ZERO_THREAD_WAKE_FREE_PAGES;
