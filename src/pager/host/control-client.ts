import { type Socket, connect } from 'node:net';

/** A control socket could not be used: unreachable, not ours, silent, or gone. */
export class ControlClientError extends Error {
  override name = 'ControlClientError';
}

/** The VM refused a command (its `error` reply): class and description. */
export class ControlRefusedError extends Error {
  override name = 'ControlRefusedError';
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A long-lived client of one VM's control socket (the protocol of control/protocol.ts): the
 * greeting checked, capabilities negotiated, then commands one reply each, in order (the server
 * answers in order; QMP does too). Events are ignored. Once the connection breaks, every command
 * pending or to come fails with ControlClientError, and `closed` resolves with why.
 */
export class ControlClient {
  private buf = '';
  private readonly pending: Pending[] = [];
  private gone: string | undefined;
  readonly closed: Promise<string>;
  private onClosed!: (why: string) => void;

  private constructor(
    readonly path: string,
    private readonly s: Socket,
    private readonly timeoutMs: number,
  ) {
    this.closed = new Promise((r) => (this.onClosed = r));
    s.on('data', (d) => this.onData(d.toString()));
    s.on('error', (e) => this.fail(`connection error (${(e as NodeJS.ErrnoException).code ?? e.message})`));
    s.on('close', () => this.fail('the VM closed its control socket'));
  }

  /** Connects, checks the greeting, negotiates capabilities; rejects with a one-line reason. */
  static open(path: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      const t = setTimeout(() => {
        s.destroy();
        reject(new ControlClientError(`${path}: no greeting within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const early = (e: Error): void => {
        clearTimeout(t);
        s.destroy();
        reject(
          new ControlClientError(
            `${path}: cannot connect (${(e as NodeJS.ErrnoException).code ?? e.message})`,
          ),
        );
      };
      s.once('error', early);
      let head = '';
      const onHead = (d: Buffer): void => {
        head += d.toString();
        const nl = head.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(t);
        s.off('data', onHead);
        s.off('error', early);
        let g: Record<string, unknown> | undefined;
        try {
          g = JSON.parse(head.slice(0, nl)) as Record<string, unknown>;
        } catch {
          g = undefined;
        }
        if (!g?.vswapper) {
          s.destroy();
          reject(new ControlClientError(`${path}: not a vswapper control socket (its greeting is not ours)`));
          return;
        }
        const c = new ControlClient(path, s, timeoutMs);
        c.buf = head.slice(nl + 1);
        c.cmd('qmp_capabilities').then(
          () => resolve(c),
          (e: Error) => {
            c.close();
            reject(new ControlClientError(`${path}: capabilities refused (${e.message})`));
          },
        );
      };
      s.on('data', onHead);
    });
  }

  /** One command's `return`; rejects with ControlRefusedError or ControlClientError. */
  cmd(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.gone !== undefined) return Promise.reject(new ControlClientError(`${this.path}: ${this.gone}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(`no reply to ${execute} within ${this.timeoutMs / 1000} s`),
        this.timeoutMs,
      );
      this.pending.push({ resolve, reject, timer });
      this.s.write(`${JSON.stringify({ execute, ...(args ? { arguments: args } : {}) })}\n`);
    });
  }

  close(): void {
    this.fail('closed');
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() === '') continue;
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.fail('sent a line that is not JSON');
        return;
      }
      if (m.event !== undefined) continue;
      const p = this.pending.shift();
      if (!p) continue;
      clearTimeout(p.timer);
      const e = m.error as { class?: string; desc?: string } | undefined;
      if (e) p.reject(new ControlRefusedError(`${e.class ?? 'Error'}: ${e.desc ?? ''}`));
      else p.resolve(m.return);
    }
  }

  private fail(why: string): void {
    if (this.gone !== undefined) return;
    this.gone = why;
    this.s.destroy();
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(new ControlClientError(`${this.path}: ${why}`));
    }
    this.onClosed(why);
  }
}
