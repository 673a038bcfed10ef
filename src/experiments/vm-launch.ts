import { type VmOutcome, runVm } from '../pager/vm/vm-run.js';
import type { VmPlan } from './vm-inputs.js';

export type { VmOutcome } from '../pager/vm/vm-run.js';

/** Runs a checked `vswapper vm` plan until the guest powers off or `signal` aborts (pager/vm/vm-run.ts). */
export function launchVm(
  plan: VmPlan,
  hooks: { onProgress: (line: string) => void; signal: AbortSignal },
): Promise<VmOutcome> {
  return runVm({
    image: plan.image,
    memoryBytes: plan.memoryBytes,
    limitBytes: plan.limitBytes,
    ...(plan.swap !== undefined ? { swap: plan.swap } : {}),
    accel: plan.accel,
    ...(plan.control !== undefined ? { control: plan.control } : {}),
    ...(plan.metricsPort !== undefined ? { metricsPort: plan.metricsPort } : {}),
    mapper: plan.mapper,
    preventer: plan.preventer,
    ...(plan.qemu !== undefined ? { qemu: plan.qemu } : {}),
    qemuArgs: plan.qemuArgs,
    statusEveryS: plan.quiet ? 0 : plan.statusEveryS,
    onProgress: plan.quiet ? () => undefined : hooks.onProgress,
    signal: hooks.signal,
  });
}
