import assert from 'node:assert/strict';
import { test } from 'node:test';
import { copyRun } from '../src/core/store/copy-run.js';

test('copyRun is slice(from, to) for every run length, literal or sliced, and a fresh array', () => {
  const a = Array.from({ length: 24 }, (_, i) => 100 + i * 3);
  for (let from = 0; from <= a.length; from++) {
    for (let to = from; to <= a.length; to++) {
      const c = copyRun(a, from, to);
      assert.deepEqual(c, a.slice(from, to), `copyRun(a, ${from}, ${to})`);
      assert.notEqual(c, a);
      if (c.length > 0) {
        c[0] = -1;
        assert.equal(a[from], 100 + from * 3, 'the copy shares nothing with its source');
      }
    }
  }
});
