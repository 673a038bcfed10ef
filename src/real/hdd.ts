/**
 * The paper's drive, for the HDD-like mode: a 2 TB Seagate Constellation 7200 rpm (§5). One place to
 * replace these numbers (e.g. with the simulator's HDD model once it exports them).
 *
 * A random access costs an average seek (8.5 ms) plus half a rotation (4.17 ms): ≈ 12.7 ms, so
 * ≈ 80-120 random operations a second (we use 120, the figure); sequential transfer is zoned,
 * 83-175 MB/s (we use 120 MB/s).
 */
export const HDD = {
  name: 'Seagate Constellation 7200 rpm (8.5 ms avg seek + 4.17 ms avg rotation, 83-175 MB/s zoned)',
  /** Random-access operations per second (seek + rotation bound). */
  randomIops: 120,
  /** Sequential transfer rate, bytes per second. */
  seqBytesPerS: 120 * 1000 * 1000,
  /** Request size of the guest's sequential image reads (virtio-blk, 128 KiB readahead windows). */
  seqRequestBytes: 128 * 1024,
} as const;

export interface Throttle {
  readIops: number;
  writeIops: number;
  readBps: number;
  writeBps: number;
}

/**
 * blkio throttles for the two loop devices (cgroup v1 `blkio.throttle.*`). This host has no
 * device-mapper, nbd or ublk, so blk-throttle's token buckets are the only way to slow a device, and
 * a token bucket cannot tell a seek from a sequential access: it charges every bio. Each device gets
 * the limits of the access pattern it sees here:
 * - swap reads: one seek per swap-in cluster. Linux reads 2^page-cluster (8) contiguous slots around
 *   a faulting slot as separate 4 KiB bios, so a seek's worth of time is spread over that many bios;
 * - swap writes: the swap allocator writes clusters sequentially, so the transfer rate bounds them
 *   (one 4 KiB bio per page: as many a second as the transfer rate allows);
 * - the image: sequential streams of readahead-sized requests at the transfer rate.
 * The simulator's HDD model (seek curve, rotation, zones) is the accurate one; this mode is there so
 * that runtimes are of the paper's order, and results say they come from it.
 */
export function hddThrottles(pageCluster: number): { swap: Throttle; image: Throttle } {
  const page = 4096;
  return {
    swap: {
      readIops: HDD.randomIops * 2 ** pageCluster,
      writeIops: Math.round(HDD.seqBytesPerS / page),
      readBps: HDD.seqBytesPerS,
      writeBps: HDD.seqBytesPerS,
    },
    image: {
      readIops: Math.round(HDD.seqBytesPerS / HDD.seqRequestBytes),
      writeIops: HDD.randomIops,
      readBps: HDD.seqBytesPerS,
      writeBps: HDD.seqBytesPerS,
    },
  };
}
