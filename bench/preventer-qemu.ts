/**
 * QEMU's side of the False Reads Preventer, measured on the patched QEMU with the real guest and
 * the real pager daemon (root, scripts/build-qemu-intercept.sh built, gcc: skipped with the reason
 * otherwise). scripts/guest/store-cost.c writes pages whole with stores of 1 to 16 bytes, pages the
 * pager has evicted ("absent") and pages just written ("resident"), timed by the guest's clock.
 * Timed by the CPU time of QEMU's vCPU thread during each pass (the guest's clock is the host's
 * wall clock, which other jobs on a shared host stretch); per page, CPU = F + (4096 / width) * c:
 * a least-squares fit over the widths gives
 *  - c on absent pages with the Preventer: TCG's slow path for an intercepted store (the TLB entry
 *    filled as I/O: io_writex, the combine into the write buffer, with its spinlock);
 *  - F on absent pages with the Preventer: everything paid once per page (the TLB fill as I/O, the
 *    hand-over of the page written whole: FLUSH request, eventfds, the daemon's remap, the reply;
 *    and the eviction the pager does meanwhile to stay at its limit);
 *  - the same with the Preventer off (mapper): F is the userfaultfd fault, the swap read (this
 *    machine's disk, immediate) and the install;
 *  - c on absent pages with the Preventer off: TCG's fast path for a store to RAM (the fault
 *    happens once, at the first store; the other stores of the page go to RAM).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { preventerProblem } from '../src/pager/run.js';
import { lineSplitter } from '../src/real/channel.js';
import { withPatchedGuest } from '../test/support/guest-torture.js';

interface Pass {
  kind: 'absent' | 'resident';
  width: number;
  /** By the guest's clock (the host's wall clock: stretched when the host is loaded). */
  nsPerPage: number;
  /** CPU time of QEMU's vCPU thread, and of the pager daemon, during the pass, per page. */
  vcpuNsPerPage: number;
  daemonNsPerPage: number;
}

/** CPU time (ns) a thread has run, from /proc/PID/task/TID/schedstat. */
function cpuNs(pid: number, tid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}

function threads(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number);
}

/** QEMU's vCPU thread (named by -name ...,debug-threads=on). */
function vcpuThread(pid: number): number {
  for (const t of threads(pid))
    if (readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === 'CPU 0/TCG') return t;
  throw new Error("QEMU's vCPU thread (CPU 0/TCG) not found");
}

/** Least squares of y = F + x * c. */
function fit(pts: { x: number; y: number }[]): { f: number; c: number } {
  const n = pts.length;
  const mx = pts.reduce((a, p) => a + p.x, 0) / n;
  const my = pts.reduce((a, p) => a + p.y, 0) / n;
  const sxy = pts.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const sxx = pts.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  const c = sxy / sxx;
  return { f: my - c * mx, c };
}

function why(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (userfaultfd for QEMU, the run lock)';
  for (const t of ['gcc', 'debugfs'])
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    } catch {
      return `no ${t} (to build the guest program / put it on the guest disk)`;
    }
  return undefined;
}

