import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { METRIC_NAMES, type FigureResult } from '../src/engine/results.js';

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const PAPER = join(import.meta.dirname, '..', '..', 'data', 'paper-targets.json');
// The runs these tests make go to a store of their own, not the user's. Timeouts only stop a hung
// child: under load (CI beside other jobs) starting Node and a small run can take minutes.
const STORE = mkdtempSync(join(tmpdir(), 'vsw-cli-store-'));
const run = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, VSWAPPER_STORE: STORE },
  });

test('vswapper reproduce fig3 fig9 writes the report with every counter the issue lists', () => {
  const out = mkdtempSync(join(tmpdir(), 'vsw-cli-'));
  const r = run('reproduce', 'fig3', 'fig9', '--scale', '0.25', '--out', out, '--paper', PAPER);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /report: .*index\.html/);
  for (const f of ['fig3.json', 'fig3.svg', 'fig3.png', 'fig9.json', 'fig9.svg', 'fig9.png', 'index.html'])
    assert.ok(existsSync(join(out, f)), f);
  const fig9 = JSON.parse(readFileSync(join(out, 'fig9.json'), 'utf8')) as FigureResult;
  assert.equal(fig9.engine, 'sim');
  assert.equal(fig9.runs.length, 5 * 8);
  const required = [
    'runtimeS',
    'diskOps',
    'swapReadSectors',
    'swapWriteSectors',
    'imageReadSectors',
    'staleSwapReads',
    'falseSwapReads',
    'silentSwapWrites',
    'hostFaultsInGuest',
    'hostFaultsInHost',
    'pagesScanned',
    'integrityViolations',
  ];
  for (const run of fig9.runs) {
    for (const k of required)
      assert.equal(
        typeof run.metrics[k as keyof typeof run.metrics],
        'number',
        `${run.config} ${run.x} ${k}`,
      );
    for (const k of Object.keys(run.metrics)) assert.ok((METRIC_NAMES as readonly string[]).includes(k), k);
  }
});

test('bad flags and figures are refused with a clear message and a non-zero exit', () => {
  const scale = run('reproduce', 'fig9', '--scale', '7');
  assert.notEqual(scale.status, 0);
  assert.match(scale.stderr, /--scale must be a number in \(0, 1\], got "7"/);
  const fig = run('reproduce', 'fig99', '--scale', '0.1');
  assert.equal(fig.status, 2);
  assert.match(fig.stderr, /unknown figure "fig99" for the sim engine; known: fig9, fig3/);
  const engine = run('reproduce', 'fig9', '--engine', 'vmware');
  assert.match(engine.stderr, /--engine must be sim, qemu or qemu-pager/);
  // Configurations and figures each engine has, checked before anything runs.
  const cfg = run('reproduce', 'fig9', '--configs', 'baseline,nosuch');
  assert.equal(cfg.status, 2);
  assert.match(cfg.stderr, /unknown configuration "nosuch"; known: baseline, balloon, mapper/);
  const cannot = run('reproduce', 'fig9', '--engine', 'qemu', '--configs', 'mapper');
  assert.equal(cannot.status, 2);
  assert.match(cannot.stderr, /the qemu engine cannot run mapper: mapper needs a changed hypervisor/);
  const noFig = run('reproduce', 'fig5', '--engine', 'qemu-pager');
  assert.equal(noFig.status, 2);
  assert.match(noFig.stderr, /unknown figure "fig5" for the qemu-pager engine; known: fig9, fig10/);
  const notInFig = run('reproduce', 'fig15', '--configs', 'baseline');
  assert.equal(notInFig.status, 2);
  assert.match(notInFig.stderr, /fig15 has no baseline configuration \(it has vswapper\)/);
});

