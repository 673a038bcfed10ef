import { connect, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

/** The output of one command run in the guest, framed by the guest's init (see the image builder). */
export interface GuestReply {
  rc: number;
  lines: string[];
  /** Guest uptime (s) when the command started and ended: the guest's own clock. */
  beginS: number;
  endS: number;
}

/** Splits a stream into lines (CR dropped) and feeds them to `onLine`. */
export function lineSplitter(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, nl).replace(/\r$/, ''));
      buf = buf.slice(nl + 1);
    }
  };
}

export type Frame =
  | { kind: 'ready'; uptimeS: number }
  | { kind: 'error'; text: string }
  | { kind: 'begin'; id: number; uptimeS: number }
  | { kind: 'end'; id: number; rc: number; uptimeS: number }
  | { kind: 'output'; line: string };

/** Parses one line of the guest's command channel. */
export function parseFrame(line: string): Frame {
  const m = /^@@VSW (\w+) ?(.*)$/.exec(line);
  if (!m) return { kind: 'output', line };
  const f = (m[2] ?? '').split(' ');
  switch (m[1]) {
    case 'ready':
      return { kind: 'ready', uptimeS: Number(f[0]) };
    case 'begin':
      return { kind: 'begin', id: Number(f[0]), uptimeS: Number(f[1]) };
    case 'end':
      return { kind: 'end', id: Number(f[0]), rc: Number(f[1]), uptimeS: Number(f[2]) };
    case 'error':
      return { kind: 'error', text: m[2] ?? '' };
    default:
      return { kind: 'output', line };
  }
}

/**
 * The host's end of the guest's command channel (the guest's /dev/ttyS1 on QEMU's stdio): one
 * command at a time, each answered by its framed output.
 */
export class GuestChannel {
  private nextId = 1;
  private current:
    | {
        id: number;
        lines: string[];
        beginS: number;
        resolve: (r: GuestReply) => void;
        reject: (e: Error) => void;
      }
    | undefined;
  private readyWaiter: { resolve: (uptimeS: number) => void; reject: (e: Error) => void } | undefined;
  private readyAt: number | undefined;
  private failure: Error | undefined;

  constructor(
    input: Readable,
    private readonly output: Writable,
  ) {
    input.on(
      'data',
      lineSplitter((l) => this.onLine(l)),
    );
  }

  private onLine(line: string): void {
    const f = parseFrame(line);
    const c = this.current;
    switch (f.kind) {
      case 'ready':
        this.readyAt = f.uptimeS;
        this.readyWaiter?.resolve(f.uptimeS);
        return;
      case 'error':
        this.fail(new Error(`guest: ${f.text}`));
        return;
      case 'begin':
        if (c && c.id === f.id) c.beginS = f.uptimeS;
        return;
      case 'end':
        if (c && c.id === f.id) {
          this.current = undefined;
          c.resolve({ rc: f.rc, lines: c.lines, beginS: c.beginS, endS: f.uptimeS });
        }
        return;
      case 'output':
        if (c && line !== '') c.lines.push(line);
    }
  }

  /** Ends every wait with `e` (QEMU exited, the run was aborted). */
  fail(e: Error): void {
    this.failure ??= e;
    this.readyWaiter?.reject(e);
    this.readyWaiter = undefined;
    const c = this.current;
    this.current = undefined;
    c?.reject(e);
  }

  /** Resolves with the guest's uptime once its init has mounted the disk. */
  ready(): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.readyAt !== undefined) return Promise.resolve(this.readyAt);
    return new Promise((resolve, reject) => (this.readyWaiter = { resolve, reject }));
  }

  /** Runs a shell command in the guest's disk root (cwd /data); "!cmd" runs in the initramfs. */
  run(command: string): Promise<GuestReply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.current) return Promise.reject(new Error('guest channel: one command at a time'));
    if (command.includes('\n')) return Promise.reject(new Error('guest channel: one line per command'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.current = { id, lines: [], beginS: NaN, resolve, reject };
      this.output.write(`${id} ${command}\n`);
    });
  }
}

/** A QMP connection: commands answered in order, events ignored. */
export class Qmp {
  private readonly queue: { resolve: (v: unknown) => void; reject: (e: Error) => void; command: string }[] =
    [];
  private greeted: Promise<void>;

  private constructor(private readonly sock: Socket) {
    let greet!: () => void;
    this.greeted = new Promise((r) => (greet = r));
    sock.on(
      'data',
      lineSplitter((l) => {
        if (!l.trim()) return;
        const msg = JSON.parse(l) as {
          QMP?: unknown;
          return?: unknown;
          error?: { desc: string };
          event?: string;
        };
        if (msg.QMP) {
          greet();
          return;
        }
        if (msg.event) return;
        const w = this.queue.shift();
        if (!w) return;
        if (msg.error) w.reject(new Error(`QMP ${w.command}: ${msg.error.desc}`));
        else w.resolve(msg.return);
      }),
    );
    const failAll = (e: Error): void => {
      for (const w of this.queue.splice(0)) w.reject(e);
    };
    sock.on('error', failAll);
    sock.on('close', () => failAll(new Error('QMP connection closed')));
  }

  /** Connects to QEMU's QMP socket (retrying while QEMU creates it) and negotiates capabilities. */
  static async connect(path: string, timeoutMs = 30_000): Promise<Qmp> {
    const t0 = Date.now();
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const q = new Qmp(sock);
        await q.greeted;
        await q.execute('qmp_capabilities');
        return q;
      } catch (e) {
        if (Date.now() - t0 > timeoutMs)
          throw new Error(`QMP: cannot connect to ${path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  execute<T = unknown>(command: string, args?: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ resolve: resolve as (v: unknown) => void, reject, command });
      this.sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
    });
  }

  close(): void {
    this.sock.destroy();
  }
}
