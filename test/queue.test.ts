import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RedisUnavailableError, ensureRedisServer, startLocalRedis } from '../src/experiments/local-redis.js';

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const LOCAL_REDIS = join(import.meta.dirname, '..', 'src', 'experiments', 'local-redis.js');
// The package's own digitized values (data/), so the test needs nothing beside the checkout.
const PAPER = join(import.meta.dirname, '..', '..', 'data', 'paper-targets.json');

/** Why these tests cannot run here (redis-server missing and not installable), or null. */
function noRedis(): string | null {
  try {
    ensureRedisServer();
    return null;
  } catch (e) {
    if (e instanceof RedisUnavailableError) return e.message;
    throw e;
  }
}
const skip = noRedis();

/** Whether the process runs (a zombie, dead but not yet reaped by its new parent, does not). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

/** Waits up to 5 s for a killed process to be gone. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

const exitOf = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve(c.exitCode)
    : new Promise((r) => c.once('exit', (code) => r(code)));

test(
  'the local Redis leaves nothing behind: stopped, interrupted (SIGINT) or crashed',
  { skip: skip ?? false },
  async () => {
    const r = await startLocalRedis();
    assert.ok(alive(r.pid) && existsSync(r.dir));
    await r.stop();
    assert.ok(!alive(r.pid), 'stopped');
    assert.ok(!existsSync(r.dir), 'its folder removed');

    for (const how of ['sigint', 'crash'] as const) {
      const script = `import { startLocalRedis } from ${JSON.stringify(LOCAL_REDIS)};
      const r = await startLocalRedis();
      console.log(JSON.stringify({ pid: r.pid, dir: r.dir }));
      ${how === 'crash' ? "setTimeout(() => { throw new Error('boom'); }, 100);" : 'setInterval(() => {}, 1000);'}`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const line = await new Promise<string>((res) =>
        child.stdout.once('data', (d: Buffer) => res(d.toString())),
      );
      const { pid, dir } = JSON.parse(line) as { pid: number; dir: string };
      assert.ok(alive(pid), `${how}: redis running`);
      if (how === 'sigint') child.kill('SIGINT');
      await exitOf(child);
      await new Promise((res) => setTimeout(res, 200));
      assert.ok(!alive(pid), `${how}: redis-server ${pid} still running`);
      assert.ok(!existsSync(dir), `${how}: ${dir} left`);
    }
  },
);

test(
  'a sweep through the queue with two workers, one killed mid-run, equals the local pool',
  { skip: skip ?? false },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vsw-queue-'));
    const redis = await startLocalRedis();
    const workers: ChildProcess[] = [];
    try {
      const logs: string[] = ['', ''];
      for (const i of [0, 1]) {
        const w = spawn(process.execPath, [CLI, 'worker', '--queue', redis.url, '--jobs', '1'], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        w.stderr.on('data', (d: Buffer) => (logs[i] += d.toString()));
        workers.push(w);
      }
      const sweep = ['reproduce', 'fig10', '--scale', '0.01', '--runs', '2', '--paper', PAPER];
      const queued = spawn(
        process.execPath,
        [CLI, ...sweep, '--queue', redis.url, '--store', join(dir, 'sq'), '--out', join(dir, 'queue')],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      queued.stdout.on('data', (d: Buffer) => (out += d.toString()));
      queued.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // Worker 0 is killed (SIGKILL) while it runs its second run: that run's lock lapses and worker 1 takes it.
      while ((logs[0]!.match(/ start$/gm) ?? []).length < 2) {
        assert.equal(queued.exitCode, null, `the sweep ended before worker 0 started twice: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      workers[0]!.kill('SIGKILL');
      assert.equal(await exitOf(queued), 0, err);
      assert.match(out, /^10 runs computed, 0 from the store$/m);
      assert.match(logs[1]!, / done$/m);

      const local = spawnSync(
        process.execPath,
        [CLI, ...sweep, '--jobs', '2', '--store', join(dir, 'sl'), '--out', join(dir, 'local')],
        { encoding: 'utf8' },
      );
      assert.equal(local.status, 0, local.stderr);
      const fig = (d: string): unknown => {
        const r = JSON.parse(readFileSync(join(dir, d, 'fig10.json'), 'utf8')) as {
          meta: Record<string, unknown>;
        };
        delete r.meta.simulatorWallMs;
        return r;
      };
      assert.deepEqual(fig('queue'), fig('local'));
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await Promise.all(workers.map(exitOf));
      await redis.stop();
    }
    assert.ok(await gone(redis.pid));
  },
);
