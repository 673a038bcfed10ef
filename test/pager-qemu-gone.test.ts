/**
 * The daemon at power-off: QEMU's address space goes while the daemon still pages it (root needed:
 * userfaultfd for another process). The order is planted: a process playing QEMU faults in more
 * pages than the resident limit (so reclaim's inactive lists are long and the sampler has pages
 * to arm for a while), then exits. The daemon hears it from QEMU's pidfd, or, when a sampler tick
 * comes first, from the write-protect ioctl on the gone address space (ESRCH); before the pidfd
 * it heard it only that way, and only if a tick still had a page to arm. Either way it must stop
 * paging quietly: stay up, say so once on its channel
 * (`qemu-gone`), refuse a new limit with the reason, answer stats, and quit cleanly (exit 0, no
 * stack on stderr). Before the fix it died with `SysError: UFFDIO_WRITEPROTECT(protect) ...: ESRCH`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DaemonProcess } from '../src/pager/daemon-client.js';
import { PAGED_PROCESS_SKIP as skip } from './support/paged-process.js';

const RAM_PAGES = 8192;

test(
  'daemon: QEMU gone, then a sampler tick: the pager stops quietly, the daemon quits cleanly',
  { skip, timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vsw-gone-'));
    for (const f of ['img', 'swap']) {
      writeFileSync(join(dir, f), '');
      truncateSync(join(dir, f), RAM_PAGES * 4096);
    }
    const d = new DaemonProcess({
      vhostSocket: join(dir, 'v.sock'),
      shimSocket: join(dir, 's.sock'),
      image: join(dir, 'img'),
      swap: join(dir, 'swap'),
      mode: 'pager',
      ramBytes: RAM_PAGES * 4096,
      mapper: true,
      disk: 'immediate',
    });
    await d.next((m) => m.event === 'listening');
    // Started only now: it connects to the daemon's shim socket at once.
    const qemu = spawn(
      process.execPath,
      [
        join(import.meta.dirname, 'support', 'exiting-qemu.js'),
        join(dir, 's.sock'),
        String(RAM_PAGES),
        '6000',
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    const said = (w: string): Promise<void> =>
      new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`the fake QEMU never said ${w}: ${out}`)), 60_000);
        const check = (): void => {
          if (out.includes(`${w}\n`)) {
            clearTimeout(t);
            res();
          } else qemu.stdout.once('data', (b: Buffer) => ((out += b.toString()), check()));
        };
        check();
      });
    const exited = new Promise<number | null>((r) => qemu.once('exit', (c) => r(c)));
    try {
      await said('handed');
      await d.next((m) => m.event === 'uffd');
      await d.cmd({ cmd: 'attach', residentLimitPages: 4096 });
      qemu.stdin.write('touch\n');
      await said('touched');
      assert.equal(await exited, 0);
      const gone = await d.next((m) => m.event === 'qemu-gone', 30_000);
      // Heard from QEMU's pidfd, or (when a sampler tick wins the race) from the ioctl's ESRCH.
      assert.match(
        String(gone.call),
        /^(pidfd: QEMU \(pid \d+\) exited|UFFDIO_(WRITEPROTECT|COPY|REGISTER)\b.*)$/,
        'told how QEMU was found gone',
      );
      assert.ok(d.alive, 'the daemon is still up');
      const st = (await d.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number> };
      assert.ok(
        st.pager.uffdFaultsHost! + st.pager.uffdFaultsGuest! >= 6000,
        JSON.stringify(st.pager).slice(0, 300),
      );
      assert.ok(st.pager.sampledArmed! > 0);
      await assert.rejects(d.cmd({ cmd: 'limit', pages: 2048 }), /QEMU has exited/);
      assert.ok(d.alive);
      const code = new Promise<number | null>((r) => d.child.once('exit', (c) => r(c)));
      await d.quit();
      assert.equal(await code, 0);
      assert.doesNotMatch(d.stderr, /Error|ESRCH/, 'nothing on stderr');
    } finally {
      qemu.kill('SIGKILL');
      await d.quit();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
