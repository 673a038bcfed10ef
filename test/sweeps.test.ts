import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { paperJob } from '../src/experiments/job.js';
import { SYSBENCH_200MB } from '../src/experiments/figures.js';
import { RunStore, runKey } from '../src/experiments/run-store.js';
import type { SimRunResult } from '../src/experiments/sim-runner.js';

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
// The package's own digitized values (data/), so the test needs nothing beside the checkout.
const PAPER = join(import.meta.dirname, '..', '..', 'data', 'paper-targets.json');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });

const result = (runtimeS: number): SimRunResult => ({
  config: 'baseline',
  iterations: [{ runtimeS }],
  total: { runtimeS },
  notes: ['n'],
  wallMs: 1,
  simEvents: 2,
});

/** Every entry of a store folder, with what would change if it were written again. */
function entries(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const sub of readdirSync(dir))
    // Entries only: a kill during a write leaves a temporary file, never an entry.
    for (const f of readdirSync(join(dir, sub)).filter((f) => f.endsWith('.json'))) {
      const st = statSync(join(dir, sub, f));
      out.set(join(sub, f), `${st.ino}:${st.mtimeMs}`);
    }
  return out;
}

test('a run key is the hash of everything deciding the result: the job in any key order, seed, scale, model', () => {
  const j = paperJob('baseline', 100, SYSBENCH_200MB, 0.5, 1);
  const reordered = Object.fromEntries(Object.entries(j).reverse()) as typeof j;
  assert.equal(runKey(j), runKey(reordered));
  assert.match(runKey(j), /^[0-9a-f]{64}$/);
  assert.notEqual(runKey(j), runKey({ ...j, seed: 2 }));
  assert.notEqual(runKey(j), runKey({ ...j, scale: 0.25 }));
  assert.notEqual(runKey(j), runKey({ ...j, workload: { ...SYSBENCH_200MB, iterations: 7 } }));
  assert.notEqual(runKey(j, 'model-a'), runKey(j, 'model-b'));
});

test('the store gives back what it was given and never trusts a damaged entry', () => {
  const store = new RunStore(mkdtempSync(join(tmpdir(), 'vsw-store-')));
  const key = 'ab'.repeat(32);
  assert.equal(store.get(key), undefined);
  store.put(key, result(3.5));
  assert.deepEqual(store.get(key), result(3.5));
  assert.equal(store.damaged, 0);
  const path = store.pathOf(key);
  const whole = readFileSync(path, 'utf8');
  // A write cut short (the crash the rename protects against, or a disk full), an edited body, an
  // entry stored under another key: each is absent and counted, never returned.
  truncateSync(path, whole.length - 5);
  assert.equal(store.get(key), undefined);
  writeFileSync(path, whole.replace('3.5', '4.5'));
  assert.equal(store.get(key), undefined);
  writeFileSync(path, whole.replace(key, 'cd'.repeat(32)));
  assert.equal(store.get(key), undefined);
  writeFileSync(path, whole.slice(0, whole.indexOf('\n')));
  assert.equal(store.get(key), undefined);
  assert.equal(store.damaged, 4);
  store.put(key, result(3.5));
  assert.deepEqual(store.get(key), result(3.5));
  // No temporary file is left beside the entry.
  assert.deepEqual(readdirSync(join(store.dir, 'ab')), [`${key}.json`]);
});

test('opening the store removes the temporary files of writes that crashed long ago, and nothing else', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-store-'));
  const key = 'ab'.repeat(32);
  new RunStore(dir).put(key, result(2));
  const hoursAgo = (path: string, h: number): void => {
    const t = new Date(Date.now() - h * 3600_000);
    utimesSync(path, t, t);
  };
  const write = (rel: string, h: number): string => {
    const path = join(dir, rel);
    writeFileSync(path, '{"format":1');
    hoursAgo(path, h);
    return path;
  };
  // A write killed two hours ago (put()'s own name), one that may still be running, and files that
  // are not the store's temporary files, however old: another name, another folder, a key that
  // does not belong in its folder.
  write(join('ab', `${key}.json.4242.0badc0de.tmp`), 2);
  write(join('ab', `${key}.json.4243.0badc0df.tmp`), 0);
  write(join('ab', 'notes.tmp'), 2);
  write(join('ab', `${'cd'.repeat(32)}.json.4242.0badc0de.tmp`), 2);
  mkdirSync(join(dir, 'other'));
  write(join('other', `${key}.json.4242.0badc0de.tmp`), 2);
  hoursAgo(join(dir, 'ab', `${key}.json`), 2);

  const store = new RunStore(dir);
  assert.equal(store.staleTmpRemoved, 1);
  assert.deepEqual(
    readdirSync(join(dir, 'ab')).sort(),
    [
      `${'cd'.repeat(32)}.json.4242.0badc0de.tmp`,
      `${key}.json`,
      `${key}.json.4243.0badc0df.tmp`,
      'notes.tmp',
    ].sort(),
  );
  assert.deepEqual(readdirSync(join(dir, 'other')), [`${key}.json.4242.0badc0de.tmp`]);
  assert.deepEqual(store.get(key), result(2));
  // Opened again, there is nothing more to remove.
  assert.equal(new RunStore(dir).staleTmpRemoved, 0);
});

test('a killed sweep resumes without recomputing a finished run; a damaged entry is computed again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-resume-'));
  const store = join(dir, 'store');
  const sweep = ['reproduce', 'fig10', '--scale', '0.01', '--runs', '1', '--jobs', '1', '--paper', PAPER];
  // Killed (SIGKILL: no handler runs) once two of its five runs are stored.
  const child = spawn(process.execPath, [CLI, ...sweep, '--store', store, '--out', join(dir, 'a')], {
    stdio: 'ignore',
  });
  const exited = new Promise((r) => child.once('exit', r));
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    let n = 0;
    try {
      n = [...entries(store).keys()].length;
    } catch {
      n = 0;
    }
    if (n >= 2) break;
  }
  child.kill('SIGKILL');
  await exited;
  const before = entries(store);
  assert.ok(before.size >= 2 && before.size < 5, `${before.size} runs stored before the kill`);

  const resumed = run(...sweep, '--store', store, '--out', join(dir, 'a'));
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(
    resumed.stdout,
    new RegExp(`^${5 - before.size} runs computed, ${before.size} from the store$`, 'm'),
  );
  const after = entries(store);
  assert.equal(after.size, 5);
  for (const [k, v] of before) assert.equal(after.get(k), v, `${k} was written again`);

  // The same sweep without the store: the same figure.
  const fresh = run(...sweep, '--store', join(dir, 'other'), '--fresh', '--out', join(dir, 'b'));
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.match(fresh.stdout, /^5 runs computed, 0 from the store$/m);
  const fig = (d: string): unknown => {
    const r = JSON.parse(readFileSync(join(dir, d, 'fig10.json'), 'utf8')) as {
      meta: Record<string, unknown>;
    };
    delete r.meta.simulatorWallMs;
    return r;
  };
  assert.deepEqual(fig('a'), fig('b'));

  // A damaged entry (cut short) is found and computed again, the figure unchanged.
  const [victim] = [...after.keys()];
  const path = join(store, victim!);
  truncateSync(path, statSync(path).size - 10);
  const repaired = run(...sweep, '--store', store, '--out', join(dir, 'c'));
  assert.equal(repaired.status, 0, repaired.stderr);
  assert.match(repaired.stdout, /^1 runs computed, 4 from the store \(1 damaged entries computed again\)$/m);
  assert.deepEqual(fig('c'), fig('b'));
});
