import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/sim/rng.js';
import { FlooredExponentialTable } from '../src/workloads/floored-exponential.js';
import { METIS_WC_PAPER, drawPages } from '../src/workloads/metis-wc.js';

// A worker's table at full size (684 MB over 2 workers) and the words of one 128 KiB read.
const TABLE_PAGES = Math.ceil(((METIS_WC_PAPER.tablesMiB * 256) / METIS_WC_PAPER.threads) | 0);
const WORDS = (METIS_WC_PAPER.readPages * 4096) / METIS_WC_PAPER.bytesPerWord;

/** The pages one map step writes, drawn as the workload's loop draws them (when none must wait). */
function step(rng: Rng, pages: number, words: number): number[] {
  const out: number[] = [];
  const perWord = pages / words;
  const run = new Int32Array(257);
  const gaps = new FlooredExponentialTable();
  gaps.setMean(perWord);
  for (let at = gaps.gap(rng.nextUint32()); at < pages;) {
    const k = drawPages(run, 0, at, pages, rng, gaps);
    for (let i = 0; i < k; i++) out.push(run[i]!);
    at = run[k]!;
  }
  return out;
}

test('a map step writes each table page with the chance that one of its words lands there', () => {
  const rng = new Rng(7);
  const steps = 200;
  const expected = TABLE_PAGES * (1 - Math.exp(-WORDS / TABLE_PAGES));
  const bins = new Float64Array(10);
  let written = 0;
  let sumSq = 0;
  for (let s = 0; s < steps; s++) {
    const pages = step(rng, TABLE_PAGES, WORDS);
    for (let i = 1; i < pages.length; i++) assert.ok(pages[i]! > pages[i - 1]!, 'address order, once each');
    for (const p of pages) bins[Math.floor((p * 10) / TABLE_PAGES)]!++;
    written += pages.length;
    sumSq += pages.length ** 2;
  }
  const mean = written / steps;
  // ~17.5K words over ~88K pages: ~16K pages written a step (a sample of 1,024 was 16x fewer).
  assert.ok(Math.abs(mean / expected - 1) < 0.01, `mean ${mean} pages a step, expected ${expected}`);
  assert.ok(mean > 15_000 && mean < 17_000, `mean ${mean}`);
  // Bernoulli pages: the count's variance is P q (1 - q), not that of some other spacing.
  const q = expected / TABLE_PAGES;
  const variance = sumSq / steps - mean * mean;
  const bernoulli = TABLE_PAGES * q * (1 - q);
  assert.ok(variance > bernoulli * 0.6 && variance < bernoulli * 1.5, `variance ${variance}, ${bernoulli}`);
  // Uniform over the table: every tenth of it gets a tenth of the writes.
  for (const b of bins) assert.ok(Math.abs((b / written) * 10 - 1) < 0.02, `bins ${[...bins].join(',')}`);
});

test('a small table is written nearly whole each step, a huge one sparsely', () => {
  const rng = new Rng(3);
  // Scaled runs (--scale 0.1) keep the words a read holds but shrink the table: 2 words a page.
  const small = step(rng, 1000, 2000).length;
  assert.ok(small > 820 && small < 900, `small ${small} of 1000 (expected ~865)`);
  const huge = step(rng, 10_000_000, 1000).length;
  assert.ok(huge > 900 && huge < 1100, `huge ${huge} (expected ~1000)`);
});
