import type { Command } from 'commander';
import { ControlClient, ControlRefusedError } from '../experiments/vm-host.js';

/** `vswapper ctl`'s input was wrong (its arguments, or the socket): exit code 2. */
export class CtlInputError extends Error {
  override name = 'CtlInputError';
}

/** The daemon refused the command: its error class and description, exit code 1. */
export class CtlCommandError extends Error {
  override name = 'CtlCommandError';
}

/**
 * One command over a control socket, through the same client `vswapper host` keeps open (greeting
 * checked, `qmp_capabilities`, then the command); resolves with its `return`.
 */
async function ctlCommand(
  socket: string,
  execute: string,
  args: Record<string, unknown> | undefined,
  timeoutMs = 10_000,
): Promise<unknown> {
  let c: ControlClient;
  try {
    c = await ControlClient.open(socket, timeoutMs);
  } catch (e) {
    throw new CtlInputError((e as Error).message);
  }
  try {
    return await c.cmd(execute, args);
  } catch (e) {
    if (e instanceof ControlRefusedError) throw new CtlCommandError(e.message);
    throw new CtlInputError((e as Error).message);
  } finally {
    c.close();
  }
}

function parseArgs(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CtlInputError(`JSON-ARGS is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new CtlInputError(`JSON-ARGS must be a JSON object, like '{"pages": 131072}'`);
  return v as Record<string, unknown>;
}

export const CTL_INPUT_ERRORS = new Set(['CtlInputError']);

export function registerCtl(program: Command): void {
  program
    .command('ctl')
    .description(
      "one command to a running VM's control socket (QMP-style): query-status, query-stats, query-page '{\"gfn\":N}', set-limit '{\"bytes\":N}' or '{\"pages\":N}', set-threshold '{\"fraction\":F}'; prints its reply as JSON",
    )
    .argument('<socket>', 'the control socket (vswapper vm --control)')
    .argument('<command>', 'the command')
    .argument('[json-args]', 'its arguments, a JSON object')
    .action(async (socket: string, command: string, json?: string) => {
      const args = parseArgs(json);
      try {
        const value = await ctlCommand(socket, command, args);
        process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      } catch (e) {
        if (!(e instanceof CtlCommandError)) throw e;
        process.stderr.write(`vswapper ctl: ${e.message}\n`);
        process.exitCode = 1;
      }
    });
}
