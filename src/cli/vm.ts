import { type Command, InvalidArgumentError } from 'commander';
import { type VmOptions, checkVmInputs } from '../experiments/vm-inputs.js';

export { VM_INPUT_ERRORS } from '../experiments/vm-inputs.js';

const MiB = 2 ** 20;

/** The inputs are valid but this build does not launch QEMU from `vswapper vm` yet (exit code 1). */
export class VmNotLaunchedError extends Error {
  override name = 'VmNotLaunchedError';
}

function port(v: string): number {
  const n = Number(v);
  if (!(v.trim() !== '' && Number.isInteger(n) && n >= 0 && n <= 65535))
    throw new InvalidArgumentError(`--metrics-port must be a port number 0..65535, got "${v}"`);
  return n;
}

export function registerVm(program: Command): void {
  program
    .command('vm')
    .description(
      "your own raw disk image as a VM under the VSwapper pager (QEMU with memfd RAM, the daemon's vhost-user-blk disk, the userfaultfd hand-over); checks every input first",
    )
    .requiredOption(
      '--image <file>',
      'the guest disk: a raw image whose partitions start at 4 KiB boundaries',
    )
    .requiredOption('--memory <size>', "the guest's RAM (QEMU's -m), e.g. 2G")
    .requiredOption('--limit <size>', 'the resident limit the pager keeps, e.g. 512M (at most --memory)')
    .option('--swap <file>', "the pager's swap file (default: a temporary file the size of --memory)")
    .option('--accel <accel>', 'tcg, or kvm where /dev/kvm offers hardware virtualization', 'tcg')
    .option('--control <socket>', 'the control socket (vswapper ctl SOCKET ...)')
    .option('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:PORT/metrics', port)
    .option('--no-mapper', "the pager's baseline: the Swap Mapper off")
    .option('--qemu <binary>', 'the QEMU to run', 'qemu-system-x86_64')
    .argument('[qemu-args...]', 'extra QEMU arguments, after --')
    .action(async (qemuArgs: string[], o: VmOptions) => {
      const plan = await checkVmInputs(o, qemuArgs);
      throw new VmNotLaunchedError(
        `inputs checked (${plan.image}: ${plan.imageBytes} bytes raw, ${plan.memoryBytes / MiB} MiB guest, limit ${plan.limitBytes / MiB} MiB, ${plan.accel}); not launched: this build does not start QEMU from vswapper vm yet (the engine's launch, src/pager/run.ts, is still tied to its experiment guest)`,
      );
    });
}
