/**
 * The qemu-pager engine end to end on the real Debian guest (root and QEMU needed; skipped
 * otherwise). One file, so the runs go one after another (each holds the engine's lock).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FigureResult, RunRecord } from '../src/engine/results.js';
import { DaemonProcess, pagerCacheDir, pagerEngine } from '../src/pager/index.js';
import { GuestChannel } from '../src/real/channel.js';
import { buildGuestImage } from '../src/real/guest-image.js';
import { cacheDir } from '../src/real/paths.js';
import { qemuBaseArgs } from '../src/real/qemu-process.js';
import { onIdleEngine, waitForIdleEngine } from './support/engine-lock.js';
import { assertValidFigureResult } from './support/figure-result.js';
import { interruptAtFirstIteration } from './support/interrupt.js';
import {
  type PagerHostState,
  pagerHostBefore,
  pagerHostState,
  settledPagerHost,
} from './support/pager-host.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const pa = (await pagerEngine.availability()).engine;
const skip = pa.ok ? false : `qemu-pager engine unavailable here: ${pa.reason}`;

const hostState = (): PagerHostState => pagerHostState();
const settled = (before: PagerHostState): Promise<PagerHostState> => settledPagerHost(before);

function series(r: FigureResult, config: string): RunRecord[] {
  return r.runs.filter((x) => x.config === config && x.x !== null).sort((a, b) => (a.x ?? 0) - (b.x ?? 0));
}

test(
  'step 1: stock QEMU boots the guest from our vhost-user-blk back end; the file checksum matches',
  { skip, timeout: 5 * 60_000 },
  async () => {
    const img = await buildGuestImage(200);
    const dir = mkdtempSync(join(tmpdir(), 'vswapper-backend-'));
    const disk = join(dir, 'disk.img');
    execFileSync('cp', ['--reflink=auto', img.disk, disk]);
    const daemon = new DaemonProcess({ vhostSocket: join(dir, 'vhost.sock'), image: disk, mode: 'backend' });
    let q: ReturnType<typeof spawn> | undefined;
    try {
      await daemon.next((m) => m.event === 'listening');
      q = spawn(
        'qemu-system-x86_64',
        [
          ...qemuBaseArgs('tcg', 32, 512),
          '-object',
          'memory-backend-memfd,id=mem,size=512M,share=on',
          '-machine',
          'pc,memory-backend=mem',
          '-kernel',
          img.kernel,
          '-initrd',
          img.initrd,
          '-append',
          'console=ttyS0 panic=-1 loglevel=4',
          '-chardev',
          `socket,id=vhost0,path=${join(dir, 'vhost.sock')}`,
          '-device',
          'vhost-user-blk-pci,chardev=vhost0,num-queues=1',
          '-serial',
          'null',
          '-serial',
          'stdio',
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      const ch = new GuestChannel(q.stdout!, q.stdin!);
      q.on('exit', () => ch.fail(new Error('QEMU ended')));
      await ch.ready();
      const bs = await ch.run('cat /sys/block/vda/queue/logical_block_size');
      assert.equal(bs.lines[0], '4096', '4 KiB logical blocks, as the Mapper needs');
      const sum = await ch.run('md5sum test_file.0');
      assert.equal(sum.lines.join(' ').split(/\s+/)[0], img.md5);
      const st = (await daemon.cmd({ cmd: 'stats' })).stats as { device: Record<string, number> };
      assert.ok(st.device.reads! > 1000, `the guest read through the back end (${st.device.reads} requests)`);
      assert.equal(st.device.malformed, 0);
    } finally {
      q?.kill('SIGKILL');
      await daemon.quit();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'fig9 on the pager: mapper writes no swap and has no stale reads, the baseline swaps every iteration, mapper does less I/O and is faster; checksums equal',
  { skip, timeout: 20 * 60_000 },
  async () => {
    await waitForIdleEngine(cacheDir());
    const before = pagerHostBefore();
    const r = await pagerEngine.runFigure('fig9', { scale: 1, unthrottled: true });
    assert.deepEqual(await settled(before), before, 'the run left the host as it found it');
    assertValidFigureResult(pagerEngine, 'fig9', r);
    assert.equal(r.engine, 'qemu-pager');
    const base = series(r, 'baseline');
    const map = series(r, 'mapper');
    assert.equal(base.length, 8);
    assert.equal(map.length, 8);
    for (const x of [...base, ...map]) {
      assert.notEqual(x.killed, true, `${x.config} ${x.x}: ${x.notes?.join('; ')}`);
      assert.equal(x.metrics.integrityViolations, 0, `${x.config} ${x.x}: integrity`);
    }
    assert.equal(r.meta['baseline.checksum'], 'equal');
    assert.equal(r.meta['mapper.checksum'], 'equal');
    for (const x of base)
      assert.ok(x.metrics.swapWriteSectors! > 10_000, `baseline iteration ${x.x} writes swap`);
    assert.ok(
      base[0]!.metrics.staleSwapReads! > 10_000,
      `baseline iteration 1 stale reads ${base[0]!.metrics.staleSwapReads}`,
    );
    for (const [k, x] of map.slice(1).entries()) {
      // The file's pages are never written to swap (no silent writes, below); the guest's own
      // anonymous pages may still be, as under the paper's VSwapper: a page or two an iteration of
      // background kernel activity, against the baseline's ~200K sectors.
      const baseWrites = base[k + 1]!.metrics.swapWriteSectors!;
      assert.ok(
        x.metrics.swapWriteSectors! <= 0.01 * baseWrites,
        `mapper iteration ${x.x} writes ${x.metrics.swapWriteSectors} swap sectors (baseline ${baseWrites})`,
      );
      assert.equal(x.metrics.staleSwapReads, 0, `mapper iteration ${x.x} has no stale reads`);
      assert.equal(x.metrics.silentSwapWrites, 0);
      const b = base[x.x! - 1]!;
      assert.ok(
        x.metrics.diskOps! < b.metrics.diskOps!,
        `mapper does less disk I/O at iteration ${x.x}: ${x.metrics.diskOps} vs ${b.metrics.diskOps} ops`,
      );
    }
    // Faster over the run: unthrottled, one iteration's wall time is at the mercy of whatever else
    // the machine runs (another test file, a simulation), so the claim is on iterations 2-8 together.
    const total = (s: RunRecord[]): number => s.slice(1).reduce((t, x) => t + x.metrics.runtimeS!, 0);
    assert.ok(
      total(map) < total(base),
      `mapper ${total(map)} s vs baseline ${total(base)} s (iterations 2-8)`,
    );
    // The memory the run used: guest RAM within the limit; QEMU's and the daemon's own on top, stated.
    for (const c of ['baseline', 'mapper']) {
      assert.ok(
        Number(r.meta[`${c}.guestRamResidentAtEndMiB`]) <= 100.5,
        `${c}: guest RAM within the 100 MiB limit`,
      );
      assert.ok(
        Number(r.meta[`${c}.qemuPlusDaemonMaxMiB`]) <= 100 + 90 + 130,
        `${c}: QEMU + daemon within limit + overhead`,
      );
    }
  },
);

const vswapperVerdict = pa.ok ? (await pagerEngine.availability()).configs.vswapper : pa;
const skipVswapper =
  skip || (vswapperVerdict.ok ? false : `vswapper unavailable here: ${vswapperVerdict.reason}`);

test(
  'fig10 on the patched QEMU at quarter size: vswapper remaps most of the allocation and reads less than mapper, nothing lost',
  { skip: skipVswapper, timeout: 30 * 60_000 },
  async (t) => {
    await waitForIdleEngine(cacheDir());
    const before = pagerHostBefore();
    const r = await pagerEngine.runFigure('fig10', {
      scale: 0.25,
      unthrottled: true,
      configs: ['mapper', 'vswapper'],
    });
    assert.deepEqual(await settled(before), before);
    assertValidFigureResult(pagerEngine, 'fig10', r, { configs: ['mapper', 'vswapper'] });
    const get = (c: string): RunRecord => r.runs.find((x) => x.config === c)!;
    const m = get('mapper');
    const v = get('vswapper');
    for (const x of [m, v]) {
      assert.notEqual(x.killed, true, x.notes?.join('; '));
      assert.equal(x.metrics.integrityViolations, 0, `${x.config}: ${x.notes?.join('; ')}`);
    }
    const k = [
      'runtimeS',
      'swapReadOps',
      'swapReadSectors',
      'imageReadSectors',
      'diskOps',
      'preventerEmulatedPages',
      'preventerRemaps',
      'preventerFallbacks',
    ] as const;
    t.diagnostic(`mapper ${JSON.stringify(Object.fromEntries(k.map((n) => [n, m.metrics[n]])))}`);
    t.diagnostic(`vswapper ${JSON.stringify(Object.fromEntries(k.map((n) => [n, v.metrics[n]])))}`);
    t.diagnostic(`vswapper notes: ${v.notes?.join('; ')}`);
    assert.equal(m.metrics.preventerEmulatedPages, 0, 'mapper runs no Preventer');
    assert.ok(v.metrics.preventerEmulatedPages! > 0, 'guest writes to absent pages were emulated');
    // The allocation's pages are overwritten whole by the guest kernel (clear_page): QEMU's write
    // buffer hands each over whole, and the Preventer remaps it instead of reading it. Most of them
    // were absent (the limit is a fifth of the guest), so most are remapped.
    const allocPages = Number(r.meta.allocMiB) * 256;
    assert.ok(
      v.metrics.preventerRemaps! > allocPages / 2,
      `remaps ${v.metrics.preventerRemaps} of ${allocPages} pages allocated`,
    );
    assert.ok(v.metrics.preventerRemaps! > 10 * v.metrics.preventerFallbacks!, 'remaps, not merges');
    const reads = (x: RunRecord): number => x.metrics.swapReadSectors! + x.metrics.imageReadSectors!;
    assert.ok(reads(v) < reads(m), `vswapper read ${reads(v)} sectors, mapper ${reads(m)}`);
    // (Swap reads alone are not compared: they vary between runs more than the Preventer changes them;
    // the reads it prevents are the Mapper's image reads of dropped pages the guest overwrites.)
  },
);

test(
  'fig10 on the pager: the allocation after the reads runs under the Mapper',
  { skip, timeout: 20 * 60_000 },
  async () => {
    await waitForIdleEngine(cacheDir());
    const before = pagerHostBefore();
    const r = await pagerEngine.runFigure('fig10', { scale: 1, unthrottled: true, configs: ['mapper'] });
    assert.deepEqual(await settled(before), before);
    assertValidFigureResult(pagerEngine, 'fig10', r, { configs: ['mapper'] });
    const m = r.runs.find((x) => x.config === 'mapper')!;
    assert.equal(m.x, null);
    assert.notEqual(m.killed, true, m.notes?.join('; '));
    assert.ok(m.metrics.runtimeS! > 0);
    assert.ok(m.metrics.diskOps! > 0, 'the allocation made the pager evict and fault');
    assert.equal(m.metrics.integrityViolations, 0);
  },
);

test(
  'SIGINT to a process running the pager engine leaves the host as it was found',
  { skip, timeout: 60 * 60_000 },
  async (t) => {
    await onIdleEngine(t, async () => {
      const before = pagerHostBefore();
      // Interrupted mid-workload: QEMU and the daemon running, work files and the journal in place.
      const { sent, during, out, signalCode } = await interruptAtFirstIteration(
        `
      import { pagerEngine } from ${JSON.stringify(resolve(HERE, '../src/pager/index.js'))};
      await pagerEngine.runFigure('fig9', { scale: 1, unthrottled: true, configs: ['mapper'],
        onProgress: (p) => process.stdout.write(p.message + '\\n') });`,
        hostState,
      );
      assert.ok(sent, `the run never reached its first iteration: ${out}`);
      assert.ok(during!.processes.length >= before.processes.length + 2, 'QEMU and the daemon were running');
      assert.ok(during!.files.length > before.files.length, 'work files existed');
      assert.equal(signalCode, 'SIGINT', 'the process ended by the signal');
      assert.doesNotMatch(out, /finished/);
      assert.deepEqual(await settled(before), before);
      assert.ok(existsSync(pagerCacheDir()));
    });
  },
);
