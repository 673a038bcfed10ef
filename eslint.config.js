import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';
import noImportCycle from './eslint-rules/no-import-cycle.js';

/**
 * The house's shape, enforced: folders of src/ import only from folders on their left, never
 * upwards (qemu and pager are siblings and import neither each other; workloads import the
 * simulator, not the real engines). Each entry: a folder, then the folders it may import from.
 */
const LAYERS = [
  // Pure decisions (the balloon manager's policy), no I/O: below everything, importing nothing.
  ['policy', []],
  ['core', []],
  ['driver', ['core']],
  ['engine', ['core']],
  ['sim', ['policy', 'core', 'driver', 'engine']],
  ['real', ['policy', 'core', 'engine']],
  ['qemu', ['policy', 'core', 'engine', 'real']],
  ['pager', ['policy', 'core', 'driver', 'engine', 'sim', 'real']],
  ['workloads', ['core', 'sim']],
  ['experiments', ['policy', 'core', 'driver', 'engine', 'sim', 'real', 'qemu', 'pager', 'workloads']],
  ['report', ['core', 'engine', 'experiments']],
  ['cli', ['policy', 'core', 'engine', 'experiments', 'report']],
];
const FOLDERS = LAYERS.map(([f]) => f);

/**
 * Inside the core, mechanisms call only downwards (the router on top composes them): each file may
 * import the store and the files listed before it, never one after it.
 */
const CORE_TIERS = [
  'swap-cache',
  'reclaim',
  'readahead',
  'page-in',
  'mapper',
  'access',
  'preventer',
  'fault-path',
  'guest-io',
  'balloon',
  'invariants',
  'memory-core',
  'index',
];
const coreTarget = (t) => (t === 'readahead' ? './src/core/readahead' : `./src/core/${t}.ts`);

const layerZones = LAYERS.flatMap(([folder, allowed]) =>
  FOLDERS.filter((f) => f !== folder && !allowed.includes(f)).map((f) => ({
    target: `./src/${folder}`,
    from: `./src/${f}`,
    message: `src/${folder} may import only from ${allowed.length ? allowed.join(', ') : 'itself'} (layers import only downwards).`,
  })),
);
// Outside the core, only its public face: drivers never reach into its tables.
const coreFaceZone = {
  target: FOLDERS.filter((f) => f !== 'core').map((f) => `./src/${f}`),
  from: './src/core',
  except: ['./index.ts'],
  message: 'outside src/core, import the core only through src/core/index.ts.',
};
const coreTierZones = CORE_TIERS.slice(0, -1).map((t, i) => ({
  target: coreTarget(t),
  from: CORE_TIERS.slice(i + 1).map(coreTarget),
  message: `a core mechanism calls only downwards: ${t} may not import ${CORE_TIERS.slice(i + 1).join(', ')}.`,
}));

/** The import rules alone (no type information): also what test/layering.test.ts plants violations against. */
export const shape = [
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { 'import-x': importX, local: { rules: { 'no-import-cycle': noImportCycle } } },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'local/no-import-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones: [...layerZones, coreFaceZone, ...coreTierZones] }],
    },
  },
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'results/', 'scratch/', 'eslint.config.js', 'eslint-rules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      // The core's page states, flags and list kinds are const enums (tsc writes their numbers in)
      // kept as bytes in typed arrays: comparing a byte read from one with a member is the point.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
    },
  },
  ...shape,
);
