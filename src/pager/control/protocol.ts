/**
 * The control socket's protocol, in the style of QMP (QEMU's docs/interop/qmp-spec.rst): JSON
 * objects, one a line. The server greets, the client must send `qmp_capabilities` first, then
 * `{"execute": NAME, "arguments": {...}, "id": ANY}`; every command gets exactly one reply,
 * `{"return": ...}` or `{"error": {"class": ..., "desc": ...}}`, carrying the command's `id` if it
 * had one. Events arrive between replies: `{"event": NAME, "data": {...}, "timestamp": {...}}`.
 */

/** The protocol's version (the greeting's `vswapper.version`). */
export const CONTROL_PROTOCOL_VERSION = { major: 1, minor: 0 } as const;

/** The longest line accepted, in bytes: a command is small; more is an attack or a bug. */
export const MAX_LINE_BYTES = 64 * 1024;

/** QMP's error classes that apply here (qapi/error.json's ErrorClass). */
export type ErrorClass = 'GenericError' | 'CommandNotFound';

/** A command's failure: becomes the `error` reply. */
export class ControlCommandError extends Error {
  override name = 'ControlCommandError';
  constructor(
    readonly errorClass: ErrorClass,
    message: string,
  ) {
    super(message);
  }
}

/** What the daemon (or a test's fake) offers the control socket. */
export interface ControlBackend {
  /** The guest's memory, in pages: the highest resident limit. */
  readonly memoryPages: number;
  /** The lowest resident limit accepted, in pages (see the daemon for why it is what it is). */
  readonly floorPages: number;
  /** Whether the pager runs (attached to QEMU's RAM), and what it is. */
  status(): Record<string, unknown>;
  /** Every counter, by name (the same names the experiments report). */
  stats(): Record<string, number>;
  /** One guest frame as the pager holds it (`gfn` already checked against memoryPages). */
  page(gfn: number): Record<string, unknown>;
  /** The resident limit now, in pages. */
  limitPages(): number;
  /** Sets the resident limit (already checked against floor and memory); returns resident pages. */
  setLimit(pages: number): number;
}

export type Reply = Record<string, unknown>;

export function greeting(): Reply {
  return { vswapper: { version: { ...CONTROL_PROTOCOL_VERSION }, capabilities: [] } };
}

export function errorReply(cls: ErrorClass, desc: string, id?: unknown): Reply {
  return { error: { class: cls, desc }, ...(id !== undefined ? { id } : {}) };
}

export function returnReply(value: unknown, id?: unknown): Reply {
  return { return: value, ...(id !== undefined ? { id } : {}) };
}

/** An asynchronous event, stamped as QMP stamps them (wall clock, seconds and microseconds). */
export function eventMessage(name: string, data: Record<string, unknown>, nowMs = Date.now()): Reply {
  const us = Math.round(nowMs * 1000);
  return {
    event: name,
    data,
    timestamp: { seconds: Math.floor(us / 1e6), microseconds: us % 1e6 },
  };
}
