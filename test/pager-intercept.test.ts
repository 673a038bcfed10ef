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
  INTERCEPT_BUFFER_OFFSET,
  INTERCEPT_MAGIC,
  INTERCEPT_VERSION,
  InterceptProtocolError,
  InterceptRegion,
  interceptRegionBytes,
  QemuInterceptModel,
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
  assert.equal(dv.getBigUint64(field('buf_offset'), true), BigInt(INTERCEPT_BUFFER_OFFSET));
  assert.equal(
    dv.getBigUint64(field('buf_page'), true),
    0xffff_ffff_ffff_ffffn,
    'the write buffer starts empty',
  );
  assert.match(patch, /TCG_INTERCEPT_EMPTY UINT64_MAX/);
  assert.match(patch, /TCG_INTERCEPT_OP_FLUSH 3\b/);
  assert.match(patch, new RegExp(`TCG_INTERCEPT_MAGIC\\s+0x${INTERCEPT_MAGIC.toString(16)}u`, 'i'));
  assert.match(patch, new RegExp(`TCG_INTERCEPT_VERSION ${INTERCEPT_VERSION}\\b`));
  // QEMU's request and our reply at the offsets the patch's build checks pin.
  assert.match(patch, /offsetof\(TcgInterceptShm, req_seq\) != 32/);
  assert.match(patch, /offsetof\(TcgInterceptShm, rep_seq\) != 64/);
  assert.match(patch, /offsetof\(TcgInterceptShm, buf_lock\) != 112/);
  assert.match(patch, /sizeof\(TcgInterceptShm\) != 176/);
  // QEMU's counters, where the pager reads them.
  const q = new QemuInterceptModel(
    bytes,
    () => new Uint8Array(8),
    () => {},
  );
  new InterceptRegion(bytes, 100, false).mark(0);
  q.access(false, 0, new Uint8Array(8)); // marked, nothing buffered: handed over as a read
  assert.equal(dv.getBigUint64(field('reads'), true), 1n);
  for (const [name, key] of [
    ['fills', 'tlbFillsIntercepted'],
    ['reads', 'reads'],
    ['writes', 'writes'],
    ['flushes', 'tlbFlushesOnRelease'],
    ['combined', 'combinedStores'],
    ['loads_buffered', 'loadsFromBuffer'],
    ['handed_full', 'handedFull'],
    ['handed_other', 'handedOther'],
    ['handed_load', 'handedLoad'],
    ['handed_device', 'handedDevice'],
  ] as const) {
    dv.setBigUint64(field(name), 7n + BigInt(name.length), true);
    assert.equal(new InterceptRegion(bytes, 100, false).counters()[key], 7 + name.length, name);
  }
  const seq = postRequestAsQemu(bytes, true, 8, new Uint8Array([1, 2, 3, 4]));
  assert.equal(dv.getBigUint64(field('req_seq'), true), seq);
  assert.equal(dv.getUint32(field('req_op'), true), 2);
  assert.equal(dv.getUint32(field('req_size'), true), 4);
  assert.equal(dv.getBigUint64(field('req_offset'), true), 8n);
  assert.deepEqual([...bytes.subarray(field('req_data'), field('req_data') + 4)], [1, 2, 3, 4]);
});

test('the region size is the shim formula: header, write buffer, then one bit per page in whole pages', () => {
  assert.match(shim, /size_t bitmap = \(pages \+ 63\) \/ 64 \* 8;/);
  assert.match(shim, /size_t bytes = 3 \* 4096 \+ \(bitmap \+ 4095\) \/ 4096 \* 4096;/);
  assert.equal(INTERCEPT_BITMAP_OFFSET, 3 * 4096);
  assert.equal(interceptRegionBytes(1), 12288 + 4096);
  assert.equal(interceptRegionBytes(32768), 12288 + 4096); // 32768 bits = 4 KiB
  assert.equal(interceptRegionBytes(32769), 12288 + 8192);
  assert.equal(interceptRegionBytes(131072), 12288 + 16384); // 512 MiB guest
  assert.throws(() => new InterceptRegion(new Uint8Array(12288), 1, true), InterceptProtocolError);
});

test("QEMU's write buffer: stores combined, loads answered from it, handed over whole, taken by page", () => {
  const { bytes, r } = region(16);
  const posted: (boolean | 'flush')[] = [];
  const taken: { page: number; bytes: number; first: number }[] = [];
  const take = (only?: number): number | undefined =>
    r.takeBuffer(only, (b) => taken.push({ page: b.page, bytes: b.bytesWritten, first: b.data[0]! }));
  const onRam: number[] = [];
  const q = new QemuInterceptModel(
    bytes,
    (op) => {
      posted.push(op);
      take(); // the pager takes whatever the buffer holds first (a FLUSH)
      return new Uint8Array(8).fill(0x5a);
    },
    (_write, offset) => onRam.push(offset),
  );
  r.mark(3);
  r.mark(4);
  q.access(true, 3 * 4096, new Uint8Array(8).fill(1));
  const load = new Uint8Array(4);
  q.access(false, 3 * 4096 + 4, load);
  assert.deepEqual([...load], [1, 1, 1, 1], 'a load of bytes written is answered from the buffer');
  assert.deepEqual(posted, [], 'no request yet');
  q.access(false, 3 * 4096 + 8, load);
  assert.deepEqual(posted, [false], 'a load of bytes not written is handed over');
  assert.deepEqual(taken, [{ page: 3, bytes: 8, first: 1 }]);
  // A page written whole: one FLUSH at the last store.
  for (let at = 0; at < 4096; at += 8) q.access(true, 4 * 4096 + at, new Uint8Array(8).fill(2));
  assert.deepEqual(posted, [false, 'flush']);
  assert.deepEqual(taken[1], { page: 4, bytes: 4096, first: 2 });
  // A store to another page hands the held one over first; a device access does too.
  q.access(true, 3 * 4096 + 64, new Uint8Array(2));
  q.access(true, 4 * 4096 + 64, new Uint8Array(2));
  assert.equal(taken.at(-1)!.page, 3);
  q.device();
  assert.equal(taken.at(-1)!.page, 4);
  // The pager takes a page's bytes by itself: only that page's.
  q.access(true, 3 * 4096, new Uint8Array(8).fill(9));
  assert.equal(take(4), undefined, 'another page: left alone');
  assert.equal(take(3), 3);
  assert.equal(take(3), undefined, 'empty now');
  // A page the pager released is never buffered: the store is made on RAM (its fault path), and
  // runs notdirty_write; a page the buffer holds does not again.
  assert.equal(q.needsNotdirty(3 * 4096), true);
  q.access(true, 4 * 4096 + 8, new Uint8Array(8));
  assert.equal(q.needsNotdirty(4 * 4096), false);
  r.unmark(3);
  const before = posted.length;
  q.access(true, 3 * 4096, new Uint8Array(8));
  assert.deepEqual(onRam, [3 * 4096]);
  assert.equal(posted.length, before, 'no request');
  const c = r.counters();
  assert.deepEqual(
    [
      c.combinedStores,
      c.loadsFromBuffer,
      c.handedFull,
      c.handedOther,
      c.handedDevice,
      c.handedLoad,
      c.writes,
      c.reads,
    ],
    [517, 1, 1, 1, 1, 1, 0, 1],
  );
  assert.equal(c.tlbFlushesOnRelease, 1);
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
    [
      'an operation that is neither read, write nor flush',
      (b) => new DataView(b.buffer).setUint32(40, 7, true),
    ],
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
  assert.throws(() => new InterceptRegion(new Uint8Array(16384), 1, false), /no intercept header/);
});
