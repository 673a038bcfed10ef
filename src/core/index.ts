/**
 * The core's public face: what drivers, engines and tests use; everything else under src/core/ is
 * the core's own business, and ESLint keeps other folders to this file. The store's plain data
 * structures (LRU lists, the swap slot allocator, IdMap) are here too: the simulated guest's own
 * memory management and the drivers reuse them.
 */
export { MemoryCore, BUFFERED, type PageInfo } from './memory-core.js';
export type { GlobalScan, HostMemory } from './reclaim.js';
export { type CoreConfig, type PlantedBug, DEFAULT_CORE_TUNABLES } from './config.js';
export type {
  CoreAction,
  ReadAction,
  ReadSource,
  SwapReadAction,
  ImageReadAction,
  VmmReadAction,
  SwapWriteAction,
} from './actions.js';
export { CoreCounters } from './counters.js';
export type { Census } from './invariants.js';
export { CHUNKS_PER_PAGE } from './emulated-page.js';
export { State, Flag, type StateCode } from './store/page-table.js';
export { LruList, type LruListKind } from './store/lruvec.js';
export {
  SWAP_READAHEAD_POLICIES,
  FILE_READAHEAD_POLICIES,
  type SwapReadaheadName,
  type FileReadaheadName,
} from './readahead/policies.js';
export { LruLists } from './store/lru-lists.js';
export { type SwapArea, SwapSpace } from './store/swap-space.js';
export { IdMap, IdMapError } from './store/id-map.js';
export * from './errors.js';
export * from './types.js';
