import type { DiskModel, MediaRequest } from './model.js';

/**
 * A flash disk: fixed per-operation latency plus transfer at the channel bandwidth, several
 * operations in parallel, no seek and no dependence on the previous request. Defaults are a 2013
 * SATA SSD (about 100 us read / 60 us write access, 500 MB/s read and 400 MB/s write).
 */
export interface SsdParams {
  capacityBytes: number;
  readLatencyUs: number;
  writeLatencyUs: number;
  readMBps: number;
  writeMBps: number;
  channels: number;
}

export const SATA_SSD_2013: SsdParams = {
  capacityBytes: 512e9,
  readLatencyUs: 100,
  writeLatencyUs: 60,
  readMBps: 500,
  writeMBps: 400,
  channels: 4,
};

export class Ssd implements DiskModel {
  readonly name = 'ssd';
  readonly capacitySectors: number;
  readonly parallelism: number;
  private readonly p: SsdParams;

  constructor(params: Partial<SsdParams> = {}) {
    this.p = { ...SATA_SSD_2013, ...params };
    for (const [k, v] of Object.entries(this.p)) {
      if (typeof v !== 'number' || !(v > 0))
        throw new RangeError(`ssd.${k}: must be a positive number, got ${String(v)}`);
    }
    this.capacitySectors = Math.floor(this.p.capacityBytes / 512);
    this.parallelism = Math.floor(this.p.channels);
  }

  service(req: MediaRequest, _nowNs: number): number {
    const read = req.op === 'read';
    const latencyNs = (read ? this.p.readLatencyUs : this.p.writeLatencyUs) * 1e3;
    // Each channel gets its share of the device bandwidth.
    const perChannelBytesPerNs = ((read ? this.p.readMBps : this.p.writeMBps) * 1e-3) / this.parallelism;
    return latencyNs + (req.sectors * 512) / perChannelBytesPerNs;
  }
}
