/** The `qemu-pager` engine: stock QEMU whose guest RAM and disk our daemon serves, with or without the Mapper. */
export { pagerEngine } from './engine.js';
export {
  runPagerConfig,
  pagerCacheDir,
  buildShim,
  type PagerConfigName,
  type BalloonStep,
  balloonScheduleOf,
  type PagerRunOptions,
  type PagerRunResult,
} from './run.js';
export { pagerMetrics, pagerNotes, type Stats } from './metrics.js';
export { DaemonProcess } from './daemon-client.js';
