import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { EventQueue } from '../src/sim/event-queue.js';

/**
 * Events at few distinct times (so that ties, which insertion order breaks, are common), some of
 * which schedule more events when they run, as the simulator's do.
 */
const plans = fc.array(
  fc.record({
    atNs: fc.integer({ min: 0, max: 6 }),
    children: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  }),
  { maxLength: 60 },
);

test('events run in order of time, then of scheduling, whatever the heap holds meanwhile', () => {
  fc.assert(
    fc.property(plans, (plan) => {
      const q = new EventQueue();
      const ran: { timeNs: number; order: number }[] = [];
      let scheduled = 0;
      const schedule = (timeNs: number, children: number[]): void => {
        const order = scheduled++;
        q.at(timeNs, () => {
          assert.equal(q.nowNs, timeNs);
          ran.push({ timeNs, order });
          for (const d of children) schedule(timeNs + d, []);
        });
      };
      for (const e of plan) schedule(e.atNs, e.children);
      while (q.step());
      assert.equal(ran.length, scheduled);
      assert.equal(q.size, 0);
      for (let i = 1; i < ran.length; i++) {
        const a = ran[i - 1]!;
        const b = ran[i]!;
        assert.ok(
          a.timeNs < b.timeNs || (a.timeNs === b.timeNs && a.order < b.order),
          `event ${i} out of order`,
        );
      }
    }),
  );
});

test('an event cannot be scheduled before now, nor the clock moved past a pending event', () => {
  const q = new EventQueue();
  q.at(10, () => {});
  assert.throws(() => q.advanceTo(11), RangeError);
  q.advanceTo(5);
  assert.throws(() => q.at(4, () => {}), RangeError);
  assert.equal(q.peekTimeNs(), 10);
});
