import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CHUNKS_PER_PAGE } from '../src/core/index.js';
import { type IoId, asBlock, asGfn, asSlot, asVmmPage } from '../src/core/types.js';
import {
  BlockContents,
  DataPlane,
  NO_BASE,
  OverrideTable,
  Overrides,
  POISON,
  chunkValue,
  initialBlockContent,
  sameContent,
} from '../src/sim/data-plane.js';

/** The definition: every chunk of the page has a content, and it is the same on both sides. */
function sameChunkByChunk(aBase: number, aOver?: Overrides, bBase?: number, bOver?: Overrides): boolean {
  for (let c = 0; c < CHUNKS_PER_PAGE; c++) {
    const x = chunkValue(aBase, aOver, c);
    if (Number.isNaN(x) || x !== chunkValue(bBase!, bOver, c)) return false;
  }
  return true;
}

// Few distinct bases and values, so that equal contents (the interesting case) come up often.
const base = fc.constantFrom(POISON, NO_BASE, 5, 6);
const overrides = fc.option(
  fc.oneof(
    fc.array(
      fc.tuple(fc.integer({ min: 0, max: CHUNKS_PER_PAGE - 1 }), fc.constantFrom(5 * 64, 6 * 64, 1, 2)),
    ),
    // Every chunk overridden, as the guest's kernel pages end up: the base no longer matters.
    fc
      .constantFrom(5, 6)
      .map((v) => Array.from({ length: CHUNKS_PER_PAGE }, (_, c) => [c, v * 64 + c] as const)),
  ),
  { nil: undefined },
);

test('sameContent agrees with a chunk-by-chunk comparison, overrides or not', () => {
  let equal = 0;
  fc.assert(
    fc.property(base, overrides, base, overrides, fc.boolean(), (aBase, aList, bBase, bList, copy) => {
      const aOver = aList ? Overrides.of(aList) : undefined;
      // Often the other side is a copy: the page as the reference remembers it.
      const bOver = copy && aOver ? new Overrides(aOver) : bList ? Overrides.of(bList) : undefined;
      const expected = sameChunkByChunk(aBase, aOver, copy ? aBase : bBase, bOver);
      if (expected) equal++;
      assert.equal(sameContent(aBase, aOver, copy ? aBase : bBase, bOver), expected);
    }),
    { numRuns: 5000 },
  );
  assert.ok(equal > 100, `only ${equal} equal contents generated: the property barely tested "same"`);
});

test('an OverrideTable forgets a key once deleted and reports its size', () => {
  const t = new OverrideTable(8);
  const o = Overrides.of([[3, 7]]);
  t.set(2, o);
  assert.equal(t.get(2), o);
  assert.equal(t.get(5), undefined);
  assert.equal(t.size, 1);
  t.delete(2);
  t.delete(5);
  assert.equal(t.get(2), undefined);
  assert.equal(t.size, 0);
});

test('a BlockContents holds every block initial until written, and any 32-bit version after', () => {
  const blocks = 5 * 1024 * 1024;
  const c = new BlockContents(blocks);
  for (const b of [0, 1, 12345, blocks - 1]) assert.equal(c.get(b), initialBlockContent(b));
  // Versions below, at and above a block's initial content, and the data plane's markers.
  const versions = fc.constantFrom(0, 1, 0x0fffffff, 0x10000000, 0x7fffffff, NO_BASE, POISON);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: blocks - 1 }), versions, (b, v) => {
      c.set(b, v);
      assert.equal(c.get(b), v);
      if (b > 0) assert.equal(c.get(b - 1), initialBlockContent(b - 1), 'a neighbour changed');
      c.set(b, initialBlockContent(b));
    }),
  );
  // The data plane's image is one: a block read into a page before any write holds its initial content.
  const d = new DataPlane(4, 4, 16, 0, 4);
  d.copyImageToPage(9, 2);
  assert.equal(d.mem[2], initialBlockContent(9));
  d.writePage(2, 7);
  d.copyPageToImage(2, 3);
  assert.equal(d.image.get(3), 7);
  assert.equal(d.image.get(4), initialBlockContent(4));
});

