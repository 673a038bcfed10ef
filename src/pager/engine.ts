import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigName, Metrics } from '../engine/results.js';
import { GuestChannel, type GuestReply, Qmp } from '../qemu/channel.js';
import {
  type IterationRecord,
  type RealRunOptions,
  type RealRunResult,
  buildGuestImage,
  cacheDir,
  detectAccel,
  setThpDisabled,
  sysbenchCommand,
  sysbenchTotalTime,
  qemuBaseArgs,
  takeLock,
} from '../qemu/engine.js';
import { HostChanges, processStartTicks, recoverStaleJournals, sh } from '../qemu/host-changes.js';
import { parseKeyValues } from '../qemu/host-setup.js';
import { DaemonProcess } from './daemon-client.js';

const MiB = 1048576;
const PAGE = 4096;
const PKG_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The pager's configurations: the Swap Mapper, or the same pager with it off. */
export type PagerConfigName = Extract<ConfigName, 'baseline' | 'mapper'>;

export interface PagerRunOptions extends RealRunOptions {
  config: PagerConfigName;
  /** Pages armed per inactive list for access sampling (default 64; 0 = none). */
  samplingDepth?: number;
}

export type PagerRunResult = RealRunResult<PagerConfigName>;

/** The pager engine's own folder in the cache (journals, lock, work files): apart from the qemu engine's. */
export function pagerCacheDir(): string {
  return join(cacheDir(), 'pager');
}

/** Builds (or finds, cached) the userfaultfd shim; returns the library's path. */
export async function buildShim(): Promise<string> {
  const script = join(PKG_ROOT, 'scripts', 'build-uffd-shim.sh');
  const out = await new Promise<string>((res, rej) =>
    execFile('bash', [script], { encoding: 'utf8' }, (err, stdout, stderr) =>
      err
        ? rej(new Error(`the userfaultfd shim did not build: ${stderr.trim() || err.message}`))
        : res(stdout),
    ),
  );
  const m = /^SHIM=(.+)$/m.exec(out);
  if (!m) throw new Error('the shim builder did not report SHIM=');
  return m[1]!.trim();
}

/** Resident memory of a process by kind (/proc/PID/status), bytes. */
export function processMemory(pid: number): { rss: number; anon: number; file: number; shmem: number } {
  const st = parseKeyValues(
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .map((l) => l.replace(':', '').replace(/ kB$/, ''))
      .join('\n'),
  );
  const kb = (k: string): number => (st[k] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), shmem: kb('RssShmem') };
}

type Stats = {
  pager: Record<string, number>;
  disk: Record<
    'swap' | 'image',
    { readOps: number; writeOps: number; readSectors: number; writeSectors: number }
  >;
  device: Record<string, number>;
};