test('vswapper engines lists every engine, whether it can run here, and why each configuration cannot', () => {
  const r = run('engines');
  assert.equal(r.status, 0, r.stderr);
  for (const name of ['sim', 'qemu', 'qemu-pager'])
    assert.match(r.stdout, new RegExp(`^${name}: .*\\n  (available here|not available here: .+)$`, 'm'));
  assert.match(r.stdout, /mapper: no \(mapper needs a changed hypervisor/);
  // The pager runs the balloon configurations too (a virtio-balloon whose discards it hears).
  const pager = r.stdout.slice(r.stdout.indexOf('\nqemu-pager: '));
  assert.match(pager, /\n {2}balloon: (runs|no \(.+\))\n/);
  assert.doesNotMatch(pager, /no balloon here/);
});

test('vswapper run FILE.yaml runs a user experiment; a bad file names the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-run-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(
    good,
    'name: tiny\nconfigs: [baseline]\nguest: { believedMiB: 64, actualMiB: 24, kernelMiB: 8 }\nworkload: { kind: sysbench, fileMiB: 20, iterations: 2 }\n',
  );
  const r = run('run', good, '--out', join(dir, 'out'), '--paper', PAPER);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(dir, 'out', 'tiny.json')));
  assert.ok(existsSync(join(dir, 'out', 'tiny.png')));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    'name: tiny\nconfigs: [baseline]\nguest: { believedMiB: 64, actualMiB: 24 }\nworkload: { kind: sysbench, fileMB: 20 }\n',
  );
  const b = run('run', bad);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /bad\.yaml: invalid experiment/);
  assert.match(b.stderr, /workload: Unrecognized key.*fileMB/);
});

test('vswapper compare prints engines side by side from a report folder; --unthrottled is refused for sim', () => {
  const out = mkdtempSync(join(tmpdir(), 'vsw-cmp-'));
  const result = (engine: FigureResult['engine'], runtimeS: number): FigureResult => ({
    figure: 'fig9',
    engine,
    runs: [{ config: 'baseline', x: 2, metrics: { runtimeS, swapWriteSectors: 400_000 } }],
    meta: {},
  });
  writeFileSync(join(out, 'fig9.json'), JSON.stringify(result('sim', 20)));
  writeFileSync(join(out, 'fig9.qemu.json'), JSON.stringify(result('qemu', 60)));
  const r = run('compare', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| fig9 \| baseline \| 2 \| runtimeS \| 20 \| 60 \| 3\.00 \|/);
  assert.match(r.stdout, /\| fig9 \| baseline \| 2 \| swapWriteSectors \| 400000 \| 400000 \| 1\.00 \|/);

  const bad = run('reproduce', 'fig9', '--unthrottled', '--out', out);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--unthrottled applies to the real engines/);
});

/**
 * The package as npm would install it, alone in a temp dir: dist/src, package.json, data/ (unless
 * left out) and node_modules by link, with no ../shared anywhere near it.
 */
function installedCopy(withData: boolean): { cli: string; cwd: string } {
  const top = mkdtempSync(join(tmpdir(), 'vsw-installed-'));
  const pkg = join(top, 'node_modules', 'vswapper');
  const checkout = join(import.meta.dirname, '..', '..');
  cpSync(join(checkout, 'dist', 'src'), join(pkg, 'dist', 'src'), { recursive: true });
  cpSync(join(checkout, 'package.json'), join(pkg, 'package.json'));
  if (withData) cpSync(join(checkout, 'data'), join(pkg, 'data'), { recursive: true });
  symlinkSync(join(checkout, 'node_modules'), join(pkg, 'node_modules'));
  const cwd = join(top, 'work');
  mkdirSync(cwd);
  return { cli: join(pkg, 'dist', 'src', 'cli', 'main.js'), cwd };
}

const TINY =
  'name: tiny\nconfigs: [baseline]\nguest: { believedMiB: 64, actualMiB: 24, kernelMiB: 8 }\nworkload: { kind: sysbench, fileMiB: 20, iterations: 2 }\n';

