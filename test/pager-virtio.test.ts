/**
 * The vhost-user-blk back end without QEMU: the protocol messages QEMU sends, requests through the
 * vring against a real (memfd) guest RAM and image file, and a fuzz test of the descriptor and
 * request parsing with random rings: a malformed chain fails its own request and nothing else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BlkStatus, BlkType, DEVICE_ID, parseBlkRequest } from '../src/pager/blk-request.js';
import { GuestMemory } from '../src/pager/guest-memory.js';
import {
  DEVICE_FEATURES,
  PROTOCOL_FEATURES,
  Req,
  blkConfig,
  encodeReply,
  parseHeader,
} from '../src/pager/vhost-user.js';
import {
  MAX_CHAIN_BYTES,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  Virtqueue,
  VirtqueueError,
} from '../src/pager/virtqueue.js';
import {
  AVAIL_GPA,
  DATA_GPA,
  DESC_GPA,
  QSIZE,
  RAM_BYTES,
  USED_GPA,
  USER_BASE,
  VringHarness,
} from './support/vring-harness.js';

const N = VRING_DESC_F_NEXT;
const W = VRING_DESC_F_WRITE;

/** header | data | status as three descriptors starting at `d`. */
function request(
  h: VringHarness,
  d: number,
  type: number,
  sector: number,
  dataGpa: number,
  len: number,
): number {
  const hdr = DATA_GPA - 0x100 + 32 * d;
  h.header(hdr, type, sector);
  const read = type === BlkType.IN || type === BlkType.GET_ID;
  h.desc(d, hdr, 16, N, d + 1);
  h.desc(d + 1, dataGpa, len, N | (read ? W : 0), d + 2);
  h.desc(d + 2, statusGpa(d), 1, W, 0);
  h.ram[statusGpa(d)] = 0xee;
  return d;
}
const statusGpa = (d: number): number => DATA_GPA - 0x800 + d;

test('protocol: features, protocol features, config space and reply framing', () => {
  const h = new VringHarness();
  try {
    const dev = h.server.device;
    const feat = dev.handle({ request: Req.GET_FEATURES, flags: 1, payload: new Uint8Array(0), fds: [] })!;
    const hd = parseHeader(feat.subarray(0, 12));
    assert.deepEqual(hd, { request: Req.GET_FEATURES, flags: 5, size: 8 });
    assert.equal(new DataView(feat.buffer).getBigUint64(12, true), DEVICE_FEATURES);
    const pf = dev.handle({
      request: Req.GET_PROTOCOL_FEATURES,
      flags: 1,
      payload: new Uint8Array(0),
      fds: [],
    })!;
    assert.equal(new DataView(pf.buffer).getBigUint64(12, true), PROTOCOL_FEATURES);
    // GET_CONFIG echoes offset/size/flags and carries the virtio_blk_config bytes.
    const q = new Uint8Array(12 + 60);
    new DataView(q.buffer).setUint32(4, 60, true);
    const cfg = dev.handle({ request: Req.GET_CONFIG, flags: 1, payload: q, fds: [] })!;
    const cv = new DataView(cfg.buffer, 12 + 12);
    assert.equal(cv.getBigUint64(0, true), BigInt((1 << 20) / 512), 'capacity in 512-byte sectors');
    assert.equal(cv.getUint32(20, true), 4096, 'blk_size: 4 KiB logical blocks (the Mapper needs them)');
    assert.equal(cv.getUint32(12, true), QSIZE - 2, 'seg_max');
    assert.equal(blkConfig({ capacitySectors: 8, blockBytes: 4096, queueSize: 128 }, 40).length, 40);
    assert.equal(encodeReply(Req.GET_QUEUE_NUM, new Uint8Array(8)).length, 20);
    assert.throws(() => parseHeader(new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])), /version/);
    assert.throws(
      () => dev.handle({ request: 99, flags: 1, payload: new Uint8Array(0), fds: [] }),
      /request 99 is not supported/,
    );
  } finally {
    h.close();
  }
});

