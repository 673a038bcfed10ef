import { createWriteStream, existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { MOM_DEFAULTS } from '../policy/mom-policy.js';
import {
  BalloonDaemonInputError,
  type ManagerLogRecord,
  startBalloonDaemon,
} from '../experiments/balloon-daemon.js';

export { BALLOON_DAEMON_INPUT_ERRORS as BALLOON_MANAGER_INPUT_ERRORS } from '../experiments/balloon-daemon.js';

const seconds = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!(v.trim() !== '' && n > 0 && n <= 3600))
    throw new InvalidArgumentError(`${flag} must be a number of seconds in (0, 3600], got "${v}"`);
  return n;
};

/** NAME=SOCKET or SOCKET (named after the file); repeatable. */
function collectQmp(v: string, prev: { name: string; socket: string }[]): { name: string; socket: string }[] {
  const eq = v.indexOf('=');
  const socket = eq > 0 ? v.slice(eq + 1) : v;
  const name = eq > 0 ? v.slice(0, eq) : basename(v).replace(/\.(qmp|sock)$/, '');
  if (!socket) throw new InvalidArgumentError(`--qmp needs a socket path, got "${v}"`);
  if (prev.some((p) => p.name === name))
    throw new InvalidArgumentError(`--qmp: two guests named "${name}" (use NAME=SOCKET)`);
  return [...prev, { name, socket: resolve(socket) }];
}

export function registerBalloonManager(program: Command): void {
  program
    .command('balloon-manager')
    .description(
      "oVirt MOM's default balloon policy driving running QEMUs over QMP (any QEMU with a QMP socket and a virtio-balloon device); one JSON line per decision",
    )
    .requiredOption(
      '--qmp <socket>',
      "a guest's QMP socket, or NAME=SOCKET; repeat for many guests (QEMU: -qmp unix:PATH,server=on,wait=off)",
      collectQmp,
      [],
    )
    .option(
      '--stats-interval <s>',
      `statistics period (MOM: ${MOM_DEFAULTS.statsIntervalS} s)`,
      seconds('--stats-interval'),
      MOM_DEFAULTS.statsIntervalS,
    )
    .option(
      '--policy-interval <s>',
      `policy period (MOM: ${MOM_DEFAULTS.policyIntervalS} s)`,
      seconds('--policy-interval'),
      MOM_DEFAULTS.policyIntervalS,
    )
    .option(
      '--host-cgroup <dir>',
      "the guests' host is this memory cgroup (its limit and usage) instead of /proc/meminfo",
    )
    .option('--log <file>', 'write the JSON lines here (default: stdout)')
    .option(
      '--duration <s>',
      'stop after this long (default: until interrupted or every guest is gone)',
      seconds('--duration'),
    )
    .action(
      async (o: {
        qmp: { name: string; socket: string }[];
        statsInterval: number;
        policyInterval: number;
        hostCgroup?: string;
        log?: string;
        duration?: number;
      }) => {
        let hostCgroup: string | undefined;
        if (o.hostCgroup !== undefined) {
          hostCgroup = resolve(o.hostCgroup);
          if (!existsSync(hostCgroup) || !statSync(hostCgroup).isDirectory())
            throw new BalloonDaemonInputError(`--host-cgroup ${hostCgroup}: no such folder`);
        }
        const out = o.log ? createWriteStream(resolve(o.log), { flags: 'a' }) : process.stdout;
        const log = (r: ManagerLogRecord): void => {
          out.write(`${JSON.stringify(r)}\n`);
        };
        const m = await startBalloonDaemon({
          guests: o.qmp,
          statsIntervalS: o.statsInterval,
          policyIntervalS: o.policyInterval,
          ...(hostCgroup !== undefined ? { hostCgroup } : {}),
          log,
        });
        await new Promise<void>((done) => {
          const end = (): void => {
            clearInterval(watch);
            done();
          };
          process.once('SIGINT', end);
          process.once('SIGTERM', end);
          if (o.duration !== undefined) setTimeout(end, o.duration * 1000).unref();
          const watch = setInterval(() => {
            if (m.guests().length === 0) end();
          }, 500);
        });
        await m.stop();
        if (out !== process.stdout)
          await new Promise<void>((r) => (out as NodeJS.WritableStream).end(() => r()));
      },
    );
}
