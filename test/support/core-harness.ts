import {
  BUFFERED,
  type CoreConfig,
  DEFAULT_CORE_TUNABLES,
  type FaultId,
  type Gfn,
  MemoryCore,
  type ReadAction,
  type SwapArea,
  type SwapWriteAction,
  asBlock,
  asGfn,
} from '../../src/core/index.js';
import { CoreDriver, type DriverAction } from '../../src/driver/core-driver.js';
import { runGuestIo } from '../../src/driver/guest-io.js';
import {
  BlockContents,
  DataPlane,
  Overrides,
  POISON,
  type SwapContents,
  chunkValue,
  sameContent,
} from '../../src/sim/data-plane.js';

/**
 * A synchronous driver for the core, for model-based tests: through the one core driver it carries
 * out the core's actions on a data plane, completes in-flight I/O in an order the test chooses, and
 * checks every guest read against a reference memory that never swaps (chunk by chunk where the
 * guest wrote partially).
 */
export class CoreHarness {
  readonly core: MemoryCore;
  readonly driver: CoreDriver;
  readonly data: DataPlane;
  readonly refMem: Uint32Array;
  readonly refDisk: BlockContents;
  readonly refOver = new Map<number, Overrides>();
  readonly refDiskOver = new Map<number, Overrides>();
  readonly violations: string[] = [];
  /** Preventer deadlines the core asked for, fired when the test says so. */
  readonly timers: Gfn[] = [];
  /** Ballooned pages: the guest must not touch them (the test's own discipline). */
  readonly ballooned = new Set<number>();
  private readonly inflight: (ReadAction | SwapWriteAction)[] = [];
  private version = 1;
  private pick: () => number;

  /**
   * `shared`: a swap area this core shares with other harnesses' (its view of a HostSwapArea and the
   * area's contents), and where this harness's content versions start, so that each guest's
   * contents differ from every other's and a read of another guest's slot shows.
   */
  constructor(
    cfg: Partial<CoreConfig> & { guestPages: number; imageBlocks: number },
    pick: () => number = () => 0,
    shared?: { area: SwapArea; contents: SwapContents; firstVersion: number },
  ) {
    this.core = new MemoryCore(
      {
        ...DEFAULT_CORE_TUNABLES,
        vmmPages: 0,
        swapSlots: shared?.area.slotCount ?? cfg.guestPages * 2,
        residentLimitPages: Math.max(4, Math.floor(cfg.guestPages / 3)),
        mapper: false,
        ...cfg,
      },
      shared?.area,
    );
    if (shared) this.version = shared.firstVersion;
    this.driver = new CoreDriver(this.core, {
      carryOut: (a: DriverAction) => {
        this.data.issue(a);
        if (a.kind === 'read' || a.kind === 'write') this.inflight.push(a);
        else if (a.kind === 'timer') this.timers.push(a.page);
      },
    });
    const c = this.core.cfg;
    this.data = new DataPlane(
      c.guestPages + c.vmmPages,
      c.swapSlots,
      c.imageBlocks,
      c.vmmPages,
      c.guestPages,
      shared?.contents,
    );
    this.refMem = new Uint32Array(c.guestPages);
    // Both start with every block's initial content (BlockContents).
    this.refDisk = new BlockContents(c.imageBlocks);
    this.pick = pick;
  }

  setPicker(pick: () => number): void {
    this.pick = pick;
  }

  private pump(): void {
    this.driver.pump();
  }

  /** Completes one in-flight I/O (chosen by the picker): false when none is in flight. */
  completeOne(): boolean {
    if (this.inflight.length === 0) return false;
    const i = this.pick() % this.inflight.length;
    const a = this.inflight.splice(i, 1)[0]!;
    if (a.kind === 'read') {
      this.data.completeRead(a);
      this.core.readDone(a.id);
    } else {
      this.core.writeDone(a.id);
    }
    this.pump();
    return true;
  }

  /** Runs I/O until fault `id` is done (NO_FAULT: nothing to wait for). */
  wait(id: FaultId): void {
    let done = false;
    this.driver.after(id, () => (done = true));
    this.until(() => done, `fault ${id}`);
  }

  /** Completes I/O until `cond` holds. */
  private until(cond: () => boolean, what: string): void {
    while (!cond()) {
      if (!this.completeOne()) throw new Error(`${what} can never finish: nothing in flight`);
    }
  }

  settle(): void {
    this.pump();
    while (this.completeOne());
  }

  private check(g: number, what: string): void {
    const d = this.data;
    if (!sameContent(d.mem[g]!, d.memOver.get(g), this.refMem[g]!, this.refOver.get(g))) {
      this.violations.push(`${what} gfn ${g}: got ${d.mem[g]} want ${this.refMem[g]}`);
    }
  }

  private setRef(g: number, v: number): void {
    this.refMem[g] = v;
    this.refOver.delete(g);
  }

  guestRead(g: number): void {
    this.wait(this.core.touch(asGfn(g), false, 'guest'));
    this.check(g, 'read');
  }

  /** The hypervisor reads the guest page (a host-context fault when it is absent). */
  hostRead(g: number): void {
    this.wait(this.core.touch(asGfn(g), false, 'host'));
    this.check(g, 'host read');
  }

  guestWrite(g: number): void {
    this.wait(this.core.touch(asGfn(g), true, 'guest'));
    const v = this.version++;
    this.data.writePage(g, v);
    this.setRef(g, v);
  }

  guestOverwrite(g: number): void {
    this.wait(this.core.overwrite(asGfn(g), 'guest'));
    const v = this.version++;
    this.data.writePage(g, v);
    this.setRef(g, v);
  }

