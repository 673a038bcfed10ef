import type { Metrics } from '../engine/results.js';
import { type Measured, guestMetrics, sysbenchTotalTime } from '../real/guest-workload.js';
import type { BlockStat } from '../real/proc.js';

/** The host's counters around one command: the swap and image loop devices, QEMU's threads, /proc/vmstat. */
export interface HostSample {
  wallMs: number;
  /** The swap loop device's counters; undefined with a plain swap file (then /proc/vmstat counts). */
  swap: BlockStat | undefined;
  image: BlockStat;
  faults: { vcpu: number; other: number; threads: Record<string, number> };
  vm: Record<string, number>;
}

function delta(a: BlockStat, b: BlockStat): BlockStat {
  return {
    readOps: b.readOps - a.readOps,
    readSectors: b.readSectors - a.readSectors,
    writeOps: b.writeOps - a.writeOps,
    writeSectors: b.writeSectors - a.writeSectors,
  };
}

/** The counters of one measured command, from the host's devices, QEMU's threads and the guest. */
export function phaseMetrics(
  m: Pick<Measured<HostSample>, 'a' | 'b' | 'reply' | 'guestBefore' | 'guestAfter'>,
): { metrics: Metrics; notes: string[] } {
  const { a, b, reply } = m;
  const image = delta(a.image, b.image);
  const v = (k: string): number => (b.vm[k] ?? 0) - (a.vm[k] ?? 0);
  const metrics: Metrics = {
    ...guestMetrics(m),
    imageReadOps: image.readOps,
    imageWriteOps: image.writeOps,
    imageReadSectors: image.readSectors,
    imageWriteSectors: image.writeSectors,
    hostFaultsInGuest: b.faults.vcpu - a.faults.vcpu,
    hostFaultsInHost: b.faults.other - a.faults.other,
  };
  if (a.swap && b.swap) {
    // The swap loop device: operations and sectors as the disk saw them.
    const swap = delta(a.swap, b.swap);
    const readOps = swap.readOps + image.readOps;
    const writeOps = swap.writeOps + image.writeOps;
    Object.assign(metrics, {
      diskOps: readOps + writeOps,
      diskReadOps: readOps,
      diskWriteOps: writeOps,
      swapReadOps: swap.readOps,
      swapWriteOps: swap.writeOps,
      swapReadSectors: swap.readSectors,
      swapWriteSectors: swap.writeSectors,
    });
  } else {
    // A plain swap file: pages swapped in and out (host-wide; this run's swap is the only active
    // one it writes to first); operations are not known.
    metrics.swapReadSectors = v('pswpin') * 8;
    metrics.swapWriteSectors = v('pswpout') * 8;
  }
  const byThread = Object.entries(b.faults.threads)
    .map(([t, n]) => [t, n - (a.faults.threads[t] ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  const notes = [
    `host wall ${((b.wallMs - a.wallMs) / 1000).toFixed(2)} s; host vmstat pswpin ${v('pswpin')} pswpout ${v('pswpout')}`,
    `QEMU major faults by thread: ${byThread || 'none'}`,
  ];
  const st = sysbenchTotalTime(reply.lines);
  if (st !== undefined) notes.push(`sysbench total time ${st} s`);
  return { metrics, notes };
}
