import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Loop } from '../src/pager/loop.js';
import { Scratch, close, eventfd, eventfdDrain, eventfdSignal } from '../src/pager/sys.js';

const SKIP =
  process.platform !== 'linux' ? 'the pager loop needs Linux (poll, eventfd through koffi)' : false;

/** Sleeps the thread for `ms` (no event loop involved). */
const nap = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

test('after a ready descriptor the loop busy-polls for its window, then sleeps again', { skip: SKIP }, () => {
  const s = new Scratch(4096);
  for (const windowNs of [5_000_000, 0]) {
    const loop = new Loop(windowNs);
    const fd = eventfd();
    let heard = 0;
    loop.watch(fd, () => {
      eventfdDrain(fd, s, 8);
      heard++;
    });
    try {
      assert.equal(loop.busyPolling, false, 'no event yet: the loop sleeps');
      eventfdSignal(fd, s, 0);
      loop.turn(0);
      assert.equal(heard, 1);
      assert.equal(loop.busyPolling, windowNs > 0, `window ${windowNs} ns, just after an event`);
      // A timer-only turn (nothing ready) does not extend the window.
      loop.turn(0);
      nap(20);
      assert.equal(loop.busyPolling, false, 'the window has passed');
    } finally {
      loop.unwatch(fd);
      close(fd);
    }
  }
});
