import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addPages, insertionSortBySlot } from '../src/core/reclaim.js';

/** `sum` + 1, `n` times over: how the scan counts were counted page by page. */
function oneByOne(sum: number, n: number): number {
  for (let i = 0; i < n; i++) sum++;
  return sum;
}

/** A small deterministic generator (the test must not depend on Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// The recent scan counts hold fractions left by get_scan_count()'s halvings. Adding a batch's pages
// at once must give the count page-by-page counting gives, to the last bit, or the anon/file
// balance (and every result after it) drifts. A plain `sum + n` fails the first case below: a sum
// under `n` crosses several powers of two, each crossing rounded when counted one by one.
test('addPages counts as one-by-one increments do, to the last bit', () => {
  assert.equal(oneByOne(0.584297148519153, 15), 15.584297148519152);
  assert.equal(addPages(0.584297148519153, 15), 15.584297148519152);
  assert.notEqual(0.584297148519153 + 15, 15.584297148519152); // why one addition is not enough there
  const rnd = lcg(7);
  for (let k = 0; k < 20000; k++) {
    // Sums with a full mantissa (many halvings), from below 1 to about 2^20 pages.
    const sum = (1 + rnd()) * 2 ** Math.floor(rnd() * 24 - 3);
    const n = 1 + Math.floor(rnd() * 64);
    assert.equal(addPages(sum, n), oneByOne(sum, n), `sum ${sum} n ${n}`);
  }
  assert.equal(addPages(12, 0), 12);
  assert.equal(addPages(0, 32), 32);
});

// flushWriteBatch cuts the sorted batch into runs of consecutive slots; a sort that moved a page
// without its slot (or the slot without its page) would write pages to other pages' slots.
test('insertionSortBySlot sorts pages by slot, each slot moving with its page', () => {
  const rnd = lcg(3);
  for (let k = 0; k < 500; k++) {
    const n = Math.floor(rnd() * 40);
    const slotsSet = new Set<number>();
    while (slotsSet.size < n) slotsSet.add(Math.floor(rnd() * 200));
    const slots = [...slotsSet];
    // Mostly ascending, as batches are: a few swaps of a sorted list, or a shuffle.
    if (rnd() < 0.5) slots.sort((a, b) => a - b);
    for (let s = 0; s < 3 && n > 1; s++) {
      const i = Math.floor(rnd() * n);
      const j = Math.floor(rnd() * n);
      [slots[i], slots[j]] = [slots[j]!, slots[i]!];
    }
    // Page i + 1000 holds slots[i]; entries past n must stay as they were.
    const pages = slots.map((_, i) => i + 1000);
    const owner = new Map(pages.map((p, i) => [p, slots[i]!]));
    pages.push(-1);
    slots.push(-1);
    insertionSortBySlot(pages, slots, n);
    assert.equal(pages[n], -1);
    assert.equal(slots[n], -1);
    for (let i = 0; i < n; i++) {
      assert.equal(owner.get(pages[i]!), slots[i], 'a slot moved without its page');
      if (i > 0) assert.ok(slots[i - 1]! < slots[i]!, 'not in slot order');
    }
  }
});
