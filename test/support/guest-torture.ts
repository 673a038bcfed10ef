import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { type DaemonProcess, buildShim, pagerCacheDir } from '../../src/pager/index.js';
import {
  PATCHED_QEMU_FIRMWARE_ARGS,
  pagerQemuArgs,
  patchedQemu,
  shimEnv,
  startPagerDaemon,
} from '../../src/pager/launch.js';
import { type GuestChannel, type GuestReply, lineSplitter } from '../../src/real/channel.js';
import { buildGuestImage } from '../../src/real/guest-image.js';
import { HostChanges, recoverStaleJournals, sh } from '../../src/real/host-changes.js';
import { MiB, PKG_ROOT, cacheDir } from '../../src/real/paths.js';
import { type QemuProcess, guestArgs, launchQemu, qemuBaseArgs } from '../../src/real/qemu-process.js';
import { QmpClient } from '../../src/real/qmp.js';
import { lockWaitMs, takeLock } from '../../src/real/run-lock.js';

/**
 * The Preventer's torture test on the real thing: Debian's guest on the patched QEMU (its TCG
 * intercept: the write buffer, loads answered from it, hand-overs) with its RAM paged by a real
 * pager daemon running the core's Preventer, while scripts/guest/torture.c runs inside the guest.
 * What it checks is checked twice: by the guest program (every byte it stored, loaded and sent
 * through the disk, against shadows) and by the daemon (pages lost or installed twice, the core's
 * invariants).
 */
export interface GuestTortureOptions {
  /** Guest RAM (QEMU's -m) and what the pager keeps resident of it. */
  believedMiB: number;
  residentMiB: number;
  /** The torture program's arguments. */
  seconds: number;
  writers: number;
  writerMiB: number;
  ioMiB: number;
  seed: number;
  disk: 'immediate' | 'hdd-model';
  /** 'drop-merges': the daemon's planted bug (a merge that drops the guest's bytes). */
  sabotage?: 'drop-merges';
  onProgress?: (m: string) => void;
}

export interface GuestTortureResult {
  /** The torture program's reply (undefined if the guest died first), and its summary's numbers. */
  reply: GuestReply | undefined;
  summary: Record<string, number>;
  mismatches: string[];
  /** Why QEMU or the guest ended early, if it did. */
  died: string | undefined;
  /** The daemon's counters at the end (pager and core), and the core's invariant problems. */
  pager: Record<string, number>;
  problems: string[];
  /**
   * When the guest died or stopped answering: what the host still knew then, for the failure's
   * message (the guest console's last lines, the virtio-blk device's counters), since the run's
   * files are removed before the test sees the result.
   */
  postMortem?: string;
}

