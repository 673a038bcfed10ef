/**
 * The region QEMU's TCG intercept shares with the pager, without QEMU: the test plays QEMU's side
 * (posting requests as tcg_intercept_access does) over a plain buffer. The layout is checked
 * against the patch's own C declarations, so the two cannot drift apart silently.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  INTERCEPT_BITMAP_OFFSET,
  INTERCEPT_MAGIC,
  INTERCEPT_VERSION,
  InterceptProtocolError,
  InterceptRegion,
  interceptRegionBytes,
  postRequestAsQemu,
  takeReplyAsQemu,
} from '../src/pager/intercept-region.js';

const root = new URL('../..', import.meta.url);
const patch = readFileSync(new URL('patches/qemu-7.2-intercept.patch', root), 'utf8');
const shim = readFileSync(new URL('src/pager/shim/uffd-shim.c', root), 'utf8');

function region(pages: number): { bytes: Uint8Array; r: InterceptRegion } {
  const bytes = new Uint8Array(interceptRegionBytes(pages));
  return { bytes, r: new InterceptRegion(bytes, pages, true) };
}

test('the header layout is the one the patch declares (offsets, magic, version)', () => {
  const field = (name: string): number => {
    const m = new RegExp(`\\b${name}(?:\\[\\d+\\])?;\\s*/\\*\\s*(\\d+)`).exec(patch);
    assert.ok(m, `field ${name} with its offset comment in the patch`);
    return Number(m[1]);
  };
  const { bytes } = region(100);
  const dv = new DataView(bytes.buffer);
  assert.equal(dv.getUint32(field('magic'), true), INTERCEPT_MAGIC);
  assert.equal(dv.getUint32(field('version'), true), INTERCEPT_VERSION);
  assert.equal(dv.getBigUint64(field('pages'), true), 100n);
  assert.equal(dv.getBigUint64(field('bitmap_offset'), true), BigInt(INTERCEPT_BITMAP_OFFSET));
  assert.match(patch, new RegExp(`TCG_INTERCEPT_MAGIC\\s+0x${INTERCEPT_MAGIC.toString(16)}u`, 'i'));
  assert.match(patch, new RegExp(`TCG_INTERCEPT_VERSION ${INTERCEPT_VERSION}\\b`));
  // QEMU's request and our reply at the offsets the patch's build checks pin.
  assert.match(patch, /offsetof\(TcgInterceptShm, req_seq\) != 32/);
  assert.match(patch, /offsetof\(TcgInterceptShm, rep_seq\) != 64/);
  const seq = postRequestAsQemu(bytes, true, 8, new Uint8Array([1, 2, 3, 4]));
  assert.equal(dv.getBigUint64(field('req_seq'), true), seq);
  assert.equal(dv.getUint32(field('req_op'), true), 2);
  assert.equal(dv.getUint32(field('req_size'), true), 4);
  assert.equal(dv.getBigUint64(field('req_offset'), true), 8n);
  assert.deepEqual([...bytes.subarray(field('req_data'), field('req_data') + 4)], [1, 2, 3, 4]);
});

test('the region size is the shim formula: a header page, then one bit per page in whole pages', () => {
  assert.match(shim, /size_t bitmap = \(pages \+ 63\) \/ 64 \* 8;/);
  assert.match(shim, /size_t bytes = 4096 \+ \(bitmap \+ 4095\) \/ 4096 \* 4096;/);
  assert.equal(interceptRegionBytes(1), 8192);
  assert.equal(interceptRegionBytes(32768), 4096 + 4096); // 32768 bits = 4 KiB
  assert.equal(interceptRegionBytes(32769), 4096 + 8192);
  assert.equal(interceptRegionBytes(131072), 4096 + 16384); // 512 MiB guest
  assert.throws(() => new InterceptRegion(new Uint8Array(4096), 1, true), InterceptProtocolError);
});

test('mark and unmark set exactly the page bit QEMU tests (word page/64, bit page%64)', () => {
  const pages = 200;
  const { bytes, r } = region(pages);
  const words = new BigUint64Array(bytes.buffer, INTERCEPT_BITMAP_OFFSET, Math.ceil(pages / 64));
  for (const p of [0, 1, 63, 64, 127, 199]) {
    r.mark(p);
    assert.equal((words[p >> 6]! >> BigInt(p % 64)) & 1n, 1n, `bit of page ${p}`);
    assert.ok(r.isMarked(p));
  }
  let set = 0;
  for (let p = 0; p < pages; p++) if (r.isMarked(p)) set++;
  assert.equal(set, 6);
  r.unmark(64);
  assert.equal(r.isMarked(64), false);
  assert.equal(r.isMarked(63), true);
  assert.throws(() => r.mark(200), InterceptProtocolError);
  assert.throws(() => r.mark(-1), InterceptProtocolError);
});

test('a request is seen once, answered once; the reply carries the bytes read', () => {
  const { bytes, r } = region(16);
  assert.equal(r.pending(), undefined);
  const s1 = postRequestAsQemu(bytes, false, 4096 + 16, new Uint8Array(8));
  const q = r.pending();
  assert.ok(q);
  assert.deepEqual([q.seq, q.write, q.offset, q.sizeBytes], [s1, false, 4112, 8]);
  assert.equal(takeReplyAsQemu(bytes, s1, 8), undefined, 'no reply before the pager answers');
  r.reply(q.seq, new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]));
  assert.deepEqual([...takeReplyAsQemu(bytes, s1, 8)!], [9, 8, 7, 6, 5, 4, 3, 2]);
  assert.equal(r.pending(), undefined, 'answered: nothing pending');
  assert.throws(() => r.reply(s1), InterceptProtocolError, 'a second reply to the same request');
  const s2 = postRequestAsQemu(bytes, true, 2, new Uint8Array([0xaa, 0xbb]));
  const w = r.pending()!;
  assert.deepEqual([w.seq, w.write, w.offset, [...w.data]], [s2, true, 2, [0xaa, 0xbb]]);
});

test('malformed requests are refused with the reason', () => {
  const bad: [string, (b: Uint8Array) => void][] = [
    ['an operation that is neither read nor write', (b) => new DataView(b.buffer).setUint32(40, 7, true)],
    ['a size of 3 bytes', (b) => new DataView(b.buffer).setUint32(44, 3, true)],
    ['a misaligned access', (b) => new DataView(b.buffer).setBigUint64(48, 4097n, true)],
    ['an offset past guest RAM', (b) => new DataView(b.buffer).setBigUint64(48, 16n * 4096n, true)],
    ['a sequence number that skips one', (b) => new DataView(b.buffer).setBigUint64(32, 5n, true)],
  ];
  for (const [what, spoil] of bad) {
    const { bytes, r } = region(16);
    postRequestAsQemu(bytes, false, 0, new Uint8Array(4));
    spoil(bytes);
    assert.throws(() => r.pending(), InterceptProtocolError, what);
  }
  assert.throws(() => new InterceptRegion(new Uint8Array(8192), 1, false), /no intercept header/);
});
