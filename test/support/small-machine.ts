import { QEMU_1_2 } from '../../src/sim/costs.js';
import { Machine, type MachineSpec, PAPER_MACHINE } from '../../src/sim/machine.js';

/**
 * A small machine for guest-level tests: the paper's, with a guest that believes 32 MiB (a 4 MiB
 * kernel, all of it given by the host unless `guestActualMiB` says less), 64 pages of QEMU code and
 * one 8 MiB file; `spec` overrides any of it.
 */
export function smallMachine(spec: Partial<MachineSpec> & Pick<MachineSpec, 'config'>): Machine {
  return new Machine({
    ...PAPER_MACHINE,
    guestBelievedMiB: 32,
    guestActualMiB: 32,
    guestKernelMiB: 4,
    vmm: { ...QEMU_1_2, codePages: 64 },
    files: [{ name: 'data', sizePages: 2048 }],
    ...spec,
  });
}