/** Builds scripts/guest/NAME.c (static) with the host's gcc, cached under the hash of its source. */
export function buildGuestProgram(name: string): string {
  const src = join(PKG_ROOT, 'scripts', 'guest', `${name}.c`);
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const out = join(cacheDir(), `${name}-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(cacheDir(), { recursive: true });
  execFileSync('gcc', ['-O2', '-static', '-pthread', '-o', `${out}.tmp`, src], { stdio: 'pipe' });
  renameSync(`${out}.tmp`, out);
  return out;
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

export interface PatchedGuestOptions {
  /** Guest RAM (QEMU's -m) and what the pager keeps resident of it. */
  believedMiB: number;
  residentMiB: number;
  disk: 'immediate' | 'hdd-model';
  /** The Preventer on (vswapper: the intercept is handed to the daemon) or off (mapper). */
  preventer: boolean;
  sabotage?: 'drop-merges';
  /** Programs of scripts/guest/ put in the guest's /data. */
  programs: string[];
  onProgress?: (m: string) => void;
}

export interface PatchedGuest {
  channel: GuestChannel;
  daemon: DaemonProcess;
  qemu: QemuProcess;
  progress: (m: string) => void;
  /** The guest console's last `lines` lines (its kernel's messages: ttyS0 goes to a file). */
  consoleTail: (lines: number) => string;
}

/**
 * The host side of a paged guest run, as the engine's runs do it (src/pager/run.ts): stale
 * journals undone, a ledger of this run's changes, its work files named in the pager's cache.
 */
export function pagedRunWorkspace(
  prefix: string,
  progress: (m: string) => void,
): { ledger: HostChanges; work: (suffix: string) => string } {
  const dir = pagerCacheDir();
  mkdirSync(dir, { recursive: true });
  for (const st of recoverStaleJournals(dir)) progress(`undid a change left by a killed run: ${st}`);
  const ledger = new HostChanges({ journalDir: dir });
  const name = `${prefix}-${process.pid}-${Date.now()}`;
  const work = (suffix: string): string => {
    const p = join(dir, `${name}.${suffix}`);
    ledger.did({ kind: 'rm', path: p });
    return p;
  };
  return { ledger, work };
}

/**
 * A timeout for a test that takes the host's run lock (diskAndSwap): its own work, `ownMs`, plus the
 * lock's wait (`lockWaitMs()`). Under `npm test` another real-engine test file may hold the lock for
 * many minutes, and takeLock() ends that wait itself, failing with RunLockBusy that names the
 * holder; a test timeout that counted the wait as work would cut it short and report a hang that
 * is not there.
 */
export function timeoutAfterLockMs(ownMs: number): number {
  return ownMs + lockWaitMs();
}

/**
 * Under the run lock: the guest's disk (a copy of the image with `programs` in /data) and a swap
 * file of the guest's size, both work files of the run.
 */
export async function diskAndSwap(
  ledger: HostChanges,
  work: (suffix: string) => string,
  o: { imageDisk: string; programs: readonly { n: string; bin: string }[]; believedMiB: number },
  progress: (m: string) => void,
): Promise<{ disk: string; swap: string }> {
  await takeLock(ledger, cacheDir(), { onProgress: progress });
  const disk = work('disk');
  sh('cp', ['--reflink=auto', '--sparse=always', o.imageDisk, disk]);
  for (const p of o.programs) sh('debugfs', ['-w', '-R', `write ${p.bin} /data/${p.n}`, disk]);
  const swap = work('swap');
  sh('fallocate', ['-l', String(o.believedMiB * MiB), swap]);
  return { disk, swap };
}

/**
 * Debian's guest on the patched QEMU, its RAM paged by a pager daemon (the Mapper on, the
 * Preventer as asked), the guest programs on its disk, `residentMiB` kept once it is up; `body`
 * runs with it. Everything changed on the host is undone before this returns.
 */
export async function withPatchedGuest<T>(
  o: PatchedGuestOptions,
  body: (g: PatchedGuest) => Promise<T>,
): Promise<T> {
  const progress = o.onProgress ?? ((): void => undefined);
  const qemuBinary = await patchedQemu();
  if (!qemuBinary) throw new Error('the patched QEMU is not built (scripts/build-qemu-intercept.sh)');
  const shim = await buildShim();
  const programs = o.programs.map((n) => ({ n, bin: buildGuestProgram(n) }));
  const img = await buildGuestImage(50);
  const { ledger, work } = pagedRunWorkspace('vswapper-torture', progress);
  let daemon: DaemonProcess | undefined;
  let qemu: QemuProcess | undefined;
  let qmp: QmpClient | undefined;
  let out: T;
  let undoFailed: string[] = [];
  try {
    const { disk, swap } = await diskAndSwap(
      ledger,
      work,
      { imageDisk: img.disk, programs, believedMiB: o.believedMiB },
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
      preventer: o.preventer,
      disk: o.disk,
      ...(o.sabotage ? { testSabotage: o.sabotage } : {}),
    });
    const qmpSocket = work('qmp');
    const consoleLog = work('console');
    // The same QEMU command line as the engine's vswapper runs (src/pager/run.ts).
    qemu = launchQemu(ledger, {
      binary: qemuBinary,
      args: [
        ...PATCHED_QEMU_FIRMWARE_ARGS,
        ...qemuBaseArgs('tcg', 32, o.believedMiB),
        ...pagerQemuArgs({ ramMiB: o.believedMiB, vhostSocket, name: 'vswapper-torture', machineType: 'pc' }),
        ...guestArgs(img, qmpSocket, consoleLog),
      ],
      env: shimEnv(process.env, {
        shim,
        shimSocket,
        ...(o.preventer ? { preventerRamBytes: o.believedMiB * MiB } : {}),
      }),
      consoleLog,
    });
    const q = qemu;
    await daemon.next((m) => m.event === 'uffd' && m.pid === q.pid);
    qmp = await QmpClient.connect(qmpSocket, { retryMs: 30_000 });
    await daemon.cmd({ cmd: 'attach' });
    await qmp.execute('cont');
    await withTimeout(q.channel.ready(), 300_000, 'the guest boot');
    progress('guest up');
    await daemon.cmd({ cmd: 'limit', pages: (o.residentMiB * MiB) / 4096 });
    const consoleTail = (lines: number): string => {
      try {
        return readFileSync(consoleLog, 'utf8').split('\n').slice(-lines).join('\n');
      } catch (e) {
        return `(no console: ${(e as Error).message})`;
      }
    };
    out = await body({ channel: q.channel, daemon, qemu: q, progress, consoleTail });
    if (!q.ended)
      await q.channel.run('!umount /mnt/proc /mnt/sys /mnt/dev /mnt; poweroff -f').catch(() => undefined);
  } finally {
    qmp?.close();
    qemu?.kill();
    await daemon?.quit();
    undoFailed = ledger.undoAll();
  }
  if (undoFailed.length > 0) throw new Error(`could not undo: ${undoFailed.join('; ')}`);
  return out;
}

/** One torture run; everything it changed on the host is undone before it returns. */
export function runGuestTorture(o: GuestTortureOptions): Promise<GuestTortureResult> {
  const opts = {
    believedMiB: o.believedMiB,
    residentMiB: o.residentMiB,
    disk: o.disk,
    preventer: true,
    programs: ['torture'],
    ...(o.sabotage ? { sabotage: o.sabotage } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
  return withPatchedGuest(opts, async ({ channel: ch, daemon, qemu: q, progress, consoleTail }) => {
    // Watched as they come (the guest may die before its reply): the frames of the program's buffer,
    // on which the sabotaged daemon then breaks merges, and the mismatches it finds.
    const streamed: string[] = [];
    const startedMs = performance.now();
    let sabotaged: Promise<unknown> = Promise.resolve();
    if (o.sabotage) {
      const ranges: [number, number][] = [];
      const d = daemon;
      q.child.stdout!.on(
        'data',
        lineSplitter((l) => {
          if (l.startsWith('MISMATCH')) streamed.push(l);
          if (!l.startsWith('PFNS ')) return;
          if (l === 'PFNS end') {
            // How long the frames took to come (they cross the emulated serial line) and how
            // far the pager had got: where to look if a run ever stalls before this point.
            const s = ((performance.now() - startedMs) / 1000).toFixed(1);
            sabotaged = d.cmd({ cmd: 'sabotage-merges', ranges }).then(async (a) => {
              const st = (await d.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number> };
              progress(
                `merges broken on the torture program's ${String(a.pages)} pages (${ranges.length} runs of frames, ${s} s after it started; pager then: ${st.pager.interceptHandedDevice} hand-overs before a device access, ${st.pager.preventerRemaps} remaps)`,
              );
            });
            return;
          }
          for (const r of l.slice(5).split(' ')) {
            const [a, b] = r.split('-').map(Number);
            if (a !== undefined && b !== undefined) ranges.push([a, b]);
          }
        }),
      );
    }
    // If the guest hangs, its kernel says where: a task blocked for a minute is reported with its
    // stack on the console (KERN_INFO, so the console's level is raised), read back in postMortem.
    const watch =
      'echo 7 > /proc/sys/kernel/printk; echo 60 > /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null; ';
    const cmd = `${watch}./torture ${o.seconds} ${o.writers} ${o.writerMiB} ${o.ioMiB} torture.io ${o.seed}${o.sabotage ? ' pfns' : ''}`;
    let reply: GuestReply | undefined;
    let died: string | undefined;
    try {
      reply = await withTimeout(ch.run(cmd), (o.seconds * 4 + 300) * 1000, 'the torture program');
    } catch (e) {
      died = (e as Error).message;
    }
    if (died === undefined && q.ended) died = 'QEMU ended during the torture program';
    await sabotaged;
    const lines = reply?.lines ?? [];
    const summary: Record<string, number> = {};
    for (const l of lines.filter((x) => x.startsWith('TORTURE ')))
      for (const kv of l.slice(8).split(' ')) {
        const [k, v] = kv.split('=');
        if (k && v !== undefined) summary[k] = Number(v);
      }
    const alive = daemon.alive;
    const stats = alive
      ? ((await daemon.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number>; device: unknown })
      : undefined;
    const postMortem =
      died === undefined
        ? undefined
        : `virtio-blk device: ${JSON.stringify(stats?.device ?? 'daemon dead')}\nguest console, last lines:\n${consoleTail(80)}`;
    const problems = alive
      ? ((await daemon.cmd({ cmd: 'check' })).problems as string[])
      : ['the daemon died'];
    return {
      reply,
      summary,
      mismatches: reply ? lines.filter((l) => l.startsWith('MISMATCH')) : streamed,
      died,
      pager: stats?.pager ?? {},
      problems,
      ...(postMortem !== undefined ? { postMortem } : {}),
    };
  });
}