test('read, write, get-id and flush through the vring; interrupts; used lengths', () => {
  const h = new VringHarness();
  try {
    // Read block 3 (its bytes are all 3) into a guest page.
    const page = DATA_GPA + 0x4000;
    const used = h.submit(request(h, 0, BlkType.IN, 3 * 8, page, 4096));
    assert.deepEqual(used, [{ id: 0, len: 4097 }]);
    assert.equal(h.ram[statusGpa(0)], BlkStatus.OK);
    assert.ok(h.ram.subarray(page, page + 4096).every((b) => b === 3));
    assert.ok(h.interrupted(), 'the guest is interrupted');
    // Write a page of 0x5a to block 7, read it back into another page.
    h.ram.fill(0x5a, page, page + 4096);
    assert.deepEqual(h.submit(request(h, 3, BlkType.OUT, 7 * 8, page, 4096)), [{ id: 3, len: 1 }]);
    const other = DATA_GPA + 0x8000;
    h.submit(request(h, 6, BlkType.IN, 7 * 8, other, 4096));
    assert.ok(h.ram.subarray(other, other + 4096).every((b) => b === 0x5a));
    // A write of one 512-byte sector inside a block (unaligned: through the bounce buffer).
    h.ram.fill(0x11, page, page + 512);
    h.submit(request(h, 9, BlkType.OUT, 7 * 8 + 3, page, 512));
    h.submit(request(h, 12, BlkType.IN, 7 * 8, other, 4096));
    assert.equal(h.ram[other + 3 * 512], 0x11);
    assert.equal(h.ram[other + 3 * 512 - 1], 0x5a);
    assert.equal(h.ram[other + 4 * 512], 0x5a);
    // GET_ID fills the serial.
    h.submit(request(h, 0, BlkType.GET_ID, 0, page, 20));
    assert.equal(Buffer.from(h.ram.subarray(page, page + DEVICE_ID.length)).toString(), DEVICE_ID);
    // Flush; an unknown type gets UNSUPP.
    h.header(DATA_GPA - 0x100, BlkType.FLUSH, 0);
    h.desc(3, DATA_GPA - 0x100, 16, N, 4);
    h.desc(4, statusGpa(3), 1, W, 0);
    assert.deepEqual(h.submit(3), [{ id: 3, len: 1 }]);
    assert.equal(h.ram[statusGpa(3)], BlkStatus.OK);
    h.header(DATA_GPA - 0x100, 77, 0);
    h.submit(3);
    assert.equal(h.ram[statusGpa(3)], BlkStatus.UNSUPP);
    assert.equal(h.server.stats.malformed, 0);
  } finally {
    h.close();
  }
});

test('indirect descriptors; a chain split anywhere (header over two buffers) is still understood', () => {
  const h = new VringHarness();
  try {
    const table = DATA_GPA + 0x2000;
    const page = DATA_GPA + 0x4000;
    const hdr = DATA_GPA + 0x100;
    h.header(hdr, BlkType.IN, 5 * 8);
    const put = (i: number, gpa: number, len: number, flags: number, next: number): void => {
      const at = table + 16 * i;
      h.view.setBigUint64(at, BigInt(gpa), true);
      h.view.setUint32(at + 8, len, true);
      h.view.setUint16(at + 12, flags, true);
      h.view.setUint16(at + 14, next, true);
    };
    put(0, hdr, 10, N, 1);
    put(1, hdr + 10, 6, N, 2);
    put(2, page, 2048, N | W, 3);
    put(3, page + 2048, 2049, W, 0); // the last byte of this buffer is the status
    h.desc(0, table, 64, VRING_DESC_F_INDIRECT, 0);
    assert.deepEqual(h.submit(0), [{ id: 0, len: 4097 }]);
    assert.equal(h.ram[page + 4096], BlkStatus.OK);
    assert.ok(h.ram.subarray(page, page + 4096).every((b) => b === 5));
  } finally {
    h.close();
  }
});

