import type { GuestProcess } from './process.js';

/** The OOM killer's choice (oom_badness): the process holding the most memory, resident or swapped. */
export function chooseOomVictim(processes: Iterable<GuestProcess>): GuestProcess | undefined {
  let victim: GuestProcess | undefined;
  for (const p of processes) if (!p.exited && (!victim || p.badness > victim.badness)) victim = p;
  return victim;
}
