import {
  DEFAULT_CORE_TUNABLES,
  MemoryCore,
  type PlantedBug,
  type SwapArea,
  type SwapReadaheadName,
} from '../core/index.js';
import { MIB, SECTORS_PER_PAGE, pagesFromMiB } from '../core/index.js';
import type { ConfigName, Metrics } from '../engine/results.js';
import { type CpuCosts, QEMU_1_2, type VmmBehaviour, XEON_E5_2420_KVM } from './costs.js';
import { DataPlane } from './data-plane.js';
import { CONSTELLATION_ES_2TB, Hdd, type HddParams } from './disk/hdd.js';
import type { DiskModel } from './disk/model.js';
import { DiskQueue, STREAMS, type StreamStats } from './disk/queue.js';
import { SATA_SSD_2013, Ssd, type SsdParams } from './disk/ssd.js';
import { EventQueue } from './event-queue.js';
import { type GuestFileSpec, GuestOs, type GuestParams, type Program } from './guest/guest-os.js';
import { type GuestOsKind, createGuestOs, defaultAsyncPageFaults } from './guest/guest-model.js';
import { PageReporter } from './guest/page-reporting.js';
import { Host } from './host.js';
import { Rng } from './rng.js';
import { memmapMiB } from './host-overhead.js';

/** What a configuration switches on (the paper's §5 list, and the extra configurations). */
export interface ConfigMechanisms {
  mapper: boolean;
  preventer: boolean;
  balloon: boolean;
  /** The guest reports its free pages to the host, which discards them (guest/page-reporting.ts). */
  freePageReporting: boolean;
}

const NONE = { mapper: false, preventer: false, balloon: false, freePageReporting: false } as const;

export const CONFIG_MECHANISMS: Record<ConfigName, ConfigMechanisms> = {
  baseline: NONE,
  balloon: { ...NONE, balloon: true },
  mapper: { ...NONE, mapper: true },
  vswapper: { ...NONE, mapper: true, preventer: true },
  'balloon+vswapper': { ...NONE, mapper: true, preventer: true, balloon: true },
  'balloon+mapper': { ...NONE, mapper: true, balloon: true },
  'baseline+fpr': { ...NONE, freePageReporting: true },
};

export interface DiskSpec {
  kind: 'hdd' | 'ssd';
  hdd?: Partial<HddParams>;
  ssd?: Partial<SsdParams>;
}

export interface MachineSpec {
  seed: number;
  config: ConfigName;
  guestBelievedMiB: number;
  guestActualMiB: number;
  guestKernelMiB: number;
  /** Background page touches per second by the guest kernel and daemons (see GuestParams). */
  guestBackgroundTouchesPerSec: number;
  /** The guest's swap partition (0: none). */
  guestSwapMiB: number;
  /**
   * The guest enables KVM's asynchronous page faults (Linux guests on KVM do, by default). Its
   * user threads then keep running while the host faults a page in, and the host faults every page
   * it swaps in for the vCPU as a write (see the core's asyncPfWriteFaults).
   */
  guestAsyncPageFaults?: boolean;
  /** The guest operating system (default 'linux'; 'windows': §5.4, see guest/windows-os.ts). */
  guestOs?: GuestOsKind;
  /** Windows guests: 512-byte requests per second (default: guest/windows-params.ts). */
  guestSectorIoPerSec?: number;
  /** Compaction: anonymous pages the guest migrates per second (0: none, the default). */
  guestCompactionPagesPerSec?: number;
  imageMiB: number;
  swapMiB: number;
  /** How the host's swap-ins choose the pages read with the faulting one (default: the core's, 'cluster'). */
  swapReadahead?: SwapReadaheadName;
  disk: DiskSpec;
  costs: CpuCosts;
  vmm: VmmBehaviour;
  files: GuestFileSpec[];
  /** Tests only: a rule of the core broken on purpose (see CoreConfig.plantedBug). */
  plantedBug?: PlantedBug;
}

