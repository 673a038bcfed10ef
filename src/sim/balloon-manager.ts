import { PAGE_SIZE_BYTES } from '../core/index.js';
import type { BalloonPolicy, GuestBalloonStats } from '../policy/balloon-policy.js';
import type { MultiMachine } from './multi-machine.js';

const KIB_PER_PAGE = PAGE_SIZE_BYTES / 1024;

/** One policy decision, as the timeline records it. */
export interface BalloonDecision {
  tNs: number;
  guest: number;
  targetPages: number;
}

/**
 * The balloon manager daemon of the simulated host (MOM's main loop): every `statsIntervalS` it
 * reads the host's memory and each guest's virtio-balloon statistics, every `policyIntervalS` it
 * asks the policy and sets the targets it returns on the guests' balloons. All the deciding is the
 * policy's; this only carries statistics in and targets out on the simulated clock.
 */
export class SimBalloonManager {
  readonly decisions: BalloonDecision[] = [];
  private prevSwapIn = 0;
  private prevSwapOut = 0;

  /**
   * `guestStatsReported`: whether QEMU hands the guests' virtio-balloon statistics on (QMP
   * `guest-stats`, QEMU 1.5 on; the default here). QEMU 1.0 to 1.4, the paper's 1.2 among them,
   * answer query-balloon with `actual` alone (hw/virtio-balloon.c: virtio_balloon_stat fills
   * info->actual only; the stats were disabled after Red Hat bug 623903), so libvirt's memoryStats()
   * has no `unused` or `available`, and MOM (mom/Monitor.py collect(), v0.3.0 on) finds its
   * mandatory mem_* fields missing ("Incomplete data"), marks the guest not ready, and its policy
   * never sees the guest: no balloon is moved. (Before oVirt/mom f3f02eb, 2013-09-11, its libvirt
   * interface also returned libvirt's key names, never MOM's, with the same outcome.) Off, the
   * manager samples the host alone, as MOM did with that QEMU.
   */
  constructor(
    private readonly m: MultiMachine,
    private readonly policy: BalloonPolicy,
    private readonly guestStatsReported = true,
  ) {}

  start(): void {
    const statsNs = this.policy.statsIntervalS * 1e9;
    const policyNs = this.policy.policyIntervalS * 1e9;
    const sample = (): void => {
      if (this.m.stopping) return;
      this.sample();
      this.m.events.after(statsNs, sample);
    };
    const decide = (): void => {
      if (this.m.stopping) return;
      this.decide();
      this.m.events.after(policyNs, decide);
    };
    sample();
    this.m.events.after(policyNs, decide);
  }

  /** One guest's statistics as virtio-balloon reports them (the guest's own swap is not modelled: 0). */
  guestStats(i: number): GuestBalloonStats {
    const s = this.m.slots[i]!;
    const ramKiB = s.guest.params.believedPages * KIB_PER_PAGE;
    const curKiB = ramKiB - s.guest.balloonPages * KIB_PER_PAGE;
    return {
      balloonCurKiB: curKiB,
      balloonMaxKiB: ramKiB,
      balloonMinKiB: 0,
      memUnusedKiB: s.guest.freePages * KIB_PER_PAGE,
      memAvailableKiB: curKiB,
      swapInKiB: 0,
      swapOutKiB: 0,
      majorFaults: 0,
    };
  }

  private sample(): void {
    const m = this.m;
    let swapIn = 0;
    let swapOut = 0;
    for (const s of m.slots) {
      swapIn += s.core.counters.swapReadPages;
      swapOut += s.core.counters.swapWritePages;
    }
    this.policy.observeHost({
      memTotalKiB: m.hostPages * KIB_PER_PAGE,
      // MemFree + Buffers + Cached: VSwapper's image-backed guest pages are page cache.
      memFreeKiB: (m.reclaim.freePages + m.hostCachedPages) * KIB_PER_PAGE,
      swapInPages: swapIn - this.prevSwapIn,
      swapOutPages: swapOut - this.prevSwapOut,
    });
    this.prevSwapIn = swapIn;
    this.prevSwapOut = swapOut;
    if (!this.guestStatsReported) return;
    for (const s of m.slots) this.policy.observeGuest(String(s.index), this.guestStats(s.index));
  }

  private decide(): void {
    for (const t of this.policy.decide()) {
      const i = Number(t.guest);
      const s = this.m.slots[i]!;
      const targetPages = s.guest.params.believedPages - Math.round(t.targetKiB / KIB_PER_PAGE);
      this.decisions.push({ tNs: this.m.events.nowNs, guest: i, targetPages });
      s.balloon.setTarget(targetPages);
    }
  }
}
