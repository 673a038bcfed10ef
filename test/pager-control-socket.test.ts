import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DaemonProcess } from '../src/pager/daemon-client.js';
import { Loop } from '../src/pager/loop.js';
import { close } from '../src/pager/sys.js';
import { ControlSocketServer } from '../src/pager/control/socket-server.js';
import { ControlSocketBusyError, claimSocketPath } from '../src/pager/control/socket-path.js';
import { FakeControlBackend } from './support/fake-control-backend.js';

/** A line-reading client of the control socket. */
class Client {
  private buf = '';
  readonly msgs: Record<string, unknown>[] = [];
  private wake: (() => void) | undefined;
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (d) => {
      this.buf += d.toString();
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.msgs.push(JSON.parse(this.buf.slice(0, i)) as Record<string, unknown>);
        this.buf = this.buf.slice(i + 1);
      }
      this.wake?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }
  static open(path: string): Promise<Client> {
    return new Promise((res, rej) => {
      const s = connect(path);
      s.once('connect', () => res(new Client(s)));
      s.once('error', rej);
    });
  }
  async next(pred: (m: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    const t0 = Date.now();
    for (;;) {
      const i = this.msgs.findIndex(pred);
      if (i >= 0) return this.msgs.splice(i, 1)[0]!;
      if (this.closed || Date.now() - t0 > 5000) throw new Error('no message');
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
  }
  async cmd(execute: string, args?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = Math.random();
    this.sock.write(JSON.stringify({ execute, ...(args ? { arguments: args } : {}), id }) + '\n');
    return this.next((m) => m.id === id);
  }
}

/** The server on a Loop turned from Node's event loop (as the daemon's would be, without blocking the test). */
function serve(
  path: string,
  b = new FakeControlBackend(),
): { server: ControlSocketServer; stop: () => void } {
  const loop = new Loop();
  const server = new ControlSocketServer(loop, path, b, 20);
  const t = setInterval(() => loop.turn(0), 2);
  return {
    server,
    stop: () => {
      clearInterval(t);
      server.close();
    },
  };
}

test('control socket: two clients, commands, a broadcast event, thresholds, garbage and a vanished client', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-ctl-'));
  const path = join(dir, 'ctl.sock');
  const b = new FakeControlBackend();
  const { server, stop } = serve(path, b);
  try {
    const a = await Client.open(path);
    const c = await Client.open(path);
    assert.ok((await a.next()).vswapper, 'greeting');
    assert.ok((await c.next()).vswapper, 'greeting');
    assert.deepEqual((await a.cmd('qmp_capabilities')).return, {});
    assert.deepEqual((await c.cmd('qmp_capabilities')).return, {});
    a.sock.write('this is not json\n{"execute": 12}\n');
    assert.match(String((await a.next((m) => m.error !== undefined)).error && 'err'), /err/);
    assert.ok(await a.next((m) => m.error !== undefined));
    const r = await a.cmd('set-limit', { bytes: 2 * 1024 * 1024 });
    assert.deepEqual(r.return, { limitPages: 512, residentPages: 512 });
    assert.equal(b.limit, 512);
    // The other client hears the change.
    const ev = await c.next((m) => m.event === 'RESIDENT_LIMIT_CHANGED');
    assert.deepEqual(ev.data, { oldPages: 1024, newPages: 512 });
    // Thresholds are sampled on the loop's timer.
    await c.cmd('set-threshold', { fraction: 0.5 });
    const th = await c.next((m) => m.event === 'RESIDENT_THRESHOLD');
    assert.equal((th.data as { direction: string }).direction, 'above');
    // A client vanishing mid-line harms no one.
    a.sock.write('{"execute":"query-');
    a.sock.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const st = await c.cmd('query-stats');
    assert.equal((st.return as Record<string, number>).residentLimitPages, 512);
    assert.equal(server.clientCount, 1);
    c.sock.destroy();
  } finally {
    stop();
    assert.equal(existsSync(path), false, 'the socket file is removed at close');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('control socket path: a live socket and a plain file are refused, a stale socket is reclaimed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-ctl-'));
  const path = join(dir, 'ctl.sock');
  const { stop } = serve(path);
  try {
    await assert.rejects(claimSocketPath(path), ControlSocketBusyError);
    await assert.rejects(claimSocketPath(path), /another process listens on this control socket/);
  } finally {
    stop();
  }
  // A stale socket (its listener gone, the file left): reclaimed.
  const loop = new Loop();
  const stale = new ControlSocketServer(loop, path, new FakeControlBackend());
  // Close the descriptor without removing the file: what a killed daemon leaves.
  const held = stale as unknown as { fd: number };
  close(held.fd);
  held.fd = -1;
  assert.equal(existsSync(path), true);
  await claimSocketPath(path);
  assert.equal(existsSync(path), false);
  const file = join(dir, 'plain');
  writeFileSync(file, 'x');
  await assert.rejects(claimSocketPath(file), /exists and is not a socket/);
  await claimSocketPath(join(dir, 'absent.sock'));
  rmSync(dir, { recursive: true, force: true });
});

test('control socket: the daemon in pager mode serves it beside its own channel, before QEMU (none is started)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-ctl-'));
  for (const f of ['img', 'swap']) {
    writeFileSync(join(dir, f), '');
    truncateSync(join(dir, f), 1 << 20);
  }
  const ctl = join(dir, 'c.sock');
  const d = new DaemonProcess({
    vhostSocket: join(dir, 'v.sock'),
    shimSocket: join(dir, 's.sock'),
    image: join(dir, 'img'),
    swap: join(dir, 'swap'),
    mode: 'pager',
    ramBytes: 1 << 20,
    mapper: true,
    controlSocket: ctl,
  });
  try {
    await d.next((m) => m.event === 'listening');
    const c = await Client.open(ctl);
    assert.ok((await c.next()).vswapper);
    await c.cmd('qmp_capabilities');
    const st = (await c.cmd('query-status')).return as Record<string, unknown>;
    assert.deepEqual(st, {
      attached: false,
      mapper: true,
      residentPages: 0,
      limitPages: 256,
      memoryPages: 256,
      floorPages: 128,
    });
    assert.match(
      ((await c.cmd('set-limit', { pages: 200 })).error as { desc: string }).desc,
      /^set-limit: the pager has not attached to QEMU's RAM yet$/,
    );
    assert.match(
      ((await c.cmd('set-limit', { pages: 100 })).error as { desc: string }).desc,
      /below the floor \(128 pages\)/,
    );
    const stats = (await c.cmd('query-stats')).return as Record<string, number>;
    assert.equal(stats.deviceRequests, 0);
    // The engine's channel still answers.
    assert.ok((await d.cmd({ cmd: 'stats' })).stats);
    c.sock.destroy();
  } finally {
    await d.quit();
    assert.equal(existsSync(ctl), false, 'the daemon removes its control socket');
    rmSync(dir, { recursive: true, force: true });
  }
});
