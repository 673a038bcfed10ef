import { readdirSync, readFileSync } from 'node:fs';

/** "key value" lines (/proc/vmstat, memory.stat) as numbers. */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && v !== '' && !Number.isNaN(Number(v))) out[k] = Number(v);
  }
  return out;
}

/** "Key:   N kB" lines (/proc/meminfo, /proc/PID/status) as numbers of kB. */
export function parseKbLines(text: string): Record<string, number> {
  return parseKeyValues(
    text
      .split('\n')
      .map((l) => l.replace(':', '').replace(/ kB$/, ''))
      .join('\n'),
  );
}

export function vmstat(): Record<string, number> {
  return parseKeyValues(readFileSync('/proc/vmstat', 'utf8'));
}

/** I/O counters of a block device (/sys/block/X/stat): operations and 512-byte sectors. */
export interface BlockStat {
  readOps: number;
  readSectors: number;
  writeOps: number;
  writeSectors: number;
}

export function parseBlockStat(text: string): BlockStat {
  const f = text.trim().split(/\s+/).map(Number);
  return { readOps: f[0] ?? 0, readSectors: f[2] ?? 0, writeOps: f[4] ?? 0, writeSectors: f[6] ?? 0 };
}

export function blockStat(dev: string): BlockStat {
  return parseBlockStat(readFileSync(`/sys/block/${dev.replace('/dev/', '')}/stat`, 'utf8'));
}

/** A thread's name and major faults from the text of /proc/PID/task/TID/stat (majflt is field 12). */
export function parseThreadStat(stat: string): { comm: string; majflt: number; minflt: number } {
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): field N is fields[N - 3].
  return { comm, minflt: Number(fields[7]), majflt: Number(fields[9]) };
}

/** vCPU threads: "CPU 0/TCG", "CPU 1/KVM" (QEMU names them with -name ...,debug-threads=on). */
export function isVcpuThread(comm: string): boolean {
  return /^CPU \d+\/(TCG|KVM|HVF|WHPX)$/.test(comm);
}

/**
 * Major faults of QEMU split by thread: vCPU threads (the guest running: the paper's Fig. 9c) vs all
 * others (main loop, I/O workers: the host serving the guest, Fig. 9b). Per-thread counters of
 * threads that exited meanwhile are kept in `exited` by the caller through `seen`.
 */
export function faultsByThread(
  pid: number,
  seen: Map<number, { vcpu: boolean; majflt: number }>,
): { vcpu: number; other: number; threads: Record<string, number> } {
  let names: string[] = [];
  try {
    names = readdirSync(`/proc/${pid}/task`);
  } catch {
    // QEMU is gone: what we saw last is all there is
  }
  const threads: Record<string, number> = {};
  for (const tid of names) {
    try {
      const s = parseThreadStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      seen.set(Number(tid), { vcpu: isVcpuThread(s.comm), majflt: s.majflt });
      threads[s.comm] = (threads[s.comm] ?? 0) + s.majflt;
    } catch {
      // the thread exited between readdir and read: its last value stays in `seen`
    }
  }
  let vcpu = 0;
  let other = 0;
  for (const t of seen.values()) {
    if (t.vcpu) vcpu += t.majflt;
    else other += t.majflt;
  }
  return { vcpu, other, threads };
}

/** /proc/PID/smaps: resident bytes of the guest RAM mapping, of the TCG code buffer, and in total. */
export function qemuMemory(
  pid: number,
  guestRamBytes: number,
  tbBytes: number,
): { totalRss: number; guestRss: number; tbRss: number } {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  let totalRss = 0;
  let guestRss = 0;
  let tbRss = 0;
  let size = 0;
  let perms = '';
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
    if (head) {
      size = parseInt(head[2]!, 16) - parseInt(head[1]!, 16);
      perms = head[3]!;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const b = Number(rss[1]) * 1024;
    totalRss += b;
    if (size >= guestRamBytes && size <= guestRamBytes + 64 * 1048576) guestRss += b;
    else if (tbBytes > 0 && perms.includes('x') && size >= tbBytes - 1048576 && size <= tbBytes + 2 * 1048576)
      tbRss += b;
  }
  return { totalRss, guestRss, tbRss };
}

/** Resident memory of a process by kind (/proc/PID/status), bytes. */
export function processMemory(pid: number): { rss: number; anon: number; file: number; shmem: number } {
  const st = parseKbLines(readFileSync(`/proc/${pid}/status`, 'utf8'));
  const kb = (k: string): number => (st[k] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), shmem: kb('RssShmem') };
}