test('a gate that brings pages in later (a pager) still gets every request served, each access inside its ranges', () => {
  const gated: string[] = [];
  const h = new VringHarness({
    gate: (loop) => ({
      with: (_mem, ranges, fn) => {
        gated.push(ranges.map((r) => `${r.off}+${r.len}${r.write ? 'w' : ''}`).join(','));
        // The pages "come in" on the next turn of the loop, as after a fault.
        loop.defer(fn);
      },
    }),
  });
  try {
    const page = DATA_GPA + 0x4000;
    const used = h.submit(
      request(h, 0, BlkType.IN, 3 * 8, page, 4096),
      request(h, 3, BlkType.IN, 4 * 8, page + 4096, 4096),
    );
    assert.deepEqual(
      used.map((u) => u.id).sort(),
      [0, 3],
      'both requests completed although every access waited',
    );
    assert.ok(h.ram.subarray(page, page + 4096).every((b) => b === 3));
    assert.equal(h.ram[statusGpa(0)], BlkStatus.OK);
    // The ring (descriptors, avail, used), the header and the status byte all went through the gate.
    const all = gated.join(' ');
    for (const r of [
      `${DESC_GPA}+${16 * QSIZE}`,
      `${AVAIL_GPA}+${6 + 2 * QSIZE}`,
      `${USED_GPA}+${6 + 8 * QSIZE}w`,
      `${statusGpa(0)}+1w`,
    ])
      assert.ok(all.includes(r), `${r} gated: ${all}`);
  } finally {
    h.close();
  }
});

test('malformed requests fail alone: IOERR (or dropped without a status byte), the device keeps serving', () => {
  const h = new VringHarness();
  try {
    const page = DATA_GPA + 0x4000;
    const cases: [string, () => number][] = [
      ['buffer outside guest RAM', () => (request(h, 0, BlkType.IN, 0, RAM_BYTES - 100, 4096), 0)],
      ['sector past the end of the disk', () => request(h, 0, BlkType.IN, (1 << 20) / 512, page, 4096)],
      ['data not a multiple of 512', () => request(h, 0, BlkType.IN, 0, page, 1000)],
      [
        'readable after writable',
        () => (
          request(h, 0, BlkType.OUT, 0, page, 4096),
          h.desc(1, page, 4096, N | W, 2),
          h.desc(2, statusGpa(0), 1, 0, 0),
          0
        ),
      ],
      [
        'next outside the ring',
        () => (request(h, 0, BlkType.IN, 0, page, 4096), h.desc(1, page, 4096, N | W, 200), 0),
      ],
      ['a loop', () => (request(h, 0, BlkType.IN, 0, page, 4096), h.desc(2, statusGpa(0), 1, N | W, 0), 0)],
      [
        'nested indirect',
        () => (
          h.desc(0, DATA_GPA + 0x2000, 16, VRING_DESC_F_INDIRECT, 0),
          h.view.setUint16(DATA_GPA + 0x2000 + 12, VRING_DESC_F_INDIRECT, true),
          0
        ),
      ],
    ];
    for (const [name, make] of cases) {
      const before = h.server.stats.malformed;
      const head = make();
      const used = h.submit(head);
      assert.equal(used.length, 1, `${name}: the chain is returned`);
      assert.equal(h.server.stats.malformed, before + 1, `${name}: counted as malformed`);
      // Then a good request on the same ring still works.
      const ok = h.submit(request(h, 5, BlkType.IN, 2 * 8, page, 4096));
      assert.deepEqual(ok, [{ id: 5, len: 4097 }], `${name}: the next request is served`);
      assert.equal(h.ram[statusGpa(5)], BlkStatus.OK);
    }
    // A chain whose status cannot even be written: used with length 0.
    h.desc(0, DATA_GPA, 16, 0, 0);
    h.header(DATA_GPA, BlkType.IN, 0);
    assert.deepEqual(h.submit(0), [{ id: 0, len: 0 }]);
  } finally {
    h.close();
  }
});

