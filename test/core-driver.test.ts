import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CoreAction, type FaultId, type Gfn, type MemoryCore, NO_FAULT } from '../src/core/index.js';
import { CoreDriver, type DriverAction } from '../src/driver/core-driver.js';

/** A stand-in core whose actions the test queues by hand. */
class ScriptedCore {
  queue: CoreAction[] = [];
  get hasActions(): boolean {
    return this.queue.length > 0;
  }
  drain(): CoreAction[] {
    const out = this.queue;
    this.queue = [];
    return out;
  }
}

const zero = (g: number): CoreAction => ({ kind: 'zero', page: g as Gfn });
const done = (f: number): CoreAction => ({ kind: 'faultDone', fault: f as FaultId });

function setup(): { core: ScriptedCore; driver: CoreDriver; log: string[] } {
  const core = new ScriptedCore();
  const log: string[] = [];
  const driver = new CoreDriver(core as unknown as MemoryCore, {
    carryOut: (a: DriverAction) => log.push(`${a.kind} ${'page' in a ? a.page : ''}`.trim()),
    flush: () => log.push('flush'),
  });
  return { core, driver, log };
}

test('the driver carries actions out in the order the core emitted them, even those a continuation causes', () => {
  const { core, driver, log } = setup();
  assert.equal(
    driver.settle(7 as FaultId, () => {
      log.push('resume 7');
      // The continuation raises an event whose action is queued after those already emitted.
      core.queue.push(zero(9));
    }),
    false,
  );
  core.queue.push(zero(1), done(7), zero(2));
  driver.pump();
  assert.deepEqual(log, ['zero 1', 'flush', 'resume 7', 'zero 2', 'flush', 'zero 9', 'flush']);
  assert.equal(driver.waiting, 0);
});

test('an event that completes while actions are carried out goes on once they all are', () => {
  const { core, driver, log } = setup();
  driver.settle(3 as FaultId, () => {
    // Completed at once, but the page it zero-filled is not in place yet: the caller must wait.
    core.queue.push(zero(5));
    const inline = driver.settle(NO_FAULT, () => log.push('then'));
    assert.equal(inline, false, 'not inline while actions are being carried out');
  });
  core.queue.push(done(3), zero(4));
  driver.pump();
  assert.deepEqual(log, ['flush', 'zero 4', 'flush', 'zero 5', 'flush', 'then']);
  // Outside a carry-out, a completed event goes on inline after its actions.
  core.queue.push(zero(6));
  assert.equal(
    driver.settle(NO_FAULT, () => log.push('never')),
    true,
  );
  assert.equal(log.at(-2), 'zero 6');
});

test('each() runs steps in order, waits for faults, repeats a step when asked, and charges each wait through resume', () => {
  const { core, driver } = setup();
  const calls: string[] = [];
  let faultsLeft = 2;
  driver.each(
    3,
    (i) => {
      calls.push(`step ${i}`);
      if (i === 1 && faultsLeft > 0) {
        const id = (100 + faultsLeft--) as FaultId;
        core.queue.push(done(id));
        return id;
      }
      return NO_FAULT;
    },
    () => calls.push('then'),
    { repeat: true, resume: (k) => (calls.push('resume'), k()) },
  );
  assert.deepEqual(calls, ['step 0', 'step 1', 'resume', 'step 1', 'resume', 'step 1', 'step 2', 'then']);
});
