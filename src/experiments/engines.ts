import type { Engine } from '../engine/engine.js';
import { pagerEngine } from '../pager/engine.js';
import { probeGuestFootprint } from '../pager/footprint-probe.js';
import { makeQemuEngine } from '../qemu/engine.js';
import { simEngine } from './sim-engine.js';

/** Every engine, one line each: the CLI, the conformance suite and the library find them here. */
export const ENGINES: readonly Engine[] = [
  simEngine, // the simulator: every figure, every configuration
  // stock QEMU, the host's swapping: baseline, balloon; scaled runs sized by the pager's measurement
  makeQemuEngine(probeGuestFootprint),
  pagerEngine, // stock QEMU, our userfaultfd pager: baseline, mapper
];

/** The engine of that name, or undefined. */
export function findEngine(name: string): Engine | undefined {
  return ENGINES.find((e) => e.name === name);
}
