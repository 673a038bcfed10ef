/**
 * The False Reads Preventer in the real pager daemon, on a paged process that also plays QEMU's TCG
 * intercept (root needed: userfaultfd is privileged here). Cases the guest torture on the patched
 * QEMU found, pinned down so they need neither QEMU nor luck.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InterceptRegion } from '../src/pager/intercept-region.js';
import { SEEK_DATA, seekData } from '../src/pager/sys.js';
import { PAGED_PROCESS_SKIP as skip, withPagedProcess } from './support/paged-process.js';

const PAGE = 4096;
const PAGES = 64;
const BLOCK = 5;
const pattern = (block: number, i: number): number => (block * 31 + i * 7 + 3) & 0xff;

test(
  'bytes the guest wrote to one of two absent pages holding the same image block reach that page only',
  { skip, timeout: 120_000 },
  async () => {
    // With the Mapper, two pages a disk read filled from one block are both named for it; dropped,
    // they come back in one read of the block (its content staged once for both). The guest wrote
    // a few bytes to one of them while it was absent: the merge puts them on that page, and the
    // other must get the block as it is. (The torture found the merge made in the shared copy: the
    // bytes showed up in the other page too.)
    const image = new Uint8Array(32 * PAGE);
    for (let b = 0; b < 32; b++) for (let i = 0; i < PAGE; i++) image[b * PAGE + i] = pattern(b, i);
    await withPagedProcess(
      {
        prefix: 'vswapper-shared-block-',
        imagePages: 32,
        pages: PAGES,
        mapper: true,
        preventer: true,
        disk: 'immediate',
        residentLimitPages: PAGES,
        queueSize: 16,
        samplingDepth: 0,
        image,
      },
      async (proc) => {
        const a = 20;
        const b = 40;
        assert.equal(proc.frontend!.io('read', BLOCK, [a * PAGE]), 0);
        assert.equal(proc.frontend!.io('read', BLOCK, [b * PAGE]), 0);
        // Squeezed: the two clean named pages go first (dropped, not written) and become absent.
        await proc.daemon.cmd({ cmd: 'limit', pages: 4 });
        const { qemu, region } = proc.intercept();
        const marks = new InterceptRegion(region, PAGES, false);
        assert.ok(marks.isMarked(a) && marks.isMarked(b), 'both pages were dropped (intercepted)');
        // The guest stores two bytes to page a (QEMU's write buffer), then loads a byte it did not
        // write: the buffer is handed over, and page a is read in, with page b (the same block).
        qemu.access(true, a * PAGE + 100, Uint8Array.of(0xab, 0xcd));
        const got = new Uint8Array(1);
        qemu.access(false, a * PAGE + 3000, got);
        assert.equal(got[0], pattern(BLOCK, 3000), 'the load of an unwritten byte reads the block');
        assert.equal(
          seekData(proc.ramFd, b * PAGE, SEEK_DATA),
          b * PAGE,
          'page b came in with page a, in one read of their block: the case under test',
        );
        const ram = proc.ram!.bytes;
        const bytesOf = (p: number): number[] => [...ram.subarray(p * PAGE + 98, p * PAGE + 104)];
        const want = (over?: [number, number]): number[] =>
          [98, 99, 100, 101, 102, 103].map((i) =>
            over && (i === 100 || i === 101) ? over[i - 100]! : pattern(BLOCK, i),
          );
        assert.deepEqual(bytesOf(a), want([0xab, 0xcd]), "page a has the guest's bytes over the block");
        assert.deepEqual(bytesOf(b), want(), 'page b has the block, without page a bytes');
        for (let i = 0; i < PAGE; i++)
          if (i !== 100 && i !== 101) assert.equal(ram[a * PAGE + i], pattern(BLOCK, i), `page a byte ${i}`);
        for (let i = 0; i < PAGE; i++) assert.equal(ram[b * PAGE + i], pattern(BLOCK, i), `page b byte ${i}`);
      },
    );
  },
);
