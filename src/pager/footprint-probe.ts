import { type GuestFootprint, cachedFootprint, footprintKey, storeFootprint } from '../real/footprint.js';
import { buildGuestImage } from '../real/guest-image.js';
import { MiB } from '../real/paths.js';
import { runPagerConfig } from './run.js';
import { PAGE_SIZE_BYTES as PAGE } from '../core/index.js';

/**
 * The probe's sizes. Believed: the paper's 512 MiB (the guest's own memory grows with it, its
 * memmap by 64 B a page, so this over-states the floor of a smaller guest a little: the safe side).
 * The file: small, it is subtracted; Sysbench's own use of memory does not depend on it.
 */
const PROBE = { believedMiB: 512, fileMiB: 16 } as const;

/**
 * The pager's default virtqueue size (daemon.ts, `queueSize`): a lower limit can leave the guest's
 * disk I/O waiting on frames (control/daemon-backend.ts's floor).
 */
const FLOOR_PAGES = 128;

/**
 * Measures what the project's guest keeps of its own, on the pager (it alone sees every page the
 * guest touches): the guest boots with the paper's believed memory and no limit; MemAvailable right
 * after boot gives what it cannot give up (`ownMiB`); one Sysbench read of a small file fills its
 * page cache; the pager then evicts all but the floor, lifts the limit, and the second read brings
 * back, page by page (no swap readahead, no access sampling), exactly what the guest touches: less
 * the file's pages, the guest's hot set (`hotMiB`). Cached per guest kernel and initramfs.
 */
export async function probeGuestFootprint(
  onProgress: (m: string) => void,
  signal?: AbortSignal,
): Promise<GuestFootprint> {
  const img = await buildGuestImage(PROBE.fileMiB);
  const key = footprintKey(img);
  const cached = cachedFootprint(key);
  if (cached) return cached;
  onProgress(
    `measuring the guest's own footprint once (cached after): a ${PROBE.believedMiB} MiB guest on the pager`,
  );
  const believedPages = (PROBE.believedMiB * MiB) / PAGE;
  const r = await runPagerConfig({
    config: 'baseline',
    believedMiB: PROBE.believedMiB,
    actualMiB: PROBE.believedMiB,
    fileMiB: PROBE.fileMiB,
    iterations: 2,
    allocMiB: 0,
    hddLike: false,
    warmup: false,
    samplingDepth: 0,
    pageClusterLog2: 0,
    limitSchedule: [
      { after: 1, pages: FLOOR_PAGES },
      { after: 1, pages: believedPages },
    ],
    onProgress,
    ...(signal ? { signal } : {}),
  });
  const fp = footprintOf(r.info, r.iterations.length, r.checksumOk);
  storeFootprint(key, fp);
  onProgress(`the guest keeps ${fp.ownMiB} MiB of its own, ${fp.hotMiB} MiB of it hot`);
  return fp;
}

/** The probe's measurement from its run's facts; throws, naming what is missing, if the run did not finish. */
export function footprintOf(
  info: Record<string, string | number | boolean>,
  iterations: number,
  checksumOk: boolean | undefined,
): GuestFootprint {
  const num = (k: string): number => {
    const v = info[k];
    if (typeof v !== 'number') throw new Error(`the footprint probe did not finish: no ${k}`);
    return v;
  };
  if (iterations !== 2 || checksumOk !== true)
    throw new Error(
      `the footprint probe did not finish: ${iterations} of 2 reads, checksum ${String(checksumOk)}`,
    );
  const ownMiB = PROBE.believedMiB - num('guestMemAvailableAtBootMiB');
  const broughtBackMiB = num('guestRamResidentAtEndMiB') - num('limitStep1MemfdAfterMiB');
  const hotMiB = Math.max(0, Math.round(broughtBackMiB - PROBE.fileMiB));
  return {
    ownMiB,
    hotMiB,
    how:
      `measured on the qemu-pager engine (${new Date().toISOString()}): a ${PROBE.believedMiB} MiB guest, ` +
      `${num('guestMemAvailableAtBootMiB')} MiB available after boot; after evicting all but ${FLOOR_PAGES} pages, ` +
      `a Sysbench read of a ${PROBE.fileMiB} MiB file brought back ${broughtBackMiB.toFixed(1)} MiB`,
  };
}