  /** The guest writes chunks [first, first + n) of page g; the Preventer may buffer the write. */
  chunkWrite(g: number, first: number, n: number): void {
    const r = this.core.emulatedWrite(asGfn(g), first, n, 'guest');
    const v = this.version++;
    if (r === BUFFERED) {
      this.data.bufferWrite(g, first, n, v);
    } else {
      this.wait(r);
      this.data.writeChunks(g, first, n, v);
    }
    let o = this.refOver.get(g);
    if (!o) this.refOver.set(g, (o = new Overrides()));
    for (let c = first; c < first + n; c++) o.set(c, v);
    this.pump();
  }

  /** The guest reads chunks [first, first + n) of page g, from the Preventer's buffer if it can. */
  chunkRead(g: number, first: number, n: number): void {
    const r = this.core.emulatedRead(asGfn(g), first, n, 'guest');
    if (r === BUFFERED) {
      const buf = this.data.buffers.get(g);
      for (let c = first; c < first + n; c++) {
        if (buf?.get(c) !== chunkValue(this.refMem[g]!, this.refOver.get(g), c)) {
          this.violations.push(`buffered read gfn ${g} chunk ${c}`);
        }
      }
      return;
    }
    this.wait(r);
    this.check(g, 'chunk read');
  }

  /** Fires the oldest pending Preventer deadline, if any. */
  fireTimer(): void {
    const p = this.timers.shift();
    if (p !== undefined) this.core.timerFired(p);
    this.pump();
  }

  /** The guest reads block b into page g through its disk. */
  diskRead(b: number, g: number): void {
    const moved = this.startDiskRead(b, g);
    this.until(moved, `disk read of gfn ${g}`);
  }

  /**
   * Starts the guest's read of block b into page g and returns at once (the read may wait for a
   * frame while the test does other things); the returned function tells whether the data moved.
   */
  startDiskRead(b: number, g: number): () => boolean {
    return this.startGuestIo('read', g, b, () => {
      const d = this.data;
      if (!sameContent(d.image.get(b), d.imageOver.get(b), this.refDisk.get(b), this.refDiskOver.get(b))) {
        this.violations.push(`disk block ${b}: got ${d.image.get(b)} want ${this.refDisk.get(b)}`);
      }
      d.copyImageToPage(b, g);
      this.refMem[g] = this.refDisk.get(b);
      const o = this.refDiskOver.get(b);
      if (o) this.refOver.set(g, new Overrides(o));
      else this.refOver.delete(g);
    });
  }

  /** The guest writes page g to block b through its disk. */
  diskWrite(g: number, b: number): void {
    const moved = this.startGuestIo('write', g, b, () => {
      if (this.data.mem[g] === POISON) this.violations.push(`disk write from gfn ${g}: page content lost`);
      this.check(g, 'disk write from');
      this.data.copyPageToImage(g, b);
      this.refDisk.set(b, this.refMem[g]!);
      const o = this.refOver.get(g);
      if (o) this.refDiskOver.set(b, new Overrides(o));
      else this.refDiskOver.delete(b);
    });
    this.until(moved, `disk write from gfn ${g}`);
  }

  /** One page of guest disk I/O through the core driver's §4.1 sequence; `move` moves the data. */
  private startGuestIo(op: 'read' | 'write', g: number, b: number, move: () => void): () => boolean {
    let moved = false;
    runGuestIo(
      this.driver,
      { op, gfns: [asGfn(g)], blocks: [asBlock(b)] },
      {
        resume: (_step, k) => k(),
        transfer: (t) => {
          move();
          t.moved(0, 1);
          moved = true;
        },
      },
    );
    return () => moved;
  }

  /**
   * The host pins page g (to read it, or write it when `write`) as an external back end does with a
   * vring or a request header; the pin holds until hostUnpin. A write gives the page new content.
   */
  hostPin(g: number, write: boolean): void {
    this.wait(this.core.pinHost(asGfn(g), write));
    if (write) {
      const v = this.version++;
      this.data.writePage(g, v);
      this.setRef(g, v);
    } else {
      this.check(g, 'host read');
    }
    this.pump();
  }

  hostUnpin(g: number): void {
    this.core.unpinHost(asGfn(g));
    this.pump();
  }

  balloonInflate(g: number): void {
    this.core.balloonInflate(asGfn(g));
    this.setRef(g, 0);
    this.ballooned.add(g);
    this.pump();
  }

  balloonDeflate(g: number): void {
    this.core.balloonDeflate(asGfn(g));
    this.ballooned.delete(g);
    this.pump();
  }

  setLimit(pages: number): void {
    this.core.setResidentLimit(pages);
    this.pump();
  }

  /** Reads every guest page and every block once, checking them all. */
  verifyAll(): void {
    this.settle();
    const c = this.core.cfg;
    for (let g = 0; g < c.guestPages; g++) {
      if (!this.ballooned.has(g) && (this.refMem[g] !== 0 || this.refOver.has(g))) this.guestRead(g);
    }
    const d = this.data;
    for (let b = 0; b < c.imageBlocks; b++) {
      if (!sameContent(d.image.get(b), d.imageOver.get(b), this.refDisk.get(b), this.refDiskOver.get(b))) {
        this.violations.push(`final disk block ${b}: got ${d.image.get(b)} want ${this.refDisk.get(b)}`);
      }
    }
    for (const v of this.core.checkInvariants()) this.violations.push(`invariant: ${v}`);
  }
}
