import { PAGE_SIZE_BYTES as PAGE } from '../../core/index.js';
const MiB = 2 ** 20;

const mib = (pages: number): string => ((pages * PAGE) / MiB).toFixed(1);

/**
 * One status line of a running VM from the daemon's flat stats (control/flat-stats.ts): resident
 * against the limit, what sits in swap, what the Mapper names, the faults served so far.
 */
export function statusLine(uptimeS: number, s: Record<string, number>): string {
  const n = (k: string): number => s[k] ?? 0;
  return (
    `${Math.round(uptimeS)} s: resident ${mib(n('residentPages'))}/${mib(n('residentLimitPages'))} MiB, ` +
    `swapped ${n('swapUsedSlots')} pages, named ${n('namedResidentPages')}, ` +
    `faults guest/host ${n('hostFaultsInGuest')}/${n('hostFaultsInHost')}, ` +
    `swap read/written ${n('swapReadPages')}/${n('swapWritePages')} pages, disk requests ${n('deviceRequests')}`
  );
}