/** The paper's host and guest (§5), shared by every experiment that does not say otherwise. */
export const PAPER_MACHINE: Omit<MachineSpec, 'config' | 'files' | 'guestActualMiB'> = {
  seed: 1,
  guestBelievedMiB: 512,
  // Ubuntu 12.04 server with 512 MB: kernel, memmap, slab and daemons take about 40 MB.
  guestKernelMiB: 40,
  // A busy guest's kernel threads, timers and daemons: on the order of a thousand distinct page
  // touches a second (an estimate, not measured). An idle guest touches far fewer, measured: see
  // GuestOs.idleTouches.
  guestBackgroundTouchesPerSec: 1000,
  // No swap partition in the guest: Ubuntu 12.04 cloud images ship without one, and the paper's
  // ballooned guests killed workloads (Figs. 5, 10, 13) at sizes where a RAM-sized swap partition
  // would have let them swap instead. Experiments may give the guest one (`guest.swapMiB`).
  guestSwapMiB: 0,
  imageMiB: 20 * 1024,
  // The paper does not give it. Ubuntu 12.04's guided partitioning (partman-auto's atomic recipe)
  // sizes swap from RAM, up to 300% of it with RAM capped at 1 GiB: 3 GiB. Any area more than
  // twice what this guest swaps (about 0.45 GiB) behaves the same; a smaller one makes Linux give
  // up the slots of pages swapped in (vm_swap_full), which changes the results (see README).
  swapMiB: 3 * 1024,
  disk: { kind: 'hdd', hdd: CONSTELLATION_ES_2TB },
  costs: XEON_E5_2420_KVM,
  vmm: QEMU_1_2,
};

/** No experiment of the paper runs for more than an hour; a day means the guest is stuck. */
const MAX_SIMULATED_NS = 24 * 3.6e12;

export interface Snapshot {
  timeNs: number;
  core: Record<string, number>;
  disk: Record<string, number>;
  guestViolations: number;
  guestMajorFaults: number;
  guestSwapWritePages: number;
  guestSwapReadPages: number;
}

/** One simulated host with one guest, built from a spec; drive it with `run`. */
export class Machine {
  readonly events = new EventQueue();
  readonly core: MemoryCore;
  readonly host: Host;
  readonly guest: GuestOs;
  readonly disk: DiskQueue;
  readonly mechanisms: ConfigMechanisms;
  /** The guest's free page reporting worker, in the configurations that have it. */
  readonly pageReporter: PageReporter | undefined;
  readonly notes: string[] = [];
  /** The cgroup limit of the experiment: the guest's actual memory plus QEMU's own code. */
  readonly cgroupLimitPages: number;

  constructor(readonly spec: MachineSpec) {
    this.mechanisms = CONFIG_MECHANISMS[spec.config];
    const guestKind = spec.guestOs ?? 'linux';
    if (this.mechanisms.freePageReporting && guestKind !== 'linux')
      throw new RangeError(
        `${spec.config}: free page reporting is a Linux guest's (mm/page_reporting.c); the ${guestKind} guest has none`,
      );
    const asyncPf = spec.guestAsyncPageFaults ?? defaultAsyncPageFaults(guestKind);
    const guestPages = pagesFromMiB(spec.guestBelievedMiB);
    const actualPages = pagesFromMiB(spec.guestActualMiB);
    if (actualPages > guestPages)
      throw new RangeError(
        `guestActualMiB (${spec.guestActualMiB}) exceeds guestBelievedMiB (${spec.guestBelievedMiB})`,
      );
    const imageBlocks = pagesFromMiB(spec.imageMiB);
    const swapSlots = pagesFromMiB(spec.swapMiB);
    const vmmPages = spec.vmm.codePages;
    this.cgroupLimitPages = actualPages + vmmPages;
    // Unconstrained until the experiment applies the cgroup limit (see runSim).
    this.core = simCore({ ...spec, guestAsyncPageFaults: asyncPf }, this.mechanisms, {
      guestPages,
      vmmPages,
      imageBlocks,
      swapSlots,
    });
    const model: DiskModel =
      spec.disk.kind === 'hdd' ? new Hdd(spec.disk.hdd) : new Ssd({ ...SATA_SSD_2013, ...spec.disk.ssd });
    this.disk = new DiskQueue(model, this.events);
    const cap = model.capacitySectors;
    const imageSectors = imageBlocks * SECTORS_PER_PAGE;
    const swapSectors = swapSlots * SECTORS_PER_PAGE;
    // One root file system at the start of the disk: QEMU's binary, then the image file, then the
    // swap file right after it.
    const layout = {
      vmmStartSector: (1024 * MIB) / 512,
      imageStartSector: (8 * 1024 * MIB) / 512,
      swapStartSector: (8 * 1024 * MIB) / 512 + imageSectors,
    };
    if (layout.swapStartSector + swapSectors > cap)
      throw new RangeError('disk: image and swap area do not fit on the disk');
    const data = new DataPlane(guestPages + vmmPages, swapSlots, imageBlocks, vmmPages, guestPages);
    const rng = new Rng(spec.seed);
    this.host = new Host(this.events, this.core, data, this.disk, layout, spec.costs, spec.vmm, rng);
    this.guest = createGuestOs(guestKind, {
      params: guestOsParams(spec, guestPages, {
        swapPages: pagesFromMiB(spec.guestSwapMiB),
        asyncPageFaults: asyncPf,
      }),
      events: this.events,
      host: this.host,
      // The host is the guest's virtio-balloon device too.
      balloonPort: this.host,
      costs: spec.costs,
      files: spec.files,
      imageBlocks,
      rng: new Rng(spec.seed ^ 0x5bd1e995),
      workloadRng: new Rng(spec.seed ^ 0x2545f491),
      ...(spec.guestSectorIoPerSec !== undefined ? { sectorIoPerSec: spec.guestSectorIoPerSec } : {}),
    });
    this.pageReporter = this.mechanisms.freePageReporting
      ? new PageReporter(this.guest, this.host, this.guest.params.lowFreePages)
      : undefined;
  }

