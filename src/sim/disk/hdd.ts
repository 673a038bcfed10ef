import type { DiskModel, MediaRequest } from './model.js';

/**
 * A rotating disk: seek curve, rotational position, zoned transfer rate and a segmented read cache
 * that keeps reading ahead after a read while the arm is not needed elsewhere.
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
}

export const CONSTELLATION_ES_2TB: HddParams = {
  capacityBytes: 2e12,
  rpm: 7200,
  avgSeekMs: 8.5,
  trackToTrackSeekMs: 0.8,
  outerMBps: 175,
  innerMBps: 83,
  heads: 8,
  // The datasheet's 64 MB cache, as 64 segments of 1 MiB read-ahead each.
  cacheSegments: 64,
  readAheadBytes: 1 << 20,
  commandOverheadUs: 100,
  busMBps: 300,
};

interface Segment {
  start: number;
  /** Data valid up to here (exclusive) when frozen; while streaming, see validEnd(). */
  end: number;
  lastUseNs: number;
}

const MS = 1e6;

export class Hdd implements DiskModel {
  readonly name = 'hdd';
  readonly parallelism = 1;
  readonly capacitySectors: number;
  private readonly p: HddParams;
  private readonly revNs: number;
  private readonly fullStrokeNs: number;
  private headSector = 0;
  private segments: Segment[] = [];
  /** The segment the drive is filling by read-ahead, from `streamFromNs` at the media rate. */
  private streaming: Segment | null = null;
  private streamFromNs = 0;
  private streamLimit = 0;

  constructor(params: Partial<HddParams> = {}) {
    this.p = { ...CONSTELLATION_ES_2TB, ...params };
    const p = this.p;
    for (const [k, v] of Object.entries(p)) {
      if (typeof v !== 'number' || !(v > 0))
        throw new RangeError(`hdd.${k}: must be a positive number, got ${String(v)}`);
    }
    if (p.innerMBps > p.outerMBps) throw new RangeError('hdd.innerMBps: must not exceed outerMBps');
    if (p.avgSeekMs <= p.trackToTrackSeekMs)
      throw new RangeError('hdd.avgSeekMs: must exceed trackToTrackSeekMs');
    this.capacitySectors = Math.floor(p.capacityBytes / 512);
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
    const end = req.sector + req.sectors;
    const overheadNs = this.p.commandOverheadUs * 1e3;
    if (req.op === 'read') {
      const s = this.streaming;
      if (s && req.sector >= s.start && req.sector <= this.validEnd(nowNs) && end <= this.streamLimit) {
        // Served from the read-ahead segment, waiting for the media only if it is not there yet.
        const valid = this.validEnd(nowNs);
        const waitNs = end > valid ? ((end - valid) * 512) / this.rateBytesPerNs(valid) : 0;
        s.lastUseNs = nowNs;
        return overheadNs + waitNs + this.busNs(req.sectors);
      }
      for (const seg of this.segments) {
        if (seg !== s && req.sector >= seg.start && end <= seg.end) {
          seg.lastUseNs = nowNs;
          return overheadNs + this.busNs(req.sectors);
        }
      }
    }
    this.freezeStream(nowNs);
    if (req.op === 'write') this.invalidate(req.sector, end);
    const seekNs = this.seekNs(this.headSector, req.sector);
    const arriveNs = nowNs + overheadNs + seekNs;
    const spt = this.sectorsPerTrack(req.sector);
    const targetAngle = (req.sector % spt) / spt;
    const angle = (arriveNs % this.revNs) / this.revNs;
    const rotNs = (((targetAngle - angle + 1) % 1) * this.revNs) | 0;
    const xferNs = (req.sectors * 512) / this.rateBytesPerNs(req.sector);
    const doneNs = arriveNs + rotNs + xferNs;
    this.headSector = end;
    if (req.op === 'read') this.startStream(req.sector, end, doneNs);
    return doneNs - nowNs;
  }

  private busNs(sectors: number): number {
    return (sectors * 512) / (this.p.busMBps * 1e-3);
  }

  private validEnd(nowNs: number): number {
    const s = this.streaming!;
    if (nowNs <= this.streamFromNs) return s.end;
    const grown = ((nowNs - this.streamFromNs) * this.rateBytesPerNs(s.end)) / 512;
    return Math.min(this.streamLimit, Math.floor(s.end + grown));
  }

  private freezeStream(nowNs: number): void {
    const s = this.streaming;
    if (!s) return;
    s.end = this.validEnd(nowNs);
    this.headSector = s.end;
    this.streaming = null;
  }

  private startStream(start: number, end: number, fromNs: number): void {
    const seg: Segment = { start, end, lastUseNs: fromNs };
    this.segments.push(seg);
    if (this.segments.length > this.p.cacheSegments) {
      let lru = 0;
      for (let i = 1; i < this.segments.length; i++)
        if (this.segments[i]!.lastUseNs < this.segments[lru]!.lastUseNs) lru = i;
      this.segments.splice(lru, 1);
    }
    this.streaming = seg;
    this.streamFromNs = fromNs;
    this.streamLimit = Math.min(this.capacitySectors, end + Math.floor(this.p.readAheadBytes / 512));
  }

  private invalidate(start: number, end: number): void {
    this.segments = this.segments.filter((s) => s.end <= start || s.start >= end);
  }
}
