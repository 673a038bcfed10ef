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
 * guest shrinks fairly: by at most 5 % of its current memory, down to what it uses (averaged) plus a
 * free margin scaled by the pressure, or into swap when pressure is critical. Without pressure every
 * ballooned guest grows back by 5 % per decision, at least to what it uses plus 20 % free.
 *
 * Two readings of the rules, kept as MOM does them: `balloon_min` is min(min_guarantee, used + free
 * margin), and libvirt reports min_guarantee as 0 when the domain has none, so with the default
 * domain XML the floor is 0 and only the 5 % step limits a shrink. And grow_guest refers to
 * `guest_free_percent`, which only shrink_guest defines (a local of its scope in MOM's evaluator);
 * we use `min_guest_free_percent`, which is what the comment above it says it wants.
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
        const floor = Math.min(g.balloonMinKiB, used + shrinkFree * cur);
        size = Math.max(cur * (1 - p.maxBalloonChangePercent), floor);
        if (!(size <= cur)) continue;
      } else {
        if (!(cur < g.balloonMaxKiB)) continue;
        const floor = Math.min(g.balloonMinKiB, used + p.minGuestFreePercent * cur);
        size = Math.min(cur * (1 + p.maxBalloonChangePercent), g.balloonMaxKiB);
        if (size < floor) size = floor;
      }
      // change_big_enough: strictly more than 0.25 % of the current memory.
      if (Math.abs(size - cur) > p.minBalloonChangePercent * cur) out.push({ guest, targetKiB: size });
    }
    return out;
  }
}
