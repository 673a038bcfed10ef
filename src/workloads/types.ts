import type { GuestFileSpec, GuestOs, Program } from '../sim/guest/guest-os.js';

/** Hooks a workload calls so the runner can measure each iteration of the paper's experiments. */
export interface WorkloadContext {
  os: GuestOs;
  iterationStart(n: number): void;
  iterationEnd(n: number): void;
  /** The workload enters a named phase (e.g. Metis's map, reduce, merge), for timelines. */
  phase?(name: string): void;
}

/**
 * A program for the simulated guest. One interface, several workloads, one conformance suite
 * (test/workload-conformance.test.ts) that each passes.
 */
export interface Workload {
  readonly name: string;
  /** Files the guest's disk holds before the run. */
  readonly files: GuestFileSpec[];
  /** Anonymous buffer the program writes into (its heap/stack working set). */
  readonly userBufferPages: number;
  readonly iterations: number;
  program(ctx: WorkloadContext): Program;
}
