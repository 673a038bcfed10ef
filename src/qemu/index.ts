/** The `qemu` engine: stock QEMU, the host's own swapping under a memory cgroup, and the balloon. */
export { qemuEngine } from './engine.js';
export { runQemuConfig, type QemuConfig, type QemuRunOptions, type QemuRunResult } from './run.js';
export { phaseMetrics, type HostSample } from './metrics.js';
