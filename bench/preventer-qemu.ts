/**
 * QEMU's side of the False Reads Preventer, measured on the patched QEMU with the real guest and
 * the real pager daemon (root, scripts/build-qemu-intercept.sh built, gcc: skipped with the reason
 * otherwise). scripts/guest/store-cost.c writes pages whole with stores of 1 to 16 bytes, pages the
 * pager has evicted ("absent") and pages just written ("resident"), timed by the guest's clock.
 * Per page, time = F + (4096 / width) * c: a least-squares fit over the widths gives
 *  - c on absent pages with the Preventer: TCG's slow path for an intercepted store (the TLB entry
 *    filled as I/O: io_writex, the combine into the write buffer, with its spinlock);
 *  - F on absent pages with the Preventer: everything paid once per page (the TLB fill as I/O, the
 *    hand-over of the page written whole: FLUSH request, eventfds, the daemon's remap, the reply;
 *    and the eviction the pager does meanwhile to stay at its limit);
 *  - the same with the Preventer off (mapper): F is the userfaultfd fault, the swap read (this
 *    machine's disk, immediate) and the install;
 *  - c on resident pages: TCG's fast path for a store to RAM.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { preventerProblem } from '../src/pager/run.js';
import { withPatchedGuest } from '../test/support/guest-torture.js';

interface Pass {
  kind: 'absent' | 'resident';
  width: number;
  nsPerPage: number;
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
    async ({ channel, daemon }) => {
      const before = (await daemon.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number> };
      const r = await channel.run('./store-cost 64 2048');
      const after = (await daemon.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number> };
      if (r.rc !== 0) throw new Error(`store-cost failed: ${r.lines.slice(-3).join(' | ')}`);
      const passes: Pass[] = [];
      for (const l of r.lines) {
        const m = /^PASS kind=(\w+) width=(\d+) pages=\d+ ns_per_page=(\d+)/.exec(l);
        if (m) passes.push({ kind: m[1] as Pass['kind'], width: Number(m[2]), nsPerPage: Number(m[3]) });
      }
      const pager: Record<string, number> = {};
      for (const k of Object.keys(after.pager)) pager[k] = after.pager[k]! - (before.pager[k] ?? 0);
      return { passes, pager };
    },
  );
}

function report(label: string, passes: Pass[], kind: Pass['kind']): { f: number; c: number } {
  const pts = passes.filter((p) => p.kind === kind).map((p) => ({ x: PAGE / p.width, y: p.nsPerPage }));
  const r = fit(pts);
  const by = passes
    .filter((p) => p.kind === kind)
    .map((p) => `${p.width}B ${(p.nsPerPage / 1000).toFixed(1)}`)
    .join(', ');
  console.log(
    `  ${label.padEnd(44)} per store ${r.c.toFixed(1).padStart(6)} ns, per page ${(r.f / 1000).toFixed(1).padStart(6)} µs  (µs per page by width: ${by})`,
  );
  return r;
}

const PAGE = 4096;

export async function preventerQemuBench(): Promise<void> {
  console.log("preventer, QEMU's side (patched QEMU, TCG, the real guest and pager; guest clock):");
  const skip = why() ?? (await preventerProblem());
  if (skip) {
    console.log(`  skipped: ${skip}`);
    return;
  }
  const v = await measure(true);
  const m = await measure(false);
  report('resident pages (TCG fast path)', v.passes, 'resident');
  report('absent pages, Preventer on (intercepted)', v.passes, 'absent');
  report('absent pages, Preventer off (uffd fault)', m.passes, 'absent');
  const p = v.pager;
  console.log(
    `  Preventer run: ${p.preventerRemaps ?? 0} remaps, ${p.preventerFallbacks ?? 0} merges, ${p.interceptCombinedStores ?? 0} stores combined, ${p.interceptTlbFills ?? 0} TLB entries filled as I/O, ${p.interceptFlushes ?? 0} hand-overs; mapper run: ${m.pager.uffdFaultsGuest ?? 0} guest faults, ${m.pager.swapReadPages ?? 0} pages read from swap`,
  );
}

// Alone: node dist/bench/preventer-qemu.js (a real run: about 2-4 minutes, holds the run lock).
if (process.argv[1] === fileURLToPath(import.meta.url)) await preventerQemuBench();
