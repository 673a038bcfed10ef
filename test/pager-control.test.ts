import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ControlSession } from '../src/pager/control/session.js';
import { MAX_LINE_BYTES, type Reply } from '../src/pager/control/protocol.js';
import { DaemonControlBackend } from '../src/pager/control/daemon-backend.js';
import { FakeControlBackend } from './support/fake-control-backend.js';

function open(b = new FakeControlBackend()): { s: ControlSession; out: Reply[]; b: FakeControlBackend } {
  const out: Reply[] = [];
  const s = new ControlSession(b, (m) => out.push(m));
  return { s, out, b };
}

/** Sends one line; returns the messages it produced. */
function send(x: { s: ControlSession; out: Reply[] }, line: string): Reply[] {
  const from = x.out.length;
  x.s.feed(`${line}\n`);
  return x.out.slice(from);
}

const ready = (): ReturnType<typeof open> => {
  const x = open();
  assert.deepEqual(send(x, '{"execute":"qmp_capabilities"}'), [{ return: {} }]);
  return x;
};

test('control: the greeting, and commands refused until qmp_capabilities', () => {
  const x = open();
  assert.deepEqual(x.out[0], { vswapper: { version: { major: 1, minor: 0 }, capabilities: [] } });
  const [r] = send(x, '{"execute":"query-status","id":5}');
  assert.deepEqual(r, {
    error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" },
    id: 5,
  });
  assert.deepEqual(send(x, '{"execute":"qmp_capabilities","id":"a"}'), [{ return: {}, id: 'a' }]);
  const [st] = send(x, '{"execute":"query-status"}');
  assert.equal((st!.return as Record<string, unknown>).memoryPages, 1024);
  assert.equal(
    (send(x, '{"execute":"qmp_capabilities"}')[0]!.error as { class: string }).class,
    'CommandNotFound',
  );
});

test('control: set-limit in pages and bytes, the event, and refusals naming the field', () => {
  const x = ready();
  const r = send(x, '{"execute":"set-limit","arguments":{"pages":512},"id":1}');
  assert.equal(r.length, 2, 'the event, then the reply');
  assert.equal(r[0]!.event, 'RESIDENT_LIMIT_CHANGED');
  assert.deepEqual(r[0]!.data, { oldPages: 1024, newPages: 512 });
  assert.deepEqual(r[1], { return: { limitPages: 512, residentPages: 512 }, id: 1 });
  assert.equal(x.b.limit, 512);
  send(x, '{"execute":"set-limit","arguments":{"bytes":1048576}}');
  assert.equal(x.b.limit, 256);
  const desc = (line: string): string => (send(x, line)[0]!.error as { desc: string }).desc;
  assert.match(
    desc('{"execute":"set-limit","arguments":{"pages":1025}}'),
    /'pages' 1025 is above the guest's memory \(1024 pages\)/,
  );
  assert.match(
    desc('{"execute":"set-limit","arguments":{"bytes":8589934592}}'),
    /'bytes' 8589934592 is above the guest's memory \(4194304 bytes\)/,
  );
  assert.match(
    desc('{"execute":"set-limit","arguments":{"pages":15}}'),
    /'pages' 15 is below the floor \(16 pages\)/,
  );
  assert.match(
    desc('{"execute":"set-limit","arguments":{"pages":"12"}}'),
    /'pages' must be a whole number, got "12"/,
  );
  assert.match(
    desc('{"execute":"set-limit","arguments":{"pages":1,"bytes":2}}'),
    /exactly one of 'pages' and 'bytes'/,
  );
  assert.match(desc('{"execute":"set-limit","arguments":{"page":100}}'), /parameter 'page' is unexpected/);
  assert.equal(x.b.limit, 256, 'no refused command changed the limit');
});

test('control: query-stats, query-page, unknown commands, backend failures', () => {
  const x = ready();
  const stats = send(x, '{"execute":"query-stats"}')[0]!.return as Record<string, number>;
  assert.equal(stats.swapReadOps, 7);
  assert.equal(stats.residentPages, 512);
  assert.deepEqual(send(x, '{"execute":"query-page","arguments":{"gfn":3}}')[0], {
    return: { gfn: 3, state: 'swapped', slot: 3, block: -1 },
  });
  assert.match(
    (send(x, '{"execute":"query-page","arguments":{"gfn":1024}}')[0]!.error as { desc: string }).desc,
    /'gfn' 1024 is beyond the guest's memory/,
  );
  assert.equal((send(x, '{"execute":"frobnicate"}')[0]!.error as { class: string }).class, 'CommandNotFound');
  x.b.failStats = true;
  assert.match(
    (send(x, '{"execute":"query-stats"}')[0]!.error as { desc: string }).desc,
    /the pager is gone/,
  );
  x.b.failStats = false;
  assert.ok(send(x, '{"execute":"query-stats"}')[0]!.return, 'usable after a backend failure');
});

test('control: the threshold event fires once per crossing', () => {
  const x = ready();
  assert.deepEqual(send(x, '{"execute":"set-threshold","arguments":{"fraction":0.75}}'), [{ return: {} }]);
  const events = (): Reply[] => {
    const from = x.out.length;
    x.s.sample();
    return x.out.slice(from);
  };
  assert.deepEqual(events(), [], '512 of 1024 is below 0.75');
  x.b.resident = 800;
  const [e] = events();
  assert.equal(e!.event, 'RESIDENT_THRESHOLD');
  assert.deepEqual(e!.data, { direction: 'above', residentPages: 800, limitPages: 1024, fraction: 0.75 });
  x.b.resident = 900;
  assert.deepEqual(events(), [], 'still above: no second event');
  x.b.resident = 100;
  assert.equal((events()[0]!.data as { direction: string }).direction, 'below');
});

