/**
 * What every engine in the registry must do, the same suite for each: declare its figures and
 * configurations, say whether it can run here and why not, refuse bad requests before any work, and
 * produce a valid `FigureResult` for a small figure (the simulator twice: the same result).
 * A real engine's run needs root and QEMU (it skips with the reason otherwise) and holds the host's
 * run lock, so it is the cheapest figure there is, once; their full runs are the e2e tests'.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Availability,
  type Engine,
  EngineInputError,
  EngineUnavailableError,
  type FigureRunOptions,
  requireAvailable,
} from '../src/engine/engine.js';
import { CONFIG_NAMES, type FigureResult } from '../src/engine/results.js';
import { ENGINES } from '../src/experiments/engines.js';
import { assertValidFigureResult } from './support/figure-result.js';

/**
 * The cheapest figure each engine has: the simulator's at a tiny scale; a real engine's at a quarter
 * of the paper's sizes (below that a real guest does not boot reliably: its kernel needs ≈ 60 MiB),
 * unthrottled, one configuration: the one that swaps least (the pager's Mapper), where it has a choice.
 */
function smallRun(e: Engine): { figure: string; options: FigureRunOptions } {
  if (e.name === 'sim') return { figure: 'fig9', options: { scale: 0.05, configs: ['baseline', 'mapper'] } };
  const config = e.configs.includes('mapper') ? 'mapper' : e.configs[0]!;
  return {
    figure: e.figures[0]!.id,
    options: { scale: 0.25, unthrottled: e.unthrottled, configs: [config] },
  };
}

const withoutWallTime = (r: FigureResult): FigureResult => {
  const meta = { ...r.meta };
  delete meta.simulatorWallMs;
  return { ...r, meta };
};

test('the registry lists each engine once, with a figure and a configuration at least', () => {
  const names = ENGINES.map((e) => e.name);
  assert.deepEqual(names, [...new Set(names)]);
  assert.ok(names.includes('sim'));
  for (const e of ENGINES) {
    assert.ok(e.figures.length > 0 && e.configs.length > 0, e.name);
    assert.ok(e.summary.length > 0, e.name);
  }
});

test('requireAvailable names the engine, the configuration and the reason', () => {
  const sim = ENGINES.find((e) => e.name === 'sim')!;
  const a = (engine: Availability['engine'], baseline: Availability['engine']): Availability => ({
    engine,
    configs: {
      ...Object.fromEntries(CONFIG_NAMES.map((c) => [c, { ok: true }])),
      baseline,
    } as Availability['configs'],
    notes: [],
  });
  assert.throws(
    () => requireAvailable(sim, a({ ok: false, reason: 'no QEMU' }, { ok: true }), ['baseline']),
    (e: Error) =>
      e instanceof EngineUnavailableError && /the sim engine cannot run here: no QEMU/.test(e.message),
  );
  assert.throws(
    () => requireAvailable(sim, a({ ok: true }, { ok: false, reason: 'no cgroups' }), ['baseline']),
    /the sim engine cannot run baseline here: no cgroups/,
  );
  requireAvailable(sim, a({ ok: true }, { ok: false, reason: 'no cgroups' }), ['mapper']);
});

for (const engine of ENGINES) {
  const e = engine;

  test(`${e.name}: declares its figures and configurations consistently`, () => {
    const known = CONFIG_NAMES as readonly string[];
    for (const c of e.configs) assert.ok(known.includes(c), c);
    for (const c of CONFIG_NAMES)
      if (!e.configs.includes(c)) assert.ok((e.cannot[c] ?? '').length > 0, `why ${e.name} cannot run ${c}`);
    for (const f of e.figures) {
      assert.ok(f.configs.length > 0 && f.configs.every((c) => known.includes(c)), f.id);
      assert.ok(
        f.configs.some((c) => e.configs.includes(c)),
        `${f.id}: the engine runs one of its configurations`,
      );
      if (f.x.kind === 'values') assert.ok(f.x.values.length > 0, f.id);
    }
  });

  test(`${e.name}: availability answers for the engine and every configuration, with reasons`, async () => {
    const a = await e.availability();
    if (!a.engine.ok) assert.ok(a.engine.reason.length > 0, 'a reason');
    assert.deepEqual(Object.keys(a.configs).sort(), [...CONFIG_NAMES].sort());
    for (const c of CONFIG_NAMES) {
      const v = a.configs[c];
      if (!e.configs.includes(c)) assert.equal(v.ok, false, `${c} cannot run on ${e.name}`);
      else if (!a.engine.ok) assert.equal(v.ok, false, `${c}: the engine is not available`);
      if (!v.ok) assert.ok(v.reason.length > 0, `${c}: a reason`);
    }
  });

  test(`${e.name}: unknown figures, configurations and bad options are refused before any work`, async () => {
    const fig = e.figures[0]!.id;
    let progress = 0;
    const o = { onProgress: () => progress++ };
    const refused = async (figure: string, options: FigureRunOptions, message: RegExp): Promise<void> => {
      const t0 = performance.now();
      await assert.rejects(
        e.runFigure(figure, { ...o, ...options }),
        (err: Error) => err instanceof EngineInputError && message.test(err.message),
      );
      assert.ok(performance.now() - t0 < 1000, `refused at once (${figure}, ${JSON.stringify(options)})`);
    };
    await refused('fig99', {}, new RegExp(`unknown figure "fig99" for the ${e.name} engine; known: ${fig}`));
    await refused(fig, { configs: ['nosuch' as never] }, /unknown configuration "nosuch"; known: baseline/);
    await refused(fig, { configs: [] }, /no configuration/);
    await refused(fig, { scale: 7 }, /scale must be a number in \(0, 1\], got 7/);
    await refused(fig, { scale: 0 }, /scale must be/);
    const cannot = CONFIG_NAMES.find((c) => !e.configs.includes(c) && e.figures[0]!.configs.includes(c));
    if (cannot)
      await refused(
        fig,
        { configs: [cannot] },
        new RegExp(`the ${e.name} engine cannot run ${cannot.replace('+', '\\+')}: `),
      );
    if (!e.unthrottled) await refused(fig, { unthrottled: true }, /has no unthrottled mode/);
    if (e.runFigures) await refused('fig99', {}, /unknown figure "fig99"/);
    assert.equal(progress, 0, 'no progress: nothing started');
  });

  // A real engine's run may first wait for the host's run lock, held by the e2e files' longer runs
  // (test files run two at a time): the timeout covers that wait too.
  test(`${e.name}: a small figure is a valid FigureResult`, { timeout: 60 * 60_000 }, async (t) => {
    const a = await e.availability();
    if (!a.engine.ok) {
      t.skip(`${e.name} unavailable here: ${a.engine.reason}`);
      return;
    }
    const { figure, options } = smallRun(e);
    const messages: string[] = [];
    const t0 = performance.now();
    const r = await e.runFigure(figure, { ...options, onProgress: (p) => messages.push(p.message) });
    process.stderr.write(
      `# ${e.name} ${figure} ${JSON.stringify(options)}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
    assertValidFigureResult(e, figure, r, options);
    assert.ok(messages.length > 0, 'progress was reported');
    if (e.name === 'sim') {
      // Deterministic: the same request gives the same result, apart from the wall time.
      const again = await e.runFigure(figure, options);
      assert.deepEqual(withoutWallTime(again), withoutWallTime(r));
    }
  });
}
