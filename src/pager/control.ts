import { writeSync } from 'node:fs';
import type { Loop } from './loop.js';
import { Scratch, readNonBlocking, setNonBlocking } from './sys.js';

/**
 * The daemon's control channel: JSON lines on its stdin (commands from the engine) and stdout
 * (replies and events). End of stdin means the engine is gone: the daemon stops.
 */
export class Control {
  private buf = '';
  private readonly s = new Scratch(65536);

  constructor(
    private readonly loop: Loop,
    private readonly onCommand: (cmd: Record<string, unknown>) => Record<string, unknown> | undefined,
    private readonly onEnd: () => void,
    private readonly fdIn = 0,
    private readonly fdOut = 1,
  ) {
    setNonBlocking(fdIn);
    loop.watch(fdIn, () => this.onReadable());
  }

  private onReadable(): void {
    for (;;) {
      const n = readNonBlocking(this.fdIn, this.s.addr, 65536);
      if (n === 0) return;
      if (n < 0) {
        this.loop.unwatch(this.fdIn);
        this.onEnd();
        return;
      }
      this.buf += Buffer.from(this.s.m.bytes.subarray(0, n)).toString('utf8');
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        let cmd: Record<string, unknown>;
        try {
          cmd = JSON.parse(line) as Record<string, unknown>;
        } catch {
          this.send({ error: `control: not JSON: ${line.slice(0, 80)}` });
          continue;
        }
        try {
          const reply = this.onCommand(cmd);
          if (reply) this.send({ id: cmd.id, ...reply });
        } catch (e) {
          this.send({ id: cmd.id, error: (e as Error).message });
        }
      }
    }
  }

  send(msg: Record<string, unknown>): void {
    writeSync(this.fdOut, JSON.stringify(msg) + '\n');
  }
}
