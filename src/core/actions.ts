import type { BlockNo, FaultId, Gfn, IoId, SwapSlot, VmmPage } from './types.js';

/**
 * What the core asks its driver to do, typed per address space: a swap read names swap slots and
 * guest frames, an image read image blocks and guest frames, a read of the hypervisor's own code
 * names its file pages. The driver carries each action out in the order the core emitted it and
 * reports the end of every read and write (readDone/writeDone).
 */
export type CoreAction =
  | SwapReadAction
  | ImageReadAction
  | VmmReadAction
  | SwapWriteAction
  | DropAction
  /** The frame of one of the hypervisor's code pages was freed (its executable still has it). */
  | { kind: 'dropVmm'; page: VmmPage }
  /** A zero-filled frame was installed for the page. */
  | { kind: 'zero'; page: Gfn }
  /** The fault (or wait) `fault` has completed: whoever waited on it may continue. */
  | { kind: 'faultDone'; fault: FaultId }
  /** Call timerFired(page) after `delayNs` (the Preventer's emulation deadline). */
  | { kind: 'timer'; page: Gfn; delayNs: number }
  /** The Preventer's buffer for the page, now written whole, becomes the page. */
  | { kind: 'remap'; page: Gfn }
  /** The Preventer's buffer for the page is dropped (a device or the balloon supersedes it). */
  | { kind: 'discardBuffer'; page: Gfn };

/** Read swap slots `units[i]` (a run from `start`, `count` slots long, maybe with holes) into `pages[i]`. */
export interface SwapReadAction {
  kind: 'read';
  source: 'swap';
  id: IoId;
  start: SwapSlot;
  count: number;
  pages: Gfn[];
  units: SwapSlot[];
}

/** Read image blocks `units[i]` into `pages[i]` (the Mapper's refaults and merges). */
export interface ImageReadAction {
  kind: 'read';
  source: 'image';
  id: IoId;
  start: BlockNo;
  count: number;
  pages: Gfn[];
  units: BlockNo[];
}

/** Read pages of the hypervisor's executable back into its memory (`pages[i]` is `units[i]`). */
export interface VmmReadAction {
  kind: 'read';
  source: 'vmm';
  id: IoId;
  start: VmmPage;
  count: number;
  pages: VmmPage[];
  units: VmmPage[];
}

/**
 * The frames of guest pages `pages` were freed, in that order; their content is gone from memory.
 * Pages freed one after another (a reclaim pass drops dozens) share one action: a per-page object
 * was most of the actions the swapping path made.
 */
export interface DropAction {
  kind: 'drop';
  pages: Gfn[];
}

export type ReadAction = SwapReadAction | ImageReadAction | VmmReadAction;
export type ReadSource = ReadAction['source'];

/** Write `pages[i]` to swap slot `start + i`. The content is the page's as of this action. */
export interface SwapWriteAction {
  kind: 'write';
  id: IoId;
  start: SwapSlot;
  pages: Gfn[];
}
