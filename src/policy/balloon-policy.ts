/**
 * A balloon manager's decision, apart from any I/O: statistics in, balloon targets out. The caller
 * (the simulator's multi-guest host, or a daemon speaking QMP to real QEMUs) samples the host and
 * each guest every `statsIntervalS`, calls `decide` every `policyIntervalS`, and carries the targets
 * out. A policy never reads a clock: time is how often it is called. Another policy (one that reacts
 * to swap activity, say) implements the same interface and can be compared in the same runs.
 */

/** The host's memory, as MOM's HostMemory collector reads /proc/meminfo and /proc/vmstat. */
export interface HostMemoryStats {
  /** MemTotal (MOM's `mem_available`), KiB. */
  memTotalKiB: number;
  /** MemFree + Buffers + Cached (MOM's `mem_free`), KiB. */
  memFreeKiB: number;
  /** Pages the host swapped in / out since the previous sample (pswpin / pswpout deltas). */
  swapInPages: number;
  swapOutPages: number;
}

/**
 * One guest, as virtio-balloon and the balloon device report it (QMP `query-balloon` and the
 * `guest-stats` property; libvirt's memoryStats and domain info), all in KiB.
 */
export interface GuestBalloonStats {
  /** Memory the guest has now: its RAM minus the balloon (`actual`; libvirt/MOM `balloon_cur`). */
  balloonCurKiB: number;
  /** Its RAM, the most it can have (`balloon_max`). */
  balloonMaxKiB: number;
  /** The least it is guaranteed (libvirt's memtune/min_guarantee; 0 when absent, as MOM reads it). */
  balloonMinKiB: number;
  /** VIRTIO_BALLOON_S_MEMFREE: memory the guest leaves unused, caches not counted (`mem_unused`). */
  memUnusedKiB: number;
  /** VIRTIO_BALLOON_S_MEMTOT: memory the guest's kernel manages (`mem_available`). */
  memAvailableKiB: number;
  /** VIRTIO_BALLOON_S_SWAP_IN / _OUT since the previous sample, KiB (the guest's own swap). */
  swapInKiB: number;
  swapOutKiB: number;
  /** VIRTIO_BALLOON_S_MAJFLT since the previous sample. */
  majorFaults: number;
}

/** What a policy decided at one evaluation: a new balloon target (memory the guest should have). */
export interface BalloonTarget {
  guest: string;
  /** The memory the guest should end with, KiB (QMP `balloon` takes it in bytes). */
  targetKiB: number;
}

export interface BalloonPolicy {
  readonly name: string;
  /** How often the caller samples statistics, seconds. */
  readonly statsIntervalS: number;
  /** How often the caller calls `decide`, seconds. */
  readonly policyIntervalS: number;
  observeHost(s: HostMemoryStats): void;
  observeGuest(guest: string, s: GuestBalloonStats): void;
  /** The guest is gone: its history is dropped. */
  forgetGuest(guest: string): void;
  /** One evaluation over everything observed so far; guests absent from the result keep their balloon. */
  decide(): BalloonTarget[];
}

/** The mean of the last `length` samples of each field (MOM's StatAvg over its sample history). */
export class StatHistory<T extends object> {
  private readonly samples: T[] = [];
  constructor(readonly length: number) {
    if (!(Number.isInteger(length) && length > 0))
      throw new RangeError(`sample history length: must be a positive integer, got ${length}`);
  }
  push(s: T): void {
    this.samples.push(s);
    if (this.samples.length > this.length) this.samples.shift();
  }
  get latest(): T | undefined {
    return this.samples[this.samples.length - 1];
  }
  get size(): number {
    return this.samples.length;
  }
  avg(field: { [K in keyof T]: T[K] extends number ? K : never }[keyof T]): number {
    if (this.samples.length === 0) return 0;
    let sum = 0;
    for (const s of this.samples) sum += s[field] as number;
    return sum / this.samples.length;
  }
}
