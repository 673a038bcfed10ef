import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type HostSample, phaseMetrics } from '../src/qemu/metrics.js';
import { GuestChannel, parseFrame } from '../src/real/channel.js';
import { parseKeyValueLines } from '../src/real/guest-image.js';
import { sysbenchCommand, sysbenchTotalTime } from '../src/real/guest-workload.js';
import { HDD, hddThrottles } from '../src/real/hdd.js';
import { isVcpuThread, parseBlockStat, parseKeyValues, parseThreadStat } from '../src/real/proc.js';
import { figureSizes, recordsFor } from '../src/real/records.js';

test('thread stat: name with spaces and parentheses, majflt is field 12', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt ...
  const stat = '4242 (CPU 0/TCG) S 1 4242 4242 0 -1 4194624 1500 0 77 0 10 20 0 0 20 0 9 0 12345 0 0';
  assert.deepEqual(parseThreadStat(stat), { comm: 'CPU 0/TCG', minflt: 1500, majflt: 77 });
  assert.equal(parseThreadStat('1 (a) b) R 0 0 0 0 0 0 3 0 5 0').comm, 'a) b');
  assert.equal(isVcpuThread('CPU 0/TCG'), true);
  assert.equal(isVcpuThread('CPU 12/KVM'), true);
  assert.equal(isVcpuThread('worker'), false);
  assert.equal(isVcpuThread('qemu-system-x86'), false);
});

test('block device stat and key/value files', () => {
  const s = parseBlockStat('   10 2 800 5   20 0 160 9 0 3 14 0 0 0 0\n');
  assert.deepEqual(s, { readOps: 10, readSectors: 800, writeOps: 20, writeSectors: 160 });
  assert.deepEqual(parseKeyValues('pswpin 5\npswpout 7\n\nbad line x\n'), { pswpin: 5, pswpout: 7 });
  assert.deepEqual(parseKeyValueLines('noise\nDISK=/x/y.ext4\nMD5=abc\n'), { DISK: '/x/y.ext4', MD5: 'abc' });
});

test('guest channel frames', () => {
  assert.deepEqual(parseFrame('@@VSW ready 2.24'), { kind: 'ready', uptimeS: 2.24 });
  assert.deepEqual(parseFrame('@@VSW begin 3 5.20'), { kind: 'begin', id: 3, uptimeS: 5.2 });
  assert.deepEqual(parseFrame('@@VSW end 3 0 6.5'), { kind: 'end', id: 3, rc: 0, uptimeS: 6.5 });
  assert.deepEqual(parseFrame('total time: 1s'), { kind: 'output', line: 'total time: 1s' });
});

test('guest channel: one command at a time, output between its frames, failure ends waits', async () => {
  const fromGuest = new PassThrough();
  const toGuest = new PassThrough();
  const ch = new GuestChannel(fromGuest, toGuest);
  const sent: string[] = [];
  toGuest.on('data', (d: Buffer) => sent.push(d.toString()));
  fromGuest.write('boot noise\r\n@@VSW ready 1.5\r\n');
  assert.equal(await ch.ready(), 1.5);
  const p = ch.run('echo hi');
  await assert.rejects(ch.run('again'), /one command at a time/);
  fromGuest.write('@@VSW begin 1 2.0\nhi\n');
  fromGuest.write('there\n@@VSW end 1 0 2.25\n');
  assert.deepEqual(await p, { rc: 0, lines: ['hi', 'there'], beginS: 2, endS: 2.25 });
  assert.deepEqual(sent, ['1 echo hi\n']);
  const q = ch.run('sleep 100');
  ch.fail(new Error('QEMU ended'));
  await assert.rejects(q, /QEMU ended/);
  await assert.rejects(ch.run('x'), /QEMU ended/);
});

test('sysbench reads its file exactly once: events = file size / 16 KiB', () => {
  const c = sysbenchCommand(200);
  assert.match(c, /--file-test-mode=seqrd/);
  assert.match(c, /--file-total-size=200M/);
  assert.match(c, /--events=12800 /);
  assert.match(c, /--time=0/);
  assert.equal(sysbenchTotalTime(['General statistics:', '    total time:   2.2733s']), 2.2733);
  assert.equal(sysbenchTotalTime(['nothing']), undefined);
});

