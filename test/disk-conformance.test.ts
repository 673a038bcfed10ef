import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hdd } from '../src/sim/disk/hdd.js';
import type { DiskModel } from '../src/sim/disk/model.js';
import { DiskQueue } from '../src/sim/disk/queue.js';
import { Ssd } from '../src/sim/disk/ssd.js';
import { EventQueue } from '../src/sim/event-queue.js';
import { Rng } from '../src/sim/rng.js';

/** Every disk model passes the same suite (one interface, several implementations). */
const MODELS: [string, () => DiskModel][] = [
  ['hdd', () => new Hdd()],
  ['ssd', () => new Ssd()],
];

function randomReadsMs(d: DiskModel, n: number, sectors: number): number {
  const rng = new Rng(9);
  let t = 0;
  for (let i = 0; i < n; i++)
    t += d.service({ op: 'read', sector: rng.int(d.capacitySectors - sectors), sectors }, t);
  return t / n / 1e6;
}

function sequentialReadsMs(d: DiskModel, n: number, sectors: number): number {
  let t = 0;
  const start = 1 << 20;
  for (let i = 0; i < n; i++) t += d.service({ op: 'read', sector: start + i * sectors, sectors }, t);
  return t / n / 1e6;
}

for (const [name, make] of MODELS) {
  test(`${name}: service times are positive, finite and deterministic`, () => {
    const a = make();
    const b = make();
    const rng = new Rng(1);
    let t = 0;
    for (let i = 0; i < 2000; i++) {
      const req = {
        op: rng.next() < 0.5 ? ('read' as const) : ('write' as const),
        sector: rng.int(a.capacitySectors - 256),
        sectors: 8 + rng.int(248),
      };
      const sa = a.service(req, t);
      const sb = b.service(req, t);
      assert.ok(Number.isFinite(sa) && sa > 0, `service ${sa}`);
      assert.equal(sa, sb);
      t += sa;
    }
  });

  test(`${name}: sequential 4 KiB reads are not slower than random ones, and larger requests take longer`, () => {
    assert.ok(sequentialReadsMs(make(), 500, 8) <= randomReadsMs(make(), 500, 8));
    const d = make();
    assert.ok(
      d.service({ op: 'read', sector: 0, sectors: 2048 }, 0) >
        make().service({ op: 'read', sector: 0, sectors: 8 }, 0),
    );
  });

  test(`${name}: the queue merges adjacent requests and counts what the device sees`, () => {
    const ev = new EventQueue();
    const q = new DiskQueue(make(), ev);
    let done = 0;
    // The first request occupies the device; the next eight queue up and merge into one.
    q.submit('read', 'image', 0, 8, () => done++);
    for (let i = 0; i < 8; i++) q.submit('read', 'swap', 4096 + i * 8, 8, () => done++);
    while (ev.step());
    assert.equal(done, 9);
    assert.equal(q.stats.image.readOps, 1);
    assert.ok(q.stats.swap.readOps < 8, `swap reads ${q.stats.swap.readOps}`);
    assert.equal(q.stats.swap.readSectors, 64);
    assert.throws(() => q.submit('read', 'image', q.model.capacitySectors, 8, () => {}), /outside/);
  });
}

test('hdd is calibrated to the paper drive: ~8.5 ms seek + ~4.2 ms rotation at random, 175 MB/s outer, 83 MB/s inner', () => {
  const ms = randomReadsMs(new Hdd({ cacheSegments: 1, readAheadBytes: 4096 }), 4000, 8);
  assert.ok(ms > 11 && ms < 14.5, `random 4 KiB read ${ms.toFixed(2)} ms`);
  const d = new Hdd();
  const outer = (64 * 1024 * 1024) / (d.service({ op: 'read', sector: 0, sectors: 131072 }, 0) / 1e9) / 1e6;
  assert.ok(outer > 150 && outer < 176, `outer ${outer.toFixed(1)} MB/s`);
  const inner = new Hdd();
  const innerMBps =
    (64 * 1024 * 1024) /
    (inner.service({ op: 'read', sector: inner.capacitySectors - 131072, sectors: 131072 }, 0) / 1e9) /
    1e6;
  assert.ok(innerMBps > 75 && innerMBps < 84, `inner ${innerMBps.toFixed(1)} MB/s`);
});

