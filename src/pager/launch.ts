import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { type HostChanges, processStartTicks } from '../real/host-changes.js';
import { readFileSync } from 'node:fs';
import { PKG_ROOT, cacheDir } from '../real/paths.js';
import type { QmpClient } from '../real/qmp.js';
import { DaemonProcess } from './daemon-client.js';
import type { DaemonConfig } from './daemon.js';
import { PAGE_SIZE_BYTES as PAGE } from '../core/index.js';

/**
 * How QEMU is started under the pager, shared by the experiments' runs (`run.ts`) and an
 * operator's VM (`vm/vm-run.ts`): the shim, the daemon, QEMU's memory and disk arguments, the
 * shim's environment, and the hand-over before the guest runs. One path, so what the experiments
 * measure is what an operator runs.
 */

/** Builds (or finds, cached) the userfaultfd shim; returns the library's path. */
export async function buildShim(): Promise<string> {
  const script = join(PKG_ROOT, 'scripts', 'build-uffd-shim.sh');
  const out = await new Promise<string>((res, rej) =>
    execFile('bash', [script], { encoding: 'utf8' }, (err, stdout, stderr) =>
      err
        ? rej(new Error(`the userfaultfd shim did not build: ${stderr.trim() || err.message}`))
        : res(stdout),
    ),
  );
  const m = /^SHIM=(.+)$/m.exec(out);
  if (!m) throw new Error('the shim builder did not report SHIM=');
  return m[1]!.trim();
}

/**
 * The patched QEMU (scripts/build-qemu-intercept.sh) if it is built, else undefined. Never builds:
 * the first build takes about 20 minutes on a 2-core machine (`npm test` builds it first, through
 * scripts/prepare-tests.sh).
 */
export function patchedQemu(): Promise<string | undefined> {
  const script = join(PKG_ROOT, 'scripts', 'build-qemu-intercept.sh');
  return new Promise((res) =>
    execFile('bash', [script, '--check'], { encoding: 'utf8' }, (err, stdout) =>
      res(err ? undefined : /^QEMU=(.+)$/m.exec(stdout)?.[1]?.trim()),
    ),
  );
}

/** Why `vswapper` cannot run here, or undefined. */
export async function preventerProblem(): Promise<string | undefined> {
  if (await patchedQemu()) return undefined;
  const why = "the False Reads Preventer needs QEMU's TCG intercept, and the patched QEMU is not built";
  // scripts/prepare-tests.sh leaves the reason a build it tried failed, so it is not silent.
  const failed = lastBuildFailure();
  if (failed) return `${why}: ${failed}`;
  return `${why} (run scripts/build-qemu-intercept.sh as root: Debian's QEMU 7.2 source with patches/qemu-7.2-intercept.patch, about 20 minutes on 2 cores)`;
}

/** The reason the last attempted build of the patched QEMU failed, if one did and said so. */
function lastBuildFailure(): string | undefined {
  try {
    return readFileSync(`${cacheDir()}/qemu-intercept-build.failed`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The patched build looks for firmware in its data directory only (Debian's own QEMU is also
 * configured with /usr/share/seabios, where SeaBIOS is): both are named.
 */
export const PATCHED_QEMU_FIRMWARE_ARGS: readonly string[] = [
  '-L',
  '/usr/share/seabios',
  '-L',
  '/usr/share/qemu',
];

/** The memfd backend's id: the RAM block the shim's intercept region is created for. */
export const RAM_BACKEND_ID = 'mem';

/**
 * QEMU's arguments that put it under the pager: started stopped, vCPU threads named, guest RAM a
 * shared memfd, the disk our vhost-user-blk back end.
 */
export function pagerQemuArgs(o: {
  ramMiB: number;
  vhostSocket: string;
  /** QEMU's -name (its threads are named because of debug-threads=on). */
  name: string;
  /** The machine type ('pc' for the experiments); none: QEMU's default, or the user's -machine. */
  machineType?: string;
}): string[] {
  return [
    // Stopped until the pager has registered guest RAM and taken over what QEMU populated.
    '-S',
    // Thread names say which faults are the guest's (a vCPU: "CPU 0/TCG", "CPU 0/KVM") and which QEMU's.
    '-name',
    `${o.name},debug-threads=on`,
    // Guest RAM in a memfd QEMU shares: the daemon maps the same file (and vhost-user needs it).
    '-object',
    `memory-backend-memfd,id=${RAM_BACKEND_ID},size=${o.ramMiB}M,share=on`,
    '-machine',
    `${o.machineType ? `${o.machineType},` : ''}memory-backend=${RAM_BACKEND_ID}`,
    '-chardev',
    `socket,id=vhost0,path=${o.vhostSocket}`,
    // The daemon reports 4 KiB logical blocks in the config space (the Mapper needs them, §4.1).
    '-device',
    'vhost-user-blk-pci,chardev=vhost0,num-queues=1',
  ];
}

/**
 * The environment QEMU starts with: the shim's constructor creates a userfaultfd in QEMU and hands
 * it to the daemon; with the Preventer, it also creates the intercept's region for the RAM block.
 */
export function shimEnv(
  base: NodeJS.ProcessEnv,
  o: { shim: string; shimSocket: string; preventerRamBytes?: number; watchdogMs?: number },
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, LD_PRELOAD: o.shim, VSWAPPER_UFFD_SOCK: o.shimSocket };
  // The daemon must then send heartbeats (DaemonConfig.heartbeatMs): see supervision.ts.
  if (o.watchdogMs !== undefined) env.VSWAPPER_HEARTBEAT_MS = String(Math.round(o.watchdogMs));
  if (o.preventerRamBytes !== undefined)
    env.VSWAPPER_INTERCEPT = `${RAM_BACKEND_ID}:${Math.round(o.preventerRamBytes / PAGE)}`;
  return env;
}

/**
 * Starts the pager daemon, records it on the ledger (killed if the run ends without stopping it),
 * and waits until its vhost-user socket listens.
 */
export async function startPagerDaemon(
  ledger: HostChanges,
  cfg: Partial<DaemonConfig> & Record<string, unknown>,
  opts: { stderr?: (s: string) => void; ownProcessGroup?: boolean } = {},
): Promise<DaemonProcess> {
  const d = new DaemonProcess(cfg, opts);
  const dpid = d.child.pid;
  if (dpid === undefined) throw new Error('could not start the pager daemon');
  const ticks = processStartTicks(dpid);
  if (ticks !== undefined) ledger.did({ kind: 'kill', pid: dpid, startTicks: ticks });
  await d.next((m) => m.event === 'listening');
  return d;
}

/**
 * The hand-over before the guest runs: the daemon has QEMU's userfaultfd (from the shim), attaches
 * to its RAM (taking over what QEMU populated), then QMP `cont`. Returns the pages adopted.
 */
export async function attachAndContinue(
  d: DaemonProcess,
  qemuPid: number,
  qmp: () => Promise<QmpClient>,
  residentLimitPages?: number,
): Promise<number> {
  await d.next((m) => m.event === 'uffd' && m.pid === qemuPid);
  const q = await qmp();
  const att = await d.cmd({
    cmd: 'attach',
    ...(residentLimitPages !== undefined ? { residentLimitPages } : {}),
  });
  await q.execute('cont');
  return Number(att.adopted);
}
