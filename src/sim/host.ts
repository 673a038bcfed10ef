import {
  type BlockNo,
  BUFFERED,
  CHUNKS_PER_PAGE,
  type FaultContext,
  type FaultId,
  NONE,
  type Gfn,
  type GfnArray,
  type GlobalScan,
  type MemoryCore,
  SECTORS_PER_PAGE,
  asVmmPage,
} from '../core/index.js';
import { type ActionPort, CoreDriver, type DriverAction } from '../driver/core-driver.js';
import { type GuestIoRequest, type GuestIoTransfer, runGuestIo } from '../driver/guest-io.js';
import type { CpuCosts, VmmBehaviour } from './costs.js';
import { type DataPlane, chunkValue, setChunks } from './data-plane.js';
import type { DiskQueue } from './disk/queue.js';
import type { EventQueue } from './event-queue.js';
import type { Rng } from './rng.js';

/** Where each store lives on the one physical disk, in sectors. */
export interface DiskLayout {
  vmmStartSector: number;
  imageStartSector: number;
  swapStartSector: number;
}

/** A guest block request as virtio-blk carries it: block i of the disk <-> guest frame i. */
export type GuestIo = GuestIoRequest;

/**
 * The simulated host: QEMU and the host kernel around one guest. It feeds the core with what the
 * guest and QEMU do, and carries out the core's actions on the disk and the data plane, through the
 * one core driver. Guest disk I/O goes the way QEMU with cache=none sends it: the I/O thread pins
 * every destination page (faulting absent ones in: stale reads happen here) before the image is read.
 */
export class Host implements ActionPort {
  readonly driver: CoreDriver;
  private ioBusy = false;
  private readonly ioQueue: { io: GuestIo; done: () => void }[] = [];
  private stopped = false;
  private readonly mapperMapPageNs: number;
  /** When QEMU's main-loop thread is done with the completions queued on it. */
  private mainLoopFreeAtNs = 0;

  constructor(
    readonly events: EventQueue,
    readonly core: MemoryCore,
    readonly data: DataPlane,
    readonly disk: DiskQueue,
    readonly layout: DiskLayout,
    readonly costs: CpuCosts,
    readonly vmm: VmmBehaviour,
    private readonly rng: Rng,
  ) {
    this.driver = new CoreDriver(core, this);
    this.mapperMapPageNs = core.cfg.mapper ? costs.mapperMapPageNs : 0;
  }

  /** Starts QEMU's main loop: periodic work that executes (and so faults in) QEMU's code. */
  startMainLoop(): void {
    if (this.vmm.mainLoopHz <= 0 || this.core.cfg.vmmPages === 0) return;
    const periodNs = 1e9 / this.vmm.mainLoopHz;
    const tick = (): void => {
      if (this.stopped) return;
      this.runVmmCode(this.vmm.pagesPerMainLoop, () => this.events.after(periodNs, tick));
    };
    this.events.after(periodNs, tick);
  }

  stop(): void {
    this.stopped = true;
  }

  /**
   * A CPU access by the guest (ctx 'guest') to a guest page. Returns true when it proceeds at once;
   * otherwise `resume` runs when the host has the page.
   */
  touch(gfn: Gfn, write: boolean, ctx: FaultContext, resume: () => void): boolean {
    return this.driver.settle(this.core.touch(gfn, write, ctx), resume);
  }

  /**
   * touch() of gfns[from], gfns[from + 1], ... (ctx 'guest') while each proceeds at once with
   * nothing for the host to do; returns the index of the first page not touched.
   */
  touchRun(gfns: GfnArray, from: number, to: number, write: boolean): number {
    return this.driver.touchRun(gfns, from, to, write);
  }

  /** Whether a guest access to `gfn` would proceed without a host fault. */
  isResident(gfn: Gfn): boolean {
    return this.core.isResident(gfn);
  }

  /**
   * A one-chunk guest write: 'present' (write the page), 'buffered' (the Preventer took it), or
   * 'blocked' (`resume` runs, after the write was applied, when the page is there).
   */
  emulatedWrite(gfn: Gfn, chunk: number, resume: () => void): 'present' | 'buffered' | 'blocked' {
    const r = this.core.emulatedWrite(gfn, chunk, 1, 'guest');
    if (r === BUFFERED) {
      this.driver.pump();
      return 'buffered';
    }
    return this.driver.settle(r, resume) ? 'present' : 'blocked';
  }

  /**
   * The guest overwrites the whole page (zeroing): no read needed in principle. 'present' when the
   * page was there, 'remapped' when it was absent and the Preventer handed it a fresh frame on the
   * spot (§4.2's REP case: the write trapped and was decoded, nothing was read), 'blocked' when
   * `resume` runs later.
   */
  overwrite(gfn: Gfn, resume: () => void): 'present' | 'remapped' | 'blocked' {
    const remapsBefore = this.core.counters.preventerRemaps;
    if (!this.driver.settle(this.core.overwrite(gfn, 'guest'), resume)) return 'blocked';
    return this.core.counters.preventerRemaps !== remapsBefore ? 'remapped' : 'present';
  }

