import { rmSync } from 'node:fs';
import type { Loop } from '../loop.js';
import { Scratch, accept, close, listenUnix, readNonBlocking, writeAll } from '../sys.js';
import type { ControlBackend, Reply } from './protocol.js';
import { ControlSession } from './session.js';

/** Clients at once: an operator, a dashboard exporter, a script; more is a leak somewhere. */
const MAX_CLIENTS = 16;

/**
 * The control socket on the daemon's poll loop (the daemon's Node event loop is not running, so
 * node:net cannot serve it): a listening Unix socket, one ControlSession per client, events
 * broadcast to every client. A client that sends garbage gets errors; one that stops reading or
 * breaks its connection is dropped, never the daemon.
 */
export class ControlSocketServer {
  private readonly s = new Scratch(65536);
  /** Where replies are staged for write(2): one mapping, reused (a Scratch is an mmap). */
  private readonly w = new Scratch(65536);
  private fd: number;
  private readonly clients = new Map<number, ControlSession>();
  private sampling = false;

  constructor(
    private readonly loop: Loop,
    readonly path: string,
    private readonly backend: ControlBackend,
    /** How often thresholds are checked, in ms. */
    private readonly samplePeriodMs = 1000,
  ) {
    this.fd = listenUnix(path, this.s);
    loop.watch(this.fd, () => this.onAccept());
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** An event to every client that negotiated capabilities. */
  broadcast(name: string, data: Record<string, unknown>): void {
    for (const s of this.clients.values()) s.event(name, data);
  }

  private onAccept(): void {
    for (;;) {
      const c = accept(this.fd);
      if (c < 0) return;
      if (this.clients.size >= MAX_CLIENTS) {
        close(c);
        continue;
      }
      const session = new ControlSession(
        this.backend,
        (m) => this.write(c, m),
        (n, d) => this.broadcast(n, d),
      );
      this.clients.set(c, session);
      this.loop.watch(c, () => this.onReadable(c));
      this.startSampling();
    }
  }

  private startSampling(): void {
    if (this.sampling) return;
    this.sampling = true;
    const tick = (): void => {
      if (this.fd < 0 || this.clients.size === 0) {
        this.sampling = false;
        return;
      }
      for (const s of this.clients.values()) s.sample();
      this.loop.after(this.samplePeriodMs * 1e6, tick);
    };
    this.loop.after(this.samplePeriodMs * 1e6, tick);
  }

  private onReadable(c: number): void {
    const session = this.clients.get(c);
    if (!session) return;
    try {
      for (;;) {
        const n = readNonBlocking(c, this.s.addr, 65536);
        if (n === 0) return;
        if (n < 0) return this.drop(c);
        session.feed(Buffer.from(this.s.m.bytes.subarray(0, n)).toString('utf8'));
      }
    } catch {
      this.drop(c);
    }
  }

  private write(c: number, m: Reply): void {
    if (this.fd < 0) return;
    const b = Buffer.from(JSON.stringify(m) + '\n');
    try {
      // A client whose socket buffer is full has stopped reading (EAGAIN): dropped.
      for (let off = 0; off < b.length; off += 65536) {
        const part = b.subarray(off, off + 65536);
        this.w.m.bytes.set(part);
        writeAll(c, this.w.addr, part.length);
      }
    } catch {
      this.loop.defer(() => this.drop(c));
    }
  }

  private drop(c: number): void {
    if (!this.clients.delete(c)) return;
    this.loop.unwatch(c);
    close(c);
  }

  close(): void {
    for (const c of [...this.clients.keys()]) this.drop(c);
    if (this.fd < 0) return;
    this.loop.unwatch(this.fd);
    close(this.fd);
    this.fd = -1;
    rmSync(this.path, { force: true });
  }
}
