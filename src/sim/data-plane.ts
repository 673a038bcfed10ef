import type { CoreAction } from '../core/memory-core.js';

/** Content of a frame that holds nothing (freed, or never filled): reading it is always a violation. */
export const POISON = 0xffffffff;

/**
 * Where the bytes are, in simulation: every page, swap slot and image block carries a content version
 * instead of 4 KiB of data. The core decides; this plane executes its actions literally, so a core bug
 * (a dirty page dropped, a stale block read back) shows up as a version mismatch, never as a guess.
 */
export class DataPlane {
  readonly mem: Uint32Array;
  readonly swap: Uint32Array;
  readonly image: Uint32Array;
  readonly vmmFile: Uint32Array;

  constructor(
    pageCount: number,
    swapSlots: number,
    imageBlocks: number,
    vmmPages: number,
    guestPages: number,
  ) {
    this.mem = new Uint32Array(pageCount).fill(POISON);
    this.swap = new Uint32Array(swapSlots).fill(POISON);
    this.image = new Uint32Array(imageBlocks);
    // Each of QEMU's code pages has a distinct, fixed content.
    this.vmmFile = new Uint32Array(vmmPages);
    for (let i = 0; i < vmmPages; i++) this.vmmFile[i] = 0x40000000 + i;
    this.firstVmm = guestPages;
  }

  private readonly firstVmm: number;

  /** Applies what happens the moment an action is issued (a write snapshots memory now). */
  issue(a: CoreAction): void {
    switch (a.kind) {
      case 'write':
        for (let i = 0; i < a.pages.length; i++) this.swap[a.start + i] = this.mem[a.pages[i]!]!;
        break;
      case 'drop':
        this.mem[a.page] = POISON;
        break;
      case 'zero':
        this.mem[a.page] = 0;
        break;
      default:
        break;
    }
  }

  /** Applies a read when the disk has delivered it. */
  completeRead(a: Extract<CoreAction, { kind: 'read' }>): void {
    const src = a.source === 'swap' ? this.swap : a.source === 'image' ? this.image : this.vmmFile;
    for (let i = 0; i < a.pages.length; i++) this.mem[a.pages[i]!] = src[a.units[i]!]!;
  }

  isVmm(page: number): boolean {
    return page >= this.firstVmm;
  }
}
