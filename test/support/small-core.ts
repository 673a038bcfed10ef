import { DEFAULT_CORE_TUNABLES } from '../../src/core/index.js';

/**
 * A core small enough to drive by hand: 512 guest pages, 96 of them resident at most, no Mapper, no
 * hypervisor pages; swap and image roomy enough never to be what a test runs into.
 */
export const SMALL_CORE_CONFIG = {
  ...DEFAULT_CORE_TUNABLES,
  guestPages: 512,
  vmmPages: 0,
  imageBlocks: 64,
  swapSlots: 1024,
  residentLimitPages: 96,
  mapper: false,
};
