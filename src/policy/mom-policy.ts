import {
  type BalloonPolicy,
  type BalloonTarget,
  type GuestBalloonStats,
  type HostMemoryStats,
  StatHistory,
} from './balloon-policy.js';

/**
 * The parameters of oVirt MOM's default auto-balloon policy, with the values of its
 * doc/balloon.rules (the `defvar` constants at its top) and doc/mom-balloon.conf ([main] section).
 */
export interface MomParams {
  /** balloon.rules `pressure_threshold` 0.20: host free memory below this fraction is pressure. */
  pressureThreshold: number;
  /** balloon.rules `pressure_critical` 0.05: at or below this, guests are pushed into swapping. */
  pressureCritical: number;
  /** balloon.rules `min_guest_free_percent` 0.20: free memory an unconstrained guest keeps. */
  minGuestFreePercent: number;
  /** balloon.rules `max_balloon_change_percent` 0.05: most a guest's memory moves per decision. */
  maxBalloonChangePercent: number;
  /** balloon.rules `min_balloon_change_percent` 0.0025: smaller changes are not worth making. */
  minBalloonChangePercent: number;
  /** mom-balloon.conf `host-monitor-interval` / `guest-monitor-interval`: 5 s. */
  statsIntervalS: number;
  /** mom-balloon.conf `policy-engine-interval`: 10 s. */
  policyIntervalS: number;
  /** mom-balloon.conf `sample-history-length`: moving averages over 10 samples. */
  sampleHistoryLength: number;
}

export const MOM_DEFAULTS: MomParams = {
  pressureThreshold: 0.2,
  pressureCritical: 0.05,
  minGuestFreePercent: 0.2,
  maxBalloonChangePercent: 0.05,
  minBalloonChangePercent: 0.0025,
  statsIntervalS: 5,
  policyIntervalS: 10,
  sampleHistoryLength: 10,
};

/**
 * MOM's default balloon.rules, decision for decision. Under host pressure (free below 20 %) every
 * guest shrinks fairly: by at most 5 % of its current memory, but never below what it uses
 * (averaged) plus a free margin scaled by the pressure, or a little into swap when pressure is
 * critical. Without pressure every ballooned guest grows back by 5 % per decision, at least to what
 * it uses plus 20 % free, at most to its full memory.
 *
 * The rules as oVirt/mom has them since 8974f3d ("policy: Fix balloon policy syntax and semantics",
 * 2013-09-20, in every release from v0.4.0 on) and e0f3d3b (2013-11-26): `balloon_min` is
 * max(guest.balloon_min, used + free margin), a floor; libvirt reports balloon_min (the domain's
 * memtune min_guarantee) as 0 when the domain XML has none, so the floor is used + margin. Before
 * June 2013 (v0.3.1 and earlier) the floor was used + margin alone, the same decisions. Only the
 * v0.3.2 tags (July 2013) had min(), which that fix calls a bug: with min_guarantee 0 it removed
 * the floor, leaving only the 5 % step, so MOM ballooned guests below what they used; that version
 * also failed at run time in grow_guest (an undefined guest_free_percent), so it never grew one.
 */
export class MomBalloonPolicy implements BalloonPolicy {
  readonly name = 'mom';
  readonly statsIntervalS: number;
  readonly policyIntervalS: number;
  private readonly host: StatHistory<HostMemoryStats>;
  private readonly guests = new Map<string, StatHistory<GuestBalloonStats>>();

  constructor(readonly params: MomParams = MOM_DEFAULTS) {
    if (!(params.pressureCritical >= 0 && params.pressureCritical < params.pressureThreshold))
      throw new RangeError('MOM policy: pressureCritical must be within [0, pressureThreshold)');
    if (!(params.maxBalloonChangePercent > 0 && params.maxBalloonChangePercent < 1))
      throw new RangeError('MOM policy: maxBalloonChangePercent must be within (0, 1)');
    if (!(params.statsIntervalS > 0 && params.policyIntervalS > 0))
      throw new RangeError('MOM policy: the intervals must be positive');
    this.statsIntervalS = params.statsIntervalS;
    this.policyIntervalS = params.policyIntervalS;
    this.host = new StatHistory(params.sampleHistoryLength);
  }

  observeHost(s: HostMemoryStats): void {
    this.host.push(s);
  }

  observeGuest(guest: string, s: GuestBalloonStats): void {
    let h = this.guests.get(guest);
    if (!h) this.guests.set(guest, (h = new StatHistory(this.params.sampleHistoryLength)));
    h.push(s);
  }

  forgetGuest(guest: string): void {
    this.guests.delete(guest);
  }

  /** The host's free fraction as the rules compute it: StatAvg(mem_free) / latest mem_available. */
  hostFreeFraction(): number {
    const latest = this.host.latest;
    if (!latest || latest.memTotalKiB <= 0) return 1;
    return this.host.avg('memFreeKiB') / latest.memTotalKiB;
  }

  decide(): BalloonTarget[] {
    if (!this.host.latest) return [];
    const p = this.params;
    const hostFree = this.hostFreeFraction();
    const pressure = hostFree < p.pressureThreshold;
    // shrink_guest: critical pressure makes the free margin negative (the guest must swap);
    // otherwise the margin shrinks in proportion to the host's free memory.
    const shrinkFree =
      hostFree <= p.pressureCritical
        ? -0.05 + hostFree
        : p.minGuestFreePercent * (hostFree / p.pressureThreshold);
    const out: BalloonTarget[] = [];
    for (const [guest, h] of this.guests) {
      const g = h.latest;
      if (!g) continue;
      const cur = g.balloonCurKiB;
      const used = h.avg('balloonCurKiB') - h.avg('memUnusedKiB');
      let size: number;
      if (pressure) {
        const floor = Math.max(g.balloonMinKiB, used + shrinkFree * cur);
        size = Math.max(cur * (1 - p.maxBalloonChangePercent), floor);
        if (!(size <= cur)) continue;
      } else {
        if (!(cur < g.balloonMaxKiB)) continue;
        const floor = Math.max(g.balloonMinKiB, used + p.minGuestFreePercent * cur);
        size = cur * (1 + p.maxBalloonChangePercent);
        if (size < floor) size = floor;
        // e0f3d3b: the cap at balloon_max comes last, so a large floor cannot exceed it.
        if (size > g.balloonMaxKiB) size = g.balloonMaxKiB;
      }
      // change_big_enough: strictly more than 0.25 % of the current memory.
      if (Math.abs(size - cur) > p.minBalloonChangePercent * cur) out.push({ guest, targetKiB: size });
    }
    return out;
  }
}
