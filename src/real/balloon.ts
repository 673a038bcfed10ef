import type { QmpClient } from './qmp.js';
import { MiB } from './paths.js';

/** What inflating (or deflating) the guest's virtio-balloon achieved. */
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
export function inflateBalloon(
  qmp: QmpClient,
  believedMiB: number,
  actualMiB: number,
  progress: (m: string) => void,
): Promise<BalloonInflated> {
  return resizeBalloon(qmp, believedMiB, actualMiB, 'before the workload', progress);
}

/**
 * Sets the balloon so that the guest keeps `keepMiB` of `believedMiB`, inflating or deflating
 * (QMP `balloon` asks for the guest's new size either way), and waits until QEMU reports the target
 * or the guest stops moving towards it. `when` says in the notes when it happened.
 */
export async function resizeBalloon(
  qmp: QmpClient,
  believedMiB: number,
  keepMiB: number,
  when: string,
  progress: (m: string) => void,
): Promise<BalloonInflated> {
  const target = keepMiB * MiB;
  const start = (await qmp.execute<{ actual: number }>('query-balloon')).actual;
  const inflating = target < start;
  await qmp.execute('balloon', { value: target });
  // How far the guest still is from the target, in the direction it has to go.
  const gap = (actual: number): number => (inflating ? actual - target : target - actual);
  let last = Infinity;
  let still = 0;
  for (let i = 0; i < MAX_POLLS && still < STALLED_POLLS; i++) {
    const r = await qmp.execute<{ actual: number }>('query-balloon');
    if (gap(r.actual) <= 0) break;
    still = gap(r.actual) < last ? 0 : still + 1;
    last = gap(r.actual);
    await new Promise((t) => setTimeout(t, POLL_MS));
  }
  const r = await qmp.execute<{ actual: number }>('query-balloon');
  const keptMiB = Math.round(r.actual / MiB);
  const verb = inflating ? 'inflated' : 'deflated';
  progress(`balloon ${verb}: the guest keeps ${keptMiB} MiB`);
  const notes: string[] = [];
  // A shortfall of a few MiB is the driver's granularity, not the guest refusing.
  if (gap(r.actual) > 4 * MiB)
    notes.push(`the balloon stopped short of its target: the guest kept ${keptMiB} MiB, not ${keepMiB}`);
  notes.push(`balloon ${verb} to ${Math.round((believedMiB * MiB - r.actual) / MiB)} MiB ${when}`);
  return { balloonPages: Math.round((believedMiB * MiB - r.actual) / 4096), keptMiB, notes };
}
