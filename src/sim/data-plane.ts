import type { CoreAction, ReadAction } from '../core/index.js';
import { NO_BASE, Overrides, POISON } from './chunk-overrides.js';

export { NO_BASE, Overrides, POISON, chunkValue, sameContent } from './chunk-overrides.js';

const clone = (o: Overrides | undefined): Overrides | undefined => (o ? new Overrides(o) : undefined);

/** Where chunk overrides are kept: an OverrideTable, or a plain Map for the Preventer's few buffers. */
export interface OverrideStore {
  get(key: number): Overrides | undefined;
  set(key: number, o: Overrides): unknown;
  delete(key: number): unknown;
  readonly size: number;
}

/**
 * The overrides of one address space (pages, swap slots or image blocks), with a byte per key
 * saying whether it has any: the data plane asks about every page it moves, and almost none have
 * overrides, so the answer mostly comes from the byte instead of a hash lookup.
 */
export class OverrideTable implements OverrideStore {
  private readonly map = new Map<number, Overrides>();
  private readonly present: Uint8Array;

  constructor(keys: number) {
    this.present = new Uint8Array(keys);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: number): Overrides | undefined {
    return this.present[key] ? this.map.get(key) : undefined;
  }

  set(key: number, o: Overrides): void {
    this.present[key] = 1;
    this.map.set(key, o);
  }

  delete(key: number): void {
    if (!this.present[key]) return;
    this.present[key] = 0;
    this.map.delete(key);
  }
}

function setOver(map: OverrideStore, key: number, o: Overrides | undefined): void {
  if (o && o.size > 0) map.set(key, o);
  else if (map.size > 0) map.delete(key);
}

/** Chunks first, first + 1, ... of `key` take `values`, over whatever it had. */
export function setChunks(store: OverrideStore, key: number, first: number, values: readonly number[]): void {
  let o = store.get(key);
  if (!o) store.set(key, (o = new Overrides()));
  for (let i = 0; i < values.length; i++) o.set(first + i, values[i]!);
}

/** dst[key] becomes a copy of src[from]'s overrides (or none); most pages have none on either side. */
function copyOver(dst: OverrideStore, key: number, src: OverrideStore, from: number): void {
  const o = src.size > 0 ? src.get(from) : undefined;
  if (o && o.size > 0) dst.set(key, new Overrides(o));
  else if (dst.size > 0) dst.delete(key);
}

/** Block b's content before anyone writes it (a version no write produces). */
export const initialBlockContent = (b: number): number => 0x10000000 + b;

/**
 * Each block's content version on a disk image of millions of blocks, all of them at first holding
 * their initial content (initialBlockContent). Kept as the difference from that, modulo 2^32 (a
 * bijection, so every version stays representable): a new image is all zeros, whose allocation
 * costs nothing until a block is written. Filling two image-sized arrays (the data plane's and the
 * guest's reference) with the initial content cost about 100 ms per run, 7 % of a §5.1 pbzip2 run.
 */
export class BlockContents {
  private readonly delta: Uint32Array;

  constructor(readonly blocks: number) {
    this.delta = new Uint32Array(blocks);
  }

  get(b: number): number {
    return (this.delta[b]! + initialBlockContent(b)) >>> 0;
  }

  set(b: number, v: number): void {
    // The array's own conversion takes the difference modulo 2^32.
    this.delta[b] = v - initialBlockContent(b);
  }
}

/** What a swap area holds: each slot's content, and the chunks written over it. */
export interface SwapContents {
  readonly swap: Uint32Array;
  readonly swapOver: OverrideTable;
}

/** An empty swap area of `slots` slots (never-written slots hold POISON, so reading one shows). */
export function swapContents(slots: number): SwapContents {
  return { swap: new Uint32Array(slots).fill(POISON), swapOver: new OverrideTable(slots) };
}

/**
 * Where the bytes are, in simulation: every page, swap slot and image block carries a content
 * version (plus, for pages written partially, per-chunk overrides) instead of 4 KiB of data. The
 * core decides; this plane executes its actions literally, so a core bug (a dirty page dropped, a
 * stale block read back, a remap that skipped bytes) shows up as a content mismatch, not a guess.
 */
export class DataPlane {
  readonly mem: Uint32Array;
  readonly swap: Uint32Array;
  /** The guest's image: every block holds its initial content until written. */
  readonly image: BlockContents;
  readonly vmmFile: Uint32Array;
  readonly memOver: OverrideTable;
  readonly swapOver: OverrideTable;
  readonly imageOver: OverrideTable;
  /** The Preventer's buffers: chunks the guest wrote to pages being emulated. */
  readonly buffers = new Map<number, Overrides>();
  /**
   * 1 where page p's content was found equal to its guest's reference and neither has changed
   * since: set by the guest after a comparison that held, cleared by `changed(p)`, which every
   * change to the page's content here and to the guest's reference goes through. A guest checks a
   * kernel page on every read of it (a Fig. 14 guest thousands of times a second), and a check
   * compares the two contents' overrides, four objects far apart in the heap: a fifth of a
   * ten-guest run. A page checked and unchanged since is equal by the same comparison.
   */
  readonly refChecked: Uint8Array;
  /** Calls of `changed` so far: a caller tells from it that no page changed meanwhile. */
  changes = 0;
  private readonly firstVmm: number;

