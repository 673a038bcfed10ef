import assert from 'node:assert/strict';
import type { Engine, FigureRunOptions } from '../../src/engine/engine.js';
import { CONFIG_NAMES, METRIC_NAMES, type FigureResult, isPaperConfig } from '../../src/engine/results.js';

/**
 * What every engine's `FigureResult` must be, whichever engine made it: its engine's name and the
 * figure asked for; records of the figure's configurations only (of those asked for, besides the
 * empty records of configurations the engine cannot run); known metric names with finite values;
 * no integrity violation where one is reported; x values as the figure says; meta of plain values.
 */
export function assertValidFigureResult(
  engine: Engine,
  figure: string,
  r: FigureResult,
  asked: Pick<FigureRunOptions, 'configs'> = {},
): void {
  const fig = engine.figures.find((f) => f.id === figure);
  assert.ok(fig, `${engine.name} has ${figure}`);
  assert.equal(r.engine, engine.name);
  assert.equal(r.figure, figure);
  assert.ok(r.runs.length > 0, 'at least one record');
  // Not asked for by name: the paper's configurations the engine runs (the extra ones only when named).
  const wanted = asked.configs ?? fig.configs.filter((c) => engine.configs.includes(c) && isPaperConfig(c));
  for (const run of r.runs) {
    const where = `${engine.name} ${figure} ${run.config} x=${run.x}`;
    assert.ok((CONFIG_NAMES as readonly string[]).includes(run.config), `${where}: known configuration`);
    assert.ok(fig.configs.includes(run.config), `${where}: a configuration of the figure`);
    for (const [k, v] of Object.entries(run.metrics)) {
      assert.ok((METRIC_NAMES as readonly string[]).includes(k), `${where}: unknown metric ${k}`);
      assert.ok(typeof v === 'number' && Number.isFinite(v), `${where}: ${k} = ${v}`);
    }
    if (!engine.configs.includes(run.config)) {
      // A configuration the engine cannot run: an empty record saying why.
      assert.deepEqual(run.metrics, {}, `${where}: no metrics for what the engine cannot run`);
      assert.ok((run.notes ?? []).join(' ').length > 0, `${where}: the reason is noted`);
      continue;
    }
    assert.ok(wanted.includes(run.config), `${where}: asked for`);
    if (run.metrics.integrityViolations !== undefined)
      assert.equal(run.metrics.integrityViolations, 0, `${where}: integrity violations`);
    if (run.killed) continue;
    if (fig.x.kind === 'bars') assert.equal(run.x, null, `${where}: bars have no x`);
    else if (fig.x.kind === 'values')
      assert.ok(fig.x.values.includes(run.x!), `${where}: x in ${fig.x.values.join(',')}`);
    else assert.ok(Number.isInteger(run.x) && run.x! >= 0, `${where}: whole seconds`);
  }
  for (const c of wanted)
    assert.ok(
      r.runs.some((x) => x.config === c),
      `a record of ${c}`,
    );
  for (const [k, v] of Object.entries(r.meta))
    assert.ok(v === null || ['string', 'number', 'boolean'].includes(typeof v), `meta.${k} is a plain value`);
}
