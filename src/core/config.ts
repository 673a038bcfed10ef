import { ConfigError } from './errors.js';
import type { FileReadaheadName, SwapReadaheadName } from './readahead/policies.js';

export interface CoreConfig {
  guestPages: number;
  /** The hypervisor process's own file-backed pages (QEMU's code), reclaimed beside the guest's. */
  vmmPages: number;
  imageBlocks: number;
  swapSlots: number;
  /** The cgroup limit: guest frames plus the hypervisor's pages that may be resident at once. */
  residentLimitPages: number;
  /** The Swap Mapper: track which guest pages hold unmodified image blocks and drop them on eviction. */
  mapper: boolean;
  /**
   * The False Reads Preventer (§4.2): writes to absent pages are buffered instead of faulting the
   * old content in; a page overwritten whole (the paper's REP string case) is remapped without a read.
   */
  preventer: boolean;
  /** At most this many pages are emulated at once; more writes to absent pages fault (§4.2: 32). */
  preventerMaxPages: number;
  /** Emulation of a page stops this long after its first emulated write (§4.2: 1 ms). */
  preventerTimeoutNs: number;
  /** Linux vm.swappiness: anon vs file reclaim pressure (anon_prio = swappiness, file_prio = 200 - it). */
  swappiness: number;
  /** Linux vm.page-cluster: swap readahead reads at most 2^pageClusterLog2 slots. */
  pageClusterLog2: number;
  /**
   * How swap-ins choose the pages read with the faulting one: 'cluster' (Linux 3.7's
   * swapin_readahead: the aligned window of slots around the faulting slot) or 'vma' (Linux 4.14's
   * swap_vma_readahead: the swapped pages around the faulting address, sized by recent hits).
   */
  swapReadahead: SwapReadaheadName;
  /** How refaults of dropped named pages (and QEMU's code) choose their window: 'readaround'. */
  fileReadahead: FileReadaheadName;
  /** Read-around window, in pages, when a dropped named page (or QEMU code) is faulted back. */
  fileReadaroundPages: number;
  /** SWAP_CLUSTER_MAX: pages each reclaim pass tries to free. */
  reclaimBatchPages: number;
  swapClusterSlots: number;
  /**
   * Hardware without EPT dirty bits (the paper's Sandy Bridge Xeon): the host treats every guest page
   * it maps as dirty, so a page swapped in and touched loses its swap copy and is written again.
   */
  hostAssumesDirty: boolean;
  /**
   * KVM's asynchronous page faults (Linux 3.7, a guest that enabled them): a vCPU fault on a page
   * that needs I/O is finished by a worker calling get_user_pages() with write=1
   * (virt/kvm/async_pf.c, async_pf_execute), whatever the guest's access was. The host fault is
   * then a write fault: do_swap_page's reuse_swap_page() takes the page out of the swap cache and
   * dirties it, so its next eviction writes it to a newly allocated slot. Only the faulting page is
   * affected: pages swap readahead brought in are mapped later by plain faults and keep their slots.
   */
  asyncPfWriteFaults: boolean;
  /**
   * Sizes in GiB of the host's memory zones (per NUMA node: DMA32, Normal). Each zone keeps its own
   * LRU lists, as Linux's per-zone lruvec does; a page lands in the zone its frame came from, and
   * reclaim takes its batches zone by zone, so eviction interleaves several LRU orders.
   */
  zoneWeights: readonly number[];
  /**
   * New frames come from one zone in runs: the allocator serves from a zone until it falls below its
   * low watermark and kswapd tops it up to its high one. The run is that gap, min_pages / 4, which
   * Linux 3.7 sets in proportion to the zone's size: this many pages per GiB of zone.
   */
  allocRunPagesPerGiB: number;
  /** Seeds the choice of zone for new frames: the core's only randomness, so it stays deterministic. */
  seed: number;
  /**
   * TESTS ONLY: breaks one rule on purpose, so a test can prove the integrity checks of whole figure
   * runs catch it (test/planted-bugs.test.ts). No experiment or CLI path sets it.
   */
  plantedBug?: PlantedBug;
}

/**
 * The rules a test may break: the Mapper's copy-on-write unlink of a named page the CPU writes;
 * the Preventer's merge of a buffer with the page's own old content (it reads the neighbouring
 * swap slot instead).
 */
export type PlantedBug = 'mapper-no-cow-unlink' | 'preventer-merge-wrong-slot';

export const DEFAULT_CORE_TUNABLES = {
  swappiness: 60,
  pageClusterLog2: 3,
  swapReadahead: 'cluster',
  fileReadahead: 'readaround',
  fileReadaroundPages: 32,
  reclaimBatchPages: 32,
  swapClusterSlots: 256,
  hostAssumesDirty: true,
  asyncPfWriteFaults: true,
  preventer: false,
  preventerMaxPages: 32,
  preventerTimeoutNs: 1_000_000,
  // The paper's Dell R420 with 16 GB on two sockets: node 0 has DMA32 (about 3 GB) and Normal
  // (5 GB), node 1 has Normal (8 GB).
  zoneWeights: [3, 5, 8],
  // min_free_kbytes = sqrt(16 x 16 GiB in KiB) = 16 MiB, shared by the zones by size: 256 pages of
  // min per GiB, and a low-to-high watermark gap of a quarter of that.
  allocRunPagesPerGiB: 64,
  seed: 1,
} as const satisfies Partial<CoreConfig>;

/**
 * Throws a ConfigError naming the first field out of its domain. (The readahead policies' names are
 * checked where they are looked up, in readahead/policies.ts.)
 */
export function validateCoreConfig(c: CoreConfig): void {
  const positive: (keyof CoreConfig)[] = [
    'guestPages',
    'imageBlocks',
    'swapSlots',
    'residentLimitPages',
    'reclaimBatchPages',
    'swapClusterSlots',
    'fileReadaroundPages',
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new ConfigError(k, `must be a positive integer, got ${String(v)}`);
  }
  if (!Number.isInteger(c.vmmPages) || c.vmmPages < 0)
    throw new ConfigError('vmmPages', `must be a non-negative integer, got ${c.vmmPages}`);
  if (!(c.swappiness >= 0 && c.swappiness <= 200))
    throw new ConfigError('swappiness', `must be within 0..200, got ${c.swappiness}`);
  if (c.zoneWeights.length < 1 || c.zoneWeights.length > 63 || c.zoneWeights.some((w) => !(w > 0))) {
    throw new ConfigError('zoneWeights', 'must list 1 to 63 positive zone sizes');
  }
  if (!(c.allocRunPagesPerGiB > 0))
    throw new ConfigError('allocRunPagesPerGiB', `must be positive, got ${c.allocRunPagesPerGiB}`);
  if (!Number.isInteger(c.pageClusterLog2) || c.pageClusterLog2 < 0 || c.pageClusterLog2 > 10) {
    throw new ConfigError('pageClusterLog2', `must be an integer within 0..10, got ${c.pageClusterLog2}`);
  }
}
