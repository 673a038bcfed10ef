import {
  DEFAULT_CORE_TUNABLES,
  MIB,
  type GlobalScan,
  type MemoryCore,
  SECTORS_PER_PAGE,
  type SwapReadaheadName,
  pagesFromMiB,
} from '../core/index.js';
import type { ConfigName } from '../engine/results.js';
import { BalloonWorker } from './balloon-worker.js';
import type { CpuCosts, VmmBehaviour } from './costs.js';
import { DataPlane, swapContents } from './data-plane.js';
import { Hdd } from './disk/hdd.js';
import type { DiskModel } from './disk/model.js';
import { DiskQueue } from './disk/queue.js';
import { SATA_SSD_2013, Ssd } from './disk/ssd.js';
import { EventQueue } from './event-queue.js';
import { GlobalReclaim } from './global-reclaim.js';
import { type GuestFileSpec, GuestOomError, GuestOs, type Program } from './guest/guest-os.js';
import { Host } from './host.js';
import { HostSwapArea } from './host-swap-area.js';
import {
  CONFIG_MECHANISMS,
  type ConfigMechanisms,
  type DiskSpec,
  guestOsParams,
  simCore,
} from './machine.js';
import { Rng } from './rng.js';

/** A host with several guests (§5.2): one memory limit, one drive, one QEMU and cgroup per guest. */
export interface MultiMachineSpec {
  seed: number;
  config: ConfigName;
  guests: number;
  /** Each guest's RAM (believed and, until the host takes it, actual). */
  guestMiB: number;
  guestKernelMiB: number;
  guestBackgroundTouchesPerSec: number;
  /** The memory the host gives all its guests together (the paper limits it to 8 GB). */
  hostMiB: number;
  /** Each guest's image file as the guest sees it (its data must fit). */
  imageMiB: number;
  /** Where consecutive images start on the drive (the paper's 20 GB raw images, back to back). */
  imageSpacingMiB: number;
  /**
   * The host's one swap area, shared by all the guests' QEMU processes, holds this much per guest
   * (guests x swapMiBPerGuest in all): its slots go to whichever guest is swapping (HostSwapArea).
   */
  swapMiBPerGuest: number;
  /**
   * Each guest's own swap partition, at the end of its image (0 or absent: none, as the paper's
   * single-guest experiments imply, see PAPER_MACHINE.guestSwapMiB). The guest swaps through its
   * virtual disk, so its swap I/O goes to its image's region of the one drive and seeks against
   * the other guests' image I/O and the host's swap area like any of its disk requests.
   */
  guestSwapMiB?: number;
  disk: DiskSpec;
  costs: CpuCosts;
  vmm: VmmBehaviour;
  files: GuestFileSpec[];
  /** How often global reclaim balances the guests (kswapd's cadence). */
  reclaimTickNs: number;
  /** How the host's swap-ins choose the pages read with the faulting one (default: the core's, 'cluster'). */
  swapReadahead?: SwapReadaheadName;
  /**
   * What the host holds for itself out of hostMiB and never reclaims (default 0): its kernel's
   * memory and, per guest, its QEMU process's memory besides guest RAM and code (see host-overhead.ts).
   * Every QEMU process exists from the start, as the paper's VMs were up before their workloads.
   */
  hostKernelMiB?: number;
  qemuOverheadMiBPerGuest?: number;
}

/** One guest: its QEMU process (host and core), its OS, and its balloon kthread. */
export interface GuestSlot {
  readonly index: number;
  readonly core: MemoryCore;
  readonly host: Host;
  readonly guest: GuestOs;
  readonly balloon: BalloonWorker;
  /** Set when the guest's OOM killer killed its workload. */
  killed?: string;
  /** Its workload has started (until then the guest is up and idle). */
  started: boolean;
  done: boolean;
}

/** No experiment of the paper runs for more than an hour; a day means a guest is stuck. */
const MAX_SIMULATED_NS = 24 * 3.6e12;

