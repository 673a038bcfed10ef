import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MultiTimeline } from '../src/experiments/multi-runner.js';
import { renderTimelineSvg } from '../src/report/timeline-svg.js';

function timeline(): MultiTimeline {
  const two = (a: number[], b: number[]): number[][] => [a, b];
  const tl: MultiTimeline = {
    tS: [0, 1, 2],
    hostFreePages: [1000, 10, 500],
    balloonTargetPages: two([0, 256, 512], [0, 256, 256]),
    balloonPages: two([0, 100, 512], [0, 256, 256]),
    guestFreePages: two([900, 500, 0], [900, 900, 900]),
    residentPages: two([10, 400, 300], [10, 10, 10]),
    swapInPages: two([0, 5, 9], [0, 0, 0]),
    swapOutPages: two([0, 50, 9], [0, 0, 0]),
    staleReads: two([0, 0, 0], [0, 0, 0]),
    falseReads: two([0, 1, 0], [0, 0, 0]),
    guestMajorFaults: two([0, 3, 0], [0, 0, 0]),
    balloonFramesFreed: two([0, 100, 300], [0, 0, 0]),
    balloonSlotsFreed: two([0, 0, 112], [0, 0, 0]),
    balloonNothingFreed: two([0, 0, 0], [0, 256, 0]),
    balloonBackoffs: two([0, 0, 0], [0, 0, 0]),
    guestSwapOutPages: two([0, 0, 0], [0, 0, 0]),
    guestSwapInPages: two([0, 0, 0], [0, 0, 0]),
    guestPageCachePages: two([0, 30, 30], [0, 0, 0]),
    phase: [
      ['map', 'reduce', 'done'],
      ['', '', 'map'],
    ],
    diskOps: [0, 10, 20],
    diskMeanSeekMiB: [0, 100, 2000],
    diskMeanWaitMs: [0, 1, 30],
    diskBusyFraction: [0, 0.5, 1],
    diskQueueDepth: [0, 2, 9],
    globalReclaimPages: [0, 0, 40],
    decisions: [{ tS: 1, guest: 0, targetPages: 256 }],
  };
  return tl;
}

test('the timeline plot draws, per guest, balloon target and size, free memory and swap traffic, and the host', () => {
  const tl = timeline();
  const svg = renderTimelineSvg('balloon, 2 guests', tl);
  // Two lines per guest in the balloon panel, one per guest in free memory, swap and held memory,
  // one for the host's free memory, two for the drive, two per guest for what the balloon freed.
  assert.equal((svg.match(/<polyline/g) ?? []).length, 2 * 2 + 2 + 2 + 1 + 2 + 2 + 2 * 2);
  assert.equal(
    (svg.match(/stroke-dasharray/g) ?? []).length,
    2 + 2,
    'targets dashed, pages that freed no memory dotted',
  );
  assert.match(svg, /guest 2/);
  assert.match(svg, /host swap traffic/);
  assert.match(svg, /shared drive/);
  assert.doesNotMatch(svg, /NaN/);
});

test('guests that swapped inside get a panel of their own swap traffic; guests that did not, none', () => {
  const plain = renderTimelineSvg('baseline', timeline());
  assert.doesNotMatch(plain, /guest swap traffic/);
  const tl = timeline();
  tl.guestSwapOutPages = [
    [0, 512, 0],
    [0, 0, 0],
  ];
  tl.guestSwapInPages = [
    [0, 0, 256],
    [0, 0, 0],
  ];
  const svg = renderTimelineSvg('baseline, guest swap', tl);
  assert.match(svg, /guest swap traffic: each guest's own swap partition/);
  // One more line per guest than without, and the picture one panel taller.
  const lines = (x: string): number => (x.match(/<polyline/g) ?? []).length;
  assert.equal(lines(svg), lines(plain) + 2);
  const height = (x: string): number => Number(/height="(\d+)"/.exec(x)![1]);
  assert.equal(height(svg), height(plain) + 200);
  // Guest 1's line reaches 2 MB (512 pages) at t = 1: the panel's top label is 2.0.
  const panelText = svg.slice(svg.indexOf('guest swap traffic'));
  assert.match(panelText, />2\.0</);
  assert.doesNotMatch(svg, /NaN/);
});

test('what the balloon took is drawn cumulative per guest, frames apart from pages that freed no memory; without ballooned pages, no panel', () => {
  const svg = renderTimelineSvg('balloon', timeline());
  const panelText = svg.slice(svg.indexOf('ballooned pages so far'));
  assert.ok(panelText.length > 0 && svg.includes('ballooned pages so far'));
  // Guest 1 freed 100 then 300 frames: 400 pages, 1.5625 MB so far, the panel's top label.
  assert.match(panelText, />1\.6</);
  const tl = timeline();
  for (const k of ['balloonFramesFreed', 'balloonSlotsFreed', 'balloonNothingFreed'] as const)
    tl[k] = [
      [0, 0, 0],
      [0, 0, 0],
    ];
  const none = renderTimelineSvg('baseline', tl);
  assert.doesNotMatch(none, /ballooned pages so far/);
  const height = (x: string): number => Number(/height="(\d+)"/.exec(x)![1]);
  assert.equal(height(svg), height(none) + 200);
});
