import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { HostMemoryStats } from '../src/policy/balloon-policy.js';
import { MOM_DEFAULTS, MomBalloonPolicy } from '../src/policy/mom-policy.js';
import { BalloonManager, type ManagerLogRecord } from '../src/real/balloon-manager.js';
import {
  HostStatsReader,
  NoBalloonError,
  guestStatsFromQmp,
  hostMemoryFromCgroup,
} from '../src/real/balloon-stats.js';
import { QmpClient, QmpCommandError, QmpConnectError, QmpProtocolError } from '../src/real/qmp.js';

const dir = mkdtempSync(join(tmpdir(), 'vsw-qmp-'));
/** Servers and managers still open when a test fails midway: closed at the end, so the file ends. */
const open: (() => void)[] = [];
after(() => {
  for (const close of open) close();
  rmSync(dir, { recursive: true, force: true });
});
const MiB = 1048576;

/**
 * A fake QEMU's QMP end: greets, demands qmp_capabilities first (as QEMU does), answers with the
 * command's id, keeps a virtio-balloon's state (RAM, `actual`, the guest's last statistics) and
 * records every command it was sent. `balloon` moves `actual` at once and emits BALLOON_CHANGE.
 */
class FakeQemu {
  readonly commands: { execute: string; arguments?: Record<string, unknown> }[] = [];
  readonly server: Server;
  readonly path: string;
  private conns: Socket[] = [];
  actualBytes: number;
  freeBytes = -1;
  lastUpdate = 0;
  withBalloon = true;

  constructor(
    name: string,
    readonly ramBytes: number,
  ) {
    this.path = join(dir, `${name}.qmp`);
    this.actualBytes = ramBytes;
    this.server = createServer((c) => this.serve(c));
  }

  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(this.path, r));
  }

  private serve(c: Socket): void {
    this.conns.push(c);
    let negotiated = false;
    c.write(
      `${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } })}\n`,
    );
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as {
          execute: string;
          arguments?: Record<string, unknown>;
          id?: number;
        };
        buf = buf.slice(nl + 1);
        this.commands.push({ execute: msg.execute, ...(msg.arguments ? { arguments: msg.arguments } : {}) });
        const reply = (r: object): void => void c.write(`${JSON.stringify({ ...r, id: msg.id })}\n`);
        const ok = (v: unknown): void => reply({ return: v });
        const err = (cls: string, desc: string): void => reply({ error: { class: cls, desc } });
        if (!negotiated && msg.execute !== 'qmp_capabilities') {
          err('CommandNotFound', 'Expecting capabilities negotiation with qmp_capabilities');
          continue;
        }
        switch (msg.execute) {
          case 'qmp_capabilities':
            negotiated = true;
            ok({});
            break;
          case 'query-balloon':
            if (this.withBalloon) ok({ actual: this.actualBytes });
            else err('DeviceNotActive', 'No balloon device has been activated');
            break;
          case 'qom-list':
            ok(
              msg.arguments?.path === '/machine/peripheral' && this.withBalloon
                ? [
                    { name: 'type', type: 'string' },
                    { name: 'balloon0', type: 'child<virtio-balloon-pci>' },
                  ]
                : [{ name: 'type', type: 'string' }],
            );
            break;
          case 'query-memory-size-summary':
            ok({ 'base-memory': this.ramBytes, 'plugged-memory': 0 });
            break;
          case 'qom-set':
            ok({});
            break;
          case 'qom-get':
            ok({
              stats: {
                'stat-free-memory': this.freeBytes,
                'stat-total-memory': this.actualBytes - 30 * MiB,
                'stat-swap-in': 0,
                'stat-swap-out': 0,
                'stat-major-faults': 7,
              },
              'last-update': this.lastUpdate,
            });
            break;
          case 'balloon':
            this.actualBytes = msg.arguments!.value as number;
            ok({});
            c.write(
              `${JSON.stringify({ event: 'BALLOON_CHANGE', data: { actual: this.actualBytes }, timestamp: { seconds: 1, microseconds: 0 } })}\n`,
            );
            break;
          default:
            err('CommandNotFound', `The command ${msg.execute} has not been found`);
        }
      }
    });
  }

  /** QEMU exits: the connection drops. */
  quit(): void {
    for (const c of this.conns) c.destroy();
    this.server.close();
  }

  balloonCalls(): number[] {
    return this.commands.filter((c) => c.execute === 'balloon').map((c) => c.arguments!.value as number);
  }
}

