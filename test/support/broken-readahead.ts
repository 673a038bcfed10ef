import { FILE_READAHEAD_POLICIES, Flag, SWAP_READAHEAD_POLICIES, State } from '../../src/core/index.js';
import {
  type ReadaheadContext,
  type ReadWindow,
  putWindow,
  windowOf,
} from '../../src/core/readahead/readahead.js';
import type { Factory, Kind } from './readahead-checks.js';

/** A deliberately wrong policy, what is wrong with it, and what the contract checks must say. */
export interface BrokenPolicy {
  kind: Kind;
  what: string;
  make: Factory;
  caught: RegExp;
}

/** A registered policy whose windows are changed by `change` after the fact. */
function altered(
  make: Factory,
  change: (w: ReadWindow, p: number, c: ReadaheadContext) => ReadWindow,
): Factory {
  return (c) => {
    const inner = make(c);
    return {
      name: `broken ${inner.name}`,
      source: inner.source,
      tracksHits: inner.tracksHits,
      window: (p, out) => putWindow(change(windowOf(inner, p), p, c), out),
      started: (p) => inner.started(p),
      hit: (p) => inner.hit(p),
    };
  };
}

const cluster: Factory = SWAP_READAHEAD_POLICIES.cluster;
const readaround: Factory = FILE_READAHEAD_POLICIES.readaround;

/** The first guest page that is not swapped (and not `p`). */
function notSwapped(c: ReadaheadContext, p: number): number {
  let q = 0;
  while (q === p || c.pt.state[q] === State.Swapped) q++;
  return q;
}

/** The first page the image does not serve: resident, swapped, never touched... */
function notInImage(c: ReadaheadContext, p: number): number {
  let q = 0;
  while (q === p || c.pt.state[q] === State.InImage) q++;
  return q;
}

let instances = 0;

export const BROKEN_POLICIES: BrokenPolicy[] = [
  {
    kind: 'swap',
    what: 'leaves the faulting page out of its window',
    make: altered(cluster, (w, p) => ({
      pages: w.pages.filter((q) => q !== p),
      units: w.units.filter((_, i) => w.pages[i] !== p),
    })),
    caught: /lacks the faulting page/,
  },
  {
    kind: 'swap',
    what: 'reads a page that is not swapped',
    make: altered(cluster, (w, p, c) => ({ pages: [...w.pages, notSwapped(c, p)], units: [...w.units, 0] })),
    caught: /which the swap source does not serve/,
  },
  {
    kind: 'swap',
    what: 'reads a page from a slot it does not hold',
    make: altered(cluster, (w) => ({ pages: w.pages, units: w.units.map((u) => u + 1) })),
    caught: /reads page \d+ from unit \d+, but it holds/,
  },
  {
    kind: 'swap',
    what: 'reads the faulting page twice',
    make: altered(cluster, (w, p, c) => ({ pages: [...w.pages, p], units: [...w.units, c.pt.slot[p]!] })),
    caught: /twice/,
  },
  {
    kind: 'swap',
    what: 'reads more than 2^page-cluster slots',
    make: (c) => cluster({ ...c, pageClusterLog2: c.pageClusterLog2 + 1 }),
    caught: /more than/,
  },
  {
    kind: 'swap',
    what: 'changes its window when asked again in the same state',
    make: (c) => {
      let calls = 0;
      return altered(cluster, (w, p) => (calls++ % 2 === 0 ? w : { pages: [p], units: [c.pt.slot[p]!] }))(c);
    },
    caught: /changed when asked again/,
  },
  {
    kind: 'swap',
    what: 'answers differently from another instance in the same state',
    make: (c) => {
      const odd = instances++ % 2 === 1;
      return altered(cluster, (w, p) => (odd ? { pages: [p], units: [c.pt.slot[p]!] } : w))(c);
    },
    caught: /two runs of one script differ/,
  },
  {
    kind: 'swap',
    what: 'marks the pages of its window itself',
    make: altered(cluster, (w, _p, c) => {
      for (const q of w.pages) c.pt.flags[q]! |= Flag.Readahead;
      return w;
    }),
    caught: /wrote to the tables/,
  },
  {
    kind: 'file',
    what: 'reads a dropped page from a block it does not hold',
    make: altered(readaround, (w) => ({ pages: w.pages, units: w.units.map((u) => u + 1) })),
    caught: /reads page \d+ from unit \d+, but it holds/,
  },
  {
    kind: 'file',
    what: 'reads a page that is not in the image',
    make: altered(readaround, (w, p, c) => ({
      pages: [...w.pages, notInImage(c, p)],
      units: [...w.units, 0],
    })),
    caught: /which the file source does not serve/,
  },
];
