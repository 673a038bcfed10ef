/**
 * Several VMs under one host-wide limit: each VM's pager keeps its own resident limit, and this
 * decides those limits from what every VM did in the last interval. No I/O and no clock: the
 * arbiter (`vswapper host`) calls `decideHostLimits` once a tick with each VM's stats and carries
 * the limits out through the VMs' control sockets.
 *
 * What it models is Linux's global reclaim over memory cgroups (mm/vmscan.c): when the node runs
 * short, `shrink_node_memcgs` reclaims from every cgroup, each in proportion to the size of its
 * LRU lists (`get_scan_count`: `lruvec_size >> sc->priority`), except below its protection
 * (`memory.min`, `mem_cgroup_protection`), and a cgroup whose pages refault gets them back as new
 * charges, putting the pressure back on the others. So memory flows from the cgroups that do not
 * fault (their pages are cold: nobody asks for them again) to those that do. Here:
 *
 * - a VM's **floor** (`memory.min`) is the least its pager accepts: the virtqueue's pages, which a
 *   disk request in flight may hold pinned (the control protocol's floor);
 * - its **demand** is what it holds plus what it lacked: resident pages plus the pages it faulted in
 *   during the interval (major faults from swap or the image, and zero fills), at most its memory
 *   and at least its floor. A VM whose working set fits faults little, so its demand is what it
 *   holds; a VM that thrashes asks, through its faults, for what reclaim took from it;
 * - when the demands fit under the host limit, each VM gets its demand plus a share of what is left
 *   in proportion to the room it could still grow into (its memory minus its demand), so no page of
 *   the host limit lies unused while a VM could use it;
 * - when they do not, each VM gets its floor plus a share of the rest in proportion to its demand
 *   above the floor: the proportional reclaim above, where a VM's size now counts its faults too.
 *
 * The limits sum to at most the host limit (rounded down, never up), each within [floor, memory].
 */

/** One VM as its control socket reports it (`query-status`, `query-stats`), all in 4 KiB pages. */
export interface VmMemoryStats {
  /** The guest's RAM: the highest limit. */
  memoryPages: number;
  /** The lowest limit its pager accepts. */
  floorPages: number;
  /** Pages the pager holds in guest RAM now. */
  residentPages: number;
  /** Pages it faulted in since the previous tick (major faults and zero fills). */
  faultedPages: number;
}

/** A decision: each VM's new limit (same order as the input), and why. */
export interface HostLimitsDecision {
  limitsPages: number[];
  /** Each VM's demand as computed above. */
  demandsPages: number[];
  /** 'fits': every demand met, the slack shared; 'short': the demands above the floors scaled down. */
  regime: 'fits' | 'short';
}

/** The host limit cannot hold every VM's floor: the arbiter refuses to start (or drops a VM). */
export class HostLimitTooLowError extends Error {
  override name = 'HostLimitTooLowError';
}

/**
 * A test-only seam: a bug planted on purpose to prove the checks catch it. 'round-up' rounds the
 * shares up instead of down (the limits can then sum above the host limit).
 */
export type HostLimitsPlantedBug = 'round-up';

/** Shares `total` in proportion to `weights`, rounded down (the sum never exceeds `total`). */
function proportional(total: number, weights: readonly number[], bug?: HostLimitsPlantedBug): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0 || total <= 0) return weights.map(() => 0);
  const round = bug === 'round-up' ? Math.ceil : Math.floor;
  return weights.map((w) => round((total * w) / sum));
}

/**
 * What every decision must satisfy, as problems (empty when none): the limits sum to at most the
 * host limit, and each is a whole number within [floor, memory]. The arbiter checks every decision
 * before it applies one; the tests check it on hand-made and random inputs.
 */
export function hostLimitsProblems(
  hostLimitPages: number,
  vms: readonly VmMemoryStats[],
  limitsPages: readonly number[],
): string[] {
  const problems: string[] = [];
  if (limitsPages.length !== vms.length) problems.push(`${limitsPages.length} limits for ${vms.length} VMs`);
  const sum = limitsPages.reduce((a, b) => a + b, 0);
  if (sum > hostLimitPages)
    problems.push(`the limits sum to ${sum} pages, above the host's ${hostLimitPages}`);
  for (const [i, l] of limitsPages.entries()) {
    const v = vms[i];
    if (!v) continue;
    if (!Number.isSafeInteger(l) || l < v.floorPages || l > v.memoryPages)
      problems.push(`VM ${i}: limit ${l} is outside [${v.floorPages}, ${v.memoryPages}]`);
  }
  return problems;
}

export function decideHostLimits(
  hostLimitPages: number,
  vms: readonly VmMemoryStats[],
  plantedBug?: HostLimitsPlantedBug,
): HostLimitsDecision {
  if (!Number.isSafeInteger(hostLimitPages) || hostLimitPages < 0)
    throw new RangeError(`host limit must be a whole number of pages, got ${hostLimitPages}`);
  for (const [i, v] of vms.entries())
    if (
      !(v.floorPages >= 0 && v.floorPages <= v.memoryPages) ||
      !(v.residentPages >= 0 && v.faultedPages >= 0)
    )
      throw new RangeError(`VM ${i}: inconsistent stats ${JSON.stringify(v)}`);
  const floorSum = vms.reduce((a, v) => a + v.floorPages, 0);
  if (floorSum > hostLimitPages)
    throw new HostLimitTooLowError(
      `the host limit (${hostLimitPages} pages) is below the sum of the VMs' floors (${floorSum} pages)`,
    );
  const demands = vms.map((v) =>
    Math.max(v.floorPages, Math.min(v.memoryPages, v.residentPages + v.faultedPages)),
  );
  const demandSum = demands.reduce((a, b) => a + b, 0);
  if (demandSum <= hostLimitPages) {
    const room = vms.map((v, i) => v.memoryPages - demands[i]!);
    const extra = proportional(hostLimitPages - demandSum, room, plantedBug);
    return {
      limitsPages: demands.map((d, i) => Math.min(vms[i]!.memoryPages, d + extra[i]!)),
      demandsPages: demands,
      regime: 'fits',
    };
  }
  const above = proportional(
    hostLimitPages - floorSum,
    demands.map((d, i) => d - vms[i]!.floorPages),
    plantedBug,
  );
  return {
    limitsPages: vms.map((v, i) => v.floorPages + above[i]!),
    demandsPages: demands,
    regime: 'short',
  };
}
