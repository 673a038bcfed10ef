import {
  type CoreAction,
  type CoreConfig,
  DEFAULT_CORE_TUNABLES,
  MemoryCore,
} from '../../src/core/memory-core.js';
import { asBlock, asGfn } from '../../src/core/types.js';
import { DataPlane, POISON } from '../../src/sim/data-plane.js';

/**
 * A synchronous driver for the core, for model-based tests: it carries out the core's actions on a
 * data plane, completes in-flight I/O in an order the test chooses, and checks every guest read
 * against a reference memory that never swaps.
 */
export class CoreHarness {
  readonly core: MemoryCore;
  readonly data: DataPlane;
  readonly refMem: Uint32Array;
  readonly refDisk: Uint32Array;
  readonly violations: string[] = [];
  private readonly inflight: Extract<CoreAction, { kind: 'read' | 'write' }>[] = [];
  private readonly done = new Set<number>();
  private version = 1;
  private pick: () => number;

  constructor(
    cfg: Partial<CoreConfig> & { guestPages: number; imageBlocks: number },
    pick: () => number = () => 0,
  ) {
    this.core = new MemoryCore({
      ...DEFAULT_CORE_TUNABLES,
      vmmPages: 0,
      swapSlots: cfg.guestPages * 2,
      residentLimitPages: Math.max(4, Math.floor(cfg.guestPages / 3)),
      mapper: false,
      ...cfg,
    });
    const c = this.core.cfg;
    this.data = new DataPlane(
      c.guestPages + c.vmmPages,
      c.swapSlots,
      c.imageBlocks,
      c.vmmPages,
      c.guestPages,
    );
    this.refMem = new Uint32Array(c.guestPages);
    this.refDisk = new Uint32Array(c.imageBlocks);
    for (let b = 0; b < c.imageBlocks; b++) this.refDisk[b] = this.data.image[b] = 0x10000000 + b;
    this.pick = pick;
  }

  setPicker(pick: () => number): void {
    this.pick = pick;
  }

  private pump(): void {
    for (const a of this.core.drain()) {
      this.data.issue(a);
      if (a.kind === 'read' || a.kind === 'write') this.inflight.push(a);
      else if (a.kind === 'faultDone') this.done.add(a.fault);
    }
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

  /** Runs I/O until fault `id` is done (0 = nothing to wait for). */
  wait(id: number): void {
    this.pump();
    if (id === 0) return;
    while (!this.done.has(id)) {
      if (!this.completeOne()) throw new Error(`fault ${id} can never finish: nothing in flight`);
    }
    this.done.delete(id);
  }

  settle(): void {
    this.pump();
    while (this.completeOne());
  }

  guestRead(g: number): void {
    this.wait(this.core.touch(asGfn(g), false, 'guest'));
    if (this.data.mem[g] !== this.refMem[g])
      this.violations.push(`read gfn ${g}: got ${this.data.mem[g]} want ${this.refMem[g]}`);
  }

  guestWrite(g: number): void {
    this.wait(this.core.touch(asGfn(g), true, 'guest'));
    const v = this.version++;
    this.data.mem[g] = v;
    this.refMem[g] = v;
  }

  guestOverwrite(g: number): void {
    this.wait(this.core.overwrite(asGfn(g), 'guest'));
    const v = this.version++;
    this.data.mem[g] = v;
    this.refMem[g] = v;
  }

  /** The guest reads block b into page g through its disk. */
  diskRead(b: number, g: number): void {
    this.wait(this.core.beginDmaWrite(asGfn(g)));
    if (this.data.image[b] !== this.refDisk[b])
      this.violations.push(`disk block ${b}: got ${this.data.image[b]} want ${this.refDisk[b]}`);
    this.data.mem[g] = this.data.image[b]!;
    this.refMem[g] = this.refDisk[b]!;
    this.core.endDmaWrite(asGfn(g), asBlock(b));
    this.pump();
  }

  /** The guest writes page g to block b through its disk. */
  diskWrite(g: number, b: number): void {
    this.wait(this.core.beginDmaRead(asGfn(g)));
    for (
      let id = this.core.beginBlockWrite(asBlock(b), asGfn(g));
      id !== 0;
      id = this.core.beginBlockWrite(asBlock(b), asGfn(g))
    ) {
      this.wait(id);
    }
    if (this.data.mem[g] === POISON) this.violations.push(`disk write from gfn ${g}: page content lost`);
    this.data.image[b] = this.data.mem[g]!;
    this.refDisk[b] = this.refMem[g]!;
    this.core.endDmaRead(asGfn(g), asBlock(b));
    this.pump();
  }

  balloonInflate(g: number): void {
    this.core.balloonInflate(asGfn(g));
    this.refMem[g] = 0;
    this.ballooned.add(g);
    this.pump();
  }

  balloonDeflate(g: number): void {
    this.core.balloonDeflate(asGfn(g));
    this.ballooned.delete(g);
    this.pump();
  }

  /** Ballooned pages: the guest must not touch them (the test's own discipline). */
  readonly ballooned = new Set<number>();

  setLimit(pages: number): void {
    this.core.setResidentLimit(pages);
    this.pump();
  }

  /** Reads every guest page and every block once, checking them all. */
  verifyAll(): void {
    this.settle();
    const c = this.core.cfg;
    for (let g = 0; g < c.guestPages; g++)
      if (!this.ballooned.has(g) && this.refMem[g] !== 0) this.guestRead(g);
    for (let b = 0; b < c.imageBlocks; b++) {
      if (this.data.image[b] !== this.refDisk[b])
        this.violations.push(`final disk block ${b}: got ${this.data.image[b]} want ${this.refDisk[b]}`);
    }
    const bad = this.core.checkInvariants();
    for (const v of bad) this.violations.push(`invariant: ${v}`);
  }
}