async function fake(name: string, ramMiB: number): Promise<FakeQemu> {
  const f = new FakeQemu(name, ramMiB * MiB);
  await f.listen();
  open.push(() => f.quit());
  return f;
}

const HOST_KIB = 1_000_000;
const hostAt = (freeFraction: () => number) => (): HostMemoryStats => ({
  memTotalKiB: HOST_KIB,
  memFreeKiB: freeFraction() * HOST_KIB,
  swapInPages: 0,
  swapOutPages: 0,
});

function manager(host: () => HostMemoryStats, stats = 5): { m: BalloonManager; log: ManagerLogRecord[] } {
  const log: ManagerLogRecord[] = [];
  const policy = new MomBalloonPolicy({ ...MOM_DEFAULTS, statsIntervalS: stats });
  const m = new BalloonManager({ policy, host, log: (r) => log.push(r), nowS: () => 0 });
  open.push(() => void m.stop());
  return { m, log };
}

test('QMP client: greeting, capabilities first, answers by id, events apart', async () => {
  const f = await fake('client', 512);
  const q = await QmpClient.connect(f.path);
  open.push(() => q.close());
  assert.deepEqual(f.commands[0], { execute: 'qmp_capabilities' });
  assert.deepEqual(q.version, { qemu: { major: 7, minor: 2, micro: 0 } });
  const events: string[] = [];
  q.onEvent((e) => events.push(`${e.event} ${String(e.data.actual)} ${e.timestampS}`));
  // Two commands in flight at once: each gets its own answer.
  const [a, b] = await Promise.all([
    q.execute<{ actual: number }>('query-balloon'),
    q.execute<{ 'base-memory': number }>('query-memory-size-summary'),
  ]);
  assert.equal(a.actual, 512 * MiB);
  assert.equal(b['base-memory'], 512 * MiB);
  await q.execute('balloon', { value: 256 * MiB });
  await q.execute('query-balloon');
  assert.deepEqual(events, [`BALLOON_CHANGE ${256 * MiB} 1`]);
  await assert.rejects(q.execute('no-such-command'), (e: unknown) => {
    assert.ok(e instanceof QmpCommandError);
    assert.equal(e.errorClass, 'CommandNotFound');
    return true;
  });
  q.close();
  f.quit();
});

test('QMP client: bad input is a one-line error naming the socket and the problem', async () => {
  await assert.rejects(QmpClient.connect(join(dir, 'missing.qmp')), (e: unknown) => {
    assert.ok(e instanceof QmpConnectError);
    assert.match(e.message, /missing\.qmp: no such socket/);
    return true;
  });
  const plain = join(dir, 'plain-file');
  writeFileSync(plain, 'x');
  await assert.rejects(QmpClient.connect(plain), QmpConnectError);
  // Something listens but does not speak QMP: a line that is not JSON.
  const notQmp = join(dir, 'not-qmp.sock');
  const s1 = createServer((c) => c.write('SSH-2.0-OpenSSH\n'));
  await new Promise<void>((r) => s1.listen(notQmp, r));
  open.push(() => s1.close());
  await assert.rejects(QmpClient.connect(notQmp), (e: unknown) => {
    assert.ok(e instanceof QmpProtocolError);
    assert.match(e.message, /not a QMP server \(a line that is not JSON\)/);
    return true;
  });
  // ... or says nothing at all.
  const silent = join(dir, 'silent.sock');
  const s2 = createServer(() => undefined);
  await new Promise<void>((r) => s2.listen(silent, r));
  open.push(() => s2.close());
  await assert.rejects(QmpClient.connect(silent, { timeoutMs: 200 }), /no QMP greeting within 200 ms/);
  s1.close();
  s2.close();
  // A QEMU without a virtio-balloon device.
  const f = await fake('noballoon', 512);
  f.withBalloon = false;
  const { m } = manager(hostAt(() => 0.5));
  await assert.rejects(m.addGuest('g', f.path), (e: unknown) => {
    assert.ok(e instanceof NoBalloonError);
    assert.match(e.message, /no virtio-balloon device \(No balloon device has been activated\)/);
    return true;
  });
  f.quit();
});

