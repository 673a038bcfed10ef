import { type ControlBackend, ControlCommandError } from './protocol.js';
import type { ThresholdWatcher } from './thresholds.js';
import { PAGE_SIZE_BYTES as PAGE } from '../../core/index.js';

/** What a command may do besides its reply: announce an event to every client. */
export interface CommandContext {
  backend: ControlBackend;
  thresholds: ThresholdWatcher;
  emit: (name: string, data: Record<string, unknown>) => void;
}

type Args = Record<string, unknown>;
type Handler = (args: Args, ctx: CommandContext) => unknown;

const bad = (desc: string): ControlCommandError => new ControlCommandError('GenericError', desc);

/** Refuses arguments the command does not take, naming them (QMP does the same). */
function only(cmd: string, args: Args, allowed: readonly string[]): void {
  for (const k of Object.keys(args))
    if (!allowed.includes(k)) throw bad(`${cmd}: parameter '${k}' is unexpected`);
}

function wholeNumber(cmd: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw bad(`${cmd}: parameter '${field}' must be a whole number, got ${JSON.stringify(v) ?? 'nothing'}`);
  return v;
}

/** `set-limit`: `pages`, or `bytes` (rounded down to whole pages); within [floor, memory]. */
function setLimit(args: Args, { backend, emit }: CommandContext): unknown {
  only('set-limit', args, ['pages', 'bytes']);
  const hasPages = args.pages !== undefined;
  const hasBytes = args.bytes !== undefined;
  if (hasPages === hasBytes) throw bad("set-limit: give exactly one of 'pages' and 'bytes'");
  const field = hasPages ? 'pages' : 'bytes';
  const n = wholeNumber('set-limit', field, args[field]);
  const pages = hasPages ? n : Math.floor(n / PAGE);
  const unit = (p: number): string => (hasPages ? `${p} pages` : `${p * PAGE} bytes`);
  if (pages > backend.memoryPages)
    throw bad(`set-limit: '${field}' ${n} is above the guest's memory (${unit(backend.memoryPages)})`);
  if (pages < backend.floorPages)
    throw bad(`set-limit: '${field}' ${n} is below the floor (${unit(backend.floorPages)})`);
  const oldPages = backend.limitPages();
  const residentPages = backend.setLimit(pages);
  if (oldPages !== pages) emit('RESIDENT_LIMIT_CHANGED', { oldPages, newPages: pages });
  return { limitPages: pages, residentPages };
}

function queryPage(args: Args, { backend }: CommandContext): unknown {
  only('query-page', args, ['gfn']);
  const gfn = wholeNumber('query-page', 'gfn', args.gfn);
  if (gfn >= backend.memoryPages)
    throw bad(`query-page: 'gfn' ${gfn} is beyond the guest's memory (${backend.memoryPages} pages)`);
  return { gfn, ...backend.page(gfn) };
}

function setThreshold(args: Args, { thresholds }: CommandContext): unknown {
  only('set-threshold', args, ['fraction']);
  const f = args.fraction;
  if (f === null) {
    thresholds.set(undefined);
    return {};
  }
  if (typeof f !== 'number' || !(f > 0 && f <= 1))
    throw bad(
      `set-threshold: parameter 'fraction' must be a number in (0, 1] or null, got ${JSON.stringify(f) ?? 'nothing'}`,
    );
  thresholds.set(f);
  return {};
}

/** Every command after capabilities negotiation, by name. */
export const COMMANDS: Readonly<Record<string, Handler>> = {
  'query-status': (args, { backend }) => {
    only('query-status', args, []);
    return {
      ...backend.status(),
      limitPages: backend.limitPages(),
      memoryPages: backend.memoryPages,
      floorPages: backend.floorPages,
    };
  },
  'query-stats': (args, { backend }) => {
    only('query-stats', args, []);
    return backend.stats();
  },
  'query-page': queryPage,
  'set-limit': setLimit,
  'set-threshold': setThreshold,
  'query-commands': (args) => {
    only('query-commands', args, []);
    return Object.keys(COMMANDS).map((name) => ({ name }));
  },
};
