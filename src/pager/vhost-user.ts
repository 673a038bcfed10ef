import { GuestMemory, type MemoryRegion } from './guest-memory.js';
import { Virtqueue } from './virtqueue.js';

/**
 * The vhost-user protocol, back-end side (docs/interop/vhost-user.rst in QEMU), for one virtio-blk
 * device with one queue. QEMU (the front end) sends requests over a Unix socket: features, the guest
 * memory table (with the RAM's file descriptors), and each vring's size, addresses, base index and
 * kick/call eventfds. This class turns them into state and replies; the caller owns the socket and
 * the mapping of descriptors (through `Host`), so the protocol logic is testable without QEMU.
 */
export const Req = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  GET_MAX_MEM_SLOTS: 36,
  SET_STATUS: 39,
  GET_STATUS: 40,
} as const;

export const HEADER_BYTES = 12;
const VERSION = 1;
const FLAG_REPLY = 4;
/** The largest payload QEMU sends (VhostUserPayload's size is well under this). */
export const MAX_PAYLOAD = 4096;

const bit = (n: number): bigint => 1n << BigInt(n);
/** virtio-blk: seg_max, blk_size, flush; virtio: indirect descriptors, version 1; vhost-user: protocol features. */
export const DEVICE_FEATURES =
  bit(2) /* VIRTIO_BLK_F_SEG_MAX */ |
  bit(6) /* VIRTIO_BLK_F_BLK_SIZE */ |
  bit(9) /* VIRTIO_BLK_F_FLUSH */ |
  bit(28) /* VIRTIO_RING_F_INDIRECT_DESC */ |
  bit(30) /* VHOST_USER_F_PROTOCOL_FEATURES */ |
  bit(32); /* VIRTIO_F_VERSION_1 */
const F_INDIRECT = bit(28);
const F_PROTOCOL = bit(30);
/** Only VHOST_USER_PROTOCOL_F_CONFIG: QEMU's vhost-user-blk reads the device config through it. */
export const PROTOCOL_FEATURES = bit(9);
const VRING_NOFD = 0x100;

export class VhostUserError extends Error {
  override name = 'VhostUserError';
}

export interface Message {
  request: number;
  flags: number;
  payload: Uint8Array;
  fds: number[];
}

/** What the protocol needs from the process: mapping guest RAM and closing descriptors. */
export interface Host {
  /** Maps `sizeBytes` of `fd` from `fileOffset` (shared, read-write); returns our view and address. */
  map(fd: number, fileOffset: number, sizeBytes: number): { bytes: Uint8Array; addr: number };
  unmap(r: MemoryRegion): void;
  close(fd: number): void;
}

/** One vring as the front end configured it. */
export interface VringState {
  num: number;
  addrs: { descUser: number; availUser: number; usedUser: number } | undefined;
  base: number;
  kickFd: number;
  callFd: number;
  enabled: boolean;
  /** Set once the ring may run (kick received, and enabled where that applies). */
  queue: Virtqueue | undefined;
}

export interface BlkGeometry {
  capacitySectors: number;
  blockBytes: number;
  queueSize: number;
}

/** The virtio-blk config space (struct virtio_blk_config), as many bytes as QEMU asks for. */
export function blkConfig(g: BlkGeometry, size: number): Uint8Array {
  const b = new Uint8Array(Math.max(size, 64));
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(g.capacitySectors), true);
  v.setUint32(12, g.queueSize - 2, true); // seg_max: two descriptors go to the header and status
  v.setUint32(20, g.blockBytes, true); // blk_size
  v.setUint16(34, 1, true); // num_queues
  return b.subarray(0, size);
}

function u64(p: Uint8Array, off: number): number {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength).getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new VhostUserError(`value ${v} at ${off} is out of range`);
  return Number(v);
}
function u32(p: Uint8Array, off: number): number {
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(off, true);
}

export function encodeReply(request: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, VERSION | FLAG_REPLY, true);
  v.setUint32(8, payload.length, true);
  out.set(payload, HEADER_BYTES);
  return out;
}

function u64Payload(x: bigint | number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(x), true);
  return b;
}

export class VhostUserBlk {
  features = 0n;
  protocolFeatures = 0n;
  mem: GuestMemory | undefined;
  readonly rings: VringState[];
  /** Called when a ring starts (kick fd and addresses known), and when guest RAM is (re)mapped. */
  onRingStarted: (index: number) => void = () => undefined;
  onRingStopped: (index: number) => void = () => undefined;
  onMemTable: (mem: GuestMemory) => void = () => undefined;

