import type { PageTable } from '../store/page-table.js';
import type { SwapArea } from '../store/swap-space.js';

/** What a readahead policy may look at: the page table, the swap map, and the sizes it works in. */
export interface ReadaheadContext {
  readonly pt: PageTable;
  readonly swap: SwapArea;
  /** The core's index of the hypervisor's first code page (guest frames come before it). */
  readonly firstVmmPage: number;
  readonly vmmPages: number;
  readonly imageBlocks: number;
  /** Linux vm.page-cluster: swap readahead reads at most 2^pageClusterLog2 pages. */
  readonly pageClusterLog2: number;
  /** The file read-around window, in pages. */
  readonly fileReadaroundPages: number;
}

/** The context of a core's policies: its tables, and the sizes from its configuration. */
export function readaheadContext(
  pt: PageTable,
  swap: SwapArea,
  firstVmmPage: number,
  cfg: Pick<ReadaheadContext, 'vmmPages' | 'imageBlocks' | 'pageClusterLog2' | 'fileReadaroundPages'>,
): ReadaheadContext {
  const { vmmPages, imageBlocks, pageClusterLog2, fileReadaroundPages } = cfg;
  return { pt, swap, firstVmmPage, vmmPages, imageBlocks, pageClusterLog2, fileReadaroundPages };
}

/**
 * Pages to read together, with the unit (swap slot, image block, code page) each is read from:
 * `pages[i]` from `units[i]`, for i below the window's length (see Readahead.window).
 */
export interface ReadWindow {
  pages: number[];
  units: number[];
}

/** A policy's window of a fault on `p`, as fresh arrays of its length (tests and checks: allocates). */
export function windowOf(policy: Readahead, p: number): ReadWindow {
  const out: ReadWindow = { pages: [], units: [] };
  const n = policy.window(p, out);
  return { pages: out.pages.slice(0, n), units: out.units.slice(0, n) };
}

/** Writes window `w` into `out` from index 0 and returns its length (a policy that builds its windows whole). */
export function putWindow(w: ReadWindow, out: ReadWindow): number {
  for (let i = 0; i < w.pages.length; i++) {
    out.pages[i] = w.pages[i]!;
    out.units[i] = w.units[i]!;
  }
  return w.pages.length;
}

/**
 * A readahead policy: which absent pages a fault reads together with the one it needs. One
 * interface for both kinds: a `swap` policy gives windows of swapped pages (units are their slots),
 * a `file` policy windows of dropped file-backed pages (the Mapper's named pages, whose units are
 * image blocks, and QEMU's code, whose units are its file pages). Policies are sans-I/O and
 * deterministic; each lives in a file of its own and is listed once, in policies.ts.
 */
export interface Readahead {
  readonly name: string;
  readonly source: 'swap' | 'file';
  /**
   * The window of a fault on absent page `p`: `p` and the pages read with it, each with its unit,
   * every page absent in the state the source serves (Swapped for swap, InImage for file) and
   * holding that unit; any order. Written into `out.pages` and `out.units` from index 0 (entries
   * past the window are left as they were), and its length returned: `out` is the caller's scratch,
   * kept for every fault, so a window is copied only into the read actions it becomes (a fresh pair
   * of arrays per fault was a tenth of the swapping path's allocation). It changes nothing, the
   * policy's own state included: a fault that must wait for frames asks again later.
   */
  window(p: number, out: ReadWindow): number;
  /**
   * The fault on `p` reads the window window(p) just gave: once per fault, so a policy that adapts
   * (the VMA policy's previous fault and window) counts each fault once, however often it waited.
   */
  started(p: number): void;
  /**
   * Whether the pages this policy reads ahead are marked (Flag.Readahead) so that their first touch
   * reports a hit(); policies that do not adapt leave them unmarked.
   */
  readonly tracksHits: boolean;
  /** Page `p`, read ahead by this policy, was used for the first time (Linux's readahead hit). */
  hit(p: number): void;
}
