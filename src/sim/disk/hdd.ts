import type { DiskModel, MediaRequest } from './model.js';

/**
 * A rotating disk: seek curve, rotational position, zoned transfer rate, a segmented read cache
 * that keeps reading ahead after a read while the arm is not needed elsewhere, and a write-back
 * cache: a write is acknowledged once it is in the drive's buffer, and the drive writes its dirty
 * data to the platter while it has nothing else to do (or when the buffer is full), nearest first.
 *
 * Defaults describe the paper's drive, a 2 TB Seagate Constellation ES 7200 rpm (ST2000NM0011
 * datasheet: 8.5 ms average read seek, 4.16 ms average latency, 64 MB cache, 150 MB/s sustained;
 * outer-to-inner zone rates of about 175 to 83 MB/s are typical of that family). What the datasheet
 * leaves open (track-to-track seek, cache segmentation, read-ahead depth, command overhead) uses
 * values typical of SATA drives of its generation, named below.
 */
export interface HddParams {
  capacityBytes: number;
  rpm: number;
  avgSeekMs: number;
  trackToTrackSeekMs: number;
  outerMBps: number;
  innerMBps: number;
  /** Tracks per cylinder (heads): moves within a cylinder need no seek. */
  heads: number;
  cacheSegments: number;
  /** How far the drive reads ahead into a segment after a read, while idle. */
  readAheadBytes: number;
  /** Per-command controller and protocol overhead. */
  commandOverheadUs: number;
  /** Interface rate for data served from the cache (SATA 3 Gb/s). */
  busMBps: number;
  /** How much of the buffer may hold acknowledged, unwritten data; 0 turns write caching off. */
  writeCacheBytes: number;
  /** Dirty extents, in sector order from the head, among which the drive picks the nearest. */
  destageCandidates: number;
}

export const CONSTELLATION_ES_2TB: HddParams = {
  capacityBytes: 2e12,
  rpm: 7200,
  avgSeekMs: 8.5,
  trackToTrackSeekMs: 0.8,
  outerMBps: 175,
  innerMBps: 83,
  heads: 8,
  // The datasheet's 64 MB cache: room for 64 segments of 1 MiB read-ahead each, or more smaller ones.
  cacheSegments: 64,
  readAheadBytes: 1 << 20,
  commandOverheadUs: 100,
  busMBps: 300,
  // SATA drives ship with write caching on and Linux leaves it on (swap I/O asks for no flush).
  // How much of the 64 MB may be dirty is firmware policy the datasheet does not give: half.
  writeCacheBytes: 32 << 20,
  // Rotational position ordering over a handful of queued extents, as NCQ's 32-deep queue allows.
  destageCandidates: 16,
};

/**
 * x % 1 for a fraction of a turn in (0, 2), without fmod: x - 1 is exact for x in [1, 2)
 * (Sterbenz), so the result is the same to the last bit.
 */
const wrapTurn = (x: number): number => (x >= 1 ? x - 1 : x);

/** The stretch of disk, in sectors, that one coverage count stands for (4 MiB). */
const COVER_SECTORS = 8192;

/** `streamIdx` when the drive is not reading ahead. */
const NOT_STREAMING = -1;
/** `streamIdx` when a write invalidated the read-ahead segment; the stream is frozen at once after. */
const DETACHED = -2;

const MS = 1e6;