test('manager: finds the balloon, sets the polling interval, and shrinks every guest under host pressure by MOM rule', async () => {
  const a = await fake('a', 1024);
  const b = await fake('b', 2048);
  let free = 0.1;
  const { m, log } = manager(
    hostAt(() => free),
    2.4,
  );
  await m.addGuest('a', a.path);
  await m.addGuest('b', b.path);
  // The device's QOM path found by type; QEMU's polling interval counts whole seconds (2.4 -> 2).
  assert.deepEqual(
    a.commands.find((c) => c.execute === 'qom-set'),
    {
      execute: 'qom-set',
      arguments: { path: '/machine/peripheral/balloon0', property: 'guest-stats-polling-interval', value: 2 },
    },
  );
  assert.deepEqual(
    log.map((r) => (r.kind === 'guest' ? `${r.guest} ${r.device} ${r.ramMiB}` : r.kind)),
    ['a /machine/peripheral/balloon0 1024', 'b /machine/peripheral/balloon0 2048'],
  );
  // The guests' drivers have not reported yet: no statistics, no decision.
  await m.sampleOnce();
  await m.decideOnce();
  assert.deepEqual(a.balloonCalls(), []);
  assert.deepEqual(
    log.filter((r) => r.kind === 'no-stats').map((r) => r.guest),
    ['a', 'b'],
  );
  // Reports arrive. Host 10 % free: pressure, not critical. MOM's shrink_guest with no
  // min_guarantee: the floor is min(0, used + margin) = 0, so the 5 % step binds:
  // a: 1024 MiB = 1048576 KiB -> 996147.2 KiB -> 249036.8 pages -> 249037 pages = 1020055552 bytes;
  // b: 2048 MiB = 2097152 KiB -> 1992294.4 KiB -> 498073.6 pages -> 498074 pages = 2040111104 bytes.
  for (const f of [a, b]) {
    f.freeBytes = 600 * MiB;
    f.lastUpdate = 100;
  }
  await m.sampleOnce();
  await m.decideOnce();
  assert.deepEqual(a.balloonCalls(), [1020055552]);
  assert.deepEqual(b.balloonCalls(), [2040111104]);
  const d = log.find((r) => r.kind === 'decision' && r.guest === 'a');
  assert.deepEqual(d, {
    tS: 0,
    kind: 'decision',
    guest: 'a',
    targetMiB: 972.8,
    actualMiB: 1024,
    hostFreePct: 10,
    guestUnusedMiB: 600,
  });
  // QEMU's BALLOON_CHANGE events are logged as the balloon moves.
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(log.some((r) => r.kind === 'balloon-change' && r.guest === 'b' && r.actualMiB === 1945.6));
  // Pressure gone (host 50 % free; the average over the 3 samples is (0.1 + 0.1 + 0.5) / 3 = 23.3 %):
  // grow_guest: a guest below its RAM grows by 5 % of its current memory, capped at its RAM:
  // a: 1020055552 B = 996148 KiB -> 1045955.4 KiB -> 261488.85 pages -> 261489 pages = 1071058944 bytes.
  free = 0.5;
  await m.sampleOnce();
  await m.decideOnce();
  assert.deepEqual(a.balloonCalls(), [1020055552, 1071058944]);
  // A guest that goes away (QEMU exits) is dropped and the others stay managed.
  b.quit();
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(m.guestNames, ['a']);
  assert.ok(log.some((r) => r.kind === 'gone' && r.guest === 'b'));
  await m.sampleOnce();
  await m.decideOnce();
  await m.stop();
  a.quit();
});

test('manager: a guest at its full memory and a host without pressure: nothing to do', async () => {
  const a = await fake('idle', 1024);
  a.freeBytes = 700 * MiB;
  a.lastUpdate = 5;
  const { m, log } = manager(hostAt(() => 0.6));
  await m.addGuest('a', a.path);
  for (let i = 0; i < 3; i++) {
    await m.sampleOnce();
    await m.decideOnce();
  }
  assert.deepEqual(a.balloonCalls(), []);
  assert.equal(log.filter((r) => r.kind === 'decision').length, 0);
  await m.stop();
  a.quit();
});

