import { COMMANDS, type CommandContext } from './commands.js';
import {
  type ControlBackend,
  ControlCommandError,
  MAX_LINE_BYTES,
  type Reply,
  errorReply,
  eventMessage,
  greeting,
  returnReply,
} from './protocol.js';
import { ThresholdWatcher } from './thresholds.js';

/**
 * One client's session, pure: bytes in (`feed`), messages out (`out`). It never throws on what a
 * client sends: every non-blank line gets exactly one reply (an oversized one too, once its end
 * arrives), and the session stays usable after any of them. Blank lines are ignored, as QMP's
 * JSON lexer ignores whitespace.
 */
export class ControlSession {
  private buf = '';
  /** Bytes of an oversized line seen so far: dropped until its newline. */
  private overflowBytes = 0;
  private negotiated = false;

  constructor(
    private readonly backend: ControlBackend,
    private readonly out: (msg: Reply) => void,
    /** How an event reaches every session (the server's broadcast); defaults to this one. */
    private readonly emit: (name: string, data: Record<string, unknown>) => void = (n, d) => this.event(n, d),
    private readonly thresholds = new ThresholdWatcher(),
  ) {
    out(greeting());
  }

  get capabilitiesNegotiated(): boolean {
    return this.negotiated;
  }

  /** Data the client sent (any chunking). */
  feed(chunk: string): void {
    let rest = chunk;
    for (;;) {
      const nl = rest.indexOf('\n');
      const part = nl < 0 ? rest : rest.slice(0, nl);
      if (this.overflowBytes > 0 || Buffer.byteLength(this.buf) + Buffer.byteLength(part) > MAX_LINE_BYTES) {
        this.overflowBytes += Buffer.byteLength(this.buf) + Buffer.byteLength(part);
        this.buf = '';
      } else this.buf += part;
      if (nl < 0) return;
      rest = rest.slice(nl + 1);
      if (this.overflowBytes > 0) {
        const n = this.overflowBytes;
        this.overflowBytes = 0;
        this.out(errorReply('GenericError', `line of ${n} bytes is over the limit of ${MAX_LINE_BYTES}`));
        continue;
      }
      const line = this.buf;
      this.buf = '';
      if (line.trim() !== '') this.out(this.handle(line));
    }
  }

  /** An event, sent only once capabilities are negotiated (as QMP does). */
  event(name: string, data: Record<string, unknown>): void {
    if (this.negotiated) this.out(eventMessage(name, data));
  }

  /** One line: its reply. Never throws. */
  handle(line: string): Reply {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      return errorReply('GenericError', `JSON parse error: ${(e as Error).message}`);
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg))
      return errorReply('GenericError', 'QMP input must be a JSON object');
    const m = msg as Record<string, unknown>;
    const id = m.id;
    for (const k of Object.keys(m))
      if (k !== 'execute' && k !== 'arguments' && k !== 'id')
        return errorReply('GenericError', `QMP input member '${k}' is unexpected`, id);
    if (typeof m.execute !== 'string')
      return errorReply('GenericError', "QMP input member 'execute' must be a string", id);
    const args = m.arguments ?? {};
    if (typeof args !== 'object' || args === null || Array.isArray(args))
      return errorReply('GenericError', "QMP input member 'arguments' must be an object", id);
    const name = m.execute;
    if (name === 'qmp_capabilities') {
      if (this.negotiated)
        return errorReply('CommandNotFound', 'Capabilities negotiation is already complete', id);
      if (Object.keys(args).length > 0)
        return errorReply(
          'GenericError',
          "qmp_capabilities: no capability is offered, 'enable' must be empty",
          id,
        );
      this.negotiated = true;
      return returnReply({}, id);
    }
    if (!this.negotiated)
      return errorReply('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'", id);
    const handler = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!handler)
      return errorReply('CommandNotFound', `The command ${name.slice(0, 80)} has not been found`, id);
    const ctx: CommandContext = { backend: this.backend, thresholds: this.thresholds, emit: this.emit };
    try {
      return returnReply(handler(args as Record<string, unknown>, ctx), id);
    } catch (e) {
      if (e instanceof ControlCommandError) return errorReply(e.errorClass, e.message, id);
      // A backend failure is the daemon's, not the client's: reported, and the session goes on.
      return errorReply('GenericError', `${name}: ${(e as Error).message}`, id);
    }
  }

  /** A periodic sample: the threshold event (this client's threshold), if the resident pages crossed it. */
  sample(): void {
    const c = this.thresholds.update(this.backend.stats().residentPages ?? 0, this.backend.limitPages());
    if (c) this.event('RESIDENT_THRESHOLD', { ...c });
  }
}
