import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import {
  dropAction,
  faultDoneAction,
  guestPageAction,
  imageReadAction,
  swapReadAction,
  timerAction,
  vmmDropAction,
  vmmReadAction,
  writeAction,
} from '../src/core/actions.js';
import { type CoreAction, MemoryCore, asGfn } from '../src/core/index.js';
import type { BlockNo, FaultId, Gfn, IoId, SwapSlot, VmmPage } from '../src/core/types.js';
import { SMALL_CORE_CONFIG } from './support/small-core.js';

/** Every field of every action kind, in the one order all actions have them (actions.ts, record). */
const FIELDS = ['kind', 'source', 'id', 'start', 'count', 'pages', 'units', 'page', 'fault', 'delayNs'];

const id = 7 as IoId;
const g = (n: number): Gfn => n as Gfn;

/** One action of every kind, made by the core's constructors, beside the literal it stands for. */
const KINDS: [CoreAction, object][] = [
  [
    swapReadAction(id, 40 as SwapSlot, 2, [g(3), g(4)], [40 as SwapSlot, 41 as SwapSlot]),
    { kind: 'read', source: 'swap', id, start: 40, count: 2, pages: [3, 4], units: [40, 41] },
  ],
  [
    imageReadAction(id, 5 as BlockNo, 1, [g(3)], [5 as BlockNo]),
    { kind: 'read', source: 'image', id, start: 5, count: 1, pages: [3], units: [5] },
  ],
  [
    vmmReadAction(id, 2 as VmmPage, 2, [2 as VmmPage, 3 as VmmPage]),
    { kind: 'read', source: 'vmm', id, start: 2, count: 2, pages: [2, 3], units: [2, 3] },
  ],
  [writeAction(id, 9 as SwapSlot, [g(1)]), { kind: 'write', id, start: 9, pages: [1] }],
  [dropAction([g(1), g(2)]), { kind: 'drop', pages: [1, 2] }],
  [guestPageAction('zero', g(5)), { kind: 'zero', page: 5 }],
  [vmmDropAction(2 as VmmPage), { kind: 'dropVmm', page: 2 }],
  [guestPageAction('remap', g(5)), { kind: 'remap', page: 5 }],
  [guestPageAction('discardBuffer', g(5)), { kind: 'discardBuffer', page: 5 }],
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
      m.swapReadAction(1, 4, 1, [3], [4]), m.imageReadAction(1, 4, 1, [3], [4]), m.vmmReadAction(1, 4, 1, [4]),
      m.writeAction(1, 9, [1]), m.dropAction([1]), m.guestPageAction('zero', 5), m.vmmDropAction(1),
      m.guestPageAction('remap', 5), m.guestPageAction('discardBuffer', 5), m.faultDoneAction(3), m.timerAction(5, 1500),
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

/**
 * The constructors keep each address space's brand (the check is tsc's, which `npm test` runs
 * first: a constructor that took plain numbers would leave these directives unused, an error).
 */
test('action constructors take only the numbers of their own address space', () => {
  const made = [
    // @ts-expect-error: an image block is not a swap slot
    swapReadAction(id, 5 as BlockNo, 1, [g(3)], [5 as BlockNo]),
    // @ts-expect-error: a swap slot is not an image block
    imageReadAction(id, 5 as SwapSlot, 1, [g(3)], [5 as SwapSlot]),
    // @ts-expect-error: a guest frame is not one of the hypervisor's pages
    vmmDropAction(g(2)),
    // @ts-expect-error: one of the hypervisor's pages is not a guest frame
    guestPageAction('zero', 2 as VmmPage),
  ];
  assert.equal(made.length, 4);
});