export class Hdd implements DiskModel {
  readonly name = 'hdd';
  readonly parallelism = 1;
  readonly capacitySectors: number;
  private readonly p: HddParams;
  private readonly revNs: number;
  private readonly fullStrokeNs: number;
  private headSector = 0;
  /**
   * The read cache's segments in the order they were made: segment i holds [segStart[i], segEnd[i])
   * (while streaming, valid data goes further: see validEnd()), last used at segLastUseNs[i].
   * Parallel typed arrays: every read scans them all.
   */
  private segStart = new Float64Array(64);
  private segEnd = new Float64Array(64);
  private segLastUseNs = new Float64Array(64);
  private segCount = 0;
  /** Sectors the segments span, the sum of segEnd[i] - segStart[i] (kept by cover()). */
  private segSectors = 0;
  /**
   * How many segments reach into each COVER_SECTORS-sector stretch of the disk: a request in a
   * stretch no segment reaches cannot hit the cache, nor can a write there invalidate anything, so
   * neither scans the segments.
   */
  private readonly coverage: Uint32Array;
  /** The segment the drive is filling by read-ahead, from `streamFromNs` at the media rate. */
  private streamIdx = NOT_STREAMING;
  /** The read-ahead segment's bounds after a write dropped it from the cache (DETACHED). */
  private detachedStart = 0;
  private detachedEnd = 0;
  private streamFromNs = 0;
  private streamLimit = 0;
  /**
   * Acknowledged writes not yet on the platter, sorted by sector, adjacent ones merged: extent i is
   * [dirtyStart[i], dirtyEnd[i]). Parallel typed arrays, because the drive inserts and removes in
   * the middle of a list of thousands of extents on every write (an array of objects made that
   * the simulator's hottest spot).
   */
  private dirtyStart = new Float64Array(64);
  private dirtyEnd = new Float64Array(64);
  private dirtyCount = 0;
  private dirtySectors = 0;
  /** When the drive finished its last command (or background write), i.e. became idle. */
  private idleFromNs = 0;

  constructor(params: Partial<HddParams> = {}) {
    this.p = { ...CONSTELLATION_ES_2TB, ...params };
    const p = this.p;
    for (const [k, v] of Object.entries(p)) {
      const zeroOk = k === 'writeCacheBytes';
      if (typeof v !== 'number' || !(zeroOk ? v >= 0 : v > 0))
        throw new RangeError(
          `hdd.${k}: must be a ${zeroOk ? 'non-negative' : 'positive'} number, got ${String(v)}`,
        );
    }
    if (!Number.isInteger(p.destageCandidates))
      throw new RangeError(`hdd.destageCandidates: must be an integer, got ${p.destageCandidates}`);
    if (p.innerMBps > p.outerMBps) throw new RangeError('hdd.innerMBps: must not exceed outerMBps');
    if (p.avgSeekMs <= p.trackToTrackSeekMs)
      throw new RangeError('hdd.avgSeekMs: must exceed trackToTrackSeekMs');
    this.capacitySectors = Math.floor(p.capacityBytes / 512);
    this.coverage = new Uint32Array(Math.floor(this.capacitySectors / COVER_SECTORS) + 1);
    this.revNs = 60e9 / p.rpm;
    // seek(d) = t2t + k * sqrt(d) over the stroke fraction d; for uniform random endpoints the mean
    // of sqrt(|x - y|) is 8/15, which pins k to the datasheet's average seek.
    this.fullStrokeNs = (p.avgSeekMs - p.trackToTrackSeekMs) * MS * (15 / 8);
  }

  /** Media transfer rate at a sector, in bytes per ns (zoned: outer tracks are faster). */
  rateBytesPerNs(sector: number): number {
    const f = Math.min(1, sector / this.capacitySectors);
    return (this.p.outerMBps - (this.p.outerMBps - this.p.innerMBps) * f) * 1e-3;
  }

  sectorsPerTrack(sector: number): number {
    return Math.max(1, Math.round((this.rateBytesPerNs(sector) * this.revNs) / 512));
  }

  seekNs(from: number, to: number): number {
    const d = Math.abs(to - from);
    if (d < this.sectorsPerTrack(from) * this.p.heads) return 0;
    return this.p.trackToTrackSeekMs * MS + this.fullStrokeNs * Math.sqrt(d / this.capacitySectors);
  }

  service(req: MediaRequest, nowNs: number): number {
    const startNs = this.destageWhileIdle(nowNs);
    const doneNs = this.serve(req, startNs);
    this.idleFromNs = doneNs;
    return doneNs - nowNs;
  }

  /** Dirty data not yet on the platter, in sectors. */
  get dirtyBacklogSectors(): number {
    return this.dirtySectors;
  }