/** Counter deltas of one measured command (same names and meanings as the simulator's). */
export function pagerMetrics(
  a: Stats,
  b: Stats,
  reply: GuestReply,
  gA: Record<string, number>,
  gB: Record<string, number>,
): Metrics {
  const c = (k: string): number => (b.pager[k] ?? 0) - (a.pager[k] ?? 0);
  const d = (s: 'swap' | 'image', k: 'readOps' | 'writeOps' | 'readSectors' | 'writeSectors'): number =>
    b.disk[s][k] - a.disk[s][k];
  const readOps = d('swap', 'readOps') + d('image', 'readOps');
  const writeOps = d('swap', 'writeOps') + d('image', 'writeOps');
  const runs = c('swapReadRuns');
  const g = (k: string): number => (gB[k] ?? 0) - (gA[k] ?? 0);
  const m: Metrics = {
    runtimeS: reply.endS - reply.beginS,
    diskOps: readOps + writeOps,
    diskReadOps: readOps,
    diskWriteOps: writeOps,
    swapReadOps: d('swap', 'readOps'),
    swapWriteOps: d('swap', 'writeOps'),
    imageReadOps: d('image', 'readOps'),
    imageWriteOps: d('image', 'writeOps'),
    swapReadSectors: d('swap', 'readSectors'),
    swapWriteSectors: d('swap', 'writeSectors'),
    imageReadSectors: d('image', 'readSectors'),
    imageWriteSectors: d('image', 'writeSectors'),
    staleSwapReads: c('staleSwapReads'),
    // falseSwapReads is absent: whether the guest CPU overwrote a page whole after it was read in
    // is not something a fault tells (the simulator's guest says so; a real one does not).
    silentSwapWrites: c('silentSwapWrites'),
    hostFaultsInGuest: c('hostFaultsInGuest'),
    hostFaultsInHost: c('hostFaultsInHost'),
    swapReadFaults: c('swapReadOps'),
    swapReadRunLengthMean: runs > 0 ? c('swapReadPages') / runs : 0,
    pagesScanned: c('pagesScanned'),
    namedResidentPages: b.pager.namedResidentPages ?? 0,
    anonResidentPages: b.pager.anonResidentPages ?? 0,
    mapperTrackedPages: b.pager.mapperTrackedPages ?? 0,
    balloonPages: 0,
    guestMajorFaults: g('pgmajfault'),
    guestOomKills: g('oom_kill'),
  };
  if (gB.nr_file_pages !== undefined) m.guestPageCachePages = gB.nr_file_pages;
  return m;
}

/** What a record's notes say about the pager's own work during the command. */
function pagerNotes(a: Stats, b: Stats, wallMs: number): string[] {
  const c = (k: string): number => (b.pager[k] ?? 0) - (a.pager[k] ?? 0);
  return [
    `host wall ${(wallMs / 1000).toFixed(2)} s`,
    `userfaultfd faults: ${c('uffdFaultsGuest')} from vCPU threads, ${c('uffdFaultsHost')} from other QEMU threads, ${c('wpFaults')} of them write-protect faults`,
    `pages installed ${c('copies')}, holes punched ${c('punches')}, named pages dropped ${c('namedDrops')}, invalidation reads ${c('invalidationReads')}`,
    `access sampling: ${c('sampledArmed')} pages armed, ${c('sampledHits')} touched before eviction, ${c('sampledEvicted')} evicted while armed`,
  ];
}

/**
 * One configuration on the qemu-pager engine: stock QEMU with its guest RAM in a memfd paged by our
 * daemon through a userfaultfd the preloaded shim hands over, and its disk served by the daemon's
 * vhost-user-blk back end. Same guest, workload, warm-up and measurements as the qemu engine; the
 * resident limit is the pager's (guest RAM only), not a cgroup's. Everything the run changes on
 * the host is undone before it returns, also on failure and on signals.
 */