  constructor(
    private readonly host: Host,
    readonly geometry: BlkGeometry,
  ) {
    this.rings = [this.freshRing()];
  }

  private freshRing(): VringState {
    return { num: 0, addrs: undefined, base: 0, kickFd: -1, callFd: -1, enabled: false, queue: undefined };
  }

  /** Handles one message; returns the reply to send, if the request has one. */
  handle(m: Message): Uint8Array | undefined {
    const p = m.payload;
    const need = (n: number): void => {
      if (p.length < n)
        throw new VhostUserError(`request ${m.request}: payload of ${p.length} bytes, ${n} needed`);
    };
    const ring = (): VringState => {
      need(4);
      const i = u32(p, 0) & 0xff;
      const r = this.rings[i];
      if (!r) throw new VhostUserError(`request ${m.request}: no vring ${i} (one queue)`);
      return r;
    };
    // Descriptors we do not keep are closed at the end, whatever happens.
    const keep = new Set<number>();
    try {
      switch (m.request) {
        case Req.GET_FEATURES:
          return encodeReply(m.request, u64Payload(DEVICE_FEATURES));
        case Req.SET_FEATURES:
          need(8);
          this.features = new DataView(p.buffer, p.byteOffset).getBigUint64(0, true);
          if (this.features & ~DEVICE_FEATURES)
            throw new VhostUserError(
              `front end acked features we did not offer: 0x${this.features.toString(16)}`,
            );
          return undefined;
        case Req.SET_OWNER:
          return undefined;
        case Req.RESET_OWNER:
          this.reset();
          return undefined;
        case Req.GET_PROTOCOL_FEATURES:
          return encodeReply(m.request, u64Payload(PROTOCOL_FEATURES));
        case Req.SET_PROTOCOL_FEATURES:
          need(8);
          this.protocolFeatures = new DataView(p.buffer, p.byteOffset).getBigUint64(0, true);
          return undefined;
        case Req.GET_QUEUE_NUM:
          return encodeReply(m.request, u64Payload(1));
        case Req.SET_MEM_TABLE:
          this.setMemTable(p, m.fds);
          return undefined;
        case Req.SET_VRING_NUM: {
          const r = ring();
          need(8);
          r.num = u32(p, 4);
          return undefined;
        }
        case Req.SET_VRING_ADDR: {
          const r = ring();
          need(40);
          r.addrs = { descUser: u64(p, 8), usedUser: u64(p, 16), availUser: u64(p, 24) };
          return undefined;
        }
        case Req.SET_VRING_BASE: {
          const r = ring();
          need(8);
          r.base = u32(p, 4) & 0xffff;
          return undefined;
        }
        case Req.GET_VRING_BASE: {
          const i = u32(p, 0) & 0xff;
          const r = ring();
          const last = r.queue ? r.queue.lastAvailIdx : r.base;
          this.stopRing(i);
          const b = new Uint8Array(8);
          const v = new DataView(b.buffer);
          v.setUint32(0, i, true);
          v.setUint32(4, last, true);
          return encodeReply(m.request, b);
        }
        case Req.SET_VRING_KICK:
        case Req.SET_VRING_CALL:
        case Req.SET_VRING_ERR: {
          need(8);
          const v = u64(p, 0);
          const i = v & 0xff;
          const r = this.rings[i];
          if (!r) throw new VhostUserError(`request ${m.request}: no vring ${i}`);
          const fd = v & VRING_NOFD ? -1 : (m.fds[0] ?? -1);
          if (!(v & VRING_NOFD) && fd < 0)
            throw new VhostUserError(`request ${m.request}: no file descriptor attached`);
          if (m.request === Req.SET_VRING_ERR) return undefined;
          keep.add(fd);
          if (m.request === Req.SET_VRING_CALL) {
            if (r.callFd >= 0) this.host.close(r.callFd);
            r.callFd = fd;
            return undefined;
          }
          if (fd < 0)
            throw new VhostUserError('polling mode (a vring without a kick descriptor) is not supported');
          if (r.kickFd >= 0) this.host.close(r.kickFd);
          r.kickFd = fd;
          this.maybeStart(i);
          return undefined;
        }
        case Req.SET_VRING_ENABLE: {
          const r = ring();
          need(8);
          r.enabled = u32(p, 4) !== 0;
          this.maybeStart(u32(p, 0) & 0xff);
          return undefined;
        }
        case Req.GET_CONFIG: {
          need(12);
          const off = u32(p, 0);
          const size = u32(p, 4);
          if (size > 256 || off > 256) throw new VhostUserError(`GET_CONFIG of ${size} bytes at ${off}`);
          const cfg = blkConfig(this.geometry, off + size).subarray(off);
          const out = new Uint8Array(12 + size);
          out.set(p.subarray(0, 12));
          out.set(cfg, 12);
          return encodeReply(m.request, out);
        }
        case Req.SET_CONFIG:
        case Req.SET_LOG_BASE:
        case Req.SET_LOG_FD:
        case Req.SET_STATUS:
          return undefined;
        case Req.GET_STATUS:
          return encodeReply(m.request, u64Payload(0));
        default:
          throw new VhostUserError(`request ${m.request} is not supported by this back end`);
      }
    } finally {
      for (const fd of m.fds) if (!keep.has(fd)) this.host.close(fd);
    }
  }