test('hdd read cache holds bytes, not a fixed count of segments: reads cut short by the next command leave small segments, and more of them fit', () => {
  // Room for 4 segments of 1 MiB read-ahead; 16 reads of 4 KiB far apart, each cut short at once.
  const d = new Hdd({ cacheSegments: 4, readAheadBytes: 1 << 20 });
  const at = (i: number): number => 1_000_000 + i * 10_000_000;
  let now = 0;
  for (let i = 0; i < 16; i++) now += d.service({ op: 'read', sector: at(i), sectors: 8 }, now);
  let hits = 0;
  for (let i = 0; i < 16; i++) {
    const t = d.service({ op: 'read', sector: at(i), sectors: 8 }, now);
    now += t;
    if (t < 1e6) hits++;
  }
  assert.equal(hits, 16, `${hits} of 16 re-reads served from the cache`);
  // Full 1 MiB segments: only four fit.
  const e = new Hdd({ cacheSegments: 4, readAheadBytes: 1 << 20 });
  now = 0;
  for (let i = 0; i < 16; i++) now += e.service({ op: 'read', sector: at(i), sectors: 8 }, now) + 50e6;
  hits = 0;
  for (let i = 0; i < 16; i++) {
    const t = e.service({ op: 'read', sector: at(i), sectors: 8 }, now);
    now += t + 50e6;
    if (t < 1e6) hits++;
  }
  assert.ok(hits <= 4, `${hits} of 16 re-reads hit with 1 MiB segments`);
});

test('hdd read-ahead cache serves the next sequential request without a rotation', () => {
  const d = new Hdd();
  const first = d.service({ op: 'read', sector: 10_000, sectors: 64 }, 0);
  const next = d.service({ op: 'read', sector: 10_064, sectors: 64 }, first + 2e6);
  assert.ok(next < 1e6, `cached read took ${next / 1e6} ms`);
  const writeThenRead = new Hdd();
  const w = writeThenRead.service({ op: 'write', sector: 10_000, sectors: 64 }, 0);
  assert.ok(
    writeThenRead.service({ op: 'read', sector: 50_000_000, sectors: 8 }, w) > 1e6,
    'a far read needs a seek',
  );
});

test('hdd write cache: a write is acknowledged from the buffer and written out while the drive is idle', () => {
  const far = 50_000_000;
  const cached = new Hdd();
  const ackNs = cached.service({ op: 'write', sector: far, sectors: 8 }, 0);
  assert.ok(ackNs < 0.2e6, `cached write took ${ackNs / 1e6} ms`);
  assert.equal(cached.dirtyBacklogSectors, 8);
  // Long idle: the drive wrote the block out, so a read elsewhere finds the arm free.
  cached.service({ op: 'read', sector: 1000, sectors: 8 }, 1e9);
  assert.equal(cached.dirtyBacklogSectors, 0);
  const through = new Hdd({ writeCacheBytes: 0 });
  assert.ok(
    through.service({ op: 'write', sector: far, sectors: 8 }, 0) > 2e6,
    'write-through pays the seek',
  );
});

test('hdd write cache: scattered writes cost far less than one seek each, and a full buffer makes writes wait', () => {
  const rng = new Rng(4);
  const sectors = Array.from({ length: 400 }, () => 40_000_000 + rng.int(1_000_000) * 8);
  const timeFor = (d: Hdd): number => {
    let t = 0;
    for (const s of sectors) t += d.service({ op: 'write', sector: s, sectors: 8 }, t);
    // Then one read, which waits for whatever the drive still has to write out.
    return t + d.service({ op: 'read', sector: 0, sectors: 8 }, t);
  };
  const small = new Hdd({ writeCacheBytes: 64 * 4096 });
  const through = timeFor(new Hdd({ writeCacheBytes: 0 }));
  const buffered = timeFor(small);
  assert.ok(buffered < through / 2, `buffered ${buffered / 1e6} ms vs write-through ${through / 1e6} ms`);
  assert.ok(small.dirtyBacklogSectors <= 64 * 8, 'the buffer never holds more than its size');
});

test('disk parameters are validated with the field named', () => {
  assert.throws(() => new Hdd({ writeCacheBytes: -1 }), /hdd\.writeCacheBytes/);
  assert.throws(() => new Hdd({ destageCandidates: 1.5 }), /hdd\.destageCandidates/);
  assert.throws(() => new Hdd({ rpm: 0 }), /hdd\.rpm/);
  assert.throws(() => new Hdd({ innerMBps: 300 }), /innerMBps/);
  assert.throws(() => new Ssd({ channels: -1 }), /ssd\.channels/);
});