export async function runPagerConfig(o: PagerRunOptions): Promise<PagerRunResult> {
  const progress = (m: string): void => o.onProgress?.(m);
  o.signal?.throwIfAborted();
  const dir = pagerCacheDir();
  mkdirSync(dir, { recursive: true });
  progress('guest image and userfaultfd shim (cached after the first build)');
  const img = await buildGuestImage(o.fileMiB);
  const shim = await buildShim();
  for (const s of recoverStaleJournals(dir)) progress(`undid a change left by a killed run: ${s}`);
  const { accel, why } = detectAccel();
  const tbMiB = o.tbMiB ?? 32;
  const ledger = new HostChanges({ journalDir: dir });
  const notes: string[] = [];
  const info: Record<string, string | number | boolean> = { accel, accelWhy: why };
  const iterations: IterationRecord[] = [];
  let qemu: ChildProcess | undefined;
  let daemon: DaemonProcess | undefined;
  let qmp: Qmp | undefined;
  let channel: GuestChannel | undefined;
  const onAbort = (): void => {
    channel?.fail(new Error('aborted'));
    qemu?.kill('SIGKILL');
  };
  o.signal?.addEventListener('abort', onAbort);
  try {
    // The qemu engine's lock: one real-engine run at a time on a host.
    await takeLock(ledger, cacheDir(), { onProgress: progress, ...(o.signal ? { signal: o.signal } : {}) });
    const name = `vswapper-pager-${process.pid}-${Date.now()}`;
    const work = (suffix: string): string => {
      const p = join(dir, `${name}.${suffix}`);
      ledger.did({ kind: 'rm', path: p });
      return p;
    };
    // A copy of the image: the guest writes to its disk (ext4 at mount), and other runs read the original.
    const disk = work('disk');
    sh('cp', ['--reflink=auto', '--sparse=always', img.disk, disk]);
    const swap = work('swap');
    sh('fallocate', ['-l', String(o.believedMiB * MiB), swap]);
    const vhostSock = work('vhost.sock');
    const shimSock = work('shim.sock');
    const qmpSock = work('qmp');
    const consoleLog = work('console');
    const ramBytes = o.believedMiB * MiB;
    daemon = new DaemonProcess({
      vhostSocket: vhostSock,
      shimSocket: shimSock,
      image: disk,
      swap,
      mode: 'pager',
      ramBytes,
      mapper: o.config === 'mapper',
      disk: o.hddLike ? 'hdd-model' : 'immediate',
      ...(o.samplingDepth !== undefined ? { samplingDepth: o.samplingDepth } : {}),
    });
    const dpid = daemon.child.pid;
    if (dpid === undefined) throw new Error('could not start the pager daemon');
    const dTicks = processStartTicks(dpid);
    if (dTicks !== undefined) ledger.did({ kind: 'kill', pid: dpid, startTicks: dTicks });
    await daemon.next((m) => m.event === 'listening');
    const args = [
      ...qemuBaseArgs(accel, tbMiB, o.believedMiB),
      // Stopped until the pager has registered guest RAM and taken over what QEMU populated.
      '-S',
      '-name',
      'vswapper-pager,debug-threads=on',
      // Guest RAM in a memfd QEMU shares: the daemon maps the same file (and vhost-user needs it).
      '-object',
      `memory-backend-memfd,id=mem,size=${o.believedMiB}M,share=on`,
      '-machine',
      'pc,memory-backend=mem',
      '-kernel',
      img.kernel,
      '-initrd',
      img.initrd,
      '-append',
      'console=ttyS0 panic=-1 loglevel=4 init_on_alloc=0',
      '-chardev',
      `socket,id=vhost0,path=${vhostSock}`,
      // The daemon reports 4 KiB logical blocks in the config space (the Mapper needs them, §4.1).
      '-device',
      'vhost-user-blk-pci,chardev=vhost0,num-queues=1',
      '-qmp',
      `unix:${qmpSock},server=on,wait=off`,
      '-serial',
      `file:${consoleLog}`,
      '-serial',
      'stdio',
    ];
    // 4 KiB pages for QEMU, as in the qemu engine (the flag is inherited through fork and exec).
    const thpOff = setThpDisabled(true);
    try {
      qemu = spawn('qemu-system-x86_64', args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, LD_PRELOAD: shim, VSWAPPER_UFFD_SOCK: shimSock },
      });
    } finally {
      if (thpOff) setThpDisabled(false);
    }
    const q = qemu;
    const pid = q.pid;
    if (pid === undefined) throw new Error('could not start QEMU');
    const qTicks = processStartTicks(pid);
    if (qTicks !== undefined) ledger.did({ kind: 'kill', pid, startTicks: qTicks });
    let stderr = '';
    q.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const ch = new GuestChannel(q.stdout!, q.stdin!);
    channel = ch;
    const exited = new Promise<string>((res) =>
      q.on('exit', (code, sig) => {
        const w = sig ? `signal ${sig}` : `exit code ${code}`;
        ch.fail(new Error(`QEMU ended (${w}) ${stderr.trim().split('\n').pop() ?? ''}`.trim()));
        res(w);
      }),
    );
    q.stdin!.on('error', () => undefined);
    await daemon.next((m) => m.event === 'uffd' && m.pid === pid);
    qmp = await Qmp.connect(qmpSock);
    const att = await daemon.cmd({ cmd: 'attach' });
    info.pagesAdoptedAtAttach = Number(att.adopted);
    const bootT0 = performance.now();
    await qmp.execute('cont');
    await ch.ready();
    info.bootS = Math.round(performance.now() - bootT0) / 1000;
    progress(`${o.config}: guest up in ${info.bootS} s (${accel}, guest RAM paged by the daemon)`);

    const d = daemon;
    const stats = async (): Promise<Stats> => (await d.cmd({ cmd: 'stats' })).stats as Stats;
    const guestVmstat = async (): Promise<Record<string, number>> =>
      parseKeyValues((await ch.run('cat /proc/vmstat')).lines.join('\n'));
    let maxTotal = 0;
    const memory = async (when: string): Promise<void> => {
      const s = await stats();
      const qm = processMemory(pid);
      const dm = processMemory(dpid);
      const memfd = s.pager.memfdBytes ?? 0;
      const armed = s.pager.armedBytes ?? 0;
      // Guest RAM is counted once, where it is (the memfd, or a sampling slot of the daemon's);
      // QEMU's and the daemon's shared mappings of the memfd are that same memory.
      const qemuOwn = qm.anon + qm.file;
      const daemonOwn = dm.anon + dm.file - armed;
      const total = memfd + armed + qemuOwn + daemonOwn;
      maxTotal = Math.max(maxTotal, total);
      info[`guestRamResident${when}MiB`] = +((memfd + armed) / MiB).toFixed(1);
      info[`qemuOwn${when}MiB`] = +(qemuOwn / MiB).toFixed(1);
      info[`daemonOwn${when}MiB`] = +(daemonOwn / MiB).toFixed(1);
      info[`qemuPlusDaemon${when}MiB`] = +(total / MiB).toFixed(1);
    };

    // The resident limit, then the same warm-up as the qemu engine (the guest has used all its
    // memory once, and the host has taken back what does not fit, §3.1).
    const limitPages = Math.round((o.actualMiB * MiB) / PAGE);
    await d.cmd({ cmd: 'limit', pages: limitPages });
    info.residentLimitMiB = o.actualMiB;
    const meminfo = parseKeyValues(
      (await ch.run('cat /proc/meminfo')).lines.map((l) => l.replace(':', '').replace(/ kB$/, '')).join('\n'),
    );
    const touchMiB = Math.floor((meminfo.MemFree ?? 0) / 1024) - 16;
    if (touchMiB > 0) {
      const w = await ch.run(`dd if=/dev/urandom of=/dev/null bs=${touchMiB}M count=1 iflag=fullblock`);
      info.warmupTouchedMiB = touchMiB;
      info.warmupS = +(w.endS - w.beginS).toFixed(2);
      progress(
        `${o.config}: the guest used ${touchMiB} MiB of free memory once (${info.warmupS} s); the pager keeps ${o.actualMiB} MiB`,
      );
    }
    await memory('AfterWarmup');

    const measure = async (command: string): Promise<IterationRecord> => {
      const gA = await guestVmstat();
      const a = await stats();
      const t0 = performance.now();
      const reply = await ch.run(command);
      const wall = performance.now() - t0;
      const b = await stats();
      const gB = await guestVmstat();
      const metrics = pagerMetrics(a, b, reply, gA, gB);
      const rec: IterationRecord = { metrics, notes: pagerNotes(a, b, wall) };
      const st = sysbenchTotalTime(reply.lines);
      if (st !== undefined) rec.notes.push(`sysbench total time ${st} s`);
      const lost =
        (b.pager.lostPages ?? 0) -
        (a.pager.lostPages ?? 0) +
        (b.pager.copyExists ?? 0) -
        (a.pager.copyExists ?? 0);
      if (lost > 0) rec.notes.push(`INTEGRITY: ${lost} page(s) missing or doubly installed`);
      metrics.integrityViolations = lost;
      if (reply.rc !== 0) {
        rec.killed = true;
        rec.notes.push(
          (metrics.guestOomKills ?? 0) > 0
            ? `killed by the guest's OOM killer (exit ${reply.rc})`
            : `exit status ${reply.rc}: ${reply.lines.slice(-3).join(' | ')}`,
        );
      }
      return rec;
    };

    const cmd = sysbenchCommand(o.fileMiB);
    for (let k = 1; k <= o.iterations; k++) {
      o.signal?.throwIfAborted();
      const rec = await measure(cmd);
      iterations.push(rec);
      const m = rec.metrics;
      progress(
        `${o.config}: iteration ${k}/${o.iterations}: ${m.runtimeS?.toFixed(2)} s, swap written ${m.swapWriteSectors} sectors, read ${m.swapReadSectors}, stale reads ${m.staleSwapReads}, faults guest/host ${m.hostFaultsInGuest}/${m.hostFaultsInHost}`,
      );
      await memory(k === o.iterations ? 'AtEnd' : `Iteration${k}`);
    }
    let alloc: IterationRecord | undefined;
    if (o.allocMiB > 0) {
      alloc = await measure(`dd if=/dev/zero of=/dev/null bs=${o.allocMiB}M count=1`);
      progress(
        `${o.config}: allocation of ${o.allocMiB} MiB: ${alloc.metrics.runtimeS?.toFixed(2)} s${alloc.killed ? ' (killed)' : ''}`,
      );
      await memory('AfterAlloc');
    }
    const sum = await ch.run('md5sum test_file.0');
    const got = sum.lines.join(' ').split(/\s+/)[0] ?? '';
    const checksumOk = got === img.md5;
    notes.push(
      `md5 of the file after the run ${checksumOk ? 'equals' : 'DIFFERS from'} the image builder's (${img.md5})`,
    );
    const last = iterations[iterations.length - 1];
    if (last && !checksumOk) last.metrics.integrityViolations = (last.metrics.integrityViolations ?? 0) + 1;
    const problems = (await d.cmd({ cmd: 'check' })).problems as string[];
    if (problems.length > 0) notes.push(`core invariants violated: ${problems.slice(0, 3).join('; ')}`);
    info.qemuPlusDaemonMaxMiB = +(maxTotal / MiB).toFixed(1);
    const end = await stats();
    for (const k of [
      'adopted',
      'sampledArmed',
      'sampledHits',
      'uffdFaultsGuest',
      'uffdFaultsHost',
      'wpFaults',
      'lostPages',
      'copyExists',
    ])
      info[`pager.${k}`] = end.pager[k] ?? 0;
    info.deviceRequests = end.device.requests ?? 0;
    info.deviceMalformed = end.device.malformed ?? 0;
    await ch.run('!umount /mnt/proc /mnt/sys /mnt/dev /mnt; poweroff -f').catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    return { config: o.config, iterations, ...(alloc ? { alloc } : {}), checksumOk, accel, notes, info };
  } catch (e) {
    if (qemu && (qemu.exitCode !== null || qemu.signalCode !== null) && !o.signal?.aborted) {
      const daemonDied =
        daemon && !daemon.alive
          ? `; the pager daemon ended: ${daemon.stderr.trim().split('\n').slice(-3).join(' | ')}`
          : '';
      return {
        config: o.config,
        iterations,
        checksumOk: undefined,
        qemuKilled: `QEMU ended before the run did: ${(e as Error).message}${daemonDied}`,
        accel,
        notes,
        info,
      };
    }
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    qmp?.close();
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL');
    await daemon?.quit();
    const failed = ledger.undoAll();
    if (failed.length > 0) notes.push(`could not undo: ${failed.join('; ')}`);
  }
}
