import type { WritebackParams } from './page-cache.js';

/**
 * Windows Server 2012's memory and cache managers, the parts §5.4's experiments exercise. Source,
 * unless a line says otherwise: M. Russinovich, D. Solomon, A. Ionescu, _Windows Internals_, 6th ed.
 * (Microsoft Press, 2012), Part 2: ch. 10 "Memory Management" (page frame database, page lists,
 * the zero page thread) and ch. 11 "Cache Manager" (read-ahead, lazy writer).
 */

/**
 * The zero page thread is signalled when the free list holds eight or more pages (ch. 10, "Page List
 * Dynamics"); it runs at priority 0, the lowest, so only when the processor has nothing else to run.
 */
export const ZERO_THREAD_WAKE_FREE_PAGES = 8;

/**
 * The cache manager reads ahead in units of the read-ahead granularity, 64 KB by default (ch. 11,
 * "Intelligent Read-Ahead"). The window grows as Linux's does here; only its cap is Windows'.
 */
export const CACHE_READ_AHEAD_PAGES = 64 / 4;

/**
 * The lazy writer: once a second it queues an eighth of the cache's dirty pages for writing (ch. 11,
 * "Lazy Writer"), which the modified list holds meanwhile. Writers are throttled above the dirty
 * page threshold; its default depends on the system's size and is not given for this one: half of
 * the cache is an assumption, which neither §5.4 workload approaches (Sysbench only reads, bzip2
 * writes about 0.5 MB/s).
 */
export const WINDOWS_LAZY_WRITER: WritebackParams = {
  backgroundRatio: 0.5,
  dirtyRatio: 0.5,
  expireNs: 0,
  intervalNs: 1e9,
  // Not used: sharePerWake says how much goes per wake-up.
  chunkPages: 0,
  sharePerWake: 1 / 8,
};

/**
 * §5.4: "despite this configuration we still observed sporadic 512 byte disk accesses" (NTFS
 * metadata outside the 4 KB clusters). The paper gives no rate: one a second is an assumption,
 * half of them reads; the §5.4 results do not depend on it (the Windows tests run it at zero too).
 */
export const SECTOR_IO_PER_SEC = 1;