test('an installed package without ../shared compares with its own data/; with no paper values at all it says so and goes on', () => {
  const withData = installedCopy(true);
  const r = spawnSync(
    process.execPath,
    [withData.cli, 'reproduce', 'fig3', '--scale', '0.1', '--configs', 'baseline', '--out', 'out'],
    { cwd: withData.cwd, encoding: 'utf8', timeout: 300_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const html = readFileSync(join(withData.cwd, 'out', 'index.html'), 'utf8');
  assert.match(html, /Paper values: <code>[^<]*node_modules\/vswapper\/data\/paper-targets\.json<\/code>/);
  assert.match(html, /<td>baseline<\/td><td>baseline<\/td><td>38\.7<\/td>/);

  const bare = installedCopy(false);
  writeFileSync(join(bare.cwd, 'tiny.yaml'), TINY);
  const n = spawnSync(process.execPath, [bare.cli, 'run', 'tiny.yaml', '--out', 'out'], {
    cwd: bare.cwd,
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(n.status, 0, n.stderr);
  assert.match(n.stderr, /vswapper: no paper values found \(looked for .*data\/paper-targets\.json/);
  assert.doesNotMatch(n.stderr, /at \w+ \(/, 'no stack trace');
  assert.match(readFileSync(join(bare.cwd, 'out', 'index.html'), 'utf8'), /<b>No paper values:<\/b>/);
  assert.ok(existsSync(join(bare.cwd, 'out', 'tiny.json')));
});

test('a --paper path that cannot be read is refused before anything runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-paper-'));
  const r = run('reproduce', 'fig9', '--out', join(dir, 'out'), '--paper', join(dir, 'typo.json'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /typo\.json: cannot read paper targets/);
  assert.equal(existsSync(join(dir, 'out')), false);
});

test('sweep inputs and folders are checked before any run: one line each, exit code 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-bad-'));
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const cases: [string[], RegExp][] = [
    [['--out', file], /^vswapper: --out .*a-file: exists and is not a folder$/],
    [['--out', join(file, 'sub')], /^vswapper: --out .*a-file\/sub: .*a-file is not a folder$/],
    [['--out', '/proc/x'], /^vswapper: --out \/proc\/x: \/proc is on the proc pseudo file system/],
    [
      ['--out', '/sys/kernel'],
      /^vswapper: --out \/sys\/kernel: \/sys\/kernel is on the sysfs pseudo file system/,
    ],
    [['--store', file], /^vswapper: --store .*a-file: exists and is not a folder$/],
    [['--scale', '0.001'], /^vswapper: scale 0.001 is below the sim engine's smallest, 0.01/],
    [['--runs', '0'], /^error: .*--runs must be an integer from 1 to 1000, got "0"$/],
    [['--seed', '1.5'], /^error: .*--seed must be an integer from 1 to \d+, got "1.5"$/],
    [['--jobs', 'many'], /^error: .*--jobs must be an integer from 1 to 1024, got "many"$/],
    [['--queue', 'http://x'], /^error: .*--queue must be a Redis URL/],
  ];
  // Refused before any run: a run would leave its result in the store.
  const store = join(dir, 'store');
  for (const [flags, message] of cases) {
    const out = flags[0] === '--out' ? [] : ['--out', join(dir, 'out')];
    const st = flags[0] === '--store' ? [] : ['--store', store];
    const r = run('reproduce', 'all', ...flags, ...out, ...st);
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0]!, message, flags.join(' '));
    assert.ok(!existsSync(store) || readdirSync(store).length === 0, `${flags.join(' ')}: no run`);
  }
  const fig = run('reproduce', 'fig9', 'fig77', '--out', join(dir, 'out'));
  assert.equal(fig.status, 2);
  assert.match(fig.stderr, /^vswapper: unknown figure "fig77" for the sim engine; known: fig9, fig3, fig10/);
  const v = run('--version');
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+ \(model [0-9a-f]{16}\)$/m);
});

