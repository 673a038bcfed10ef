import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GuestBalloonStats, HostMemoryStats } from '../policy/balloon-policy.js';
import { parseKbLines, parseKeyValues } from './proc.js';
import { QmpCommandError, type QmpClient } from './qmp.js';

/**
 * The statistics a balloon manager feeds its policy, read from a real host and real QEMUs: the
 * host's memory as MOM's HostMemory collector reads it (or a memory cgroup's, when the guests'
 * "host" is a cgroup), and each guest's as virtio-balloon reports it through QMP.
 */

/** The host's free memory (MemFree + Buffers + Cached, MOM's `mem_free`) from /proc/meminfo, KiB. */
export function hostMemoryFromMeminfo(meminfo: string): { memTotalKiB: number; memFreeKiB: number } {
  const m = parseKbLines(meminfo);
  if (m.MemTotal === undefined) throw new Error('/proc/meminfo: no MemTotal line');
  return {
    memTotalKiB: m.MemTotal,
    memFreeKiB: (m.MemFree ?? 0) + (m.Buffers ?? 0) + (m.Cached ?? 0),
  };
}

/**
 * A memory cgroup as the host: its limit is the memory there is (the host's MemTotal when
 * unlimited), and free is what is under the limit plus the file pages it could drop (MOM counts
 * Cached as free). v1: memory.limit_in_bytes, memory.usage_in_bytes and memory.stat's
 * total_(in)active_file (the hierarchy's); v2: memory.max, memory.current, memory.stat's file.
 */
export function hostMemoryFromCgroup(
  files: { limit: string; usage: string; stat: string; version: 'v1' | 'v2' },
  hostMemTotalKiB: number,
): { memTotalKiB: number; memFreeKiB: number } {
  const limitBytes = files.limit.trim() === 'max' ? Infinity : Number(files.limit.trim());
  const usageBytes = Number(files.usage.trim());
  if (!Number.isFinite(usageBytes)) throw new Error('memory cgroup: unreadable usage');
  const stat = parseKeyValues(files.stat);
  const fileBytes =
    files.version === 'v1'
      ? (stat.total_inactive_file ?? stat.inactive_file ?? 0) +
        (stat.total_active_file ?? stat.active_file ?? 0)
      : (stat.file ?? 0);
  const totalKiB = Math.min(hostMemTotalKiB, limitBytes / 1024);
  return {
    memTotalKiB: totalKiB,
    memFreeKiB: Math.max(0, totalKiB - usageBytes / 1024 + fileBytes / 1024),
  };
}

/** Where a manager reads the host's memory: /proc/meminfo, or a memory cgroup's folder. */
export type HostSource = { kind: 'proc' } | { kind: 'cgroup'; dir: string };

/** Reads the host's statistics at each sample, with swap traffic as deltas of /proc/vmstat. */
export class HostStatsReader {
  private prevIn: number | undefined;
  private prevOut: number | undefined;
  private readonly version: 'v1' | 'v2' | undefined;

  constructor(
    readonly source: HostSource,
    private readonly read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  ) {
    if (source.kind === 'cgroup') {
      const has = (f: string): boolean => {
        try {
          read(join(source.dir, f));
          return true;
        } catch {
          return false;
        }
      };
      this.version = has('memory.limit_in_bytes') ? 'v1' : has('memory.max') ? 'v2' : undefined;
      if (!this.version)
        throw new Error(`${source.dir}: not a memory cgroup (no memory.limit_in_bytes or memory.max)`);
    }
  }

  sample(): HostMemoryStats {
    const meminfo = hostMemoryFromMeminfo(this.read('/proc/meminfo'));
    const src = this.source;
    const mem =
      src.kind === 'proc'
        ? meminfo
        : hostMemoryFromCgroup(
            this.version === 'v1'
              ? {
                  version: 'v1',
                  limit: this.read(join(src.dir, 'memory.limit_in_bytes')),
                  usage: this.read(join(src.dir, 'memory.usage_in_bytes')),
                  stat: this.read(join(src.dir, 'memory.stat')),
                }
              : {
                  version: 'v2',
                  limit: this.read(join(src.dir, 'memory.max')),
                  usage: this.read(join(src.dir, 'memory.current')),
                  stat: this.read(join(src.dir, 'memory.stat')),
                },
            meminfo.memTotalKiB,
          );
    const vm = parseKeyValues(this.read('/proc/vmstat'));
    const pin = vm.pswpin ?? 0;
    const pout = vm.pswpout ?? 0;
    const out: HostMemoryStats = {
      ...mem,
      swapInPages: this.prevIn === undefined ? 0 : pin - this.prevIn,
      swapOutPages: this.prevOut === undefined ? 0 : pout - this.prevOut,
    };
    this.prevIn = pin;
    this.prevOut = pout;
    return out;
  }
}