  private serve(req: MediaRequest, nowNs: number): number {
    const end = req.sector + req.sectors;
    const overheadNs = this.p.commandOverheadUs * 1e3;
    if (req.op === 'read') {
      const si = this.streamIdx;
      if (si >= 0 && req.sector >= this.segStart[si]! && end <= this.streamLimit) {
        const valid = this.validEnd(nowNs);
        if (req.sector <= valid) {
          // Served from the read-ahead segment, waiting for the media only if it is not there yet.
          const waitNs = end > valid ? ((end - valid) * 512) / this.rateBytesPerNs(valid) : 0;
          this.segLastUseNs[si] = nowNs;
          return nowNs + overheadNs + waitNs + this.busNs(req.sectors);
        }
      }
      const ss = this.segStart;
      const se = this.segEnd;
      if (this.coverage[this.bucket(req.sector)]! > 0) {
        for (let i = 0, n = this.segCount; i < n; i++) {
          if (i !== si && req.sector >= ss[i]! && end <= se[i]!) {
            this.segLastUseNs[i] = nowNs;
            return nowNs + overheadNs + this.busNs(req.sectors);
          }
        }
      }
      if (this.dirtyCovers(req.sector, end)) return nowNs + overheadNs + this.busNs(req.sectors);
    } else if (this.p.writeCacheBytes > 0) {
      this.invalidate(req.sector, end);
      if (this.streamIdx !== NOT_STREAMING && this.streamStart() < end && req.sector < this.streamLimit)
        this.freezeStream(nowNs);
      let t = nowNs;
      const cap = this.p.writeCacheBytes / 512;
      if (this.dirtySectors + req.sectors > cap) {
        // The buffer is full: the drive must first write some of it out.
        this.freezeStream(t);
        while (this.dirtyCount > 0 && this.dirtySectors + req.sectors > cap) t = this.destageOne(t);
      }
      this.addDirty(req.sector, end);
      return t + overheadNs + this.busNs(req.sectors);
    }
    this.freezeStream(nowNs);
    if (req.op === 'write') this.invalidate(req.sector, end);
    const doneNs = this.mediaAccess(req.sector, req.sectors, nowNs + overheadNs);
    if (req.op === 'read') this.startStream(req.sector, end, doneNs);
    return doneNs;
  }

  /** Moves the arm to `sector` and transfers `sectors` from `atNs`; returns when it is done. */
  private mediaAccess(sector: number, sectors: number, atNs: number): number {
    const arriveNs = atNs + this.seekNs(this.headSector, sector);
    const rotNs = this.rotationNs(sector, arriveNs) | 0;
    const xferNs = (sectors * 512) / this.rateBytesPerNs(sector);
    this.headSector = sector + sectors;
    return arriveNs + rotNs + xferNs;
  }

  /** Positioning time (seek and rotation) from the head to `sector`, starting at `atNs`. */
  private accessNs(sector: number, atNs: number): number {
    const arriveNs = atNs + this.seekNs(this.headSector, sector);
    return arriveNs - atNs + this.rotationNs(sector, arriveNs);
  }

  /** How long, from `arriveNs` over its track, the head waits for `sector` to come round. */
  private rotationNs(sector: number, arriveNs: number): number {
    const spt = this.sectorsPerTrack(sector);
    const angle = (arriveNs % this.revNs) / this.revNs;
    return wrapTurn((sector % spt) / spt - angle + 1) * this.revNs;
  }

  /**
   * The drive was idle from its last command until `nowNs`: it finished its read-ahead, then wrote
   * dirty data out. Returns when it can start the new command (after the write under way).
   */
  private destageWhileIdle(nowNs: number): number {
    if (this.dirtyCount === 0) return nowNs;
    let t = this.idleFromNs;
    if (this.streamIdx !== NOT_STREAMING) {
      const e = this.streamEnd();
      t = Math.max(t, this.streamFromNs + ((this.streamLimit - e) * 512) / this.rateBytesPerNs(e));
    }
    if (t >= nowNs) return nowNs;
    this.freezeStream(t);
    while (this.dirtyCount > 0 && t < nowNs) t = this.destageOne(t);
    return Math.max(t, nowNs);
  }

