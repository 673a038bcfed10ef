import type { QmpClient } from './qmp.js';
import { MiB } from './paths.js';

/** What inflating the guest's virtio-balloon achieved. */
export interface BalloonInflated {
  /** 4 KiB pages the balloon holds (the believed size less what the guest keeps). */
  balloonPages: number;
  /** What the guest keeps, as QEMU's `query-balloon` reports it. */
  keptMiB: number;
  /** What the record's notes say (the inflation, and a shortfall if the guest would not give more). */
  notes: string[];
}

/** How often QEMU's balloon size is polled, and after how many polls without progress we stop. */
const POLL_MS = 100;
const MAX_POLLS = 1200;
const STALLED_POLLS = 20;

/**
 * Inflates the guest's virtio-balloon through QMP so that it keeps `actualMiB` of `believedMiB`
 * (the paper's static balloon experiments: inflated before the workload), waiting until QEMU reports
 * the target or the guest stops giving pages. Both real engines' balloon configurations use it.
 */
export async function inflateBalloon(
  qmp: QmpClient,
  believedMiB: number,
  actualMiB: number,
  progress: (m: string) => void,
): Promise<BalloonInflated> {
  const target = actualMiB * MiB;
  await qmp.execute('balloon', { value: target });
  let last = Infinity;
  let still = 0;
  for (let i = 0; i < MAX_POLLS && still < STALLED_POLLS; i++) {
    const r = await qmp.execute<{ actual: number }>('query-balloon');
    if (r.actual <= target) break;
    still = r.actual < last ? 0 : still + 1;
    last = r.actual;
    await new Promise((t) => setTimeout(t, POLL_MS));
  }
  const r = await qmp.execute<{ actual: number }>('query-balloon');
  const keptMiB = Math.round(r.actual / MiB);
  progress(`balloon inflated: the guest keeps ${keptMiB} MiB`);
  const notes: string[] = [];
  // A shortfall of a few MiB is the driver's granularity, not the guest refusing.
  if (r.actual > target + 4 * MiB)
    notes.push(`the balloon stopped short of its target: the guest kept ${keptMiB} MiB, not ${actualMiB}`);
  notes.push(
    `balloon inflated to ${Math.round((believedMiB * MiB - r.actual) / MiB)} MiB before the workload`,
  );
  return { balloonPages: Math.round((believedMiB * MiB - r.actual) / 4096), keptMiB, notes };
}
