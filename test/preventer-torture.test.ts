/**
 * The False Reads Preventer's torture test on the real patched QEMU (root, QEMU's TCG intercept
 * built by scripts/build-qemu-intercept.sh, gcc for the guest program; skipped with the reason
 * otherwise). Debian's guest runs scripts/guest/torture.c on the patched QEMU while our pager,
 * with the Preventer on, keeps a small part of its RAM resident: writers of every size and
 * alignment race evictions, the virtio-blk device (the pager's back end) reads and writes pages
 * just written in part, pages written in part are read back. The guest program checks every byte
 * against its shadows and the daemon checks its pages and the core's invariants. A daemon with a
 * planted bug (a merge that drops the guest's bytes) must be caught.
 *
 * Why the real guest and not the paged process of pager-torture: the write buffer, the loads it
 * answers, its hand-overs and the TLB handling are QEMU's code (patches/qemu-7.2-intercept.patch);
 * only a guest running on that QEMU exercises them. The paged process plays QEMU itself, so it
 * would test a model of the patch (test/pager-emulation.test.ts does that, with planted bugs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCommand } from '../src/real/accel.js';
import { pagerEngine } from '../src/pager/index.js';
import { preventerProblem } from '../src/pager/run.js';
import { type GuestTortureResult, runGuestTorture, timeoutAfterLockMs } from './support/guest-torture.js';

const pa = (await pagerEngine.availability()).engine;
const skipReason: string | false = !pa.ok
  ? `qemu-pager engine unavailable here: ${pa.reason}`
  : ((await preventerProblem()) ??
    (!(await hasCommand('gcc'))
      ? 'no gcc to build the guest torture program (scripts/guest/torture.c)'
      : !(await hasCommand('debugfs'))
        ? 'no debugfs (e2fsprogs) to put the torture program on the guest disk'
        : false));

const SECONDS = Number(process.env.VSWAPPER_TORTURE_SECONDS ?? 60);
const base = {
  believedMiB: 128,
  residentMiB: 24,
  seconds: SECONDS,
  writers: 2,
  writerMiB: 24,
  ioMiB: 4,
};

function show(r: GuestTortureResult): string {
  const p = new Proxy(r.pager, { get: (t, k: string) => t[k] ?? 0 });
  const keys = [
    'preventerEmulatedPages',
    'preventerRemaps',
    'preventerFallbacks',
    'interceptTlbFills',
    'interceptCombinedStores',
    'interceptLoadsFromBuffer',
    'interceptHandedFull',
    'interceptHandedOther',
    'interceptHandedLoad',
    'interceptHandedDevice',
    'interceptFlushes',
    'interceptBuffersTaken',
    'interceptWrites',
    'interceptReads',
    'uffdFaultsGuest',
    'uffdFaultsHost',
    'swapWritePages',
    'swapReadPages',
    'lostPages',
    'copyExists',
    'sabotagedMerges',
  ];
  return JSON.stringify({ guest: r.summary, ...Object.fromEntries(keys.map((k) => [k, p[k]])) });
}

for (const disk of ['immediate', 'hdd-model'] as const) {
  test(
    `preventer torture on the patched QEMU (${disk} disk): every byte the guest stored, loaded and moved through the disk is right`,
    { skip: skipReason, timeout: timeoutAfterLockMs((SECONDS * 4 + 900) * 1000) },
    async (t) => {
      // The HDD model makes every swap read take milliseconds: the same squeeze would leave the
      // guest a few hundred operations, so it keeps more (still far less than the program uses).
      const hdd = disk === 'hdd-model';
      const r = await runGuestTorture({
        ...base,
        ...(hdd ? { residentMiB: 40 } : {}),
        disk,
        seed: disk === 'immediate' ? 1 : 2,
        onProgress: (m) => t.diagnostic(m),
      });
      t.diagnostic(show(r));
      if (r.postMortem) t.diagnostic(r.postMortem);
      assert.equal(r.died, undefined, `the guest ran to the end: ${r.died}\n${r.postMortem}`);
      assert.deepEqual(r.mismatches, [], 'the guest program found no byte wrong');
      assert.equal(r.reply?.rc, 0, `torture exit status: ${r.reply?.lines.slice(-3).join(' | ')}`);
      assert.equal(r.summary.bad_bytes, 0);
      assert.deepEqual(r.problems, [], "the core's invariants hold");
      const n = (k: string): number => r.pager[k] ?? 0;
      assert.equal(n('lostPages'), 0, 'no page lost');
      assert.equal(n('copyExists'), 0, 'no page installed twice');
      // The run did what it is meant to: the guest's stores went to QEMU's write buffer, pages were
      // remapped whole and merged, loads were answered from the buffer or handed over for bytes it
      // lacked, the buffer was handed over before device accesses, and the device moved pages.
      assert.ok(r.summary.stores! > (hdd ? 10_000 : 100_000), `stores ${r.summary.stores}`);
      const io = hdd ? 30 : 100;
      assert.ok(r.summary.io_reads! > io && r.summary.io_writes! > io, 'the device read and wrote');
      assert.ok(
        r.summary.partial_reads! > (hdd ? 20 : 200),
        `partly written pages read ${r.summary.partial_reads}`,
      );
      assert.ok(n('interceptCombinedStores') > 10_000, `stores combined ${n('interceptCombinedStores')}`);
      assert.ok(n('preventerRemaps') > 100, `remaps ${n('preventerRemaps')}`);
      assert.ok(n('preventerFallbacks') > (hdd ? 20 : 100), `merges ${n('preventerFallbacks')}`);
      assert.ok(n('interceptHandedLoad') > 0, `loads lacking bytes ${n('interceptHandedLoad')}`);
      assert.ok(n('interceptLoadsFromBuffer') > 0, `loads from the buffer ${n('interceptLoadsFromBuffer')}`);
      assert.ok(
        n('interceptHandedDevice') > 0,
        `hand-overs before a device access ${n('interceptHandedDevice')}`,
      );
      assert.ok(
        n('interceptBuffersTaken') > n('interceptFlushes'),
        'the pager took the buffer over on its own',
      );
    },
  );
}

test(
  'preventer torture: a pager whose merge drops the bytes the guest wrote is caught',
  { skip: skipReason, timeout: timeoutAfterLockMs((SECONDS * 4 + 900) * 1000) },
  async (t) => {
    const r = await runGuestTorture({
      ...base,
      seconds: Math.min(SECONDS, 40),
      disk: 'immediate',
      seed: 3,
      sabotage: 'drop-merges',
      onProgress: (m) => t.diagnostic(m),
    });
    t.diagnostic(show(r));
    t.diagnostic(`mismatches: ${r.mismatches.slice(0, 3).join(' | ')}; died: ${r.died}`);
    if (r.postMortem) t.diagnostic(r.postMortem);
    // The bug did happen (merges on the program's pages dropped its bytes), and the program's own
    // checks saw it: the guest kernel's pages are spared, so the guest runs to the end.
    assert.ok(
      (r.pager.sabotagedMerges ?? 0) > 0,
      `the planted bug dropped merges${r.died ? ` (the guest stopped before: ${r.died})\n${r.postMortem}` : ''}`,
    );
    assert.ok(r.mismatches.length > 0, `the broken merge went unnoticed: ${show(r)}`);
    if (r.reply) {
      assert.equal(r.reply.rc, 3, 'the torture program failed');
      assert.ok(r.summary.bad_bytes! > 0);
    }
  },
);