/** QOM's virtio-balloon types: the device itself and its transports (pci, ccw). */
const BALLOON_TYPE = /^child<virtio-balloon(-pci|-pci-transitional|-pci-non-transitional|-ccw|-device)?>$/;

/** Thrown when a QEMU has no virtio-balloon device (or none QMP can reach). */
export class NoBalloonError extends Error {
  override name = 'NoBalloonError';
}

/**
 * The QOM path of the guest's balloon, whose `guest-stats` properties QEMU exposes (the pci and ccw
 * transports alias them): a device with an id is under /machine/peripheral, one without under
 * /machine/peripheral-anon. Also checks that the balloon is active (`query-balloon`).
 */
export async function findBalloonDevice(qmp: QmpClient): Promise<string> {
  try {
    await qmp.execute('query-balloon');
  } catch (e) {
    if (e instanceof QmpCommandError)
      throw new NoBalloonError(`QMP ${qmp.path}: no virtio-balloon device (${e.desc})`);
    throw e;
  }
  for (const parent of ['/machine/peripheral', '/machine/peripheral-anon']) {
    let children: { name: string; type: string }[];
    try {
      children = await qmp.execute<{ name: string; type: string }[]>('qom-list', { path: parent });
    } catch {
      continue;
    }
    const hit = children.find((c) => BALLOON_TYPE.test(c.type));
    if (hit) return `${parent}/${hit.name}`;
  }
  throw new NoBalloonError(`QMP ${qmp.path}: the balloon is active but not found in QOM under /machine`);
}

/** QEMU's `guest-stats` property: what the guest's driver last reported (-1: not reported). */
export interface QomGuestStats {
  stats: Record<string, number>;
  'last-update': number;
}

/** Cumulative counters of one guest at its previous sample (to report deltas as MOM does). */
export interface GuestCounters {
  swapInBytes: number;
  swapOutBytes: number;
  majorFaults: number;
}

/**
 * One guest's statistics from `query-balloon` (`actual`, bytes), its RAM (`maxBytes`) and the
 * `guest-stats` property; undefined while the guest's driver has reported nothing yet. Swap and
 * major faults are cumulative in the guest and turned into deltas against `prev`.
 */
export function guestStatsFromQmp(
  actualBytes: number,
  maxBytes: number,
  gs: QomGuestStats,
  prev: GuestCounters | undefined,
): { stats: GuestBalloonStats; counters: GuestCounters } | undefined {
  const s = gs.stats;
  const v = (k: string): number | undefined => {
    const x = s[k];
    return typeof x === 'number' && x >= 0 ? x : undefined;
  };
  const free = v('stat-free-memory');
  if (gs['last-update'] === 0 || free === undefined) return undefined;
  const counters: GuestCounters = {
    swapInBytes: v('stat-swap-in') ?? 0,
    swapOutBytes: v('stat-swap-out') ?? 0,
    majorFaults: v('stat-major-faults') ?? 0,
  };
  const d = (k: keyof GuestCounters): number => (prev ? Math.max(0, counters[k] - prev[k]) : 0);
  return {
    stats: {
      balloonCurKiB: actualBytes / 1024,
      balloonMaxKiB: maxBytes / 1024,
      balloonMinKiB: 0,
      memUnusedKiB: free / 1024,
      memAvailableKiB: (v('stat-total-memory') ?? actualBytes) / 1024,
      swapInKiB: d('swapInBytes') / 1024,
      swapOutKiB: d('swapOutBytes') / 1024,
      majorFaults: d('majorFaults'),
    },
    counters,
  };
}