test('idle-probe: a bad flag or folder is one line and exit code 2 before the guest boots', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-idle-'));
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const cases: [string[], RegExp][] = [
    [['--believed', 'abc'], /^error: .*--believed must be an integer from 64 to 8192, got "abc"$/],
    [['--rounds', '0'], /^error: .*--rounds must be an integer from 1 to 100, got "0"$/],
    [['--window', '1.5'], /^error: .*--window must be an integer from 1 to 3600, got "1.5"$/],
    [['--settle', '-1'], /^error: .*--settle must be an integer from 0 to 3600, got "-1"$/],
    [['--floor', '0'], /^error: .*--floor must be an integer from 1 to 1048576, got "0"$/],
    [['--out', file], /^vswapper: --out .*a-file: exists and is not a folder$/],
    [['--out', '/proc/x'], /^vswapper: --out \/proc\/x: \/proc is on the proc pseudo file system/],
  ];
  for (const [flags, message] of cases) {
    const r = spawnSync(process.execPath, [CLI, 'idle-probe', ...flags], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0]!, message, flags.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('timeline: a bad flag or folder is one line and exit code 2 before the run; a small run writes its files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-tl-'));
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const cases: [string[], RegExp][] = [
    [
      ['--config', 'nope'],
      /^error: .*--config must be one of baseline, balloon, vswapper, balloon\+vswapper, got "nope"$/,
    ],
    [['--guests', '0'], /^error: .*--guests must be an integer from 1 to 10, got "0"$/],
    [['--guests', 'x'], /^error: .*--guests must be an integer from 1 to 10, got "x"$/],
    [['--seed', '1.5'], /^error: .*--seed must be an integer from 1 to \d+, got "1.5"$/],
    [['--guest-swap', '-1'], /^error: .*--guest-swap must be an integer from 0 to 16384, got "-1"$/],
    [['--out', file], /^vswapper: --out .*a-file: exists and is not a folder$/],
    [['--out', '/proc/x'], /^vswapper: --out \/proc\/x: \/proc is on the proc pseudo file system/],
  ];
  for (const [flags, message] of cases) {
    // Full size and 10 guests: minutes of simulation if the check came after the run.
    const r = spawnSync(process.execPath, [CLI, 'timeline', ...flags], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0]!, message, flags.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const ok = run('timeline', '--guests', '2', '--scale', '0.05', '--out', join(dir, 'ok'));
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(readdirSync(join(dir, 'ok')).sort(), [
    'timeline-balloon-2g-seed1.json',
    'timeline-balloon-2g-seed1.svg',
  ]);
  // With a swap partition in each guest: its own file names, and the guest swap on every line.
  const gs = run(
    'timeline',
    '--guests',
    '1',
    '--scale',
    '0.05',
    '--guest-swap',
    '512',
    '--out',
    join(dir, 'gs'),
  );
  assert.equal(gs.status, 0, gs.stderr);
  assert.match(gs.stdout, /^guest 1: .*guest swap out\/in \d+\/\d+ pages$/m);
  assert.deepEqual(readdirSync(join(dir, 'gs')).sort(), [
    'timeline-balloon-1g-seed1-gswap512.json',
    'timeline-balloon-1g-seed1-gswap512.svg',
  ]);
});

test('the other commands check their input before any run: timeline, run, worker, an unreachable queue', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-bad2-'));
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const out = join(dir, 'out');
  const cases: [string[], RegExp][] = [
    [['timeline', '--guests', '11'], /^error: .*--guests must be an integer from 1 to 10, got "11"$/],
    [['timeline', '--config', 'mapper'], /^error: .*--config must be one of baseline, balloon, vswapper/],
    [['timeline', '--scale', '0.001'], /^vswapper: scale 0.001 is below the sim engine's smallest, 0.01/],
    // Before this was checked first, the run came first and mkdir then looped forever on /proc.
    [
      ['timeline', '--scale', '0.01', '--out', '/proc/x'],
      /^vswapper: --out \/proc\/x: \/proc is on the proc/,
    ],
    [
      ['timeline', '--scale', '0.01', '--out', file],
      /^vswapper: --out .*a-file: exists and is not a folder$/,
    ],
    [
      ['run', join(import.meta.dirname, '..', '..', 'examples', 'ssd-sweep.yaml'), '--out', '/proc/x'],
      /^vswapper: --out \/proc\/x: \/proc is on the proc pseudo file system/,
    ],
    [['run', join(dir, 'none.yaml')], /^vswapper: .*none\.yaml: cannot read: ENOENT$/],
    // Port 1 of the loopback: nothing listens there, so the connection is refused at once.
    [
      ['reproduce', 'fig9', '--queue', 'redis://127.0.0.1:1', '--out', out],
      /^vswapper: --queue redis:\/\/127\.0\.0\.1:1: no Redis answers there/,
    ],
    [
      ['worker', '--queue', 'redis://127.0.0.1:1'],
      /^vswapper: --queue redis:\/\/127\.0\.0\.1:1: no Redis answers there/,
    ],
    [['worker', '--queue', 'notaurl'], /^error: .*--queue must be a Redis URL/],
    [['worker'], /^error: required option '--queue <url>' not specified$/],
    [['nosuchcommand'], /^error: unknown command 'nosuchcommand'$/],
    [['reproduce', 'fig9', '--nosuchflag'], /^error: unknown option '--nosuchflag'$/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('(vswapper help'));
    assert.equal(lines.length, 1, `${args.join(' ')}: one line, got ${r.stderr}`);
    assert.match(lines[0]!, message, args.join(' '));
  }
  // Nothing was written: every case failed before its run.
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir), ['a-file']);
});