  /** Queues a guest block request on QEMU's I/O thread; `done` runs at completion (the interrupt). */
  submit(io: GuestIo, done: () => void): void {
    this.ioQueue.push({ io, done });
    if (!this.ioBusy) this.nextIo();
  }

  /**
   * A request smaller than a page (one 512-byte sector: chunks [firstChunk, firstChunk + 8) of guest
   * page `gfn` <-> the same sector of image block `block`), which a guest that does not align its I/O
   * to 4 KiB sends now and then (§5.4, Windows). QEMU moves it through the page in place, so the host
   * must have the page (a host-context fault); a read changes the page in part, which leaves nothing
   * the Mapper could name (the core dirties it), and a write changes the block in part, so other
   * holders of the block keep its old content first (the §4.1 sequence's partial blocks). Carried out
   * at once, not behind the whole-page requests on QEMU's I/O thread (a few per second at most).
   */
  submitSector(op: 'read' | 'write', block: BlockNo, gfn: Gfn, firstChunk: number, done: () => void): void {
    const chunks = SECTOR_CHUNKS;
    if (!(Number.isInteger(firstChunk) && firstChunk >= 0 && firstChunk + chunks <= CHUNKS_PER_PAGE))
      throw new RangeError(`sector request: chunk ${firstChunk} is not the start of a sector of a page`);
    const sector = this.sectorOf('image', block) + firstChunk / chunks;
    const data = this.data;
    const finish = (): void => {
      this.core.unpinHost(gfn);
      this.driver.pump();
      done();
    };
    const pinned = (): void => {
      if (op === 'read') {
        this.disk.submit('read', 'image', sector, 1, () => {
          const from = data.imageOver.get(block);
          const values: number[] = [];
          for (let c = firstChunk; c < firstChunk + chunks; c++)
            values.push(chunkValue(data.image.get(block), from, c));
          data.setChunks(gfn, firstChunk, values);
          finish();
        });
        return;
      }
      // Other holders of the block keep its old content, asked again until none is left.
      const step = (): FaultId => this.core.beginBlockWrite(block, NONE as Gfn);
      this.driver.each(
        1,
        step,
        () => {
          const from = data.memOver.get(gfn);
          const values: number[] = [];
          for (let c = firstChunk; c < firstChunk + chunks; c++)
            values.push(chunkValue(data.mem[gfn]!, from, c));
          setChunks(data.imageOver, block, firstChunk, values);
          this.disk.submit('write', 'image', sector, 1, finish);
        },
        { repeat: true, resume: (k) => this.events.after(this.costs.hostMajorFaultNs, k) },
      );
    };
    this.driver.each(1, () => this.core.pinHost(gfn, op === 'read'), pinned, {
      resume: (k) => this.events.after(this.costs.hostMajorFaultNs, k),
    });
  }

  // ---------------------------------------------------------------- the balloon device (the guest's BalloonPort)

  /** The guest gave frame `gfn` to the host (virtio-balloon's inflate queue). */
  balloonInflate(gfn: Gfn): void {
    this.core.balloonInflate(gfn);
    this.driver.pump();
  }

  /** The guest took frame `gfn` back (the deflate queue). */
  balloonDeflate(gfn: Gfn): void {
    this.core.balloonDeflate(gfn);
    this.driver.pump();
  }

  /**
   * Free page reporting: QEMU discards a reported page as it discards a ballooned one
   * (virtio_balloon_handle_report: ram_block_discard_range), but the guest keeps it, so the core
   * hears an inflation and at once a deflation: its frame or swap slot is freed, and its next touch
   * is a zero fill, not a swap read.
   */
  balloonReportFree(gfn: Gfn): void {
    this.core.balloonInflate(gfn);
    this.core.balloonDeflate(gfn);
    this.driver.pump();
  }

  // ----------------------------------------------------------------

  /** The memory cgroup's limit changes (memory.limit_in_bytes): a lower one reclaims at once. */
  setResidentLimit(pages: number): void {
    this.core.setResidentLimit(pages);
    this.driver.pump();
  }

  /** Global reclaim scans this QEMU's cgroup at priority `prio` (kswapd): pages freed or queued. */
  scanAtPriority(prio: number, host: GlobalScan): number {
    const n = this.core.scanAtPriority(prio, host);
    this.driver.pump();
    return n;
  }