  /**
   * `sharedSwap`: the contents of a swap area several guests' planes share (one host swap device,
   * `swapContents`); by default the plane has an area of its own of `swapSlots` slots.
   */
  constructor(
    pageCount: number,
    swapSlots: number,
    imageBlocks: number,
    vmmPages: number,
    guestPages: number,
    sharedSwap?: SwapContents,
  ) {
    if (sharedSwap !== undefined && sharedSwap.swap.length !== swapSlots)
      throw new RangeError(
        `DataPlane: the shared swap area has ${sharedSwap.swap.length} slots, not ${swapSlots}`,
      );
    this.mem = new Uint32Array(pageCount).fill(POISON);
    this.refChecked = new Uint8Array(pageCount);
    const swap = sharedSwap ?? swapContents(swapSlots);
    this.swap = swap.swap;
    this.image = new BlockContents(imageBlocks);
    this.memOver = new OverrideTable(pageCount);
    this.swapOver = swap.swapOver;
    this.imageOver = new OverrideTable(imageBlocks);
    // Each of QEMU's code pages has a distinct, fixed content.
    this.vmmFile = new Uint32Array(vmmPages);
    for (let i = 0; i < vmmPages; i++) this.vmmFile[i] = 0x40000000 + i;
    this.firstVmm = guestPages;
  }

  /** Page p's content or its guest's reference is about to change: its last check no longer holds. */
  changed(p: number): void {
    this.refChecked[p] = 0;
    this.changes++;
  }

  /** Applies what happens the moment an action is issued (a write snapshots memory now). */
  issue(a: CoreAction): void {
    switch (a.kind) {
      case 'write':
        for (let i = 0; i < a.pages.length; i++) {
          const p = a.pages[i]!;
          this.swap[a.start + i] = this.mem[p]!;
          copyOver(this.swapOver, a.start + i, this.memOver, p);
        }
        break;
      case 'drop':
        for (let i = 0; i < a.pages.length; i++) this.drop(a.pages[i]!);
        break;
      case 'dropVmm':
        this.drop(this.firstVmm + a.page);
        break;
      case 'zero':
        this.writePage(a.page, 0);
        break;
      case 'remap':
        this.changed(a.page);
        this.mem[a.page] = NO_BASE;
        setOver(this.memOver, a.page, this.buffers.get(a.page));
        this.buffers.delete(a.page);
        break;
      case 'discardBuffer':
        this.buffers.delete(a.page);
        break;
      default:
        break;
    }
  }

  /** Applies a read when the disk has delivered it, merging a Preventer buffer over the old content. */
  completeRead(a: ReadAction): void {
    const image = a.source === 'image' ? this.image : undefined;
    const src = a.source === 'swap' ? this.swap : this.vmmFile;
    const srcOver = a.source === 'swap' ? this.swapOver : a.source === 'image' ? this.imageOver : undefined;
    // QEMU's code pages live after the guest's frames in this plane's memory.
    const base = a.source === 'vmm' ? this.firstVmm : 0;
    for (let i = 0; i < a.pages.length; i++) {
      const p = base + a.pages[i]!;
      const u = a.units[i]!;
      this.changed(p);
      this.mem[p] = image ? image.get(u) : src[u]!;
      const buf = this.buffers.size > 0 ? this.buffers.get(p) : undefined;
      if (!buf) {
        if (srcOver) copyOver(this.memOver, p, srcOver, u);
        else if (this.memOver.size > 0) this.memOver.delete(p);
        continue;
      }
      const over = clone(srcOver?.get(u)) ?? new Overrides();
      over.overlay(buf);
      this.buffers.delete(p);
      setOver(this.memOver, p, over);
    }
  }

  /** The page's frame was freed: its content is gone from memory. */
  drop(p: number): void {
    this.changed(p);
    this.mem[p] = POISON;
    this.memOver.delete(p);
  }

  writePage(p: number, v: number): void {
    this.changed(p);
    this.mem[p] = v;
    this.memOver.delete(p);
  }

  writeChunks(p: number, first: number, chunks: number, v: number, into: OverrideStore = this.memOver): void {
    if (into === this.memOver) this.changed(p);
    let o = into.get(p);
    if (!o) into.set(p, (o = new Overrides()));
    for (let c = first; c < first + chunks; c++) o.set(c, v);
  }

  /** Chunks first, first + 1, ... of page p take `values` (a sector read into part of the page). */
  setChunks(p: number, first: number, values: readonly number[]): void {
    this.changed(p);
    setChunks(this.memOver, p, first, values);
  }

  bufferWrite(p: number, first: number, chunks: number, v: number): void {
    this.writeChunks(p, first, chunks, v, this.buffers);
  }

  copyImageToPage(b: number, p: number): void {
    this.changed(p);
    this.mem[p] = this.image.get(b);
    setOver(this.memOver, p, clone(this.imageOver.get(b)));
  }

  copyPageToImage(p: number, b: number): void {
    this.image.set(b, this.mem[p]!);
    setOver(this.imageOver, b, clone(this.memOver.get(p)));
  }

  isVmm(page: number): boolean {
    return page >= this.firstVmm;
  }
}
