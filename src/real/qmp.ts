import { type Socket, connect } from 'node:net';
import { lineSplitter } from './channel.js';

/**
 * A QMP client (QEMU Machine Protocol: JSON lines over a Unix socket). The server greets with
 * `{"QMP": {...}}`; the client must send `qmp_capabilities` before any other command; each command
 * is answered by `{"return": ...}` or `{"error": {"class", "desc"}}` carrying the command's `id`;
 * asynchronous events (`{"event": "BALLOON_CHANGE", "data": {...}, "timestamp": {...}}`) may arrive
 * between answers at any time (QEMU's docs/interop/qmp-spec).
 */

/** The socket is not there or nothing listens on it. */
export class QmpConnectError extends Error {
  override name = 'QmpConnectError';
}

/** Something answered, but not as QEMU's QMP does (no greeting, a line that is not JSON). */
export class QmpProtocolError extends Error {
  override name = 'QmpProtocolError';
}

/** QEMU refused a command (its error class and description). */
export class QmpCommandError extends Error {
  override name = 'QmpCommandError';
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command}: ${desc} (${errorClass})`);
  }
}

/** The connection ended (QEMU exited) while commands were waiting. */
export class QmpClosedError extends Error {
  override name = 'QmpClosedError';
}

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  /** Seconds since the epoch, as QEMU stamped it. */
  timestampS: number;
}

interface Waiter {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface QmpConnectOptions {
  /** How long to wait for the greeting and the capabilities' answer, ms (default 5000). */
  timeoutMs?: number;
  /** Keep retrying a missing socket for this long, ms (QEMU creating it; default 0: fail at once). */
  retryMs?: number;
}

export class QmpClient {
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private readonly listeners: ((e: QmpEvent) => void)[] = [];
  private readonly closeListeners: ((why: string) => void)[] = [];
  private closed: string | undefined;
  private greeting: ((v: unknown) => void) | undefined;
  private badLine: ((e: Error) => void) | undefined;
  /** What QEMU said of itself in its greeting ({"qemu": {"major", "minor", "micro"}, "package"}). */
  version: Record<string, unknown> = {};

  private constructor(
    private readonly sock: Socket,
    readonly path: string,
  ) {
    sock.on(
      'data',
      lineSplitter((l) => this.onLine(l)),
    );
    sock.on('error', (e) => this.end(e.message));
    sock.on('close', () => this.end('connection closed'));
  }

  /**
   * Connects, reads the greeting and negotiates capabilities. Fails with a QmpConnectError when
   * the socket is missing or refuses, a QmpProtocolError when the peer does not speak QMP.
   */
  static async connect(path: string, o: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = o.timeoutMs ?? 5000;
    const t0 = Date.now();
    let sock: Socket;
    for (;;) {
      try {
        sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (Date.now() - t0 < (o.retryMs ?? 0)) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        const why =
          code === 'ENOENT'
            ? 'no such socket'
            : code === 'ECONNREFUSED'
              ? 'nothing listens on it (or it is not a socket)'
              : code === 'ENOTSOCK'
                ? 'not a socket'
                : (e as Error).message;
        throw new QmpConnectError(`QMP ${path}: ${why}`);
      }
    }
    const q = new QmpClient(sock, path);
    try {
      const greeting = await q.withTimeout(
        new Promise<unknown>((resolve, reject) => {
          q.greeting = resolve;
          q.badLine = reject;
        }),
        timeoutMs,
        'no QMP greeting',
      );
      q.version = (greeting as { version?: Record<string, unknown> }).version ?? {};
      await q.withTimeout(q.execute('qmp_capabilities'), timeoutMs, 'no answer to qmp_capabilities');
      return q;
    } catch (e) {
      q.close();
      if (e instanceof QmpCommandError || e instanceof QmpClosedError)
        throw new QmpProtocolError(`QMP ${path}: not a QMP server (${e.message})`);
      throw e;
    }
  }

  private withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new QmpProtocolError(`QMP ${this.path}: not a QMP server (${what} within ${ms} ms)`)),
        ms,
      );
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(t);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      const e = new QmpProtocolError(`QMP ${this.path}: not a QMP server (a line that is not JSON)`);
      if (this.badLine) this.badLine(e);
      else this.end(e.message);
      return;
    }
    if ('QMP' in msg) {
      this.greeting?.(msg.QMP);
      this.greeting = undefined;
      return;
    }
    if (typeof msg.event === 'string') {
      const ts = msg.timestamp as { seconds?: number; microseconds?: number } | undefined;
      const ev: QmpEvent = {
        event: msg.event,
        data: (msg.data ?? {}) as Record<string, unknown>,
        timestampS: (ts?.seconds ?? 0) + (ts?.microseconds ?? 0) / 1e6,
      };
      for (const f of this.listeners) f(ev);
      return;
    }
    // Answers carry our id; a server that drops ids answers in order (the oldest waiter).
    const id = typeof msg.id === 'number' ? msg.id : [...this.waiting.keys()][0];
    const w = id === undefined ? undefined : this.waiting.get(id);
    if (!w || id === undefined) return;
    this.waiting.delete(id);
    const err = msg.error as { class?: string; desc?: string } | undefined;
    if (err) w.reject(new QmpCommandError(w.command, err.class ?? 'GenericError', err.desc ?? ''));
    else w.resolve(msg.return);
  }

  private end(why: string): void {
    if (this.closed !== undefined) return;
    this.closed = why;
    const e = new QmpClosedError(`QMP ${this.path}: ${why}`);
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
    this.badLine?.(e);
    for (const f of this.closeListeners) f(why);
  }

  /** Runs one command; resolves with its `return` value. */
  execute<T = unknown>(command: string, args?: object): Promise<T> {
    if (this.closed !== undefined)
      return Promise.reject(new QmpClosedError(`QMP ${this.path}: ${this.closed}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { command, resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  /** Calls `f` on every asynchronous event. */
  onEvent(f: (e: QmpEvent) => void): void {
    this.listeners.push(f);
  }

  /** Calls `f` once the connection ends (QEMU exited, the socket closed). */
  onClose(f: (why: string) => void): void {
    if (this.closed !== undefined) f(this.closed);
    else this.closeListeners.push(f);
  }

  get isClosed(): boolean {
    return this.closed !== undefined;
  }

  close(): void {
    this.sock.destroy();
    this.end('closed by us');
  }
}
