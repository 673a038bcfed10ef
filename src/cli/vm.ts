import { type Command, InvalidArgumentError } from 'commander';
import { type VmOptions, checkVmInputs } from '../experiments/vm-inputs.js';
import { launchVm } from '../experiments/vm-launch.js';

export { VM_INPUT_ERRORS } from '../experiments/vm-inputs.js';

/** What `vswapper vm` reports itself (exit code 1): QEMU or the daemon failed while running. */
export const VM_RUN_ERRORS = new Set(['VmQemuError', 'VmDaemonDiedError']);

/** The shell's convention for a process ended by a signal: 128 + its number. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

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
      "your own raw disk image as a VM under the VSwapper pager (QEMU with memfd RAM, the daemon's vhost-user-blk disk, the userfaultfd hand-over) until the guest powers off; checks every input first",
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
    .option(
      '--no-preventer',
      'the Mapper without the False Reads Preventer even where the patched QEMU is built',
    )
    .option('--qemu <binary>', "the QEMU to run (default: Debian's qemu-system-x86_64, or the patched build)")
    .option('--status-every <seconds>', 'a status line on stderr every so many seconds (0: none)', '10')
    .option('--quiet', 'no progress or status lines (errors and how the VM ended only)')
    .argument('[qemu-args...]', 'extra QEMU arguments, after --')
    .action(async (qemuArgs: string[], o: VmOptions) => {
      const plan = await checkVmInputs(o, qemuArgs);
      const say = (line: string): void => {
        process.stderr.write(`vswapper vm: ${line}\n`);
      };
      // A signal stops the VM cleanly: QEMU quits, the daemon stops, every file made is removed.
      const ac = new AbortController();
      let signalled: NodeJS.Signals | undefined;
      const onSignal = (sig: NodeJS.Signals): void => {
        if (signalled) return;
        signalled = sig;
        say(`${sig}: stopping the VM (QEMU quit, daemon stopped, work files removed)`);
        ac.abort(new Error(sig));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const r = await launchVm(plan, { onProgress: say, signal: ac.signal });
        if (r.ended === 'poweroff') {
          say(`the guest powered off after ${r.runS} s; host left as found`);
          process.exitCode = 0;
        } else {
          say(`stopped by ${signalled} after ${r.runS} s (QEMU: ${r.qemuExit}); host left as found`);
          process.exitCode = SIGNAL_EXIT[signalled ?? 'SIGINT'] ?? 1;
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