  /** Writes the dirty extent reachable soonest among the next few in sector order; returns when done. */
  private destageOne(atNs: number): number {
    const n = this.dirtyCount;
    const ds = this.dirtyStart;
    const k = Math.min(n, this.p.destageCandidates);
    const first = this.firstDirtyFrom(this.headSector);
    let best = -1;
    let bestNs = Infinity;
    for (let i = 0; i < k; i++) {
      const idx = (first + i) % n;
      const ns = this.accessNs(ds[idx]!, atNs);
      if (ns < bestNs) {
        bestNs = ns;
        best = idx;
      }
    }
    const start = ds[best]!;
    const end = this.dirtyEnd[best]!;
    this.replaceDirty(best, best + 1, -1, -1);
    this.dirtySectors -= end - start;
    return this.mediaAccess(start, end - start, atNs);
  }

  /** Index of the first dirty extent at or after `sector`, wrapping to 0. */
  private firstDirtyFrom(sector: number): number {
    const ds = this.dirtyStart;
    const n = this.dirtyCount;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ds[mid]! < sector) lo = mid + 1;
      else hi = mid;
    }
    return lo === n ? 0 : lo;
  }

  private dirtyCovers(start: number, end: number): boolean {
    const n = this.dirtyCount;
    if (n === 0) return false;
    let i = this.firstDirtyFrom(start + 1);
    i = i === 0 ? n - 1 : i - 1;
    return this.dirtyStart[i]! <= start && end <= this.dirtyEnd[i]!;
  }

  /** Adds [start, end) to the dirty set, merging with what it overlaps or touches. */
  private addDirty(start: number, end: number): void {
    const n = this.dirtyCount;
    const ds = this.dirtyStart;
    const de = this.dirtyEnd;
    if (n === 0 || de[n - 1]! < start) {
      // Past everything buffered (the common case: writes in ascending order).
      this.replaceDirty(n, n, start, end);
      this.dirtySectors += end - start;
      return;
    }
    let i = this.firstDirtyFrom(start);
    if (i === 0 && ds[0]! < start) i = n;
    let j = i;
    // Merge with the extent before when it reaches `start`.
    if (i > 0 && de[i - 1]! >= start) {
      i--;
      start = ds[i]!;
      end = Math.max(end, de[i]!);
      this.dirtySectors -= de[i]! - ds[i]!;
    }
    while (j < n && ds[j]! <= end) {
      end = Math.max(end, de[j]!);
      this.dirtySectors -= de[j]! - ds[j]!;
      j++;
    }
    this.replaceDirty(i, j, start, end);
    this.dirtySectors += end - start;
  }

  /** Replaces dirty extents [from, to) with [start, end), or with nothing when start < 0. */
  private replaceDirty(from: number, to: number, start: number, end: number): void {
    const n = this.dirtyCount;
    const insert = start < 0 ? 0 : 1;
    const newCount = n - (to - from) + insert;
    if (newCount > this.dirtyStart.length) {
      // At most one extent more than there were: doubling is always enough.
      this.dirtyStart = grow(this.dirtyStart);
      this.dirtyEnd = grow(this.dirtyEnd);
    }
    const ds = this.dirtyStart;
    const de = this.dirtyEnd;
    const at = from + insert;
    if (at !== to && to < n) {
      ds.copyWithin(at, to, n);
      de.copyWithin(at, to, n);
    }
    if (insert) {
      ds[from] = start;
      de[from] = end;
    }
    this.dirtyCount = newCount;
  }

  private busNs(sectors: number): number {
    return (sectors * 512) / (this.p.busMBps * 1e-3);
  }

  /** Where the read-ahead segment starts (only while streaming). */
  private streamStart(): number {
    return this.streamIdx >= 0 ? this.segStart[this.streamIdx]! : this.detachedStart;
  }

  /** Where the read-ahead segment's data ended when streaming started (only while streaming). */
  private streamEnd(): number {
    return this.streamIdx >= 0 ? this.segEnd[this.streamIdx]! : this.detachedEnd;
  }

  private validEnd(nowNs: number): number {
    const e = this.streamEnd();
    if (nowNs <= this.streamFromNs) return e;
    const grown = ((nowNs - this.streamFromNs) * this.rateBytesPerNs(e)) / 512;
    return Math.min(this.streamLimit, Math.floor(e + grown));
  }

  private freezeStream(nowNs: number): void {
    if (this.streamIdx === NOT_STREAMING) return;
    const e = this.validEnd(nowNs);
    const si = this.streamIdx;
    if (si >= 0) {
      this.cover(si, -1);
      this.segEnd[si] = e;
      this.cover(si, 1);
    }
    this.headSector = e;
    this.streamIdx = NOT_STREAMING;
  }

  private startStream(start: number, end: number, fromNs: number): void {
    this.streamLimit = Math.min(this.capacitySectors, end + Math.floor(this.p.readAheadBytes / 512));
    if (this.segCount === this.segStart.length) {
      this.segStart = grow(this.segStart);
      this.segEnd = grow(this.segEnd);
      this.segLastUseNs = grow(this.segLastUseNs);
    }
    const ss = this.segStart;
    const se = this.segEnd;
    const lastUse = this.segLastUseNs;
    // Sectors held by the segments already there, before the new one is added at the end.
    let used = this.streamLimit - start + this.segSectors;
    let seg = this.segCount++;
    ss[seg] = start;
    se[seg] = end;
    lastUse[seg] = fromNs;
    this.cover(seg, 1);
    // The buffer holds bytes, not a fixed number of segments: reads cut short by the next command
    // leave small segments, and more of them fit (adaptive segmentation). The new segment claims
    // its whole read-ahead.
    const capacitySectors = (this.p.cacheSegments * this.p.readAheadBytes) / 512;
    while (used > capacitySectors && this.segCount > 1) {
      let lru = -1;
      for (let i = 0; i < this.segCount; i++) {
        if (i !== seg && (lru < 0 || lastUse[i]! < lastUse[lru]!)) lru = i;
      }
      used -= se[lru]! - ss[lru]!;
      this.cover(lru, -1);
      this.removeSegments(lru, lru + 1);
      if (lru < seg) seg--;
    }
    this.streamIdx = seg;
    this.streamFromNs = fromNs;
  }

  private invalidate(start: number, end: number): void {
    const ss = this.segStart;
    const se = this.segEnd;
    const lastUse = this.segLastUseNs;
    const si = this.streamIdx;
    const n = this.segCount;
    const cov = this.coverage;
    let reached = false;
    for (let b = this.bucket(start), last = this.bucket(end - 1); b <= last; b++) {
      if (cov[b]! > 0) {
        reached = true;
        break;
      }
    }
    if (!reached) return;
    // Most writes overlap no cached data: find the first segment that goes before moving any.
    let kept = 0;
    while (kept < n && (se[kept]! <= start || ss[kept]! >= end)) kept++;
    if (kept === n) return;
    for (let i = kept; i < n; i++) {
      if (se[i]! <= start || ss[i]! >= end) {
        if (i === si) this.streamIdx = kept;
        ss[kept] = ss[i]!;
        se[kept] = se[i]!;
        lastUse[kept] = lastUse[i]!;
        kept++;
      } else {
        this.cover(i, -1);
        if (i === si) {
          this.detachedStart = ss[i]!;
          this.detachedEnd = se[i]!;
          this.streamIdx = DETACHED;
        }
      }
    }
    this.segCount = kept;
  }

  /** Adds (by 1) or removes (by -1) segment i's stretches from the coverage counts. */
  private cover(i: number, by: number): void {
    const start = this.segStart[i]!;
    // Whole sectors: the sum is exact in any order.
    this.segSectors += by * (this.segEnd[i]! - start);
    // An empty segment still counts where it sits: the overlap test of invalidate() can remove it.
    const last = this.bucket(Math.max(start, this.segEnd[i]! - 1));
    for (let b = this.bucket(start); b <= last; b++) this.coverage[b]! += by;
  }

  /** The coverage count for a sector (requests past the end, which the block layer refuses, share the last). */
  private bucket(sector: number): number {
    return Math.max(0, Math.min(this.coverage.length - 1, Math.floor(sector / COVER_SECTORS)));
  }

  /** Drops segments [from, to), keeping the others in order. */
  private removeSegments(from: number, to: number): void {
    const n = this.segCount;
    this.segStart.copyWithin(from, to, n);
    this.segEnd.copyWithin(from, to, n);
    this.segLastUseNs.copyWithin(from, to, n);
    this.segCount = n - (to - from);
  }
}

function grow(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}
