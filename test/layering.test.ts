import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ESLint, type Linter } from 'eslint';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** ESLint with the project's import rules only (fast: no type information), from eslint.config.js. */
async function shapeLinter(): Promise<ESLint> {
  const mod = (await import(pathToFileURL(join(root, 'eslint.config.js')).href)) as {
    shape: Linter.Config[];
  };
  return new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: mod.shape });
}

/** The rule ids ESLint reports for `text` as if it were the file at `path` (relative to the root). */
async function violations(eslint: ESLint, path: string, text: string): Promise<string[]> {
  const [r] = await eslint.lintText(text, { filePath: join(root, path) });
  return (r?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

test('the import rules catch planted violations of the layering, and pass the real files', async () => {
  const eslint = await shapeLinter();
  const planted: [string, string, RegExp][] = [
    // An arrow upwards: the core importing the simulator.
    [
      'src/core/swap-cache.ts',
      "import { Machine } from '../sim/machine.js';\nexport const m = Machine;\n",
      /no-restricted-paths.*src\/core may import only/,
    ],
    // The simulator importing the experiments (the arrow this issue removed).
    [
      'src/sim/machine.ts',
      "import { FIGURE_SPECS } from '../experiments/figure-specs.js';\nexport const f = FIGURE_SPECS;\n",
      /no-restricted-paths.*src\/sim may import only/,
    ],
    // A core mechanism calling sideways/upwards: the swap cache importing the Preventer.
    [
      'src/core/swap-cache.ts',
      "import { Preventer } from './preventer.js';\nexport const p = Preventer;\n",
      /no-restricted-paths.*calls only downwards/,
    ],
    // A driver reading the core's page table.
    [
      'src/sim/host.ts',
      "import { PageTable } from '../core/store/page-table.js';\nexport const t = PageTable;\n",
      /no-restricted-paths.*only through src\/core\/index\.ts/,
    ],
    // One real engine importing the other.
    [
      'src/pager/engine.ts',
      "import * as q from '../qemu/index.js';\nexport const x = q;\n",
      /no-restricted-paths.*src\/pager may import only/,
    ],
    // A cycle: the page table importing the router, which (through the mechanisms) imports it.
    [
      'src/core/store/page-table.ts',
      "import { MemoryCore } from '../memory-core.js';\nexport const c = MemoryCore;\n",
      /no-import-cycle/,
    ],
  ];
  for (const [path, text, want] of planted) {
    const found = await violations(eslint, path, text);
    assert.ok(
      found.some((v) => want.test(v)),
      `${path}: planted violation not caught (${found.join('; ') || 'nothing'})`,
    );
  }
  for (const path of ['src/core/swap-cache.ts', 'src/sim/host.ts', 'src/core/memory-core.ts']) {
    const [r] = await eslint.lintFiles([join(root, path)]);
    assert.deepEqual(r?.messages.map((m) => m.message) ?? [], [], `${path} as committed`);
  }
});
