/** One request as the device sees it, after the block layer merged what it could. */
export interface MediaRequest {
  op: 'read' | 'write';
  sector: number;
  sectors: number;
}

/**
 * A storage device's mechanism. One interface, several implementations (HDD, SSD), one conformance
 * suite (test/disk-conformance.test.ts) that every implementation passes.
 */
export interface DiskModel {
  readonly name: string;
  readonly capacitySectors: number;
  /** Requests the device serves at once: 1 for a disk arm, several for an SSD's channels. */
  readonly parallelism: number;
  /** How long the device is busy serving `req`, started at `nowNs`. Updates the device's state. */
  service(req: MediaRequest, nowNs: number): number;
}
