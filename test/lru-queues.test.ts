import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LruLists } from '../src/core/index.js';
import { LruQueues } from '../src/core/store/lru-queues.js';

// Enough pages for one list to outgrow its first array (64 slots), few enough to collide often.
const PAGES = 80;
const LISTS = 2;

type Op =
  | { k: 'push'; list: number; page: number }
  | { k: 'remove'; page: number }
  | { k: 'pop'; list: number }
  /** popTailInto(list, n), against n popTail() of the model. */
  | { k: 'popMany'; list: number; n: number }
  | { k: 'move'; list: number; page: number }
  /** pushManyHead(list, pages), against pushHead() of each page of the model in turn. */
  | { k: 'pushMany'; list: number; pages: number[] }
  /** moveTailToHead(list, 1 - list, n), against n popTail() and pushHead() of the model. */
  | { k: 'moveTail'; list: number; n: number };

const page = fc.integer({ min: 0, max: PAGES - 1 });
const list = fc.integer({ min: 0, max: LISTS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  // Pushes weigh most, so lists grow past the initial array and are compacted and regrown.
  { weight: 6, arbitrary: fc.record({ k: fc.constant('push' as const), list, page }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('remove' as const), page }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pop' as const), list }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('popMany' as const), list, n: fc.integer({ min: 0, max: 40 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('move' as const), list, page }) },
  // Up to 70 pages at once: more than the room a compaction of the first 64-slot array leaves.
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('pushMany' as const),
      list,
      pages: fc.uniqueArray(page, { maxLength: 70 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('moveTail' as const), list, n: fc.integer({ min: 0, max: 40 }) }),
  },
);

/** Everything a caller can see of the lists: order, sizes, tails, each page's list and neighbours. */
function view(l: LruLists | LruQueues): string {
  const out: string[] = [];
  for (let i = 0; i < LISTS; i++) {
    const tail = l instanceof LruQueues ? l.tail(i) : l.tail[i]!;
    out.push(`list ${i} size ${l.size[i]} tail ${tail}: ${l.toArray(i).join(',')}`);
  }
  for (let p = 0; p < PAGES; p++) out.push(`page ${p} on ${l.on(p)} next ${l.nextOf(p)} prev ${l.prevOf(p)}`);
  return out.join('\n');
}

/** Runs `ops` on both, with pushes of listed pages skipped (both require the page to be off lists). */
function replay(
  ops: Op[],
  onEach: (model: LruLists, q: LruQueues, popped: [number, number] | [string, string]) => void,
): void {
  const model = new LruLists(PAGES, LISTS);
  const q = new LruQueues(PAGES, LISTS);
  // Entries past those a popTailInto() wrote must be left as they were: a sentinel shows it.
  const out = new Int32Array(41).fill(-7);
  for (const o of ops) {
    let popped: [number, number] | [string, string] = [0, 0];
    if (o.k === 'push') {
      if (model.on(o.page) !== 255) continue;
      model.pushHead(o.list, o.page);
      q.pushHead(o.list, o.page);
    } else if (o.k === 'remove') {
      model.remove(o.page);
      q.remove(o.page);
    } else if (o.k === 'pushMany') {
      const fresh = o.pages.filter((p) => model.on(p) === 255);
      for (const p of fresh) model.pushHead(o.list, p);
      q.pushManyHead(o.list, Int32Array.from(fresh), fresh.length);
    } else if (o.k === 'moveTail') {
      const want: number[] = [];
      for (let i = 0; i < o.n; i++) {
        const t = model.popTail(o.list);
        if (t < 0) break;
        model.pushHead(1 - o.list, t);
        want.push(t);
      }
      out.fill(-7);
      const got = q.moveTailToHead(o.list, 1 - o.list, o.n, out);
      popped = [[...want, -7].join(','), Array.from(out.subarray(0, got + 1)).join(',')];
    } else if (o.k === 'pop') {
      popped = [model.popTail(o.list), q.popTail(o.list)];
    } else if (o.k === 'popMany') {
      const want: number[] = [];
      for (let i = 0; i < o.n; i++) {
        const t = model.popTail(o.list);
        if (t < 0) break;
        want.push(t);
      }
      out.fill(-7);
      const got = q.popTailInto(o.list, o.n, out);
      popped = [[...want, -7].join(','), Array.from(out.subarray(0, got + 1)).join(',')];
    } else {
      model.moveToHead(o.list, o.page);
      q.moveToHead(o.list, o.page);
    }
    onEach(model, q, popped);
  }
}

test('LruQueues behaves as the linked LruLists through any sequence of pushes (one or many), removals, pops (one or many), moves and tail moves', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 500, maxLength: 1500 }), (ops) => {
      replay(ops, (model, q, [a, b]) => {
        assert.equal(b, a, 'popTail');
        assert.equal(view(q), view(model));
      });
    }),
    { numRuns: 100 },
  );
});

test('a long run through one list keeps its order while the array is compacted and grown', () => {
  // 64 slots at first: pushes with removals in between force compactions, and 80 pages growth.
  const ops: Op[] = [];
  for (let i = 0; i < 200; i++) {
    ops.push({ k: 'push', list: 0, page: i % PAGES });
    if (i % 3 === 0) ops.push({ k: 'remove', page: (i * 7) % PAGES });
    if (i % 5 === 0) ops.push({ k: 'pop', list: 0 });
  }
  let checks = 0;
  replay(ops, (model, q) => {
    assert.deepEqual(q.toArray(0), model.toArray(0));
    checks++;
  });
  assert.ok(checks > 200);
});

test('pushManyHead() of more pages than the array has slots grows it, keeping the order', () => {
  // The first array has 64 slots: 70 pages at once, onto an empty list and onto one with pages.
  for (const before of [0, 5]) {
    const model = new LruLists(PAGES, LISTS);
    const q = new LruQueues(PAGES, LISTS);
    for (let p = 0; p < before; p++) {
      model.pushHead(1, p);
      q.pushHead(1, p);
    }
    const pages = Array.from({ length: 70 }, (_, i) => PAGES - 1 - i);
    for (const p of pages) model.pushHead(1, p);
    q.pushManyHead(1, Int32Array.from(pages), pages.length);
    assert.equal(view(q), view(model));
  }
});
