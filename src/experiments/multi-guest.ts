import { cpus } from 'node:os';
import type { FigureResult, Metrics, RunRecord } from '../engine/results.js';
import { type MultiConfig, type QemuMultiResult, runQemuMulti } from '../qemu/multi-guest.js';
import { qemuVersion } from '../real/accel.js';
import { runMultiJob } from './multi-job.js';
import { DYNAMIC_SETUP, dynamicJob } from './section-5-2.js';

/**
 * §5.2's dynamic experiment on K real guests and, beside it, the simulator running the same scaled
 * scenario; both as the result schema's FigureResult of figure `multi-guest`, one record per
 * configuration and guest (x = the guest's number, started (x - 1) intervals after the first), so
 * `vswapper compare` lines them up.
 *
 * The scaling: every memory size of the paper's setup times `scale` (2 GB guests, Metis's 300 MB
 * input with 1M keys), and the host's 8 GB for 10 guests kept as a ratio: K guests get
 * 8 GB x K / 10 x scale, the overcommitment of the paper's ten-guest point (Fig. 4). Time is not
 * scaled on the real guests: under TCG the scaled word count takes about as long as the paper's
 * full one on KVM (about 35 s alone here against the paper's 33.7 s), so the paper's 10 s start
 * interval and MOM's own 5 s / 10 s periods keep their proportion to a run. The simulator's guest
 * runs the scaled work on the paper's CPU, `scale` times faster, so its start interval and the
 * manager's periods shrink by `scale` (multi-job.ts), the same proportion.
 */

export const MULTI_GUEST_FIGURE = 'multi-guest';
export const MULTI_GUEST_CONFIGS: readonly MultiConfig[] = ['baseline', 'balloon'];

export interface MultiGuestScenario {
  guests: number;
  scale: number;
  guestMiB: number;
  hostMiB: number;
  inputMiB: number;
  keys: number;
  startIntervalS: number;
}

export function multiGuestScenario(guests: number, scale: number): MultiGuestScenario {
  if (!(Number.isInteger(guests) && guests >= 1 && guests <= DYNAMIC_SETUP.maxGuests))
    throw new RangeError(`guests must be 1-${DYNAMIC_SETUP.maxGuests}, got ${guests}`);
  if (!(scale > 0 && scale <= 1)) throw new RangeError(`scale must be within (0, 1], got ${scale}`);
  return {
    guests,
    scale,
    guestMiB: Math.round(DYNAMIC_SETUP.guestMiB * scale),
    hostMiB: Math.round((DYNAMIC_SETUP.hostMiB * guests * scale) / DYNAMIC_SETUP.maxGuests),
    // Metis's input (§5.2: 300 MB, 1M keys), scaled.
    inputMiB: Math.max(1, Math.round(300 * scale)),
    keys: Math.max(1, Math.round(1_000_000 * scale)),
    startIntervalS: DYNAMIC_SETUP.startIntervalS,
  };
}

function realRecords(r: QemuMultiResult): RunRecord[] {
  return r.guests.map((g) => {
    const notes = [
      `started ${g.startS} s after the first; host swap for it: peak ${g.swapPeakMiB} MiB, at the end ${g.swapEndMiB} MiB, growth summed over 1 s samples ${g.swapGrowthMiB} MiB (a lower bound of its swap-out); the balloon left it at least ${g.balloonMinActualMiB} MiB`,
      g.killed
        ? 'no word count output to check (killed)'
        : `word count output md5 ${g.md5Ok ? 'equals' : 'DIFFERS from'} the host's own computation`,
    ];
    if (g.killed) notes.push(g.killed);
    return {
      config: r.config,
      x: g.guest + 1,
      metrics: g.metrics,
      ...(g.killed ? { killed: true } : {}),
      notes,
    };
  });
}

/** The real run of each configuration, one after another, as a FigureResult (engine qemu). */
export async function runMultiGuestQemu(
  sc: MultiGuestScenario,
  configs: readonly MultiConfig[],
  o: { onProgress?: (m: string) => void; signal?: AbortSignal } = {},
): Promise<{ figure: FigureResult; runs: QemuMultiResult[] }> {
  const t0 = performance.now();
  const runs: QemuMultiResult[] = [];
  for (const config of configs)
    runs.push(
      await runQemuMulti({
        config,
        guests: sc.guests,
        guestMiB: sc.guestMiB,
        hostMiB: sc.hostMiB,
        inputMiB: sc.inputMiB,
        keys: sc.keys,
        startIntervalS: sc.startIntervalS,
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      }),
    );
  const meta: FigureResult['meta'] = {
    scenario: JSON.stringify(sc),
    qemu: qemuVersion(),
    cpus: cpus().length,
    wallS: Math.round(performance.now() - t0) / 1000,
  };
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.info)) meta[`${r.config}.${k}`] = v;
    meta[`${r.config}.notes`] = r.notes.join(' ');
    const done = r.guests.filter((g) => g.runtimeS !== undefined);
    meta[`${r.config}.meanRuntimeS`] = done.length
      ? +(done.reduce((a, g) => a + g.runtimeS!, 0) / done.length).toFixed(2)
      : null;
  }
  return {
    figure: { figure: MULTI_GUEST_FIGURE, engine: 'qemu', runs: runs.flatMap(realRecords), meta },
    runs,
  };
}

/** The simulator on the same scaled scenario (one seed per configuration unless more are given). */
export function runMultiGuestSim(
  sc: MultiGuestScenario,
  configs: readonly MultiConfig[],
  seed = 1,
): FigureResult {
  const t0 = performance.now();
  const runs: RunRecord[] = [];
  const meta: FigureResult['meta'] = { scenario: JSON.stringify(sc), seed };
  for (const config of configs) {
    const job = dynamicJob(config, sc.guests, sc.scale, seed);
    const r = runMultiJob(job, {
      guests: sc.guests,
      // multi-job scales it back: the same host as the real run.
      hostMiB: sc.hostMiB / sc.scale,
      startIntervalS: sc.startIntervalS,
      // The real run's parent cgroup holds the guests; QEMU's own memory is on top and the host
      // kernel outside it: the simulated host holds no memory of its own either.
      hostOwnMemory: false,
    });
    const multi = r.multi!;
    meta[`${config}.globalReclaimPages`] = multi.globalReclaimPages;
    meta[`${config}.decisions`] = multi.timeline.decisions.length;
    const done = multi.guests.filter((g) => g.runtimeS !== undefined);
    meta[`${config}.meanRuntimeS`] = done.length
      ? +(done.reduce((a, g) => a + g.runtimeS!, 0) / done.length).toFixed(2)
      : null;
    for (const g of multi.guests) {
      const metrics: Metrics = { ...g.metrics };
      runs.push({
        config,
        x: g.guest + 1,
        metrics,
        ...(g.killed ? { killed: true, notes: [g.killed] } : {}),
      });
    }
  }
  meta.wallS = Math.round(performance.now() - t0) / 1000;
  return { figure: MULTI_GUEST_FIGURE, engine: 'sim', runs, meta };
}
