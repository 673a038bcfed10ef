import type { GuestMemory } from './guest-memory.js';
import type { Segment } from './virtqueue.js';

/** virtio-blk request types and status codes (virtio 1.x §5.2.6). */
export const BlkType = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8 } as const;
export const BlkStatus = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
export const SECTOR_BYTES = 512;
const HEADER_BYTES = 16;
/** The serial number a GET_ID request returns (at most 20 bytes, no terminator needed). */
export const DEVICE_ID = 'vswapper-pager';

/** A byte range of guest RAM the request's data occupies (in request order). */
export interface DataPiece {
  gpa: number;
  len: number;
}

/** A well-formed request, ready for the block layer. */
export interface BlkRequest {
  kind: 'read' | 'write' | 'flush' | 'get-id' | 'unsupported';
  /** The request type as the guest wrote it. */
  type: number;
  /** First 512-byte sector (read, write). */
  sector: number;
  /** Data buffers: filled by the device (read, get-id) or read by it (write). */
  data: DataPiece[];
  dataBytes: number;
  /** Guest-physical address of the status byte. */
  statusGpa: number;
}

/** A request the device cannot execute: it is answered with IOERR at `statusGpa`, or dropped. */
export interface BadRequest {
  kind: 'bad';
  why: string;
  /** Where to write IOERR; undefined when the chain has no writable byte at all. */
  statusGpa: number | undefined;
}

/**
 * Splits a validated descriptor chain into a virtio-blk request: the 16-byte header at the start of
 * the device-readable bytes, the status byte at the end of the device-writable bytes, the data in
 * between, whatever the descriptors' boundaries (the spec forbids a device to rely on them). Checks
 * the data length (whole sectors) and that the request stays inside the disk.
 */
export function parseBlkRequest(
  mem: GuestMemory,
  segments: readonly Segment[],
  capacitySectors: number,
): BlkRequest | BadRequest {
  let readable = 0;
  let writable = 0;
  for (const s of segments) {
    if (s.write) writable += s.len;
    else readable += s.len;
  }
  const statusGpa = writable > 0 ? lastWritableByte(segments) : undefined;
  const bad = (why: string): BadRequest => ({ kind: 'bad', why, statusGpa });
  if (writable === 0) return bad('no device-writable byte for the status');
  if (readable < HEADER_BYTES) return bad(`header of ${readable} bytes (16 needed)`);
  const header = gather(mem, segments, false, 0, HEADER_BYTES);
  const hv = new DataView(header.buffer, header.byteOffset, HEADER_BYTES);
  const type = hv.getUint32(0, true);
  const sector = Number(hv.getBigUint64(8, true));
  const base = { type, sector, statusGpa: statusGpa! };
  switch (type) {
    case BlkType.IN:
    case BlkType.OUT: {
      const read = type === BlkType.IN;
      const dataBytes = read ? writable - 1 : readable - HEADER_BYTES;
      if ((read && readable !== HEADER_BYTES) || (!read && writable !== 1))
        return bad(
          `${read ? 'read' : 'write'} request with ${readable} readable and ${writable} writable bytes`,
        );
      if (dataBytes === 0 || dataBytes % SECTOR_BYTES !== 0)
        return bad(`data of ${dataBytes} bytes is not a positive multiple of ${SECTOR_BYTES}`);
      if (!Number.isSafeInteger(sector) || sector + dataBytes / SECTOR_BYTES > capacitySectors)
        return bad(`sectors ${sector}+${dataBytes / SECTOR_BYTES} outside the disk of ${capacitySectors}`);
      const data = read
        ? slice(segments, true, 0, dataBytes)
        : slice(segments, false, HEADER_BYTES, dataBytes);
      return { kind: read ? 'read' : 'write', ...base, data, dataBytes };
    }
    case BlkType.FLUSH:
      return { kind: 'flush', ...base, data: [], dataBytes: 0 };
    case BlkType.GET_ID: {
      const dataBytes = Math.min(writable - 1, 20);
      return { kind: 'get-id', ...base, data: slice(segments, true, 0, dataBytes), dataBytes };
    }
    default:
      return { kind: 'unsupported', ...base, data: [], dataBytes: 0 };
  }
}

function lastWritableByte(segments: readonly Segment[]): number {
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i]!;
    if (s.write && s.len > 0) return s.gpa + s.len - 1;
  }
  throw new Error('unreachable: writable bytes exist');
}

/** The guest-RAM ranges of bytes [from, from + len) of the readable (or writable) part. */
export function slice(segments: readonly Segment[], write: boolean, from: number, len: number): DataPiece[] {
  const out: DataPiece[] = [];
  let pos = 0;
  const end = from + len;
  for (const s of segments) {
    if (s.write !== write) continue;
    const a = Math.max(pos, from);
    const b = Math.min(pos + s.len, end);
    if (a < b) out.push({ gpa: s.gpa + (a - pos), len: b - a });
    pos += s.len;
    if (pos >= end) break;
  }
  return out;
}

/** Copies bytes [from, from + len) of the readable (or writable) part out of guest RAM. */
function gather(
  mem: GuestMemory,
  segments: readonly Segment[],
  write: boolean,
  from: number,
  len: number,
): Uint8Array {
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of slice(segments, write, from, len)) {
    // Segments were validated to lie inside guest RAM.
    const l = mem.locateGpa(p.gpa, p.len)!;
    out.set(l.region.bytes.subarray(l.off, l.off + p.len), at);
    at += p.len;
  }
  return out;
}

/** Writes `bytes` into the request's data pieces, in order (GET_ID). */
export function scatter(mem: GuestMemory, data: readonly DataPiece[], bytes: Uint8Array): number {
  let at = 0;
  for (const p of data) {
    if (at >= bytes.length) break;
    const n = Math.min(p.len, bytes.length - at);
    const l = mem.locateGpa(p.gpa, n)!;
    l.region.bytes.set(bytes.subarray(at, at + n), l.off);
    at += n;
  }
  return at;
}

/** Writes the status byte. */
export function writeStatus(mem: GuestMemory, statusGpa: number, status: number): void {
  const l = mem.locateGpa(statusGpa, 1)!;
  l.region.bytes[l.off] = status;
}
