import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Redis cannot be installed or started here; the message says why. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

const REDIS_SERVER = '/usr/bin/redis-server';

/**
 * Debian's redis-server, installed with apt-get if missing (idempotent: nothing happens when it is
 * there). Returns its path, or throws RedisUnavailableError saying why it cannot be had.
 */
export function ensureRedisServer(): string {
  if (existsSync(REDIS_SERVER)) return REDIS_SERVER;
  if (process.getuid?.() !== 0)
    throw new RedisUnavailableError(`${REDIS_SERVER} is missing and installing it needs root (apt-get)`);
  const apt = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (apt.status !== 0 || !existsSync(REDIS_SERVER))
    throw new RedisUnavailableError(
      `apt-get install redis-server failed: ${(apt.stderr || apt.error?.message || '').trim().split('\n').pop()}`,
    );
  return REDIS_SERVER;
}

/** A Redis of our own: a private unix socket in a temporary folder, no port, nothing saved. */
export interface LocalRedis {
  /** unix:///tmp/.../redis.sock, for `--queue`. */
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  /** Stops the server and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts redis-server for local use and tests. It is stopped by `stop()`, and also when this
 * process exits, fails or is interrupted (SIGINT, SIGTERM): nothing is left running.
 */
export async function startLocalRedis(): Promise<LocalRedis> {
  const bin = ensureRedisServer();
  const dir = mkdtempSync(join(tmpdir(), 'vswapper-redis-'));
  const sock = join(dir, 'redis.sock');
  // port 0: no TCP at all; no RDB snapshot nor AOF: the queue lives as long as the server.
  const args = ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700', '--dir', dir];
  const child: ChildProcess = spawn(bin, [...args, '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let stopped = false;
  const killNow = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    killNow();
    process.off('exit', killNow);
    // Re-raised with the default handler: the process ends as it would have.
    process.kill(process.pid, sig);
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.once('exit', killNow);
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killNow);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const t0 = Date.now();
  while (!/ready to accept connections/i.test(log)) {
    if (child.exitCode !== null || Date.now() - t0 > 10_000) {
      await stop();
      throw new RedisUnavailableError(`redis-server did not start: ${log.trim().split('\n').pop() ?? ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: `unix://${sock}`, pid: child.pid!, dir, stop };
}