export class MultiMachine {
  readonly events = new EventQueue();
  readonly disk: DiskQueue;
  readonly slots: GuestSlot[] = [];
  readonly reclaim: GlobalReclaim;
  readonly mechanisms: ConfigMechanisms;
  readonly hostPages: number;
  /** Of hostPages, what the host holds for itself (kernel, QEMUs' heaps and tables): never reclaimed. */
  readonly hostOwnPages: number;
  /** The host's one swap device, which every guest's QEMU swaps to. */
  readonly swapArea: HostSwapArea;
  private stopped = false;

  constructor(readonly spec: MultiMachineSpec) {
    if (!(Number.isInteger(spec.guests) && spec.guests >= 1))
      throw new RangeError(`guests: must be a positive integer, got ${spec.guests}`);
    const guestSwapMiB = spec.guestSwapMiB ?? 0;
    if (!(guestSwapMiB >= 0 && guestSwapMiB < spec.imageMiB))
      throw new RangeError(
        `guestSwapMiB: the guest's swap partition must fit in its ${spec.imageMiB} MiB image, got ${guestSwapMiB}`,
      );
    if (!(spec.imageSpacingMiB >= spec.imageMiB))
      throw new RangeError('imageSpacingMiB: images would overlap on the drive');
    this.mechanisms = CONFIG_MECHANISMS[spec.config];
    if (this.mechanisms.freePageReporting)
      throw new RangeError(
        `${spec.config}: free page reporting is not modelled with several guests (the single-guest machine has it)`,
      );
    const model: DiskModel =
      spec.disk.kind === 'hdd' ? new Hdd(spec.disk.hdd) : new Ssd({ ...SATA_SSD_2013, ...spec.disk.ssd });
    this.disk = new DiskQueue(model, this.events);
    const guestPages = pagesFromMiB(spec.guestMiB);
    const vmmPages = spec.vmm.codePages;
    const imageBlocks = pagesFromMiB(spec.imageMiB);
    const swapSlots = spec.guests * pagesFromMiB(spec.swapMiBPerGuest);
    this.hostPages = pagesFromMiB(spec.hostMiB);
    // One root file system: QEMU's binary at 1 GiB, the images from 8 GiB on, one every
    // imageSpacingMiB, then the host's one swap area, whose slots every guest's pages share.
    const imagesStart = (8 * 1024 * MIB) / 512;
    const spacing = (spec.imageSpacingMiB * MIB) / 512;
    const swapStart = imagesStart + spec.guests * spacing;
    const swapSectors = swapSlots * SECTORS_PER_PAGE;
    if (swapStart + swapSectors > model.capacitySectors)
      throw new RangeError('disk: the images and the swap area do not fit on the drive');
    this.swapArea = new HostSwapArea(swapSlots, spec.guests, DEFAULT_CORE_TUNABLES.swapClusterSlots);
    const swapData = swapContents(swapSlots);
    for (let i = 0; i < spec.guests; i++) {
      const size = { guestPages, vmmPages, imageBlocks, swapSlots };
      const core = simCore(spec, this.mechanisms, size, this.swapArea.viewFor(i));
      const data = new DataPlane(
        guestPages + vmmPages,
        swapSlots,
        imageBlocks,
        vmmPages,
        guestPages,
        swapData,
      );
      const seed = spec.seed * 1000 + i;
      const layout = {
        // Every QEMU runs the same binary: its code pages come from the same file.
        vmmStartSector: (1024 * MIB) / 512,
        imageStartSector: imagesStart + i * spacing,
        swapStartSector: swapStart,
      };
      const host = new Host(this.events, core, data, this.disk, layout, spec.costs, spec.vmm, new Rng(seed));
      const guest = new GuestOs(
        guestOsParams(spec, guestPages, { swapPages: pagesFromMiB(guestSwapMiB), asyncPageFaults: true }),
        this.events,
        host,
        host,
        spec.costs,
        spec.files,
        imageBlocks,
        new Rng(seed ^ 0x5bd1e995),
        new Rng(seed ^ 0x2545f491),
      );
      this.slots.push({
        index: i,
        core,
        host,
        guest,
        balloon: new BalloonWorker(guest),
        started: false,
        done: false,
      });
    }
    this.hostOwnPages = pagesFromMiB(
      (spec.hostKernelMiB ?? 0) + spec.guests * (spec.qemuOverheadMiBPerGuest ?? 0),
    );
    if (!(this.hostOwnPages >= 0 && this.hostOwnPages < this.hostPages))
      throw new RangeError(
        `hostKernelMiB, qemuOverheadMiBPerGuest: the host's own ${this.hostOwnPages} pages must be fewer than its ${this.hostPages}`,
      );
    this.reclaim = new GlobalReclaim(
      this.hostPages,
      this.slots.map((s) => ({
        core: s.core,
        setResidentLimit: (p: number) => s.host.setResidentLimit(p),
        scanAtPriority: (prio: number, host: GlobalScan) => s.host.scanAtPriority(prio, host),
      })),
      this.hostOwnPages,
    );
    // §5.2's guests have no memory limit of their own, only the host's: one short of memory
    // reclaims globally (GlobalReclaim.shortOf) before it touches its own pages.
    for (const s of this.slots) s.core.shareHostMemory(this.reclaim.hostMemoryFor(s.index));
  }

