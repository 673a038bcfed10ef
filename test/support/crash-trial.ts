import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { type DaemonProcess, buildShim } from '../../src/pager/index.js';
import { pagerQemuArgs, shimEnv, startPagerDaemon } from '../../src/pager/launch.js';
import { findRamMapping, parseMaps } from '../../src/pager/guest-ram.js';
import { stoppedByShim } from '../../src/pager/supervision.js';
import { lineSplitter } from '../../src/real/channel.js';
import { buildGuestImage } from '../../src/real/guest-image.js';
import { sh } from '../../src/real/host-changes.js';
import { MiB } from '../../src/real/paths.js';
import { type QemuProcess, guestArgs, launchQemu, qemuBaseArgs } from '../../src/real/qemu-process.js';
import { QmpClient } from '../../src/real/qmp.js';
import { Rng } from '../../src/sim/rng.js';
import { buildGuestProgram, diskAndSwap, pagedRunWorkspace } from './guest-torture.js';

/**
 * One crash trial (src/pager/README.md, "When the daemon dies"): Debian's guest on Debian's QEMU,
 * its RAM paged by a real daemon with the Mapper on and its disk served by the same daemon, runs
 * scripts/guest/crash-records.c under memory pressure (a checker of its own memory's content, a
 * writer of fsync'ed records printing each record acknowledged); at a random moment once both are
 * under way the daemon is killed with SIGKILL. The trial measures how long QEMU took to stop and
 * how it ended, collects every line the guest printed until then (a page read back wrong or as
 * zeros is printed at once), and then checks, on the image itself (journal replayed by e2fsck, the
 * file read by debugfs, no boot), every record the guest said was acknowledged.
 */
export interface CrashTrialOptions {
  seed: number;
  /** Guest RAM (QEMU's -m), what the pager keeps resident of it, and the checker's memory. */
  believedMiB: number;
  residentMiB: number;
  checkerMiB: number;
  /** The kill comes this long after the guest program first showed both at work: [0, maxDelayMs). */
  maxDelayMs: number;
  /** How long QEMU may take to stop after the kill before the trial calls it hung (and kills it). */
  stopDeadlineMs: number;
  /** The shim's planted bug (VSWAPPER_SHIM_TEST_SABOTAGE), or none. */
  sabotage?: 'legacy' | 'no-keep' | 'no-stop';
  onProgress?: (m: string) => void;
}

export interface CrashTrialResult {
  seed: number;
  delayMs: number;
  /** From the kill to QEMU's end (ms); undefined if it had not ended by the deadline. */
  stopMs: number | undefined;
  qemuEnd: string;
  /** QEMU ended with the shim's exit code and message. */
  stoppedByShim: boolean;
  /** The guest's lines reporting a page read back wrong (ZEROREAD, BADREAD) or its checker's end. */
  badReads: string[];
  /**
   * Pages of guest RAM filled after the daemon died: each a hole (a page the pager had evicted)
   * that the kernel filled with zeros for a guest access nobody served. Must be 0.
   */
  zeroFilledPages: number;
  checkerPasses: number;
  acked: number;
  /** Acknowledged records missing or wrong on the image, and records there beyond the last ACK seen. */
  lost: number[];
  unackedPresent: number;
  fsck: string;
  /** The pager's state just before the kill: it was paging, with pages named and swapped. */
  before: Record<string, number>;
  /** What the guest printed after the kill (ACKs left out), and the end of its console: for a failure's report. */
  linesAfterKill: string[];
  consoleTail: string[];
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>(
      (_, rej) => (t = setTimeout(() => rej(new Error(`${what}: no answer in ${ms / 1000} s`)), ms)),
    ),
  ]).finally(() => clearTimeout(t));
}

const M64 = (1n << 64n) - 1n;
const WORDS = 512;

/** crash-records.c's mix (splitmix64's finalizer). */
function mix(x: bigint): bigint {
  x &= M64;
  x ^= x >> 30n;
  x = (x * 0xbf58476d1ce4e5b9n) & M64;
  x ^= x >> 27n;
  x = (x * 0x94d049bb133111ebn) & M64;
  x ^= x >> 31n;
  return x;
}