/**
 * The fuzz test: random descriptor tables, indirect tables and avail entries over a small guest RAM
 * with a hole in it. Whatever the guest wrote, reading a chain either fails with a reason or yields
 * buffers inside guest RAM, at most a ring long, no readable one after a writable one; and a request
 * parsed from it stays inside the disk, with its data and status inside those buffers.
 */
test('fuzz: random rings never make the parser throw or leave guest RAM', () => {
  const RAM = 64 * 1024;
  const mk = (bytes: Uint8Array): GuestMemory =>
    new GuestMemory([
      // Two regions with a hole between them, as a PC's RAM around 640 KiB.
      {
        gpa: 0,
        sizeBytes: RAM / 2,
        userAddr: USER_BASE,
        fileOffset: 0,
        bytes: bytes.subarray(0, RAM / 2),
        addr: 0,
      },
      {
        gpa: RAM,
        sizeBytes: RAM / 2,
        userAddr: USER_BASE + RAM / 2,
        fileOffset: RAM / 2,
        bytes: bytes.subarray(RAM / 2),
        addr: 0,
      },
    ]);
  const inRam = (gpa: number, len: number): boolean =>
    (gpa >= 0 && gpa + len <= RAM / 2) || (gpa >= RAM && gpa + len <= RAM + RAM / 2);
  const capacity = 1024;
  const seen = { chains: 0, ok: 0, requests: 0, io: 0 };
  const addrArb = fc.oneof(
    fc.integer({ min: 0, max: 2 * RAM }),
    fc.constantFrom(0, RAM / 2 - 1, RAM / 2, RAM - 1, RAM + RAM / 2 - 16, 2 ** 53, 2 ** 64 - 1),
  );
  const descArb = fc.record({
    addr: addrArb,
    len: fc.oneof(fc.integer({ min: 0, max: 9000 }), fc.constantFrom(0, 1, 16, 4096, 0xffffffff)),
    flags: fc.integer({ min: 0, max: 7 }),
    next: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 0xffff })),
  });
  fc.assert(
    fc.property(
      fc.array(descArb, { minLength: 16, maxLength: 16 }),
      fc.array(descArb, { minLength: 8, maxLength: 8 }),
      fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 32, maxLength: 32 }),
      // Half the rings start from a plausible request (header, data, status) that the random
      // descriptors then perturb, so that parsing gets past the chain checks often.
      fc.option(
        fc.record({
          type: fc.constantFrom(0, 1, 4, 8, 3),
          sector: fc.oneof(fc.integer({ min: 0, max: 1100 }), fc.constant(2 ** 60)),
          dataLen: fc.constantFrom(512, 4096, 8192, 1000, 0, 20),
          dataGpa: addrArb,
          split: fc.boolean(),
        }),
      ),
      (descs, indirect, heads, allowIndirect, headerBytes, plausible) => {
        const bytes = new Uint8Array(RAM);
        const mem = mk(bytes);
        const dv = new DataView(bytes.buffer);
        const put = (base: number, i: number, d: (typeof descs)[number]): void => {
          dv.setBigUint64(base + 16 * i, BigInt(d.addr) & 0xffffffffffffffffn, true);
          dv.setUint32(base + 8 + 16 * i, d.len >>> 0, true);
          dv.setUint16(base + 12 + 16 * i, d.flags, true);
          dv.setUint16(base + 14 + 16 * i, d.next, true);
        };
        descs.forEach((d, i) => put(0x1000, i, d));
        // The indirect table and the headers live where random addresses often point.
        indirect.forEach((d, i) => put(0x4000, i, d));
        bytes.set(headerBytes, 0x100);
        bytes.set(headerBytes, RAM / 2 - 32);
        if (plausible) {
          const { type, sector, dataLen, dataGpa, split } = plausible;
          dv.setUint32(0x100, type, true);
          dv.setBigUint64(0x108, BigInt(sector), true);
          const rd = type === 0 || type === 8;
          const chain = [
            { addr: 0x100, len: split ? 10 : 16, flags: N, next: 1 },
            { addr: 0x10a, len: split ? 6 : 0, flags: N, next: 2 },
            { addr: dataGpa, len: dataLen, flags: N | (rd ? W : 0), next: 3 },
            { addr: 0x300, len: 1, flags: W, next: 0 },
          ];
          chain.forEach((d, i) => put(0x1000, i, d));
          heads[0] = 0;
        }
        dv.setUint16(0x2000 + 2, heads.length, true);
        heads.forEach((h, i) => dv.setUint16(0x2000 + 4 + 2 * i, h, true));
        const q = new Virtqueue(
          mem,
          16,
          { descUser: USER_BASE + 0x1000, availUser: USER_BASE + 0x2000, usedUser: USER_BASE + 0x3000 },
          allowIndirect,
        );
        for (let k = 0; k < heads.length; k++) {
          const c = q.pop();
          assert.ok(c, 'a chain per avail entry');
          seen.chains++;
          if (!c.ok) {
            assert.ok(c.why.length > 0);
            q.pushUsed(c.head, 0);
            continue;
          }
          seen.ok++;
          assert.ok(c.segments.length <= 16 * 2 + 8, 'bounded chain');
          let total = 0;
          let seenWrite = false;
          for (const s of c.segments) {
            assert.ok(inRam(s.gpa, s.len), `segment 0x${s.gpa.toString(16)}+${s.len} inside guest RAM`);
            assert.ok(!(seenWrite && !s.write), 'no readable buffer after a writable one');
            seenWrite ||= s.write;
            total += s.len;
          }
          assert.ok(total <= MAX_CHAIN_BYTES);
          const r = parseBlkRequest(mem, c.segments, capacity);
          if (r.kind === 'bad') {
            if (r.statusGpa !== undefined) assert.ok(inRam(r.statusGpa, 1));
            continue;
          }
          seen.requests++;
          assert.ok(inRam(r.statusGpa, 1));
          for (const p of r.data) assert.ok(inRam(p.gpa, p.len), 'data inside guest RAM');
          assert.equal(
            r.data.reduce((a, p) => a + p.len, 0),
            r.dataBytes,
          );
          if (r.kind === 'read' || r.kind === 'write') {
            seen.io++;
            assert.ok(r.dataBytes > 0 && r.dataBytes % 512 === 0);
            assert.ok(r.sector + r.dataBytes / 512 <= capacity, 'inside the disk');
          }
          q.pushUsed(c.head, 1);
        }
        assert.equal(q.pop(), undefined);
      },
    ),
    { numRuns: 3000 },
  );
  // The generator reaches every outcome, so the properties above were exercised, not vacuous.
  assert.ok(seen.ok > seen.chains / 20, `well-formed chains: ${JSON.stringify(seen)}`);
  assert.ok(seen.requests > 0 && seen.io > 0, `parsed requests: ${JSON.stringify(seen)}`);
});

test('a ring whose avail index runs ahead of its size is refused as a whole', () => {
  const bytes = new Uint8Array(65536);
  const mem = new GuestMemory([
    { gpa: 0, sizeBytes: 65536, userAddr: USER_BASE, fileOffset: 0, bytes, addr: 0 },
  ]);
  const q = new Virtqueue(
    mem,
    16,
    { descUser: USER_BASE + DESC_GPA, availUser: USER_BASE + AVAIL_GPA, usedUser: USER_BASE + USED_GPA },
    true,
  );
  new DataView(bytes.buffer).setUint16(AVAIL_GPA + 2, 17, true);
  assert.throws(() => q.pop(), VirtqueueError);
  assert.throws(
    () =>
      new Virtqueue(
        mem,
        16,
        { descUser: USER_BASE + 65530, availUser: USER_BASE, usedUser: USER_BASE },
        true,
      ),
    /not inside guest RAM/,
  );
});
