import type { Metrics } from '../engine/results.js';
import type { GuestChannel, GuestReply } from './channel.js';
import { parseKbLines, parseKeyValues } from './proc.js';

/** What the guest runs in both real engines: Fig. 9's reads, Fig. 10's allocation, and around them. */

/** Sysbench's sequential read of its one file, once, as the paper (16 KiB requests, page cache). */
export function sysbenchCommand(fileMiB: number): string {
  const events = (fileMiB * 1048576) / 16384;
  return (
    `sysbench fileio --file-num=1 --file-total-size=${fileMiB}M --file-test-mode=seqrd ` +
    `--file-block-size=16384 --time=0 --events=${events} run`
  );
}

/** Sysbench's own "total time" from its report, if present. */
export function sysbenchTotalTime(lines: string[]): number | undefined {
  for (const l of lines) {
    const m = /total time:\s+([\d.]+)s/.exec(l);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * Fig. 10: a new process allocates a buffer and touches it sequentially (dd fills it from /dev/zero),
 * then exits.
 */
export function allocationCommand(mib: number): string {
  return `dd if=/dev/zero of=/dev/null bs=${mib}M count=1`;
}

/**
 * The warm-up: a process touches `mib` of the guest's free memory once, with non-zero content, as a
 * guest that ran something leaves behind: since Linux 6.12 the host records a swapped-out page that
 * is all zeros in a bitmap (`zeromap`) and neither writes nor reads it, which the paper's 3.7 host
 * did not; zero-filled free memory would make every later stale or false read of it free.
 * `fullblock` because /dev/urandom returns short reads.
 */
export function warmupCommand(mib: number): string {
  return `dd if=/dev/urandom of=/dev/null bs=${mib}M count=1 iflag=fullblock`;
}

/** Unmounts the guest's disk and powers it off at once. */
export const POWEROFF = '!umount /mnt/proc /mnt/sys /mnt/dev /mnt; poweroff -f';

export async function guestVmstat(ch: GuestChannel): Promise<Record<string, number>> {
  return parseKeyValues((await ch.run('cat /proc/vmstat')).lines.join('\n'));
}

/** The guest's /proc/meminfo in kB. */
export async function guestMeminfo(ch: GuestChannel): Promise<Record<string, number>> {
  return parseKbLines((await ch.run('cat /proc/meminfo')).lines.join('\n'));
}

/** The md5 of the Sysbench file as the guest reads it now. */
export async function guestFileMd5(ch: GuestChannel): Promise<string> {
  const sum = await ch.run('md5sum test_file.0');
  return sum.lines.join(' ').split(/\s+/)[0] ?? '';
}

/** Why a measured command failed, for its record's notes. */
export function failureNote(reply: GuestReply, guestOomKills: number | undefined): string {
  return (guestOomKills ?? 0) > 0
    ? `killed by the guest's OOM killer (exit ${reply.rc})`
    : `exit status ${reply.rc}: ${reply.lines.slice(-3).join(' | ')}`;
}

/** One measured command: the engine's samples around it, the guest's reply, its /proc/vmstat before and after. */
export interface Measured<S> {
  a: S;
  b: S;
  reply: GuestReply;
  guestBefore: Record<string, number>;
  guestAfter: Record<string, number>;
  /** Host wall time of the command, ms. */
  wallMs: number;
}

/** What the guest tells of a command: its runtime by the guest's clock, major faults, OOM kills, page cache. */
export function guestMetrics(m: Pick<Measured<unknown>, 'reply' | 'guestBefore' | 'guestAfter'>): Metrics {
  const g = (k: string): number => (m.guestAfter[k] ?? 0) - (m.guestBefore[k] ?? 0);
  const out: Metrics = {
    runtimeS: m.reply.endS - m.reply.beginS,
    guestMajorFaults: g('pgmajfault'),
    guestOomKills: g('oom_kill'),
  };
  if (m.guestAfter.nr_file_pages !== undefined) out.guestPageCachePages = m.guestAfter.nr_file_pages;
  return out;
}
