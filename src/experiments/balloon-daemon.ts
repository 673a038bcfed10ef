import { MOM_DEFAULTS, MomBalloonPolicy } from '../policy/mom-policy.js';
import { BalloonManager, type ManagerLogRecord } from '../real/balloon-manager.js';
import { type HostSource, HostStatsReader } from '../real/balloon-stats.js';

export type { ManagerLogRecord } from '../real/balloon-manager.js';

/** Errors of the daemon that are bad input (a missing socket, not QMP, no balloon), by name. */
export const BALLOON_DAEMON_INPUT_ERRORS = new Set([
  'QmpConnectError',
  'QmpProtocolError',
  'NoBalloonError',
  'BalloonDaemonInputError',
]);

export class BalloonDaemonInputError extends Error {
  override name = 'BalloonDaemonInputError';
}

export interface BalloonDaemonOptions {
  guests: { name: string; socket: string }[];
  statsIntervalS?: number;
  policyIntervalS?: number;
  /** The guests' host is this memory cgroup (default: the machine, /proc/meminfo). */
  hostCgroup?: string;
  log: (r: ManagerLogRecord) => void;
}

/**
 * `vswapper balloon-manager`: MOM's default policy (src/policy) over QMP. Every guest's socket is
 * checked before the loop starts, so a bad one is an error, not a log line. Resolves with a stop
 * function once the loop runs; `allGone` resolves when every guest has gone.
 */
export async function startBalloonDaemon(
  o: BalloonDaemonOptions,
): Promise<{ stop: () => Promise<void>; guests: () => string[] }> {
  const source: HostSource =
    o.hostCgroup !== undefined ? { kind: 'cgroup', dir: o.hostCgroup } : { kind: 'proc' };
  let host: HostStatsReader;
  try {
    host = new HostStatsReader(source);
  } catch (e) {
    throw new BalloonDaemonInputError(`--host-cgroup: ${(e as Error).message}`);
  }
  const policy = new MomBalloonPolicy({
    ...MOM_DEFAULTS,
    statsIntervalS: o.statsIntervalS ?? MOM_DEFAULTS.statsIntervalS,
    policyIntervalS: o.policyIntervalS ?? MOM_DEFAULTS.policyIntervalS,
  });
  const m = new BalloonManager({ policy, host: () => host.sample(), log: o.log });
  try {
    for (const g of o.guests) await m.addGuest(g.name, g.socket);
  } catch (e) {
    await m.stop();
    throw e;
  }
  m.start();
  return { stop: () => m.stop(), guests: () => m.guestNames };
}
