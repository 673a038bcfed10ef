import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DaemonConfig } from './daemon.js';

/** The daemon's entry point beside this module (dist/src/pager/daemon.js). */
export const DAEMON_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'daemon.js');

export class DaemonError extends Error {
  override name = 'DaemonError';
}

/**
 * The engine's end of the pager daemon: starts it (`node daemon.js CONFIG`) and speaks its JSON-lines
 * control protocol (commands with ids on stdin; replies with the same id, and events, on stdout).
 */
export class DaemonProcess {
  readonly child: ChildProcess;
  private buf = '';
  private readonly events: Record<string, unknown>[] = [];
  private readonly waiters: (() => void)[] = [];
  private id = 1;
  stderr = '';

  constructor(
    cfg: Partial<DaemonConfig> & Record<string, unknown>,
    /**
     * `ownProcessGroup`: a terminal's Ctrl-C (SIGINT to the foreground group) does not reach the
     * daemon, which must outlive QEMU; it still stops when our end of its stdin closes.
     */
    opts: { stderr?: (s: string) => void; ownProcessGroup?: boolean } = {},
  ) {
    // VSWAPPER_DAEMON_PROF=DIR writes a V8 CPU profile of the daemon there (where its time goes).
    this.child = spawn(
      process.execPath,
      [
        ...(process.env.VSWAPPER_DAEMON_PROF
          ? ['--cpu-prof', '--cpu-prof-dir', process.env.VSWAPPER_DAEMON_PROF]
          : []),
        DAEMON_SCRIPT,
        JSON.stringify(cfg),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], detached: opts.ownProcessGroup === true },
    );
    this.child.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        try {
          this.events.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.stderr += `${line}\n`;
        }
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      opts.stderr?.(d.toString());
    });
    this.child.stdin!.on('error', () => undefined);
    this.child.on('exit', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for a message (event or reply) matching `pred`; throws if the daemon ends first. */
  async next(
    pred: (m: Record<string, unknown>) => boolean,
    timeoutMs = 120_000,
  ): Promise<Record<string, unknown>> {
    const t0 = Date.now();
    for (;;) {
      const i = this.events.findIndex(pred);
      if (i >= 0) return this.events.splice(i, 1)[0]!;
      if (!this.alive)
        throw new DaemonError(
          `the pager daemon ended: ${this.stderr.trim().split('\n').slice(-4).join(' | ')}`,
        );
      if (Date.now() - t0 > timeoutMs) throw new DaemonError('the pager daemon did not answer in time');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000).unref();
      });
    }
  }

  /** Sends a command and waits for its reply; a reply with an error is thrown. */
  async cmd(c: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.id++;
    this.child.stdin!.write(JSON.stringify({ ...c, id }) + '\n');
    const r = await this.next((m) => m.id === id);
    if (r.error !== undefined)
      throw new DaemonError(
        `pager daemon: ${typeof r.error === 'string' ? r.error : JSON.stringify(r.error)}`,
      );
    return r;
  }

  /** Ends the daemon: closing its stdin stops it; it undoes nothing on the host itself. */
  async quit(): Promise<void> {
    if (!this.alive) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end();
    let t: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise((r) => (t = setTimeout(r, 10_000)))]);
    clearTimeout(t);
    if (this.alive) this.child.kill('SIGKILL');
  }
}
