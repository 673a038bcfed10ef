import { NONE } from '../types.js';
import { hasBit as hasBitBinding, newBitmap, setBit as setBitBinding } from './bitmap.js';

/** Module constants, which the compiler writes in (see NOT_ON_LIST in lru-queues.ts). */
const hasBit = hasBitBinding;
const setBit = setBitBinding;

/**
 * Where a page's content lives. One byte per page. The core's page index space covers guest frames
 * [0, guestPages) and then the hypervisor's own file-backed pages.
 */
// A const enum, not an object: tsc writes the number in at every use. An imported object's field
// costs V8's optimized code a read of the live binding's cell, a check that the binding is
// initialised and a check of the object's shape at every use, and the hot paths test these on
// every page they look at (a tenth of the swapping path's instructions).
export const enum State {
  /** Never populated: the first touch gets a zero-filled frame, no read. */
  Untouched = 0,
  /** In a host frame. */
  Resident = 1,
  /** Content only in the swap slot `slot[p]`. */
  Swapped = 2,
  /** Dropped by the Mapper: content equals image block `block[p]` (or the VMM's file page). */
  InImage = 3,
  /** A frame is reserved and a read (or a device write) into it is in flight. */
  Loading = 4,
  /** Given to the host by the guest's balloon: no content; zero-filled if ever touched again. */
  Ballooned = 5,
  /**
   * Absent, but the Preventer buffers the guest's writes to it in a frame of its own; reads of
   * buffered bytes are served from there. Ends in a remap (all bytes written) or a merge with the
   * old content, read from swap or the image.
   */
  Emulating = 6,
}
export type StateCode = State;

/** Bit flags, one byte per page. */
// A const enum for the reason State is one.
export const enum Flag {
  /** Accessed since the last reclaim scan (the pte/EPT young bit, or KVM's emulation of it). */
  Referenced = 1,
  /** Content differs from every backing copy: eviction must write it to swap. */
  Dirty = 2,
  /** Mapper: page is backed by image block `block[p]` and equal to it (the paper's named page). */
  Named = 4,
  /** Holds swap slot `slot[p]` whose content equals the page (Linux's swap cache). */
  SwapCache = 8,
  /** A swap write of this page is in flight. */
  Writeback = 16,
  /** Second-chance mark for file pages (Linux's PG_referenced). */
  SecondChance = 32,
  /**
   * Brought in by a readahead policy that adapts to its hits and not touched since (Linux's
   * PG_readahead on a swap cache page): the first touch counts a hit for the policy.
   */
  Readahead = 64,
  /** Loading, but the guest has since given the frame away (balloon): drop on completion. */
  DiscardOnLoad = 128,
}

/**
 * The page table: every per-page field in a typed array (about 22 bytes per page, plus 4 bytes per
 * image block for the reverse map), so a million-page guest costs tens of megabytes, not objects.
 */
export class PageTable {
  readonly pageCount: number;
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  /** Swap slot (valid when Swapped, or Resident with SwapCache / Writeback). */
  readonly slot: Int32Array;
  /**
   * Image block whose content this page holds ("provenance"). Kept in every configuration so that
   * silent swap writes can be counted by definition; only the Mapper acts on it (Flag.Named).
   */
  readonly block: Int32Array;
  /** Next page holding the same block (a block may sit in several guest pages). */
  readonly nextSameBlock: Int32Array;
  /** Outstanding device accesses (DMA) that forbid eviction (changed through pin and unpin). */
  readonly pins: Uint8Array;
  /**
   * One bit per page: pins nonzero (`pinned`), block not NONE (`linked`). Reclaim and the write
   * path ask these of pages scattered over the guest, and a bitmap (32 KiB per GiB of guest) stays
   * in cache where the byte and word arrays (256 KiB and 1 MiB per GiB) missed on most of them.
   */
  private readonly pinnedBits: Int32Array;
  private readonly linkedBits: Int32Array;
  /**
   * First page holding each image block, plus one (0: none), so that a new table is all zeros: a
   * 20 GiB image has 5 M blocks, and filling them with NONE cost every run 15-20 ms of CPU and 20 MB
   * of memory touched, where zeros cost nothing until a block is named.
   */
  readonly firstPlusOne: Int32Array;

  constructor(pageCount: number, imageBlocks: number) {
    this.pageCount = pageCount;
    this.state = new Uint8Array(pageCount);
    this.flags = new Uint8Array(pageCount);
    this.slot = new Int32Array(pageCount).fill(NONE);
    this.block = new Int32Array(pageCount).fill(NONE);
    this.nextSameBlock = new Int32Array(pageCount).fill(NONE);
    this.pins = new Uint8Array(pageCount);
    this.pinnedBits = newBitmap(pageCount);
    this.linkedBits = newBitmap(pageCount);
    this.firstPlusOne = new Int32Array(imageBlocks);
  }

  /** The first page holding block `b`, or NONE (the rest follow through nextSameBlock). */
  firstOfBlock(b: number): number {
    const h = this.firstPlusOne[b]!;
    return h === 0 ? NONE : h - 1;
  }

  /** One more device access holds the page. */
  pin(page: number): void {
    this.pins[page]!++;
    setBit(this.pinnedBits, page, this.pins[page] !== 0);
  }

  /** One device access less holds the page. */
  unpin(page: number): void {
    this.pins[page]!--;
    setBit(this.pinnedBits, page, this.pins[page] !== 0);
  }

  /** pins[page] > 0, from the bitmap. */
  isPinned(page: number): boolean {
    return hasBit(this.pinnedBits, page);
  }

  /** block[page] !== NONE, from the bitmap. */
  isLinked(page: number): boolean {
    return hasBit(this.linkedBits, page);
  }

  has(page: number, flag: number): boolean {
    return (this.flags[page]! & flag) !== 0;
  }

  /** Records that `page` holds image block `b` (unlinking any earlier block). */
  linkBlock(page: number, b: number): void {
    this.unlinkBlock(page);
    this.block[page] = b;
    setBit(this.linkedBits, page, b !== NONE);
    this.nextSameBlock[page] = this.firstOfBlock(b);
    this.firstPlusOne[b] = page + 1;
  }

  /** Forgets the page's image block, keeping the per-block chain consistent. */
  unlinkBlock(page: number): void {
    if (!this.isLinked(page)) return;
    const b = this.block[page]!;
    let cur = this.firstOfBlock(b);
    if (cur === page) {
      this.firstPlusOne[b] = this.nextSameBlock[page]! + 1;
    } else {
      while (cur !== NONE) {
        const nxt = this.nextSameBlock[cur]!;
        if (nxt === page) {
          this.nextSameBlock[cur] = this.nextSameBlock[page]!;
          break;
        }
        cur = nxt;
      }
    }
    this.block[page] = NONE;
    setBit(this.linkedBits, page, false);
    this.nextSameBlock[page] = NONE;
    this.flags[page]! &= ~Flag.Named;
  }

  /** Pages currently holding block `b` (allocates; chains are short). */
  pagesOfBlock(b: number): number[] {
    const out: number[] = [];
    for (let p = this.firstOfBlock(b); p !== NONE; p = this.nextSameBlock[p]!) out.push(p);
    return out;
  }
}
