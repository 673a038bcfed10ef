import { connect } from 'node:net';
import type { Command } from 'commander';

/** `vswapper ctl`'s input was wrong (its arguments, or the socket): exit code 2. */
export class CtlInputError extends Error {
  override name = 'CtlInputError';
}

/** The daemon refused the command: its error class and description, exit code 1. */
export class CtlCommandError extends Error {
  override name = 'CtlCommandError';
}

/**
 * One command over a control socket: greeting, `qmp_capabilities`, the command; resolves with its
 * `return`, collecting the events that arrived meanwhile.
 */
export function ctlCommand(
  socket: string,
  execute: string,
  args: Record<string, unknown> | undefined,
  timeoutMs = 10_000,
): Promise<{ value: unknown; events: unknown[] }> {
  return new Promise((res, rej) => {
    const s = connect(socket);
    const events: unknown[] = [];
    let buf = '';
    let step = 0;
    const t = setTimeout(() => {
      s.destroy();
      rej(new CtlInputError(`${socket}: no reply in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const done = (f: () => void): void => {
      clearTimeout(t);
      s.destroy();
      f();
    };
    s.on('error', (e) =>
      done(() =>
        rej(
          new CtlInputError(`${socket}: cannot connect (${(e as NodeJS.ErrnoException).code ?? e.message})`),
        ),
      ),
    );
    s.on('data', (d) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const m = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
        buf = buf.slice(i + 1);
        if (m.event !== undefined) {
          events.push(m);
          continue;
        }
        if (step === 0) {
          if (!m.vswapper)
            return done(() => rej(new CtlInputError(`${socket}: not a vswapper control socket`)));
          s.write('{"execute":"qmp_capabilities"}\n');
        } else if (step === 1) {
          s.write(JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }) + '\n');
        } else {
          const e = m.error as { class: string; desc: string } | undefined;
          return done(() =>
            e ? rej(new CtlCommandError(`${e.class}: ${e.desc}`)) : res({ value: m.return, events }),
          );
        }
        step++;
      }
    });
  });
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
        const r = await ctlCommand(socket, command, args);
        process.stdout.write(`${JSON.stringify(r.value, null, 2)}\n`);
      } catch (e) {
        if (!(e instanceof CtlCommandError)) throw e;
        process.stderr.write(`vswapper ctl: ${e.message}\n`);
        process.exitCode = 1;
      }
    });
}
