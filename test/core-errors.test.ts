import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BalloonPinnedError,
  ChunkRangeError,
  ConfigError,
  CoreError,
  DEFAULT_CORE_TUNABLES,
  type IoId,
  MemoryCore,
  StalledError,
  UnbalancedPinError,
  UnknownIoError,
  asBlock,
  asGfn,
} from '../src/core/index.js';
import { CoreDriver, CoreDriverError } from '../src/driver/core-driver.js';

const core = (over: Partial<ConstructorParameters<typeof MemoryCore>[0]> = {}): MemoryCore =>
  new MemoryCore({
    ...DEFAULT_CORE_TUNABLES,
    guestPages: 16,
    vmmPages: 0,
    imageBlocks: 8,
    swapSlots: 32,
    residentLimitPages: 8,
    mapper: true,
    ...over,
  });

/** Asserts `fn` throws an instance of `kind` (and so of CoreError) whose message matches `msg`. */
function throwsKind(fn: () => unknown, kind: new (...a: never[]) => Error, msg: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof kind, `expected ${kind.name}, got ${String(e)}`);
    assert.ok(e instanceof CoreError, `${kind.name} is a CoreError`);
    assert.match(e.message, msg);
    return true;
  });
}

test('each way of driving the core against its contract throws its own error type, naming what is wrong', () => {
  throwsKind(
    () => core({ swapReadahead: 'nope' as 'cluster' }),
    ConfigError,
    /swapReadahead: must be one of cluster/,
  );
  throwsKind(() => core().setResidentLimit(0), ConfigError, /residentLimitPages/);
  throwsKind(() => core().readDone(12345 as IoId), UnknownIoError, /readDone: no read 12345 in flight/);
  throwsKind(() => core().writeDone(7 as IoId), UnknownIoError, /writeDone: no write 7 in flight/);
  throwsKind(
    () => core().endDmaWrite(asGfn(3), asBlock(0)),
    UnbalancedPinError,
    /page 3 was not under device access/,
  );
  throwsKind(() => core().unpinHost(asGfn(2)), UnbalancedPinError, /page 2/);
  throwsKind(() => core().emulatedWrite(asGfn(1), 63, 2, 'guest'), ChunkRangeError, /chunk range 63\+2/);
  const c = core();
  assert.equal(c.pinHost(asGfn(4), false), 0, 'an untouched page is zero-filled and pinned at once');
  throwsKind(() => c.balloonInflate(asGfn(4)), BalloonPinnedError, /gfn 4 is under device access/);
});

test('a core whose limit is below what devices keep pinned reports a stall instead of hanging', () => {
  const c = core({ residentLimitPages: 2 });
  const d = new CoreDriver(c, { carryOut: () => {} });
  for (const g of [0, 1]) d.settle(c.beginDmaWrite(asGfn(g)), () => {});
  const id = c.beginDmaWrite(asGfn(2));
  assert.notEqual(id, 0, 'the third page waits for a frame');
  throwsKind(() => c.assertProgress(), StalledError, /1 fault\(s\) wait for a frame, 2 of 2 pages resident/);
});

test('the driver refuses a finished fault nobody waits for: a continuation was lost', () => {
  const c = core({ residentLimitPages: 2, mapper: false });
  const io: { kind: 'read' | 'write'; id: IoId }[] = [];
  const d = new CoreDriver(c, {
    carryOut: (a) => {
      if (a.kind === 'read' || a.kind === 'write') io.push({ kind: a.kind, id: a.id });
    },
  });
  const completeAll = (): void => {
    for (let x = io.shift(); x; x = io.shift()) {
      if (x.kind === 'read') c.readDone(x.id);
      else c.writeDone(x.id);
      d.pump();
    }
  };
  // Fill memory, push page 0 out to swap, then fault it back without registering a continuation.
  for (const g of [0, 1, 2]) d.settle(c.touch(asGfn(g), true, 'guest'), () => {});
  completeAll();
  const id = c.touch(asGfn(0), false, 'guest');
  assert.notEqual(id, 0, 'page 0 is in swap');
  d.pump();
  assert.throws(completeAll, CoreDriverError);
});
