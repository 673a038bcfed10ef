import {
  FILE_READAHEAD_POLICIES,
  Flag,
  type MemoryCore,
  NONE,
  SWAP_READAHEAD_POLICIES,
  State,
  SwapSpace,
} from '../../src/core/index.js';
import {
  type Readahead,
  type ReadaheadContext,
  type ReadWindow,
  readaheadContext as makeContext,
  putWindow,
  windowOf,
} from '../../src/core/readahead/readahead.js';
import type { Store } from '../../src/core/store/store.js';

/**
 * The readahead contract, checked from outside any policy: what every window must be, whatever the
 * policy. The conformance suite runs these checks on every registered policy, and on deliberately
 * wrong ones to show that they fail.
 */

export type Kind = 'swap' | 'file';
export type Factory = (c: ReadaheadContext) => Readahead;

/** The registered policies of a kind, by name. */
export function registry(kind: Kind): Record<string, Factory> {
  return kind === 'swap' ? SWAP_READAHEAD_POLICIES : FILE_READAHEAD_POLICIES;
}

/** A core's readahead context, as MemoryCore builds it (white-box: the store is private). */
export function readaheadContext(core: MemoryCore): ReadaheadContext {
  const s = (core as unknown as { s: Store }).s;
  return makeContext(s.pt, s.swap, s.firstVmmPage, core.cfg);
}

/**
 * The unit page `q` is read from when it is absent in the state `kind`'s source serves: Swapped
 * and owning its slot (swap); dropped to the image and named with its block, or a dropped code
 * page (file). Undefined when the source cannot serve it.
 */
export function unitOf(kind: Kind, c: ReadaheadContext, q: number): number | undefined {
  const { pt, swap } = c;
  if (kind === 'swap') {
    const s = pt.slot[q]!;
    return pt.state[q] === State.Swapped && s !== NONE && swap.ownerOf(s) === q ? s : undefined;
  }
  if (pt.state[q] !== State.InImage) return undefined;
  if (q >= c.firstVmmPage) return q - c.firstVmmPage;
  return pt.flags[q]! & Flag.Named && pt.block[q] !== NONE ? pt.block[q] : undefined;
}

/** The most units one window may read: 2^page-cluster slots (vm.page-cluster), or the read-around. */
export function sizeBound(kind: Kind, c: ReadaheadContext): number {
  return kind === 'swap' ? 1 << c.pageClusterLog2 : c.fileReadaroundPages;
}

/** What is wrong with window `w` of a fault on `p` (empty when it keeps the contract). */
export function windowProblems(kind: Kind, c: ReadaheadContext, p: number, w: ReadWindow): string[] {
  const out: string[] = [];
  if (w.pages.length !== w.units.length) out.push(`${w.pages.length} pages but ${w.units.length} units`);
  if (!w.pages.includes(p)) out.push(`lacks the faulting page ${p}`);
  const seen = new Set<number>();
  w.pages.forEach((q, i) => {
    if (seen.has(q)) out.push(`holds page ${q} twice`);
    seen.add(q);
    const u = unitOf(kind, c, q);
    if (u === undefined)
      out.push(`holds page ${q} (state ${c.pt.state[q]}), which the ${kind} source does not serve`);
    else if (w.units[i] !== u) out.push(`reads page ${q} from unit ${w.units[i]}, but it holds ${u}`);
  });
  const units = new Set(w.units).size;
  if (units > sizeBound(kind, c)) out.push(`reads ${units} units, more than ${sizeBound(kind, c)}`);
  return out;
}

/** The tables a policy must not write to, copied. */
function snapshot(c: ReadaheadContext): Buffer[] {
  const { pt, swap } = c;
  const owners = swap instanceof SwapSpace ? [swap.owner] : [];
  return [pt.state, pt.flags, pt.slot, pt.block, pt.firstPlusOne, pt.nextSameBlock, ...owners].map((a) =>
    Buffer.from(a.buffer.slice(0)),
  );
}

export interface ScriptRun {
  /** Every window, in order, as text (two runs of one script must give the same). */
  windows: string[];
  problems: string[];
  /** Windows that read more than the faulting page. */
  wide: number;
}

/**
 * Runs a script on a fresh policy over a core's tables, as the core would drive it: each entry is
 * a fault (asked twice, then started) on the servable page it picks (x % 4 = 0) or on the next
 * one after the previous fault (x % 4 = 2, a sequential scan), or the first use of a page the
 * previous window read ahead (odd x: hit). Checks every window and that nothing was written.
 */
export function runScript(kind: Kind, make: Factory, c: ReadaheadContext, script: number[]): ScriptRun {
  const pages: number[] = [];
  for (let q = 0; q < c.pt.pageCount; q++) if (unitOf(kind, c, q) !== undefined) pages.push(q);
  const run: ScriptRun = { windows: [], problems: [], wide: 0 };
  if (pages.length === 0) return run;
  const before = snapshot(c);
  const policy = make(c);
  let ahead: number[] = [];
  let at = 0;
  for (const x of script) {
    if (x % 2 === 1) {
      if (ahead.length > 0) policy.hit(ahead[(x >> 1) % ahead.length]!);
      continue;
    }
    at = x % 4 === 0 ? (x >> 2) % pages.length : (at + 1) % pages.length;
    const p = pages[at]!;
    const w = windowOf(policy, p);
    const again = windowOf(policy, p);
    const text = `${p}: ${w.pages.join(',')} <- ${w.units.join(',')}`;
    if (text !== `${p}: ${again.pages.join(',')} <- ${again.units.join(',')}`)
      run.problems.push(`window of ${p} changed when asked again: ${text}`);
    for (const m of windowProblems(kind, c, p, w)) run.problems.push(`window of ${p}: ${m}`);
    policy.started(p);
    run.windows.push(text);
    if (w.pages.length > 1) run.wide++;
    ahead = w.pages.filter((q) => q !== p);
  }
  const after = snapshot(c);
  if (before.some((b, i) => !b.equals(after[i]!))) run.problems.push('the policy wrote to the tables');
  return run;
}

/** What a probe saw of a policy the core drove. */
export interface ProbeLog {
  problems: string[];
  windows: number;
  wide: number;
  hits: number;
  /** The policy's tracksHits, once the core built it. */
  tracksHits?: boolean;
}

/**
 * Runs `fn` with policy `make` registered under a name of its own, wrapped so that every window
 * the core asks it for is checked at the moment of the fault; `fn` builds cores with that name.
 * The registry is restored afterwards.
 */
export function withProbe<T>(kind: Kind, make: Factory, log: ProbeLog, fn: (name: string) => T): T {
  const table = registry(kind);
  const name = `probe-${Object.keys(table).length}`;
  table[name] = (c) => {
    const inner = make(c);
    log.tracksHits = inner.tracksHits;
    return {
      name: inner.name,
      source: inner.source,
      tracksHits: inner.tracksHits,
      window(p, out) {
        const w = windowOf(inner, p);
        for (const m of windowProblems(kind, c, p, w))
          log.problems.push(`${inner.name} window of ${p}: ${m}`);
        log.windows++;
        if (w.pages.length > 1) log.wide++;
        return putWindow(w, out);
      },
      started: (p) => inner.started(p),
      hit(p) {
        log.hits++;
        inner.hit(p);
      },
    };
  };
  try {
    return fn(name);
  } finally {
    delete table[name];
  }
}
