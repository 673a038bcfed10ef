import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Throttle } from '../real/hdd.js';
import { type HostChanges, sh } from '../real/host-changes.js';
import { parseKeyValues } from '../real/proc.js';

/** The qemu engine's host setup: cgroups, swap on loop devices, throttles (the pager needs none). */

const CG_ROOT = '/sys/fs/cgroup';

/** The memory controller this host offers: cgroup v1 at /sys/fs/cgroup/memory, or cgroup v2. */
export function memoryCgroupVersion(): 'v1' | 'v2' | undefined {
  if (existsSync(join(CG_ROOT, 'memory', 'memory.limit_in_bytes'))) return 'v1';
  try {
    if (readFileSync(join(CG_ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory'))
      return 'v2';
  } catch {
    // no cgroup2 at the root
  }
  return undefined;
}

/** The cgroups one QEMU runs in: memory (the paper's "container groups") and blkio (HDD-like mode). */
export interface RunCgroups {
  version: 'v1' | 'v2';
  /** Folders whose cgroup.procs QEMU must join. */
  procsFiles: string[];
  memoryDir: string;
  blkioDir: string | undefined;
}

/** Creates the run's cgroups (unlimited for now: the limit is set once QEMU's overhead is known). */
export function makeCgroups(ledger: HostChanges, name: string, withBlkio: boolean): RunCgroups {
  const version = memoryCgroupVersion();
  if (!version) throw new Error('no memory cgroup controller (v1 or v2) on this host');
  if (version === 'v1') {
    const memoryDir = join(CG_ROOT, 'memory', name);
    ledger.doing({ kind: 'rmdir-cgroup', path: memoryDir }, () => mkdirSync(memoryDir));
    let blkioDir: string | undefined;
    if (withBlkio) {
      if (!existsSync(join(CG_ROOT, 'blkio', 'blkio.throttle.read_iops_device')))
        throw new Error('HDD-like mode needs the cgroup v1 blkio controller with throttling');
      blkioDir = join(CG_ROOT, 'blkio', name);
      const dir = blkioDir;
      ledger.doing({ kind: 'rmdir-cgroup', path: dir }, () => mkdirSync(dir));
    }
    const procsFiles = [memoryDir, ...(blkioDir ? [blkioDir] : [])].map((d) => join(d, 'cgroup.procs'));
    return { version, procsFiles, memoryDir, blkioDir };
  }
  const dir = join(CG_ROOT, name);
  ledger.doing({ kind: 'rmdir-cgroup', path: dir }, () => mkdirSync(dir));
  return {
    version,
    procsFiles: [join(dir, 'cgroup.procs')],
    memoryDir: dir,
    blkioDir: withBlkio ? dir : undefined,
  };
}

/** Caps the cgroup's memory; swap stays unlimited (v1 memsw and v2 swap.max are left as found). */
export function setMemoryLimit(cg: RunCgroups, bytes: number): void {
  if (cg.version === 'v1') writeFileSync(join(cg.memoryDir, 'memory.limit_in_bytes'), String(bytes));
  else writeFileSync(join(cg.memoryDir, 'memory.max'), String(bytes));
}

/** v1 only: the cgroup's own swappiness (v2 has none; the host's vm.swappiness applies). */
export function setSwappiness(cg: RunCgroups, value: number): void {
  if (cg.version === 'v1') writeFileSync(join(cg.memoryDir, 'memory.swappiness'), String(value));
}

export function memoryUsage(cg: RunCgroups): number {
  const f = cg.version === 'v1' ? 'memory.usage_in_bytes' : 'memory.current';
  return Number(readFileSync(join(cg.memoryDir, f), 'utf8').trim());
}

/** The most the cgroup has held (0 when the kernel does not say). */
export function maxUsage(cg: RunCgroups): number {
  const f = cg.version === 'v1' ? 'memory.max_usage_in_bytes' : 'memory.peak';
  try {
    return Number(readFileSync(join(cg.memoryDir, f), 'utf8').trim());
  } catch {
    return 0;
  }
}

/** memory.stat as numbers, plus the OOM-kill count (v1 memory.oom_control / v2 memory.events). */
export function cgroupStat(cg: RunCgroups): Record<string, number> {
  const out = parseKeyValues(readFileSync(join(cg.memoryDir, 'memory.stat'), 'utf8'));
  try {
    const f = cg.version === 'v1' ? 'memory.oom_control' : 'memory.events';
    const ev = parseKeyValues(readFileSync(join(cg.memoryDir, f), 'utf8'));
    out.oom_kill_events = ev.oom_kill ?? 0;
  } catch {
    // older kernels
  }
  return out;
}

/** Throttles a block device for the run's blkio cgroup (undone with the cgroup itself). */
export function throttleDevice(cg: RunCgroups, dev: string, t: Throttle): void {
  if (!cg.blkioDir) throw new Error('no blkio cgroup for this run');
  const majmin = readFileSync(`/sys/block/${dev.replace('/dev/', '')}/dev`, 'utf8').trim();
  if (cg.version === 'v1') {
    const w = (f: string, v: number): void =>
      writeFileSync(join(cg.blkioDir!, `blkio.throttle.${f}_device`), `${majmin} ${v}`);
    w('read_iops', t.readIops);
    w('write_iops', t.writeIops);
    w('read_bps', t.readBps);
    w('write_bps', t.writeBps);
  } else {
    writeFileSync(
      join(cg.blkioDir, 'io.max'),
      `${majmin} rbps=${t.readBps} wbps=${t.writeBps} riops=${t.readIops} wiops=${t.writeIops}`,
    );
  }
}

/**
 * Attaches `file` to a loop device with direct I/O (the loop device's traffic bypasses the host's
 * page cache, as the paper's cache=none image and a swap partition do) so that its I/O can be counted
 * (and throttled) on its own. Returns /dev/loopN.
 */
export function loopDevice(ledger: HostChanges, file: string, opts: { readOnly?: boolean } = {}): string {
  const args = ['-f', '--show', '--direct-io=on', ...(opts.readOnly ? ['-r'] : []), file];
  const dev = sh('losetup', args).trim();
  ledger.did({ kind: 'losetup-detach', dev, file });
  return dev;
}

/** A swap area of `bytes` on a loop device over a file in `dir`, enabled first in priority. */
export function makeSwap(ledger: HostChanges, dir: string, bytes: number): { file: string; dev: string } {
  const file = join(dir, `swap-${process.pid}-${Date.now()}`);
  ledger.doing({ kind: 'rm', path: file }, () => writeFileSync(file, '', { mode: 0o600 }));
  sh('fallocate', ['-l', String(Math.ceil(bytes / 1048576) * 1048576), file]);
  const dev = loopDevice(ledger, file);
  sh('mkswap', ['-q', dev]);
  ledger.doing({ kind: 'swapoff', path: dev }, () => sh('swapon', ['-p', '32767', dev]));
  return { file, dev };
}

/**
 * A swap file of `bytes` in `dir`, enabled first in priority. The kernel maps its extents and writes
 * to the disk directly (no loop device, no page cache); its traffic is /proc/vmstat's pswpin/pswpout.
 */
export function makeSwapFile(ledger: HostChanges, dir: string, bytes: number): string {
  const file = join(dir, `swap-${process.pid}-${Date.now()}`);
  ledger.doing({ kind: 'rm', path: file }, () => writeFileSync(file, '', { mode: 0o600 }));
  sh('fallocate', ['-l', String(Math.ceil(bytes / 1048576) * 1048576), file]);
  sh('mkswap', ['-q', file]);
  ledger.doing({ kind: 'swapoff', path: file }, () => sh('swapon', ['-p', '32767', file]));
  return file;
}
