import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import {
  dropAction,
  faultDoneAction,
  pageAction,
  readAction,
  timerAction,
  writeAction,
} from '../src/core/actions.js';
import { type CoreAction, MemoryCore, asGfn } from '../src/core/index.js';
import type { FaultId, Gfn, IoId, SwapSlot } from '../src/core/types.js';
import { SMALL_CORE_CONFIG } from './support/small-core.js';

/** Every field of every action kind, in the one order all actions have them (actions.ts, record). */
const FIELDS = ['kind', 'source', 'id', 'start', 'count', 'pages', 'units', 'page', 'fault', 'delayNs'];

const id = 7 as IoId;
const g = (n: number): Gfn => n as Gfn;

/** One action of every kind, made by the core's constructors, beside the literal it stands for. */
const KINDS: [CoreAction, object][] = [
  [
    readAction('swap', id, 40, 2, [g(3), g(4)], [40, 41]),
    { kind: 'read', source: 'swap', id, start: 40, count: 2, pages: [3, 4], units: [40, 41] },
  ],
  [
    readAction('image', id, 5, 1, [g(3)], [5]),
    { kind: 'read', source: 'image', id, start: 5, count: 1, pages: [3], units: [5] },
  ],
  [writeAction(id, 9 as SwapSlot, [g(1)]), { kind: 'write', id, start: 9, pages: [1] }],
  [dropAction([g(1), g(2)]), { kind: 'drop', pages: [1, 2] }],
  [pageAction('zero', 5), { kind: 'zero', page: 5 }],
  [pageAction('dropVmm', 2), { kind: 'dropVmm', page: 2 }],
  [pageAction('remap', 5), { kind: 'remap', page: 5 }],
  [pageAction('discardBuffer', 5), { kind: 'discardBuffer', page: 5 }],
  [faultDoneAction(3 as FaultId), { kind: 'faultDone', fault: 3 }],
  [timerAction(g(5), 1500), { kind: 'timer', page: 5, delayNs: 1500 }],
];

/**
 * Every action has every field, in one order (so all share one hidden class, and a driver's reads
 * of them are monomorphic), and reads as the literal of its kind: the same JSON, the same fields
 * set, nothing else set.
 */
test('every action kind has the fields of all kinds in one order, and is its literal otherwise', () => {
  for (const [a, literal] of KINDS) {
    assert.deepEqual(Object.keys(a), FIELDS, `${a.kind}: its fields`);
    assert.equal(JSON.stringify(a), JSON.stringify(literal), `${a.kind}: its JSON`);
    const set = Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined));
    assert.deepEqual(set, literal, `${a.kind}: the fields set`);
  }
});

test('the actions of a swapping core all have the one order of fields', () => {
  const core = new MemoryCore(SMALL_CORE_CONFIG);
  const kinds = new Set<string>();
  let seed = 5;
  for (let i = 0; i < 3000; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    core.touch(asGfn((seed >>> 8) % SMALL_CORE_CONFIG.guestPages), (seed & 3) === 0, 'guest');
    for (let a = core.nextAction(); a !== undefined; a = core.nextAction()) {
      kinds.add(a.kind);
      assert.deepEqual(Object.keys(a), FIELDS, `a ${a.kind} action's fields`);
      if (a.kind === 'read') core.readDone(a.id);
      else if (a.kind === 'write') core.writeDone(a.id);
    }
  }
  assert.deepEqual([...kinds].sort(), ['drop', 'faultDone', 'read', 'write', 'zero']);
});

/** What the test above stands for, asked of V8 itself: every kind has one hidden class (map). */
test('V8 gives every action kind the same hidden class', () => {
  const url = new URL('../src/core/actions.js', import.meta.url).href;
  const script = `
    const m = await import(${JSON.stringify(url)});
    const all = [
      m.readAction('swap', 1, 4, 1, [3], [4]), m.readAction('image', 1, 4, 1, [3], [4]),
      m.writeAction(1, 9, [1]), m.dropAction([1]), m.pageAction('zero', 5), m.pageAction('dropVmm', 1),
      m.pageAction('remap', 5), m.pageAction('discardBuffer', 5), m.faultDoneAction(3), m.timerAction(5, 1500),
    ];
    console.log(all.every((a) => %HaveSameMap(a, all[0])));
  `;
  // SAFETY: a child node running the fixed script above (natives syntax for %HaveSameMap only).
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'true');
});
