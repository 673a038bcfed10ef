import { type Command, InvalidArgumentError } from 'commander';
import { parseSize, runArbiter } from '../experiments/vm-host.js';
import { MOM_DEFAULTS } from '../policy/mom-policy.js';

/** `vswapper host`'s input errors (exit code 2): the arbiter's checks and sizes. */
export const HOST_INPUT_ERRORS = new Set(['HostInputError', 'SizeError']);

function seconds(v: string): number {
  const n = Number(v);
  if (!(v.trim() !== '' && Number.isFinite(n) && n > 0))
    throw new InvalidArgumentError(`--every must be a positive number of seconds, got "${v}"`);
  return n;
}

export function registerHost(program: Command): void {
  program
    .command('host')
    .description(
      "several VMs (each `vswapper vm --control SOCKET`, each its own daemon) under one host-wide limit: every interval reads each VM's stats and sets each VM's resident limit (shares by demand: resident pages plus recent faults, never below a VM's floor, summing to at most --limit); one JSON line per decision on stdout; ends when every VM has gone",
    )
    .requiredOption('--limit <size>', 'the host-wide limit on all the VMs resident pages together, e.g. 1G')
    .option(
      '--every <seconds>',
      `seconds between decisions (default: oVirt MOM's policy interval, ${MOM_DEFAULTS.policyIntervalS})`,
      seconds,
      MOM_DEFAULTS.policyIntervalS,
    )
    .argument('<socket...>', "the VMs' control sockets")
    .action(async (sockets: string[], o: { limit: string; every: number }) => {
      const hostLimitBytes = parseSize('--limit', o.limit);
      const ac = new AbortController();
      const onSignal = (): void => ac.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const r = await runArbiter({
          hostLimitBytes,
          sockets,
          intervalMs: o.every * 1000,
          log: (rec) => process.stdout.write(`${JSON.stringify(rec)}\n`),
          signal: ac.signal,
        });
        process.stderr.write(
          `vswapper host: ${r.ended === 'all-gone' ? 'every VM has gone' : 'stopped'} after ${r.ticks} decisions (the VMs keep their last limits)\n`,
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