  private setMemTable(p: Uint8Array, fds: number[]): void {
    if (p.length < 8) throw new VhostUserError('SET_MEM_TABLE: short payload');
    const n = u32(p, 0);
    if (n < 1 || n > 8 || p.length < 8 + 32 * n)
      throw new VhostUserError(`SET_MEM_TABLE: ${n} regions in ${p.length} bytes`);
    if (fds.length !== n)
      throw new VhostUserError(`SET_MEM_TABLE: ${n} regions but ${fds.length} descriptors`);
    for (const ring of this.rings.keys()) this.stopRing(ring);
    this.unmapAll();
    const regions: MemoryRegion[] = [];
    for (let i = 0; i < n; i++) {
      const at = 8 + 32 * i;
      const gpa = u64(p, at);
      const sizeBytes = u64(p, at + 8);
      const userAddr = u64(p, at + 16);
      const fileOffset = u64(p, at + 24);
      const m = this.host.map(fds[i]!, fileOffset, sizeBytes);
      regions.push({ gpa, sizeBytes, userAddr, fileOffset, bytes: m.bytes, addr: m.addr });
    }
    // The region descriptors are closed when handle() returns: the mappings keep the memory.
    this.mem = new GuestMemory(regions);
    this.onMemTable(this.mem);
  }

  private maybeStart(i: number): void {
    const r = this.rings[i]!;
    const enabled = r.enabled || (this.features & F_PROTOCOL) === 0n;
    if (r.queue || !enabled || r.kickFd < 0 || !r.addrs || !this.mem || r.num === 0) return;
    r.queue = new Virtqueue(this.mem, r.num, r.addrs, (this.features & F_INDIRECT) !== 0n);
    r.queue.lastAvailIdx = r.base;
    this.onRingStarted(i);
  }

  private stopRing(i: number): void {
    const r = this.rings[i]!;
    if (!r.queue) return;
    r.base = r.queue.lastAvailIdx;
    r.queue = undefined;
    this.onRingStopped(i);
  }

  private unmapAll(): void {
    if (!this.mem) return;
    for (const r of this.mem.regions) this.host.unmap(r);
    this.mem = undefined;
  }

  /** Forgets everything (RESET_OWNER, or the front end went away); closes descriptors we hold. */
  reset(): void {
    for (const [i, r] of this.rings.entries()) {
      this.stopRing(i);
      if (r.kickFd >= 0) this.host.close(r.kickFd);
      if (r.callFd >= 0) this.host.close(r.callFd);
      this.rings[i] = this.freshRing();
    }
    this.unmapAll();
    this.features = 0n;
    this.protocolFeatures = 0n;
  }
}

/** Parses a message header; throws on a version or size the protocol does not allow. */
export function parseHeader(h: Uint8Array): { request: number; flags: number; size: number } {
  const v = new DataView(h.buffer, h.byteOffset, HEADER_BYTES);
  const request = v.getUint32(0, true);
  const flags = v.getUint32(4, true);
  const size = v.getUint32(8, true);
  if ((flags & 3) !== VERSION) throw new VhostUserError(`message version ${flags & 3} (expected ${VERSION})`);
  if (size > MAX_PAYLOAD)
    throw new VhostUserError(`message payload of ${size} bytes (at most ${MAX_PAYLOAD})`);
  return { request, flags, size };
}
