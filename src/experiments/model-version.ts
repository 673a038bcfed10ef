import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folders of the built package whose code decides a simulation's result: the memory core, the
 * core driver, the result schema, the simulator, the workloads, and the files of experiments/
 * that turn a job into a run (single- and multi-guest). A run stored under one model version is
 * never reused under another.
 *
 * Why a hash of the built code and not a constant bumped by hand: a forgotten bump would silently
 * serve stale results, the one failure a results store must not have; a hash cannot be forgotten.
 * Its cost is that any change there (a comment, a refactor that changes no result) invalidates the
 * store once. The built files and not the TypeScript sources: an installed package has only those.
 */
const MODEL_DIRS = ['core', 'driver', 'engine', 'sim', 'workloads'] as const;
const MODEL_FILES = [
  'experiments/job.js',
  'experiments/sim-runner.js',
  'experiments/multi-job.js',
  'experiments/multi-runner.js',
] as const;

let cached: string | undefined;

/** The model version of the code running in this process: 16 hex digits of a SHA-256. */
export function modelVersion(): string {
  cached ??= hashTree(fileURLToPath(new URL('..', import.meta.url)));
  return cached;
}

function hashTree(srcRoot: string): string {
  const files: string[] = MODEL_FILES.map((f) => join(srcRoot, f));
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      // Only the code: source maps and declarations carry paths and types, not behaviour.
      else if (e.name.endsWith('.js')) files.push(p);
    }
  };
  for (const d of MODEL_DIRS) walk(join(srcRoot, d));
  const h = createHash('sha256');
  for (const f of files.sort()) {
    h.update(relative(srcRoot, f).split('\\').join('/'));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}