  /** Pages the host's page cache holds for the guests (VSwapper's image-backed pages: "Cached"). */
  get hostCachedPages(): number {
    // Only the Mapper names pages (Flag.Named: image-backed, the host's page cache); without it a
    // core has none, and the census (a walk of every page of every guest, at each balloon-manager
    // sample: 3 % of a ten-guest balloon run) would count zero.
    if (!this.mechanisms.mapper) return 0;
    let n = 0;
    for (const s of this.slots) n += s.core.census().namedResident;
    return n;
  }

  /** Runs `programs[i]` in guest i from `startNs[i]` on, until every one has finished or been killed. */
  run(programs: readonly ((slot: GuestSlot) => Program)[], startNs: readonly number[]): void {
    for (const s of this.slots) {
      const os = s.guest;
      // A guest before its workload starts or after it ends is idle: its kernel quiets down.
      os.spawn(
        os.background(
          () => this.stopped,
          () => s.started && !s.done && s.killed === undefined,
        ),
      );
      os.spawnKernelThread(s.balloon.run());
      s.host.startMainLoop();
      const i = s.index;
      this.events.at(startNs[i] ?? 0, () => {
        s.started = true;
        os.spawn(programs[i]!(s), () => {
          s.done = true;
        });
      });
    }
    const tick = (): void => {
      if (this.stopped) return;
      this.reclaim.tick();
      this.events.after(this.spec.reclaimTickNs, tick);
    };
    tick();
    // Each guest's OOM kills before the step: a kill always throws GuestOomError out of the step
    // that made it (oomKill() throws, nothing in the simulation catches it but this loop), so the
    // counts change only in a step that ends in the catch below, which takes them again. (Taken
    // before every step they were a new array each step, millions of them in a run.)
    const kills = this.slots.map((s) => s.guest.counters.oomKills);
    while (!this.slots.every((s) => s.done || s.killed !== undefined)) {
      try {
        if (!this.events.step()) {
          for (const s of this.slots) s.core.assertProgress();
          throw new Error('simulation stalled: the guests wait but nothing is scheduled');
        }
      } catch (e) {
        if (!(e instanceof GuestOomError)) throw e;
        // The guest whose OOM killer fired: its workload is dead, the VM (and its memory) stays.
        const s =
          this.slots.find((x, k) => x.guest.counters.oomKills > kills[k]!) ?? this.slots.find((x) => !x.done);
        if (!s) throw e;
        s.killed = e.message;
        for (let k = 0; k < kills.length; k++) kills[k] = this.slots[k]!.guest.counters.oomKills;
      }
      if (this.events.nowNs > MAX_SIMULATED_NS)
        throw new Error(
          `simulation passed ${MAX_SIMULATED_NS / 3.6e12} h of virtual time without the guests finishing`,
        );
    }
    this.stopped = true;
    for (const s of this.slots) {
      s.guest.stop();
      s.host.stop();
    }
  }

  get stopping(): boolean {
    return this.stopped;
  }
}