  /** Runs `program` as the guest's only thread to completion; throws if the simulation stalls. */
  run(program: Program): void {
    let done = false;
    this.guest.spawn(program, () => {
      done = true;
      this.guest.stop();
    });
    this.guest.spawn(this.guest.background(() => done));
    const compaction = this.spec.guestCompactionPagesPerSec ?? 0;
    if (compaction > 0) this.guest.spawnKernelThread(this.guest.compactionThread(compaction));
    if (this.pageReporter) this.guest.spawnKernelThread(this.pageReporter.run());
    this.host.startMainLoop();
    while (!done) {
      if (!this.events.step()) {
        this.core.assertProgress();
        throw new Error('simulation stalled: the guest waits but nothing is scheduled');
      }
      if (this.events.nowNs > MAX_SIMULATED_NS) {
        // Timers keep a deadlocked guest's clock running: give up instead of running forever.
        throw new Error(
          `simulation passed ${MAX_SIMULATED_NS / 3.6e12} h of virtual time without the workload finishing`,
        );
      }
    }
    this.host.stop();
  }

  snapshot(): Snapshot {
    const disk: Record<string, number> = {};
    for (const s of STREAMS) {
      const stats: Readonly<Record<keyof StreamStats, number>> = this.disk.stats[s];
      for (const k of Object.keys(stats) as (keyof StreamStats)[]) disk[`${s}.${k}`] = stats[k];
    }
    return {
      timeNs: this.guest.nowNs,
      core: this.core.counters.snapshot(),
      disk,
      guestViolations: this.guest.counters.integrityViolations,
      guestMajorFaults: this.guest.counters.majorFaults,
      guestSwapWritePages: this.guest.counters.swapWritePages,
      guestSwapReadPages: this.guest.counters.swapReadPages,
    };
  }

  /** The memory census Fig. 15 plots: the guest's page cache, its dirty part, what the Mapper tracks. */
  memorySample(): Metrics {
    const cache = this.guest.pageCachePages;
    const dirty = this.guest.cache.dirtyPages;
    return {
      guestPageCachePages: cache,
      guestCleanPageCachePages: cache - dirty,
      guestDirtyPages: dirty,
      mapperTrackedPages: this.core.census().mapperTracked,
    };
  }

  /** The paper's counters between two snapshots (plus the resident census at the end). */
  metricsBetween(a: Snapshot, b: Snapshot): Metrics {
    const c = (k: string): number => (b.core[k] ?? 0) - (a.core[k] ?? 0);
    const d = (k: string): number => (b.disk[k] ?? 0) - (a.disk[k] ?? 0);
    const readOps = d('image.readOps') + d('swap.readOps') + d('vmm.readOps');
    const writeOps = d('image.writeOps') + d('swap.writeOps') + d('vmm.writeOps');
    const census = this.core.census();
    const runs = c('swapReadRuns');
    return {
      runtimeS: (b.timeNs - a.timeNs) / 1e9,
      diskOps: readOps + writeOps,
      diskReadOps: readOps,
      diskWriteOps: writeOps,
      swapReadOps: d('swap.readOps'),
      swapWriteOps: d('swap.writeOps'),
      imageReadOps: d('image.readOps'),
      imageWriteOps: d('image.writeOps'),
      swapReadSectors: d('swap.readSectors'),
      swapWriteSectors: d('swap.writeSectors'),
      imageReadSectors: d('image.readSectors'),
      imageWriteSectors: d('image.writeSectors'),
      staleSwapReads: c('staleSwapReads'),
      falseSwapReads: c('falseSwapReads'),
      silentSwapWrites: c('silentSwapWrites'),
      hostFaultsInGuest: c('hostFaultsInGuest'),
      hostFaultsInHost: c('hostFaultsInHost'),
      hostFaultsVmm: c('hostFaultsVmm'),
      swapReadFaults: c('swapReadOps'),
      swapReadRunLengthMean: runs > 0 ? c('swapReadPages') / runs : 0,
      pagesScanned: c('pagesScanned'),
      namedResidentPages: census.namedResident,
      anonResidentPages: census.anonResident,
      mapperTrackedPages: census.mapperTracked,
      namedCowFaults: c('namedCowFaults'),
      balloonPages: this.guest.balloonPages,
      preventerRemaps: c('preventerRemaps'),
      preventerEmulatedPages: c('preventerEmulatedPages'),
      preventerFallbacks: c('preventerFallbacks'),
      guestMajorFaults: b.guestMajorFaults - a.guestMajorFaults,
      guestPageCachePages: this.guest.pageCachePages,
      guestCleanPageCachePages: this.guest.pageCachePages - this.guest.cache.dirtyPages,
      guestDirtyPages: this.guest.cache.dirtyPages,
      guestSwapWritePages: b.guestSwapWritePages - a.guestSwapWritePages,
      guestSwapReadPages: b.guestSwapReadPages - a.guestSwapReadPages,
      guestOomKills: this.guest.counters.oomKills,
      integrityViolations: b.guestViolations - a.guestViolations,
    };
  }
}