test('HDD-like throttles come from the one set of drive constants', () => {
  const t = hddThrottles(3);
  assert.equal(t.swap.readIops, HDD.randomIops * 8);
  assert.equal(t.swap.readBps, HDD.seqBytesPerS);
  assert.equal(t.image.readBps, HDD.seqBytesPerS);
  assert.equal(t.image.readIops, Math.round(HDD.seqBytesPerS / HDD.seqRequestBytes));
});

test("scaled sizes: the paper's at scale 1; below it, only what lies above the guest's own floors shrinks", () => {
  assert.deepEqual(figureSizes(1), {
    believedMiB: 512,
    actualMiB: 100,
    balloonMiB: 100,
    fileMiB: 200,
    allocMiB: 200,
    iterations: 8,
  });
  // A footprint does not change the paper's own sizes.
  assert.deepEqual(figureSizes(1, { ownMiB: 71, hotMiB: 11 }), figureSizes(1));
  const q = figureSizes(0.25, { ownMiB: 71, hotMiB: 11 });
  assert.deepEqual(q, {
    believedMiB: 181, // 71 + (512 - 71) / 4
    actualMiB: 33, // 11 + (100 - 11) / 4
    balloonMiB: 78, // 71 + (100 - 71) / 4
    fileMiB: 50,
    allocMiB: 50,
    iterations: 8,
  });
  // What the file overcommits on the host, beyond the guest's hot pages, is the paper's.
  const over = (s: typeof q, hot: number): number => s.fileMiB / (s.actualMiB - hot);
  assert.ok(Math.abs(over(q, 11) - over(figureSizes(1), 11)) < 0.05);
  // A ballooned guest keeps the same room above what it cannot give up, scaled.
  assert.equal(q.balloonMiB - 71, Math.round((100 - 71) / 4));
  assert.throws(() => figureSizes(0.25), /needs the guest's measured footprint/);
  assert.throws(() => figureSizes(0.25, { ownMiB: 120, hotMiB: 11 }), /cannot be scaled down/);
  assert.throws(() => figureSizes(0.25, { ownMiB: 71, hotMiB: 100 }), /cannot be scaled down/);
  assert.throws(() => figureSizes(0));
  assert.throws(() => figureSizes(2));
});

function sample(over: Partial<Record<string, number>> = {}): HostSample {
  return {
    wallMs: over.wall ?? 0,
    swap: {
      readOps: over.sro ?? 0,
      readSectors: over.srs ?? 0,
      writeOps: over.swo ?? 0,
      writeSectors: over.sws ?? 0,
    },
    image: { readOps: over.iro ?? 0, readSectors: over.irs ?? 0, writeOps: 0, writeSectors: 0 },
    faults: {
      vcpu: over.fv ?? 0,
      other: over.fo ?? 0,
      threads: { 'CPU 0/TCG': over.fv ?? 0, worker: over.fo ?? 0 },
    },
    vm: { pswpin: over.pin ?? 0, pswpout: over.pout ?? 0 },
  };
}

test('phase metrics are deltas of real counters; what is not measured is absent', () => {
  const a = sample({ sro: 10, srs: 80, swo: 1, sws: 8, iro: 3, irs: 256, fv: 5, fo: 7 });
  const b = sample({
    wall: 2500,
    sro: 30,
    srs: 240,
    swo: 11,
    sws: 808,
    iro: 4,
    irs: 512,
    fv: 50,
    fo: 9,
    pout: 100,
  });
  const { metrics, notes } = phaseMetrics({
    a,
    b,
    reply: { rc: 0, lines: ['total time: 2.0s'], beginS: 10, endS: 12.25 },
    guestBefore: { pgmajfault: 1, oom_kill: 0 },
    guestAfter: { pgmajfault: 4, oom_kill: 0, nr_file_pages: 777 },
  });
  assert.equal(metrics.runtimeS, 2.25);
  assert.equal(metrics.swapReadOps, 20);
  assert.equal(metrics.swapWriteSectors, 800);
  assert.equal(metrics.imageReadSectors, 256);
  assert.equal(metrics.diskOps, 20 + 10 + 1);
  assert.equal(metrics.hostFaultsInGuest, 45);
  assert.equal(metrics.hostFaultsInHost, 2);
  assert.equal(metrics.guestMajorFaults, 3);
  assert.equal(metrics.guestPageCachePages, 777);
  for (const k of ['staleSwapReads', 'falseSwapReads', 'silentSwapWrites', 'pagesScanned'] as const)
    assert.equal(k in metrics, false, `${k} cannot be counted by this engine and must be absent`);
  assert.match(notes.join('\n'), /CPU 0\/TCG 45, worker 2/);
  assert.match(notes.join('\n'), /sysbench total time 2/);
});

test('records: fig9 one per iteration, fig10 one bar, a killed QEMU is reported as killed', () => {
  const it = { metrics: { runtimeS: 1, diskOps: 5 }, notes: ['n'] };
  const r = {
    config: 'baseline' as const,
    iterations: [it, it],
    alloc: { metrics: { runtimeS: 3, diskOps: 9 }, notes: [] },
    checksumOk: true,
    accel: 'tcg' as const,
    notes: ['md5 equal'],
    info: {},
  };
  const f9 = recordsFor('fig9', r, 'mode');
  assert.deepEqual(
    f9.map((x) => x.x),
    [1, 2],
  );
  const f10 = recordsFor('fig10', r, 'mode');
  assert.equal(f10.length, 1);
  assert.equal(f10[0]!.x, null);
  assert.equal(f10[0]!.metrics.diskOps, 9);
  const killed = recordsFor('fig10', { ...r, alloc: { metrics: {}, notes: ['oom'], killed: true } }, 'mode');
  assert.equal(killed[0]!.killed, true);
  assert.deepEqual(killed[0]!.metrics, {});
  const dead = recordsFor('fig9', { ...r, iterations: [], qemuKilled: 'OOM' }, 'mode');
  assert.equal(dead[0]!.killed, true);
});

test('a bad swap size is refused by name before anything on the host is touched', async () => {
  const { runQemuConfig } = await import('../src/qemu/run.js');
  const o = { config: 'baseline', believedMiB: 512, actualMiB: 100, fileMiB: 200, iterations: 8 } as const;
  for (const swapMiB of [0, -5, 1.5, Number.NaN])
    await assert.rejects(
      runQemuConfig({ ...o, allocMiB: 0, hddLike: false, swapMiB }),
      /swapMiB must be a whole number/,
    );
});

test('sizes no run can have are refused by name before anything is built', async () => {
  const { runQemuConfig } = await import('../src/qemu/run.js');
  const o = { config: 'baseline', believedMiB: 512, actualMiB: 100, fileMiB: 200, iterations: 8 } as const;
  const bad = [
    [{ actualMiB: 600 }, /actualMiB \(600\) must not exceed believedMiB \(512\)/],
    [{ fileMiB: 0 }, /fileMiB must be a whole number >= 1, got 0/],
    [{ iterations: 2.5 }, /iterations must be a whole number >= 1, got 2.5/],
    [{ allocMiB: -1 }, /allocMiB must be a whole number >= 0, got -1/],
    [{ tbMiB: 0 }, /tbMiB must be a whole number >= 1/],
  ] as const;
  for (const [over, msg] of bad)
    await assert.rejects(runQemuConfig({ ...o, allocMiB: 0, hddLike: false, ...over }), msg);
});

test('a scaled real figure without a way to measure the guest footprint is refused before anything runs', async () => {
  const { runRealFigure } = await import('../src/real/figure.js');
  let ran = false;
  await assert.rejects(
    runRealFigure(
      'fig9',
      { scale: 0.25, hddLike: false },
      {
        engine: 'qemu',
        configs: ['baseline'],
        modeLabel: 'test',
        unavailable: [],
        run: () => {
          ran = true;
          throw new Error('must not run');
        },
        meta: {},
      },
    ),
    /cannot measure the guest's footprint here, which a scaled run \(scale 0.25\) needs; run at scale 1/,
  );
  assert.equal(ran, false);
});
