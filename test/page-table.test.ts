import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PageTable } from '../src/core/store/page-table.js';
import { NONE } from '../src/core/types.js';

test("a page table's per-block chains: a fresh table names no page, and link/unlink keep each block's pages newest first", () => {
  const pages = 6;
  const blocks = 4;
  const op = fc.oneof(
    fc.tuple(fc.constant('link' as const), fc.nat(pages - 1), fc.nat(blocks - 1)),
    fc.tuple(fc.constant('unlink' as const), fc.nat(pages - 1), fc.constant(0)),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const pt = new PageTable(pages, blocks);
      // The model: each block's pages, the most recently linked first.
      const model: number[][] = Array.from({ length: blocks }, () => []);
      const unlink = (p: number): void => {
        for (const chain of model) if (chain.includes(p)) chain.splice(chain.indexOf(p), 1);
      };
      for (const [kind, p, b] of ops) {
        unlink(p);
        if (kind === 'link') {
          pt.linkBlock(p, b);
          model[b]!.unshift(p);
        } else pt.unlinkBlock(p);
        for (let k = 0; k < blocks; k++) {
          assert.deepEqual(pt.pagesOfBlock(k), model[k], `block ${k} after ${kind} ${p}`);
          assert.equal(pt.firstOfBlock(k), model[k]![0] ?? NONE);
        }
        for (let q = 0; q < pages; q++) {
          assert.equal(
            pt.block[q],
            model.findIndex((chain) => chain.includes(q)),
          );
          assert.equal(pt.isLinked(q), pt.block[q] !== NONE, `linked bit of page ${q}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test("a page table's pinned bits follow its pin counts through any pins and unpins, across bitmap words", () => {
  // 70 pages: three words of bits, the last one partly used.
  const pages = 70;
  const op = fc.tuple(fc.boolean(), fc.nat(pages - 1));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const pt = new PageTable(pages, 1);
      const model = new Array<number>(pages).fill(0);
      for (const [pin, p] of ops) {
        if (pin) {
          pt.pin(p);
          model[p]!++;
        } else if (model[p]! > 0) {
          pt.unpin(p);
          model[p]!--;
        }
        for (let q = 0; q < pages; q++) {
          assert.equal(pt.pins[q], model[q]);
          assert.equal(pt.isPinned(q), model[q]! > 0, `pinned bit of page ${q}`);
        }
      }
    }),
    { numRuns: 200 },
  );
});