/** Whether record `n` of the file is exactly what crash-records.c wrote for it. */
export function recordIntact(file: Buffer, nonce: bigint, n: number): boolean {
  const off = n * 4096;
  if (file.length < off + 4096) return false;
  const w = (i: number): bigint => file.readBigUInt64LE(off + i * 8);
  if (file.toString('latin1', off, off + 8) !== 'VSWREC01' || w(1) !== nonce || w(2) !== BigInt(n))
    return false;
  let sum = 0n;
  for (let i = 4; i < WORDS; i++) {
    const want = mix(nonce ^ mix(BigInt(n) * BigInt(WORDS) + BigInt(i)));
    if (w(i) !== want) return false;
    sum = mix(sum ^ want);
  }
  return w(3) === sum;
}

/** Waits until `pid` is stopped (state T in /proc/PID/stat): a SIGSTOP has taken effect. */
async function waitStopped(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) [Tt]/.test(st)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`the pager daemon (pid ${pid}) did not stop on SIGSTOP within a second`);
}

/** Runs one trial; everything it changed on the host is undone before it returns. */
export async function runCrashTrial(o: CrashTrialOptions): Promise<CrashTrialResult> {
  const progress = o.onProgress ?? ((): void => undefined);
  // The kill's moment, reproducible from the seed.
  const rng = new Rng(o.seed);
  const random = (): number => rng.next();
  const nonce = BigInt(o.seed) * 0x9e3779b9n + 1n;
  const shim = await buildShim();
  const program = buildGuestProgram('crash-records');
  const img = await buildGuestImage(50);
  const { ledger, work } = pagedRunWorkspace('vswapper-crash', progress);
  let daemon: DaemonProcess | undefined;
  let qemu: QemuProcess | undefined;
  let qmp: QmpClient | undefined;
  let undoFailed: string[] = [];
  let out: CrashTrialResult;
  let memfd: number | undefined;
  try {
    const { disk, swap } = await diskAndSwap(
      ledger,
      work,
      { imageDisk: img.disk, programs: [{ n: 'crash-records', bin: program }], believedMiB: o.believedMiB },
      progress,
    );
    const vhostSocket = work('vhost.sock');
    const shimSocket = work('shim.sock');
    daemon = await startPagerDaemon(ledger, {
      vhostSocket,
      shimSocket,
      image: disk,
      swap,
      mode: 'pager',
      ramBytes: o.believedMiB * MiB,
      mapper: true,
      disk: 'immediate',
    });
    const d = daemon;
    const dpid = d.child.pid!;
    const qmpSocket = work('qmp');
    const consoleLog = work('console');
    // The engine's mapper command line on Debian's QEMU (src/pager/run.ts).
    qemu = launchQemu(ledger, {
      args: [
        ...qemuBaseArgs('tcg', 32, o.believedMiB),
        ...pagerQemuArgs({ ramMiB: o.believedMiB, vhostSocket, name: 'vswapper-crash', machineType: 'pc' }),
        ...guestArgs(img, qmpSocket, consoleLog),
      ],
      env: {
        ...shimEnv(process.env, { shim, shimSocket }),
        ...(o.sabotage ? { VSWAPPER_SHIM_TEST_SABOTAGE: o.sabotage } : {}),
      },
      consoleLog,
    });
    const q = qemu;
    let qemuStderr = '';
    q.child.stderr!.on('data', (b: Buffer) => (qemuStderr += b.toString()));
    await d.next((m) => m.event === 'uffd' && m.pid === q.pid);
    qmp = await QmpClient.connect(qmpSocket, { retryMs: 30_000 });
    await d.cmd({ cmd: 'attach' });
    // Our own descriptor of the guest's RAM (the memfd): how many pages it holds, whoever fills them.
    const m = findRamMapping(parseMaps(readFileSync(`/proc/${q.pid}/maps`, 'utf8')), o.believedMiB * MiB);
    memfd = openSync(`/proc/${q.pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`, 'r');
    await qmp.execute('cont');
    await withTimeout(q.channel.ready(), 300_000, 'the guest boot');
    await d.cmd({ cmd: 'limit', pages: (o.residentMiB * MiB) / 4096 });
    progress('guest up, limit set');

    const badReads: string[] = [];
    const lines: string[] = [];
    let passes = 0;
    let acked = -1;
    let started!: () => void;
    const underWay = new Promise<void>((r) => (started = r));
    q.child.stdout!.on(
      'data',
      lineSplitter((l) => {
        lines.push(l);
        const ack = /^ACK (\d+)$/.exec(l);
        if (ack) acked = Math.max(acked, Number(ack[1]));
        else if (/^PASS \d+$/.test(l)) passes++;
        else if (/^(ZEROREAD|BADREAD|CHECKER)/.test(l)) badReads.push(l);
        if (passes >= 1 && acked >= 3) started();
      }),
    );
    // Runs until the VM stops under it: its reply never comes.
    q.channel.run(`./crash-records ${nonce} ${o.checkerMiB} records`).catch(() => undefined);
    await withTimeout(
      Promise.race([
        underWay,
        q.exited.then((why) => {
          throw new Error(`QEMU ended before the trial's kill (${why}): ${badReads.join('; ')}`);
        }),
      ]),
      300_000,
      'the guest program (a checker pass and 4 records)',
    );
    const delayMs = Math.floor(random() * o.maxDelayMs);
    await new Promise((r) => setTimeout(r, delayMs));
    const snap = ((await d.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number> }).pager;
    const before: Record<string, number> = {};
    for (const k of [
      'residentPages',
      'swapUsedSlots',
      'namedResidentPages',
      'mapperTrackedPages',
      'waitingFaults',
      'uffdFaultsGuest',
    ])
      before[k] = snap[k] ?? 0;
    // Frozen first, so that the pages the memfd holds can be counted with the pager unable to add
    // any: from then on only the kernel can fill a hole (with zeros, for a guest access the pager
    // did not serve). Stopped and then killed is the same death as killed at once.
    process.kill(dpid, 'SIGSTOP');
    await waitStopped(dpid);
    const heldAtDeath = fstatSync(memfd).blocks;
    const linesAtKill = lines.length;
    const killedAt = performance.now();
    process.kill(dpid, 'SIGKILL');
    progress(`daemon killed ${delayMs} ms after the program was under way (ACK ${acked}, ${passes} passes)`);
    let stopMs: number | undefined;
    let late = false;
    const qemuEnd = await Promise.race([
      q.exited.then((why) => {
        if (!late) stopMs = performance.now() - killedAt;
        return why;
      }),
      new Promise<string>((r) => setTimeout(() => r('still running at the deadline'), o.stopDeadlineMs)),
    ]);
    late = true;
    const ackedAtStop = acked;
    const linesAfterKill = lines.slice(linesAtKill);
    // A hole filled since the death is a page the guest touched that the pager never gave it.
    const zeroFilledPages = ((fstatSync(memfd).blocks - heldAtDeath) * 512) / 4096;
    if (!q.ended) {
      q.kill();
      await q.exited;
    }
    // The records, as the image holds them: the journal replayed as a boot would, then the file.
    const fsck = spawnSync('e2fsck', ['-fy', disk], { encoding: 'utf8' });
    const fsckNote = `e2fsck exit ${fsck.status}`;
    const dump = work('records');
    sh('debugfs', ['-R', `dump /data/records ${dump}`, disk]);
    let file: Buffer;
    try {
      file = readFileSync(dump);
    } catch {
      file = Buffer.alloc(0);
    }
    const lost: number[] = [];
    for (let n = 0; n <= ackedAtStop; n++) if (!recordIntact(file, nonce, n)) lost.push(n);
    let unackedPresent = 0;
    for (let n = ackedAtStop + 1; (n + 1) * 4096 <= file.length; n++)
      if (recordIntact(file, nonce, n)) unackedPresent++;
    let consoleTail: string[] = [];
    try {
      consoleTail = readFileSync(consoleLog, 'utf8').trim().split('\n').slice(-8);
    } catch {
      // no console output
    }
    out = {
      consoleTail,
      linesAfterKill: linesAfterKill.filter((l) => !/^ACK /.test(l)).slice(0, 20),
      seed: o.seed,
      zeroFilledPages,
      delayMs,
      stopMs,
      qemuEnd,
      stoppedByShim: stoppedByShim(qemuEnd, qemuStderr),
      badReads,
      checkerPasses: passes,
      acked: ackedAtStop + 1,
      lost,
      unackedPresent,
      fsck: fsckNote,
      before,
    };
  } finally {
    if (memfd !== undefined) closeSync(memfd);
    qmp?.close();
    qemu?.kill();
    await daemon?.quit();
    undoFailed = ledger.undoAll();
  }
  if (undoFailed.length > 0) throw new Error(`could not undo: ${undoFailed.join('; ')}`);
  return out;
}
