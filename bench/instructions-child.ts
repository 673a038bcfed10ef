/**
 * One replay for bench/instructions.ts, run under valgrind: `node instructions-child.js MODE PAGES
 * TOUCHES TRACE` makes the bench's trace, TRACE touches long (the same length in the two runs that
 * are subtracted, so its making cancels), replays its first TOUCHES touches (after the same short warm-up as
 * the timed bench) and prints the page events it counted as one JSON line. MODE: `lru` (the plain
 * LRU at half the guest), `hit` (the core, everything resident) or `swap` (the core at a quarter).
 */
import { coreReplay, makeTrace, plainLru } from './replays.js';

/** The timed bench's warm-up: touches replayed once first, so the replay runs compiled code. */
const WARMUP_TOUCHES = 200_000;

function main(): void {
  const [mode, pagesArg, touchesArg, traceArg] = process.argv.slice(2);
  const pages = Number(pagesArg);
  const touches = Number(touchesArg);
  const traceLength = Number(traceArg);
  if (![pages, touches, traceLength].every((x) => Number.isInteger(x) && x > 0) || pages < 16)
    throw new RangeError(
      `instructions-child: PAGES, TOUCHES and TRACE must be whole numbers, got ${pagesArg} ${touchesArg} ${traceArg}`,
    );
  const trace = makeTrace(Math.max(traceLength, touches, WARMUP_TOUCHES), pages, 7);
  const warm = trace.subarray(0, WARMUP_TOUCHES);
  const run = trace.subarray(0, touches);
  let events: number;
  if (mode === 'lru') {
    plainLru(warm, pages, pages / 2);
    plainLru(run, pages, pages / 2);
    events = run.length;
  } else if (mode === 'hit' || mode === 'swap') {
    const limit = mode === 'hit' ? pages : pages / 4;
    coreReplay(warm, pages, limit);
    events = coreReplay(run, pages, limit).events;
  } else throw new RangeError(`instructions-child: MODE must be lru, hit or swap, got ${mode}`);
  console.log(JSON.stringify({ events }));
}

main();
