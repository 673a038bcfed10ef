import type { Frames, Scheduler } from '../../src/sim/guest/kernel.js';
import type { GuestMemory } from '../../src/sim/guest/memory.js';

/**
 * A guest kernel of frames `mem` for a subsystem tested alone (the balloon driver, the page
 * reporter): free pages from `mem`, no time passing, and `own` for what the subsystem uses; anything
 * else it calls throws, naming `who`.
 */
export function fakeKernel(
  mem: GuestMemory,
  who: string,
  own: Partial<Frames & Scheduler> = {},
): Frames & Scheduler {
  const unused = unusedBy(who);
  return {
    mem,
    tryAllocFrame: unused,
    allocFrame: unused,
    freeFrame: unused,
    get freePages() {
      return mem.freePages;
    },
    tryAllocZeroedFrame: unused,
    isPrezeroed: unused,
    nowNs: 0,
    stopping: false,
    cpu: () => false,
    sleep: unused,
    sleepUnlessKicked: unused,
    spawnKernelThread: unused,
    waitFrame: unused,
    wakeFrame: unused,
    waitForWriteback: unused,
    writebackDone: unused,
    ...own,
  };
}

/** A stand-in for calls a test's fake must never receive. */
export const unusedBy = (who: string) => (): never => {
  throw new Error(`${who} does not use this`);
};
