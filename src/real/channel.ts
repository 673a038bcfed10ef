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
