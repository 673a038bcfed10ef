/** vswapper's library API. */
export * from './core/index.js';
export { CoreDriver, type ActionPort, type DriverAction } from './driver/core-driver.js';
export { runGuestIo, type GuestIoRequest, type GuestIoPort } from './driver/guest-io.js';
export { Machine, PAPER_MACHINE, CONFIG_MECHANISMS, type MachineSpec } from './sim/machine.js';
export { Hdd, CONSTELLATION_ES_2TB } from './sim/disk/hdd.js';
export { Ssd, SATA_SSD_2013 } from './sim/disk/ssd.js';
export type { DiskModel } from './sim/disk/model.js';
export { runSim, type SimRunSpec, type SimRunResult } from './experiments/sim-runner.js';
export { reproduceSim, SIM_FIGURE_IDS } from './experiments/reproduce.js';
export {
  parseExperiment,
  loadExperiment,
  runExperiment,
  experimentSchema,
  ExperimentFileError,
} from './experiments/experiment-file.js';
export * from './engine/results.js';
export {
  type Engine,
  type EngineFigure,
  type EngineProgress,
  type FigureRunOptions,
  type FigureX,
  type Availability,
  type Verdict,
  EngineInputError,
  EngineUnavailableError,
  checkRequest,
} from './engine/engine.js';
export { ENGINES, findEngine } from './experiments/engines.js';
export { FIGURE_SPECS } from './experiments/figure-specs.js';
export { sysbenchSeqRead } from './workloads/sysbench.js';
// §5.2's many guests on one host, and the balloon policy a user may replace (MOM's by default).
export {
  runMulti,
  type MultiRunSpec,
  type MultiRunResult,
  type GuestOutcome,
  type MultiTimeline,
} from './experiments/multi-runner.js';
export {
  type BalloonPolicy,
  type BalloonTarget,
  type GuestBalloonStats,
  type HostMemoryStats,
  StatHistory,
} from './policy/balloon-policy.js';
export { MomBalloonPolicy, MOM_DEFAULTS, type MomParams } from './policy/mom-policy.js';
export { buildWorkload, type WorkloadSpec } from './workloads/index.js';