  /** One action of the core: data plane first (a write snapshots now), then the disk or a timer. */
  carryOut(a: DriverAction): void {
    this.data.issue(a);
    switch (a.kind) {
      case 'read':
        this.disk.submit(
          'read',
          a.source,
          this.sectorOf(a.source, a.start),
          a.count * SECTORS_PER_PAGE,
          () => {
            this.data.completeRead(a);
            this.core.readDone(a.id);
            this.driver.pump();
          },
        );
        break;
      case 'write':
        this.disk.submit(
          'write',
          'swap',
          this.sectorOf('swap', a.start),
          a.pages.length * SECTORS_PER_PAGE,
          () => {
            this.core.writeDone(a.id);
            this.driver.pump();
          },
        );
        break;
      case 'timer':
        this.events.after(a.delayNs, () => {
          this.core.timerFired(a.page);
          this.driver.pump();
        });
        break;
      default:
        break;
    }
  }

  private sectorOf(source: 'swap' | 'image' | 'vmm', unit: number): number {
    const base =
      source === 'swap'
        ? this.layout.swapStartSector
        : source === 'image'
          ? this.layout.imageStartSector
          : this.layout.vmmStartSector;
    return base + unit * SECTORS_PER_PAGE;
  }

  /** QEMU executes `n` of its code pages, one after another; `then` runs when all were present. */
  private runVmmCode(n: number, then: () => void): void {
    const pages = this.core.cfg.vmmPages;
    this.driver.each(
      n,
      () => this.core.touchVmm(asVmmPage(skewedPick(pages, this.rng.next(), this.vmm.skew))),
      then,
      { resume: (k) => this.events.after(this.costs.hostMajorFaultNs, k) },
    );
  }

  private nextIo(): void {
    const item = this.ioQueue.shift();
    if (!item) {
      this.ioBusy = false;
      return;
    }
    this.ioBusy = true;
    const { io, done } = item;
    this.runVmmCode(this.vmm.pagesPerRequest, () => {
      this.events.after(this.costs.qemuRequestNs, () =>
        // The I/O thread pins the request's pages in order, as get_user_pages() does for O_DIRECT;
        // each host fault costs the thread its handling time before it goes on.
        runGuestIo(this.driver, io, {
          resume: (step, k) => this.events.after(step === 'pin' ? this.costs.hostMajorFaultNs : 0, k),
          transfer: (t) => this.issueImageIo(t, done),
        }),
      );
    });
  }

  /** Sends the request to the image (one disk request per run of consecutive blocks). */
  private issueImageIo(t: GuestIoTransfer, done: () => void): void {
    const io = t.req;
    let outstanding = 0;
    let i = 0;
    const n = io.blocks.length;
    while (i < n) {
      let j = i + 1;
      while (j < n && io.blocks[j] === io.blocks[j - 1]! + 1) j++;
      const first = i;
      const last = j;
      outstanding++;
      this.disk.submit(
        io.op,
        'image',
        this.sectorOf('image', io.blocks[first]!),
        (last - first) * SECTORS_PER_PAGE,
        () => {
          for (let k = first; k < last; k++) {
            if (io.op === 'read') this.data.copyImageToPage(io.blocks[k]!, io.gfns[k]!);
            else this.data.copyPageToImage(io.gfns[k]!, io.blocks[k]!);
          }
          const finish = (): void => {
            t.moved(first, last);
            if (--outstanding === 0) done();
          };
          // With the Mapper, QEMU maps each page of the run to its block (mmap, then a KVM ioctl)
          // before it completes the request (§4.1 "Guest I/O Flow"). QEMU 1.2 completes block
          // requests in its one main-loop thread, so these mappings queue behind each other.
          if (this.mapperMapPageNs > 0) {
            const startNs = Math.max(this.events.nowNs, this.mainLoopFreeAtNs);
            this.mainLoopFreeAtNs = startNs + (last - first) * this.mapperMapPageNs;
            this.events.after(this.mainLoopFreeAtNs - this.events.nowNs, finish);
          } else finish();
        },
      );
      i = j;
    }
    // QEMU hands the request to Linux AIO and goes on with the next one.
    this.nextIo();
  }
}

/** 64-byte chunks in a 512-byte sector. */
const SECTOR_CHUNKS = 512 / 64;

/**
 * floor(n * u ** skew), the same as with Math.pow, which cost more than the rest of QEMU's code
 * walk. u * u * u is within about 5e-16 of u ** 3 (each within an ulp or two of the true cube), so
 * for n up to 2^16 the two products differ by under 1e-10: only when n * u^3 lies within 1e-9 of a
 * whole number could the floors differ, and then Math.pow decides.
 */
export function skewedPick(n: number, u: number, skew: number): number {
  if (skew === 3 && n <= 65536) {
    const x = n * (u * u * u);
    const f = x - Math.floor(x);
    if (f > 1e-9 && f < 1 - 1e-9) return Math.floor(x);
  }
  return Math.floor(n * u ** skew);
}
