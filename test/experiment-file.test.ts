import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import {
  ExperimentFileError,
  loadExperiment,
  parseExperiment,
  runExperiment,
} from '../src/experiments/experiment-file.js';

const ok = `
name: t1
configs: [baseline, mapper]
guest: { believedMiB: 128, actualMiB: 32, kernelMiB: 10 }
workload: { kind: sysbench, fileMiB: 40, iterations: 2 }
`;

test('a valid experiment gets its defaults', () => {
  const e = parseExperiment(ok);
  assert.equal(e.engine, 'sim');
  assert.equal(e.host.swapMiB, 3072);
  assert.deepEqual(e.host.disk, { kind: 'hdd' });
  assert.equal(e.workload.kind === 'sysbench' && e.workload.blockKiB, 16);
  assert.equal(e.guest.swapMiB, 0);
  assert.equal(e.guest.history, 'reclaimed');
  // Unset: the guest's own default (Linux enables KVM's async page faults, Windows has none).
  assert.equal(e.guest.asyncPageFaults, undefined);
  assert.equal(e.guest.os, 'linux');
});

test('a Windows guest (§5.4) can be asked for, never with async page faults, and runs', async () => {
  const win = ok.replace('kernelMiB: 10 }', 'kernelMiB: 10, os: windows }');
  assert.throws(
    () => parseExperiment(win.replace('os: windows', 'os: windows, asyncPageFaults: true')),
    /guest\.asyncPageFaults: a Windows guest has no KVM asynchronous page faults/,
  );
  assert.throws(
    () => parseExperiment(win.replace('os: windows', 'os: beos')),
    /guest\.os: guest\.os must be one of linux, windows/,
  );
  const r = await runExperiment(parseExperiment(win));
  assert.equal(r.runs.length, 4);
  assert.match(String(r.meta.model), /Windows Server 2012-like guest/);
  for (const run of r.runs) assert.equal(run.metrics.integrityViolations, 0);
});

test('a guest without KVM async page faults can be asked for; a bad value names the field', () => {
  const e = parseExperiment(ok.replace('kernelMiB: 10 }', 'kernelMiB: 10, asyncPageFaults: false }'));
  assert.equal(e.guest.asyncPageFaults, false);
  assert.throws(
    () => parseExperiment(ok.replace('kernelMiB: 10 }', 'kernelMiB: 10, asyncPageFaults: maybe }')),
    /guest\.asyncPageFaults: guest\.asyncPageFaults must be true or false/,
  );
});

test("the paper's other workloads and a guest swap partition can be asked for", () => {
  const e = parseExperiment(
    ok
      .replace('kernelMiB: 10 }', 'kernelMiB: 10, swapMiB: 64, history: fresh }')
      .replace('{ kind: sysbench, fileMiB: 40, iterations: 2 }', '{ kind: kernbench, units: 10 }'),
  );
  assert.equal(e.guest.swapMiB, 64);
  assert.equal(e.guest.history, 'fresh');
  assert.deepEqual(e.workload, { kind: 'kernbench', units: 10 });
  assert.throws(
    () =>
      parseExperiment(
        ok.replace('{ kind: sysbench, fileMiB: 40, iterations: 2 }', '{ kind: pbzip2, threads: 0 }'),
      ),
    /workload\.threads/,
  );
  assert.throws(
    () => parseExperiment(ok.replace('kernelMiB: 10 }', 'kernelMiB: 10, swapMiB: -1 }')),
    /guest\.swapMiB/,
  );
});

test("the host's swap readahead policy is named from the core's registry; an unknown one names the field", () => {
  assert.equal(parseExperiment(ok).host.swapReadahead, 'cluster');
  const vma = parseExperiment(`${ok}host: { swapReadahead: vma }\n`);
  assert.equal(vma.host.swapReadahead, 'vma');
  assert.equal(vma.host.swapMiB, 3072, 'the other host fields keep their defaults');
  assert.throws(
    () => parseExperiment(`${ok}host: { swapReadahead: clairvoyant }\n`, 'x.yaml'),
    (e: unknown) =>
      e instanceof ExperimentFileError &&
      /x\.yaml: invalid experiment\n {2}host\.swapReadahead: host\.swapReadahead must be one of cluster, vma/.test(
        e.message,
      ),
  );
});

