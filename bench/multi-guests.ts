/**
 * The many-guest simulator's cost as guests are added (issue 12): wall time per simulated
 * guest-second at 1, 5 and 10 guests of §5.2's setup (Metis word count, the host's 8 GB), baseline,
 * at a scale that keeps the run short. A guest-second is one guest simulated for one second, from
 * its start to the end of the run (guests that finished early still run their kernel's background).
 * Cost per guest-second that stays flat means the simulator scales linearly with guests; growth
 * shows where guests interact (global reclaim, the shared drive's queue). The cost per event is
 * printed beside it: a guest that swaps costs more per simulated second than one that computes,
 * so the two together tell growth in work from growth in overhead.
 */
import { runMultiJob } from '../src/experiments/multi-job.js';
import { dynamicJob } from '../src/experiments/section-5-2.js';

const SCALE = 1 / 16;

export function multiGuestsBench(): void {
  console.log(`many-guest simulator (Fig. 14's setup, baseline, scale ${SCALE}):`);
  // Once unmeasured, so that the JIT has compiled the paths before the 1-guest point.
  const warm = dynamicJob('baseline', 1, SCALE, 1);
  runMultiJob(warm, warm.multi!);
  let first: number | undefined;
  for (const guests of [1, 5, 10]) {
    const job = dynamicJob('baseline', guests, SCALE, 1);
    const r = runMultiJob(job, job.multi!);
    const m = r.multi!;
    const endS = m.timeline.tS[m.timeline.tS.length - 1] ?? 0;
    const guestSeconds = m.guests.reduce((a, g) => a + Math.max(0, endS - g.startS), 0);
    const msPerGuestS = r.wallMs / guestSeconds;
    first ??= msPerGuestS;
    console.log(
      `  ${String(guests).padStart(2)} guests: ${r.wallMs.toFixed(0).padStart(6)} ms wall for ${guestSeconds.toFixed(1).padStart(6)} guest-s simulated: ${msPerGuestS.toFixed(1).padStart(6)} ms per guest-second (${(msPerGuestS / first).toFixed(2)}x the 1-guest cost); ${r.simEvents} events, ${((r.wallMs * 1000) / r.simEvents).toFixed(1)} µs each`,
    );
  }
}
