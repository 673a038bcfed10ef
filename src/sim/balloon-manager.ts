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
  /** Each guest's own swap and major-fault counters at the previous sample. */
  private readonly prevGuest: { swapInPages: number; swapOutPages: number; majorFaults: number }[] = [];

  /**
   * `guestStatsReported`: whether the manager gets the guests' memory statistics (default on).
   * Off models MOM with QEMU 1.2's balloon device alone: QEMU 1.0 to 1.4 answer query-balloon with
   * `actual` only (hw/virtio-balloon.c: virtio_balloon_stat fills info->actual only; the stats were
   * disabled after Red Hat bug 623903), so libvirt's memoryStats() has no `unused` or `available`,
   * MOM's GuestMemory collector returns nothing, and its Monitor (mom/Monitor.py collect(), v0.3.0
   * on) finds the mandatory fields missing ("Incomplete data"), marks the guest not ready and its
   * policy never sees it: no balloon moves, the manager samples the host alone. (Before oVirt/mom
   * f3f02eb, 2013-09-11, its libvirt interface also returned libvirt's key names, never MOM's.)
   *
   * Why on by default: the MOM of 2013 did not need QEMU's balloon statistics. oVirt/mom v0.3.2
   * (1596ce1, 2013-02-28) and v0.4.0 (d79b9d6) ship two guest collectors that read the guest's
   * own /proc/meminfo and /proc/vmstat: GuestQemuAgent (mom/Collectors/GuestQemuAgent.py, since
   * 3bd8ddd, 2011-07-29: through qemu-ga's guest-file-open/-read, mem_unused = MemFree, the quantity
   * modelled here) and GuestNetworkDaemon (mom/Collectors/GuestNetworkDaemon.py with mom-guestd
   * running in the guest, port 2187). Neither is in the default doc/mom-balloon.conf ([guest]
   * collectors: GuestQemuProc, GuestMemory, GuestBalloon), so the paper's authors would have had to
   * name one; that they did is what the paper implies (§5.2: the balloon "responds to guest memory
   * needs belatedly", so it moved), and a balloon that never moves would make the balloon run the
   * baseline. The contradiction (a default MOM with QEMU 1.2 moves nothing; the paper's balloon
   * moved) is the paper's; this switch lets both be run.
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

  /** One guest's statistics as virtio-balloon reports them (swap and faults: since the previous sample). */
  guestStats(i: number): GuestBalloonStats {
    const s = this.m.slots[i]!;
    const c = s.guest.counters;
    const prev = this.prevGuest[i] ?? { swapInPages: 0, swapOutPages: 0, majorFaults: 0 };
    const ramKiB = s.guest.params.believedPages * KIB_PER_PAGE;
    const curKiB = ramKiB - s.guest.balloonPages * KIB_PER_PAGE;
    return {
      balloonCurKiB: curKiB,
      balloonMaxKiB: ramKiB,
      balloonMinKiB: 0,
      memUnusedKiB: s.guest.freePages * KIB_PER_PAGE,
      memAvailableKiB: curKiB,
      swapInKiB: (c.swapReadPages - prev.swapInPages) * KIB_PER_PAGE,
      swapOutKiB: (c.swapWritePages - prev.swapOutPages) * KIB_PER_PAGE,
      majorFaults: c.majorFaults - prev.majorFaults,
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
    for (const s of m.slots) {
      this.policy.observeGuest(String(s.index), this.guestStats(s.index));
      const c = s.guest.counters;
      this.prevGuest[s.index] = {
        swapInPages: c.swapReadPages,
        swapOutPages: c.swapWritePages,
        majorFaults: c.majorFaults,
      };
    }
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