test('manager: the loop samples and decides on its own at the configured periods', async () => {
  const a = await fake('loop', 1024);
  a.freeBytes = 600 * MiB;
  a.lastUpdate = 5;
  const log: ManagerLogRecord[] = [];
  const policy = new MomBalloonPolicy({ ...MOM_DEFAULTS, statsIntervalS: 0.02, policyIntervalS: 0.05 });
  const m = new BalloonManager({ policy, host: hostAt(() => 0.1), log: (r) => log.push(r) });
  open.push(() => void m.stop());
  await m.addGuest('a', a.path);
  m.start();
  await new Promise((r) => setTimeout(r, 400));
  await m.stop();
  // About 8 decisions in 0.4 s; each shrinks by 5 % of the memory the guest had.
  const calls = a.balloonCalls();
  assert.ok(calls.length >= 3, `decisions: ${calls.length}`);
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i]! < calls[i - 1]!);
  a.quit();
});

test('statistics: guest-stats with -1 (not reported) and cumulative counters; a cgroup as the host', () => {
  const gs = (free: number, majflt: number, update = 1) => ({
    stats: {
      'stat-free-memory': free,
      'stat-total-memory': -1,
      'stat-major-faults': majflt,
      'stat-swap-in': -1,
    },
    'last-update': update,
  });
  assert.equal(guestStatsFromQmp(512 * MiB, 512 * MiB, gs(-1, 0), undefined), undefined);
  assert.equal(guestStatsFromQmp(512 * MiB, 512 * MiB, gs(100, 0, 0), undefined), undefined);
  const first = guestStatsFromQmp(400 * MiB, 512 * MiB, gs(100 * MiB, 50), undefined)!;
  assert.deepEqual(first.stats, {
    balloonCurKiB: 409600,
    balloonMaxKiB: 524288,
    balloonMinKiB: 0,
    memUnusedKiB: 102400,
    memAvailableKiB: 409600,
    swapInKiB: 0,
    swapOutKiB: 0,
    majorFaults: 0,
  });
  const second = guestStatsFromQmp(400 * MiB, 512 * MiB, gs(90 * MiB, 80), first.counters)!;
  assert.equal(second.stats.majorFaults, 30);
  // v1 cgroup: limit 300 MiB, usage 250 MiB, 20 MiB of file pages: free 70 MiB of 300.
  assert.deepEqual(
    hostMemoryFromCgroup(
      {
        version: 'v1',
        limit: String(300 * MiB),
        usage: String(250 * MiB),
        stat: `cache 1\ntotal_inactive_file ${15 * MiB}\ntotal_active_file ${5 * MiB}\n`,
      },
      8_000_000,
    ),
    { memTotalKiB: 307200, memFreeKiB: 71680 },
  );
  // Unlimited (v2 "max"): the host's MemTotal.
  assert.equal(
    hostMemoryFromCgroup({ version: 'v2', limit: 'max', usage: '0', stat: 'file 0\n' }, 8_000_000)
      .memTotalKiB,
    8_000_000,
  );
  // A folder that is no memory cgroup is refused when the reader is made.
  assert.throws(() => new HostStatsReader({ kind: 'cgroup', dir }), /not a memory cgroup/);
  // /proc/meminfo: MemFree + Buffers + Cached; swap as deltas of /proc/vmstat.
  let pswpout = 100;
  const files: Record<string, () => string> = {
    '/proc/meminfo': () => 'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 40 kB\n',
    '/proc/vmstat': () => `pswpin 5\npswpout ${pswpout}\n`,
  };
  const r = new HostStatsReader({ kind: 'proc' }, (p) => files[p]!());
  assert.deepEqual(r.sample(), { memTotalKiB: 1000, memFreeKiB: 150, swapInPages: 0, swapOutPages: 0 });
  pswpout = 130;
  assert.equal(r.sample().swapOutPages, 30);
});

test('vswapper balloon-manager: a missing socket or a QEMU without a balloon is one line, exit code 2', async () => {
  const { spawnSync } = await import('node:child_process');
  const cli = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
  const missing = spawnSync(process.execPath, [cli, 'balloon-manager', '--qmp', join(dir, 'gone.qmp')], {
    encoding: 'utf8',
  });
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr, `vswapper: QMP ${join(dir, 'gone.qmp')}: no such socket\n`);
  const f = await fake('cli-noballoon', 256);
  f.withBalloon = false;
  // The fake server answers in this process: the CLI runs asynchronously beside it.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [cli, 'balloon-manager', '--qmp', f.path], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 2);
  assert.match(
    stderr,
    /^vswapper: QMP .*cli-noballoon\.qmp: no virtio-balloon device \(No balloon device has been activated\)\n$/,
  );
  f.quit();
});