async function measure(preventer: boolean): Promise<{ passes: Pass[]; pager: Record<string, number> }> {
  return withPatchedGuest(
    {
      believedMiB: 128,
      residentMiB: 16,
      disk: 'immediate',
      preventer,
      programs: ['store-cost'],
    },
    async ({ channel, daemon, qemu }) => {
      const vcpu = vcpuThread(qemu.pid);
      const dpid = daemon.child.pid!;
      const daemonNs = (): number => threads(dpid).reduce((a, t) => a + cpuNs(dpid, t), 0);
      const marks = new Map<string, { vcpu: number; daemon: number }>();
      qemu.child.stdout!.on(
        'data',
        lineSplitter((l) => {
          if (/^(BEGIN|END) \d+$/.test(l)) marks.set(l, { vcpu: cpuNs(qemu.pid, vcpu), daemon: daemonNs() });
        }),
      );
      const before = (await daemon.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number> };
      const r = await channel.run('./store-cost 64 2048');
      const after = (await daemon.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number> };
      if (r.rc !== 0) throw new Error(`store-cost failed: ${r.lines.slice(-3).join(' | ')}`);
      const passes: Pass[] = [];
      for (const l of r.lines) {
        const m = /^PASS kind=(\w+) width=(\d+) pages=(\d+) ns_per_page=(\d+)/.exec(l);
        if (!m) continue;
        const n = passes.length;
        const a = marks.get(`BEGIN ${n}`);
        const b = marks.get(`END ${n}`);
        if (!a || !b) throw new Error(`pass ${n}: its BEGIN/END lines were not seen`);
        const pages = Number(m[3]);
        passes.push({
          kind: m[1] as Pass['kind'],
          width: Number(m[2]),
          nsPerPage: Number(m[4]),
          vcpuNsPerPage: (b.vcpu - a.vcpu) / pages,
          daemonNsPerPage: (b.daemon - a.daemon) / pages,
        });
      }
      const pager: Record<string, number> = {};
      for (const k of Object.keys(after.pager)) pager[k] = after.pager[k]! - (before.pager[k] ?? 0);
      return { passes, pager };
    },
  );
}

function report(label: string, passes: Pass[], kind: Pass['kind']): { f: number; c: number } {
  const mine = passes.filter((p) => p.kind === kind);
  const r = fit(mine.map((p) => ({ x: PAGE / p.width, y: p.vcpuNsPerPage })));
  const d = mine.reduce((a, p) => a + p.daemonNsPerPage, 0) / mine.length;
  const by = mine
    .map((p) => `${p.width}B ${(p.vcpuNsPerPage / 1000).toFixed(1)}/${(p.nsPerPage / 1000).toFixed(1)}`)
    .join(', ');
  console.log(
    `  ${label.padEnd(44)} QEMU per store ${r.c.toFixed(1).padStart(6)} ns, per page ${(r.f / 1000).toFixed(1).padStart(6)} µs; daemon per page ${(d / 1000).toFixed(1).padStart(6)} µs`,
  );
  console.log(`    per page by store width, µs of vCPU thread CPU / of guest clock: ${by}`);
  return r;
}

const PAGE = 4096;

export async function preventerQemuBench(): Promise<void> {
  console.log(
    "preventer, QEMU's side (patched QEMU, TCG, the real guest and pager; CPU time of QEMU's vCPU thread and of the daemon):",
  );
  const skip = why() ?? (await preventerProblem());
  if (skip) {
    console.log(`  skipped: ${skip}`);
    return;
  }
  const v = await measure(true);
  const m = await measure(false);
  // Per store: the intercepted slow path (Preventer on) against TCG's RAM store (Preventer off:
  // after the fault the page is RAM). Per page: what is paid once for an absent page either way.
  report('absent pages, Preventer on (intercepted)', v.passes, 'absent');
  report('absent pages, Preventer off (uffd fault)', m.passes, 'absent');
  // The same window again at once. Not all RAM: access sampling arms (punches) some pages, which
  // with the Preventer are intercepted like any absent page.
  report('written again at once, Preventer on', v.passes, 'resident');
  report('written again at once, Preventer off', m.passes, 'resident');
  const p = v.pager;
  console.log(
    `  Preventer run: ${p.preventerRemaps ?? 0} remaps, ${p.preventerFallbacks ?? 0} merges, ${p.interceptCombinedStores ?? 0} stores combined, ${p.interceptTlbFills ?? 0} TLB entries filled as I/O, ${p.interceptFlushes ?? 0} hand-overs; mapper run: ${m.pager.uffdFaultsGuest ?? 0} guest faults, ${m.pager.swapReadPages ?? 0} pages read from swap`,
  );
}

// Alone: node dist/bench/preventer-qemu.js (a real run: about 2-4 minutes, holds the run lock).
if (process.argv[1] === fileURLToPath(import.meta.url)) await preventerQemuBench();