test('Overrides holds what a Map of chunk to content would, across both halves of its mask', () => {
  // Chunks near the halves' edges (bit 31 of a 32-bit word is its sign), and contents of every kind
  // the plane stores: versions, NaN, derived contents beyond 32 bits.
  const chunk = fc.oneof(fc.constantFrom(0, 31, 32, 63), fc.integer({ min: 0, max: CHUNKS_PER_PAGE - 1 }));
  const content = fc.constantFrom(0, 1, 2 ** 31, 0xffffffff * CHUNKS_PER_PAGE + 63, Number.NaN);
  const op = fc.oneof(
    fc.tuple(fc.constant('set' as const), chunk, content),
    fc.tuple(fc.constant('clone' as const), fc.constant(0), fc.constant(0)),
    fc.tuple(fc.constant('overlay' as const), chunk, content),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      let o = new Overrides();
      const model = new Map<number, number>();
      for (const [kind, c, v] of ops) {
        if (kind === 'set') {
          o.set(c, v);
          model.set(c, v);
        } else if (kind === 'clone') {
          const copy = new Overrides(o);
          o.set(0, 12345); // the copy must not follow its original
          o = copy;
        } else {
          o.overlay(Overrides.of([[c, v]]));
          model.set(c, v);
        }
      }
      assert.equal(o.size, model.size);
      for (let c = 0; c < CHUNKS_PER_PAGE; c++) {
        assert.equal(o.has(c), model.has(c), `chunk ${c}`);
        assert.equal(o.get(c), model.get(c), `chunk ${c}`);
      }
      assert.deepEqual(
        [...o.entries()],
        [...model].sort((a, b) => a[0] - b[0]),
      );
    }),
    { numRuns: 2000 },
  );
  assert.throws(() => new Overrides().set(CHUNKS_PER_PAGE, 1), RangeError);
  assert.throws(() => new Overrides().set(-1, 1), RangeError);
});

test("every change to a page's content clears its check against the reference, and nothing else does", () => {
  // GuestOs trusts refChecked[p] instead of comparing the contents again: a change that left it
  // set would hide a wrong page from the integrity check.
  const P = 2;
  const VMM = 1;
  const ops: [string, (d: DataPlane) => void, boolean][] = [
    ['writePage', (d) => d.writePage(P, 9), true],
    ['writeChunks', (d) => d.writeChunks(P, 3, 2, 9), true],
    ['setChunks', (d) => d.setChunks(P, 8, [1, 2]), true],
    ['drop', (d) => d.drop(P), true],
    ['copyImageToPage', (d) => d.copyImageToPage(5, P), true],
    ['issue zero', (d) => d.issue({ kind: 'zero', page: asGfn(P) }), true],
    ['issue drop', (d) => d.issue({ kind: 'drop', pages: [asGfn(P)] }), true],
    ['issue remap', (d) => d.issue({ kind: 'remap', page: asGfn(P) }), true],
    [
      'completeRead from swap',
      (d) =>
        d.completeRead({
          kind: 'read',
          source: 'swap',
          id: 1 as IoId,
          start: asSlot(0),
          count: 1,
          pages: [asGfn(P)],
          units: [asSlot(0)],
        }),
      true,
    ],
    [
      'completeRead from the image',
      (d) =>
        d.completeRead({
          kind: 'read',
          source: 'image',
          id: 1 as IoId,
          start: asBlock(4),
          count: 1,
          pages: [asGfn(P)],
          units: [asBlock(4)],
        }),
      true,
    ],
    // Moving the page elsewhere, or a Preventer buffer over it, leaves its content as it was.
    [
      'issue write',
      (d) => d.issue({ kind: 'write', id: 1 as IoId, start: asSlot(1), pages: [asGfn(P)] }),
      false,
    ],
    ['copyPageToImage', (d) => d.copyPageToImage(P, 6), false],
    ['bufferWrite', (d) => d.bufferWrite(P, 1, 1, 9), false],
    ['issue dropVmm', (d) => d.issue({ kind: 'dropVmm', page: asVmmPage(0) }), false],
    ['another page', (d) => d.writePage(P + 1, 9), false],
  ];
  for (const [name, op, changes] of ops) {
    const d = new DataPlane(4 + VMM, 4, 16, VMM, 4);
    d.writePage(P, 7);
    d.refChecked[P] = 1;
    const before = d.changes;
    op(d);
    assert.equal(d.refChecked[P], changes ? 0 : 1, `${name}: page ${P}'s check`);
    if (changes) assert.ok(d.changes > before, `${name}: counted as a change`);
  }
});
