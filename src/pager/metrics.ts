import type { Metrics } from '../engine/results.js';
import { type Measured, guestMetrics } from '../real/guest-workload.js';

/** The daemon's counters (its `stats` command): the pager's, its disk's, the vhost device's. */
export type Stats = {
  pager: Record<string, number>;
  disk: Record<
    'swap' | 'image',
    { readOps: number; writeOps: number; readSectors: number; writeSectors: number }
  >;
  device: Record<string, number>;
};

/** Counter deltas of one measured command (same names and meanings as the simulator's). */
export function pagerMetrics(
  m: Pick<Measured<Stats>, 'a' | 'b' | 'reply' | 'guestBefore' | 'guestAfter'>,
): Metrics {
  const { a, b } = m;
  const c = (k: string): number => (b.pager[k] ?? 0) - (a.pager[k] ?? 0);
  const d = (s: 'swap' | 'image', k: 'readOps' | 'writeOps' | 'readSectors' | 'writeSectors'): number =>
    b.disk[s][k] - a.disk[s][k];
  const readOps = d('swap', 'readOps') + d('image', 'readOps');
  const writeOps = d('swap', 'writeOps') + d('image', 'writeOps');
  const runs = c('swapReadRuns');
  return {
    ...guestMetrics(m),
    diskOps: readOps + writeOps,
    diskReadOps: readOps,
    diskWriteOps: writeOps,
    swapReadOps: d('swap', 'readOps'),
    swapWriteOps: d('swap', 'writeOps'),
    imageReadOps: d('image', 'readOps'),
    imageWriteOps: d('image', 'writeOps'),
    swapReadSectors: d('swap', 'readSectors'),
    swapWriteSectors: d('swap', 'writeSectors'),
    imageReadSectors: d('image', 'readSectors'),
    imageWriteSectors: d('image', 'writeSectors'),
    staleSwapReads: c('staleSwapReads'),
    // falseSwapReads is absent: whether the guest CPU overwrote a page whole after it was read in
    // is not something a fault tells (the simulator's guest says so; a real one does not).
    silentSwapWrites: c('silentSwapWrites'),
    hostFaultsInGuest: c('hostFaultsInGuest'),
    hostFaultsInHost: c('hostFaultsInHost'),
    swapReadFaults: c('swapReadOps'),
    swapReadRunLengthMean: runs > 0 ? c('swapReadPages') / runs : 0,
    pagesScanned: c('pagesScanned'),
    namedResidentPages: b.pager.namedResidentPages ?? 0,
    anonResidentPages: b.pager.anonResidentPages ?? 0,
    mapperTrackedPages: b.pager.mapperTrackedPages ?? 0,
    balloonPages: 0,
    // The Preventer's (the core's counters; 0 unless the configuration runs it).
    preventerEmulatedPages: c('preventerEmulatedPages'),
    preventerRemaps: c('preventerRemaps'),
    preventerFallbacks: c('preventerFallbacks'),
  };
}

/** What a record's notes say about the pager's own work during the command. */
export function pagerNotes(a: Stats, b: Stats, wallMs: number): string[] {
  const c = (k: string): number => (b.pager[k] ?? 0) - (a.pager[k] ?? 0);
  return [
    `host wall ${(wallMs / 1000).toFixed(2)} s`,
    `userfaultfd faults: ${c('uffdFaultsGuest')} from vCPU threads, ${c('uffdFaultsHost')} from other QEMU threads, ${c('wpFaults')} of them write-protect faults`,
    `pages installed ${c('copies')}, holes punched ${c('punches')}, named pages dropped ${c('namedDrops')}, invalidation reads ${c('invalidationReads')}`,
    `access sampling: ${c('sampledArmed')} pages armed, ${c('sampledHits')} touched before eviction, ${c('sampledEvicted')} evicted while armed`,
    ...(b.pager.interceptWrites !== undefined
      ? [
          `TCG intercept: ${c('interceptTlbFills')} TLB entries filled as I/O, ${c('interceptWrites')} writes and ${c('interceptReads')} reads handed over (${c('interceptReadsFromBuffer')} served from buffers, ${c('interceptWaited')} waited for a page)`,
          `QEMU's write buffer: ${c('interceptCombinedStores')} stores combined, ${c('interceptLoadsFromBuffer')} loads answered from it; handed over ${c('interceptFlushes')} times (${c('interceptHandedFull')} page whole, ${c('interceptHandedOther')} store elsewhere, ${c('interceptHandedDevice')} device access; ${c('interceptHandedLoad')} loads lacking bytes), taken ${c('interceptBuffersTaken')} times in all`,
        ]
      : []),
  ];
}
