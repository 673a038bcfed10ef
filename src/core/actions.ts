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

/**
 * Every field any action has, in one order; a kind's own fields are set and the rest undefined.
 * Actions are made by record() below only, so that they all share one hidden class.
 */
interface ActionRecord {
  kind: CoreAction['kind'];
  source: ReadSource | undefined;
  id: IoId | undefined;
  start: number | undefined;
  count: number | undefined;
  pages: number[] | undefined;
  units: number[] | undefined;
  page: number | undefined;
  fault: FaultId | undefined;
  delayNs: number | undefined;
}

/** A field a kind does not have (short, so that each constructor's record() reads on one line). */
const none = undefined;

/**
 * The one place an action object is made: one object literal with every field of every kind, the
 * ones a kind does not have left undefined. All actions then share one hidden class, so a driver's
 * `a.kind` (and every other field it reads) is a monomorphic load; with a literal per kind, the
 * swapping path alone made five shapes, and each read of `kind` was a megamorphic lookup, a call.
 * Nothing else changes for a driver: the types name each kind's own fields only, and JSON leaves
 * undefined fields out.
 */
function record(
  kind: CoreAction['kind'],
  source: ReadSource | undefined,
  id: IoId | undefined,
  start: number | undefined,
  count: number | undefined,
  pages: number[] | undefined,
  units: number[] | undefined,
  page: number | undefined,
  fault: FaultId | undefined,
  delayNs: number | undefined,
): ActionRecord {
  return { kind, source, id, start, count, pages, units, page, fault, delayNs };
}

/** A read of swap slots into guest frames (see SwapReadAction). */
export function swapReadAction(
  id: IoId,
  start: SwapSlot,
  count: number,
  pages: Gfn[],
  units: SwapSlot[],
): SwapReadAction {
  const a = record('read', 'swap', id, start, count, pages, units, none, none, none);
  return a as unknown as SwapReadAction;
}

/** A read of image blocks into guest frames (see ImageReadAction). */
export function imageReadAction(
  id: IoId,
  start: BlockNo,
  count: number,
  pages: Gfn[],
  units: BlockNo[],
): ImageReadAction {
  const a = record('read', 'image', id, start, count, pages, units, none, none, none);
  return a as unknown as ImageReadAction;
}

/** A read of the hypervisor's own pages from its executable (see VmmReadAction). */
export function vmmReadAction(id: IoId, start: VmmPage, count: number, pages: VmmPage[]): VmmReadAction {
  return record('read', 'vmm', id, start, count, pages, pages, none, none, none) as unknown as VmmReadAction;
}

/** A swap write action (see SwapWriteAction). */
export function writeAction(id: IoId, start: SwapSlot, pages: Gfn[]): SwapWriteAction {
  return record('write', none, id, start, none, pages, none, none, none, none) as unknown as SwapWriteAction;
}

/** A drop action of guest pages (see DropAction). */
export function dropAction(pages: Gfn[]): DropAction {
  return record('drop', none, none, none, none, pages, none, none, none, none) as unknown as DropAction;
}

/** An action about one guest page: `zero`, `remap` or `discardBuffer`. */
export function guestPageAction(kind: 'zero' | 'remap' | 'discardBuffer', page: Gfn): CoreAction {
  return record(kind, none, none, none, none, none, none, page, none, none) as CoreAction;
}

/** The frame of the hypervisor's code page `page` was freed. */
export function vmmDropAction(page: VmmPage): CoreAction {
  return record('dropVmm', none, none, none, none, none, none, page, none, none) as CoreAction;
}

/** The fault `fault` has completed. */
export function faultDoneAction(fault: FaultId): CoreAction {
  return record('faultDone', none, none, none, none, none, none, none, fault, none) as CoreAction;
}

/** Call timerFired(page) after `delayNs`. */
export function timerAction(page: Gfn, delayNs: number): CoreAction {
  return record('timer', none, none, none, none, none, none, page, none, delayNs) as CoreAction;
}