const bad: [string, string, RegExp][] = [
  [
    'unknown field',
    ok.replace('name: t1', 'name: t1\ncolour: red'),
    /\(top level\): Unrecognized key.*colour/,
  ],
  ['bad configuration', ok.replace('mapper]', 'swapper]'), /configs\.1: Invalid option/],
  [
    'actual above believed',
    ok.replace('actualMiB: 32', 'actualMiB: 256'),
    /guest\.actualMiB: actualMiB \(256\) exceeds believedMiB \(128\)/,
  ],
  [
    'negative size',
    ok.replace('fileMiB: 40', 'fileMiB: -4'),
    /workload\.fileMiB: workload\.fileMiB must be positive/,
  ],
  ['wrong type', ok.replace('actualMiB: 32', 'actualMiB: lots'), /guest\.actualMiB/],
  ['unknown disk kind', `${ok}host: { disk: { kind: tape } }\n`, /host\.disk\.kind/],
  ['bad disk parameter', `${ok}host: { disk: { kind: hdd, hdd: { rpm: 0 } } }\n`, /host\.disk\.hdd\.rpm/],
  [
    'no configs',
    ok.replace('configs: [baseline, mapper]', 'configs: []'),
    /configs: list at least one configuration/,
  ],
  ['not YAML', 'name: [unclosed', /not valid YAML/],
];
for (const [what, text, re] of bad) {
  test(`a bad experiment file (${what}) gets an error naming the field`, () => {
    assert.throws(
      () => parseExperiment(text, 'x.yaml'),
      (e: unknown) =>
        e instanceof ExperimentFileError && re.test(e.message) && e.message.startsWith('x.yaml'),
    );
  });
}

test('a missing file names the path', () => {
  assert.throws(
    () => loadExperiment('/nonexistent/exp.yaml'),
    /\/nonexistent\/exp\.yaml: cannot read: ENOENT/,
  );
});

test('an experiment runs: iterations on x for one size, memory size on x for a sweep', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-exp-'));
  const f = join(dir, 'e.yaml');
  writeFileSync(f, ok);
  const one = await runExperiment(loadExperiment(f));
  assert.equal(one.figure, 't1');
  assert.deepEqual(
    one.runs.map((r) => `${r.config}:${r.x}`),
    ['baseline:1', 'baseline:2', 'mapper:1', 'mapper:2'],
  );
  const sweep = await runExperiment(parseExperiment(ok.replace('actualMiB: 32', 'actualMiB: [32, 64]')));
  assert.deepEqual(
    sweep.runs.map((r) => `${r.config}:${r.x}`),
    ['baseline:32', 'baseline:64', 'mapper:32', 'mapper:64'],
  );
  const slow = sweep.runs.find((r) => r.config === 'baseline' && r.x === 32)!.metrics.runtimeS!;
  const fast = sweep.runs.find((r) => r.config === 'baseline' && r.x === 64)!.metrics.runtimeS!;
  assert.ok(slow > fast, `less memory must not be faster: ${slow} vs ${fast}`);
  for (const r of sweep.runs) assert.equal(r.metrics.integrityViolations, 0);
  // The policy reaches the host's core: the same run reads swap differently with the VMA policy.
  const baselineOnly = ok.replace('configs: [baseline, mapper]', 'configs: [baseline]');
  const vma = await runExperiment(parseExperiment(`${baselineOnly}host: { swapReadahead: vma }\n`));
  const reads = (f: typeof one): string =>
    f.runs
      .filter((r) => r.config === 'baseline')
      .map((r) => r.metrics.swapReadOps)
      .join(',');
  assert.notEqual(reads(vma), reads(one));
  for (const r of vma.runs) assert.equal(r.metrics.integrityViolations, 0);
});

test('every experiment shipped in examples/ is valid', () => {
  // dist/test/ -> the package root.
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 3, `examples: ${files.join(', ')}`);
  for (const f of files) assert.doesNotThrow(() => loadExperiment(join(dir, f)), f);
});