/**
 * One QEMU process's memory core, shared by the one-guest machine and the many-guest host: the
 * configuration's mechanisms, the machine's tunables, and no limit yet (the experiment, or the
 * host's global reclaim, sets it).
 */
export function simCore(
  spec: { guestAsyncPageFaults?: boolean; swapReadahead?: SwapReadaheadName; plantedBug?: PlantedBug },
  mechanisms: ConfigMechanisms,
  size: { guestPages: number; vmmPages: number; imageBlocks: number; swapSlots: number },
  swapArea?: SwapArea,
): MemoryCore {
  return new MemoryCore(
    {
      ...DEFAULT_CORE_TUNABLES,
      ...size,
      residentLimitPages: size.guestPages + size.vmmPages,
      mapper: mechanisms.mapper,
      preventer: mechanisms.preventer,
      asyncPfWriteFaults: spec.guestAsyncPageFaults ?? true,
      swapReadahead: spec.swapReadahead ?? DEFAULT_CORE_TUNABLES.swapReadahead,
      ...(spec.plantedBug !== undefined ? { plantedBug: spec.plantedBug } : {}),
    },
    swapArea,
  );
}

/**
 * The guest kernel of a guest of `guestMiB`, MiB: PAPER_MACHINE's 40 MB is a 512 MB guest's, 8 MB
 * of it the memmap; another guest's memmap is that of its own memory, which its kernel touches at
 * boot (memmap_init_zone). `scale` shrinks the rest as a scaled run shrinks every size.
 */
export function guestKernelMiBFor(guestMiB: number, scale = 1): number {
  return (
    (PAPER_MACHINE.guestKernelMiB - memmapMiB(PAPER_MACHINE.guestBelievedMiB)) * scale + memmapMiB(guestMiB)
  );
}

/**
 * The simulated guest's kernel settings for a guest of `guestPages`, shared by the one-guest machine
 * and the many-guest host; `own` is what differs between them (guest swap, async page faults).
 */
export function guestOsParams(
  spec: { guestKernelMiB: number; guestBackgroundTouchesPerSec: number },
  guestPages: number,
  own: { swapPages: number; asyncPageFaults: boolean },
): GuestParams {
  return {
    believedPages: guestPages,
    kernelPages: pagesFromMiB(spec.guestKernelMiB),
    kernelHotPages: 256,
    readAheadMaxPages: 32,
    // kswapd's watermarks of a 512 MB guest (about 2 and 3 MB), proportional for other sizes.
    lowFreePages: Math.max(8, Math.round((pagesFromMiB(2) * guestPages) / pagesFromMiB(512))),
    highFreePages: Math.max(12, Math.round((pagesFromMiB(3) * guestPages) / pagesFromMiB(512))),
    dataStartBlock: pagesFromMiB(1024),
    backgroundTouchesPerSec: spec.guestBackgroundTouchesPerSec,
    backgroundWriteFraction: 0.3,
    // Measured on the project's idle guest (GuestOs.idleTouches): about half its hot pages came
    // back between 30 and 60 s after an eviction, in every round, and none after.
    idleSlowPeriodS: 60,
    swapPages: own.swapPages,
    asyncPageFaults: own.asyncPageFaults,
    // CFS on one CPU: sched_min_granularity_ns 0.75 ms x ... a few ms per slice (the 250 Hz tick).
    timeSliceNs: 4e6,
  };
}
