import { QEMU_1_2 } from '../../src/sim/costs.js';
import type { Program } from '../../src/sim/guest/guest-os.js';
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

/**
 * Runs `body` as the guest's only program after the paper's setup: the guest's history (every free
 * frame touched), the balloon inflated to what the host gives when the configuration has one, the
 * host's limit, and its writeback drained.
 */
export function runAfterSetup(m: Machine, body: () => Program): void {
  const os = m.guest;
  const believed = m.spec.guestBelievedMiB * 256;
  const actual = m.spec.guestActualMiB * 256;
  m.run(
    (function* () {
      yield* os.touchAllFreeMemory();
      if (m.mechanisms.balloon) yield* os.inflateBalloon(believed - actual);
      m.host.setResidentLimit(m.cgroupLimitPages);
      while (m.core.pagesUnderWriteback > 0) yield* os.sleep(10e6);
      yield* body();
    })(),
  );
}