test('control: an oversized line gets one error and the session goes on', () => {
  const x = ready();
  const from = x.out.length;
  // In chunks, as a socket delivers it.
  const big = 'x'.repeat(MAX_LINE_BYTES + 10);
  for (let i = 0; i < big.length; i += 4000) x.s.feed(big.slice(i, i + 4000));
  assert.equal(x.out.length, from, 'nothing until the line ends');
  x.s.feed('\n{"execute":"query-status"}\n');
  const r = x.out.slice(from);
  assert.equal(r.length, 2);
  assert.match((r[0]!.error as { desc: string }).desc, /over the limit/);
  assert.ok(r[1]!.return);
});

/** A well-formed reply: exactly `return`, or `error` with a class and a description (and maybe an id). */
function wellFormed(m: Reply): boolean {
  const keys = Object.keys(m).filter((k) => k !== 'id');
  if (keys.length !== 1) return false;
  if (keys[0] === 'return') return true;
  const e = m.error as Record<string, unknown> | undefined;
  return (
    keys[0] === 'error' &&
    typeof e === 'object' &&
    e !== null &&
    typeof e.class === 'string' &&
    typeof e.desc === 'string' &&
    e.desc.length > 0
  );
}

const COMMAND_NAMES = [
  'query-status',
  'query-stats',
  'query-page',
  'set-limit',
  'set-threshold',
  'qmp_capabilities',
  'nope',
];

const argValue = fc.oneof(
  fc.integer({ min: -10, max: 5000 }),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.jsonValue(),
);
const asLine = (o: unknown): string => {
  try {
    return JSON.stringify(o) ?? 'undefined';
  } catch {
    return '{}';
  }
};

/** Lines a client might send: garbage, JSON of any shape, near-valid commands with wrong arguments. */
const line = fc
  .oneof(
    fc.string({ maxLength: 200 }),
    fc.json(),
    // Near-valid: a known name, arguments of every type.
    fc
      .record(
        {
          execute: fc.constantFrom(...COMMAND_NAMES),
          arguments: fc.dictionary(fc.constantFrom('pages', 'bytes', 'gfn', 'fraction', 'x'), argValue, {
            maxKeys: 2,
          }),
          id: fc.jsonValue(),
        },
        { requiredKeys: ['execute'] },
      )
      .map(asLine),
    // Wild: any member of any type.
    fc
      .record(
        { execute: fc.anything(), arguments: fc.anything(), id: fc.anything(), other: fc.anything() },
        { requiredKeys: [] },
      )
      .map(asLine),
  )
  .map((s) => s.replace(/\n/g, ' '));

test('control (property): every line gets exactly one well-formed reply, and the session stays usable', () => {
  fc.assert(
    fc.property(fc.array(line, { maxLength: 30 }), fc.boolean(), (lines, negotiateFirst) => {
      const x = open();
      if (negotiateFirst) send(x, '{"execute":"qmp_capabilities"}');
      for (const l of lines) {
        const r = send(x, l).filter((m) => m.event === undefined);
        if (l.trim() === '') assert.equal(r.length, 0);
        else {
          assert.equal(r.length, 1, `one reply to ${l.slice(0, 80)}`);
          assert.ok(wellFormed(r[0]!), `well-formed reply to ${l.slice(0, 80)}: ${JSON.stringify(r[0])}`);
          // Every message the session writes is one JSON line.
          assert.doesNotThrow(() => JSON.parse(JSON.stringify(r[0])));
        }
      }
      // Still usable: negotiation (if it did not happen yet) and a command both answered.
      send(x, '{"execute":"qmp_capabilities"}');
      const [st] = send(x, '{"execute":"query-status","id":"last"}');
      assert.equal(st!.id, 'last');
      assert.ok(st!.return, JSON.stringify(st));
      const limit = x.b.limit;
      assert.ok(
        Number.isInteger(limit) && limit >= x.b.floorPages && limit <= x.b.memoryPages,
        `the limit stayed a whole number in range: ${limit}`,
      );
    }),
    { numRuns: 500 },
  );
});

test('control: the daemon backend before the pager attaches, and its stats flattened', () => {
  const raw = {
    uptimeS: 1.5,
    device: { requests: 4 },
    swap: { readOps: 2 },
    disk: { swap: { readOps: 3, readSectors: 24 } },
    pager: { residentPages: 9, staleSwapReads: 1, swapReadOps: 5 },
  };
  const b = new DaemonControlBackend(
    () => undefined,
    () => raw,
    1 << 20,
    128,
    true,
  );
  assert.equal(b.memoryPages, 256);
  assert.equal(b.floorPages, 128);
  assert.deepEqual(b.stats(), {
    uptimeS: 1.5,
    deviceRequests: 4,
    swapFileReadOps: 2,
    diskSwapReadOps: 3,
    diskSwapReadSectors: 24,
    residentPages: 9,
    staleSwapReads: 1,
    swapReadOps: 5,
  });
  const x = open(b as unknown as FakeControlBackend);
  send(x, '{"execute":"qmp_capabilities"}');
  assert.deepEqual(
    (send(x, '{"execute":"query-status"}')[0]!.return as Record<string, unknown>).attached,
    false,
  );
  assert.match(
    (send(x, '{"execute":"set-limit","arguments":{"pages":200}}')[0]!.error as { desc: string }).desc,
    /has not attached to QEMU's RAM yet/,
  );
});
