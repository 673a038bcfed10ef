import {
  Scratch,
  close,
  connectUnix,
  eventfd,
  eventfdDrain,
  eventfdSignal,
  poll,
  recvWithFds,
  sendWithFds,
} from '../../src/pager/sys.js';
import { BlkType } from '../../src/pager/blk-request.js';
import { Req } from '../../src/pager/vhost-user.js';

const N = 1;
const W = 2;

/**
 * The front end's side of vhost-user (QEMU's part), for tests: negotiates with a back end over its
 * socket, hands it a guest RAM memfd and one vring, and submits virtio-blk requests by writing
 * descriptors into guest RAM through `ram` (our own mapping, which a pager may page: touching it
 * may fault, and the back end's pager serves the fault).
 */
export class VhostFrontend {
  private readonly s = new Scratch(65536);
  private readonly fd: number;
  private readonly kick = eventfd();
  private readonly call = eventfd();
  private readonly v: DataView;
  private availIdx = 0;
  private usedSeen = 0;
  private nextSlot = 0;

  /**
   * @param ram our mapping of guest RAM (guest-physical 0 = offset 0)
   * @param userBase the address the "front end" claims to map RAM at (our mapping's address)
   * @param layout guest-physical addresses of the vring parts and of the request headers area
   */
  constructor(
    socketPath: string,
    readonly ram: Uint8Array,
    ramFd: number,
    userBase: number,
    readonly layout: { desc: number; avail: number; used: number; headers: number; qsize: number },
  ) {
    this.v = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
    this.fd = connectUnix(socketPath, this.s);
    const features = this.request(Req.GET_FEATURES, new Uint8Array(0));
    this.send(Req.SET_OWNER, new Uint8Array(0));
    this.send(Req.SET_FEATURES, features);
    this.request(Req.GET_PROTOCOL_FEATURES, new Uint8Array(0));
    this.send(Req.SET_PROTOCOL_FEATURES, u64(1 << 9));
    const table = new Uint8Array(8 + 32);
    new DataView(table.buffer).setUint32(0, 1, true);
    table.set(u64(0, ram.byteLength, userBase, 0), 8);
    this.send(Req.SET_MEM_TABLE, table, [ramFd]);
    const q = layout.qsize;
    this.send(Req.SET_VRING_NUM, u32(0, q));
    this.send(
      Req.SET_VRING_ADDR,
      cat(u32(0, 0), u64(userBase + layout.desc, userBase + layout.used, userBase + layout.avail, 0)),
    );
    this.send(Req.SET_VRING_BASE, u32(0, 0));
    this.send(Req.SET_VRING_CALL, u64(0), [this.call]);
    this.send(Req.SET_VRING_KICK, u64(0), [this.kick]);
    this.send(Req.SET_VRING_ENABLE, u32(0, 1));
  }

  private send(request: number, payload: Uint8Array, fds: number[] = []): void {
    const m = new Uint8Array(12 + payload.length);
    const v = new DataView(m.buffer);
    v.setUint32(0, request, true);
    v.setUint32(4, 1, true);
    v.setUint32(8, payload.length, true);
    m.set(payload, 12);
    sendWithFds(this.fd, this.s, m, fds);
  }

  private request(request: number, payload: Uint8Array): Uint8Array {
    this.send(request, payload);
    const h = this.readExactly(12);
    const size = new DataView(h.buffer).getUint32(8, true);
    return this.readExactly(size);
  }

  private readExactly(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = recvWithFds(this.fd, this.s, n - got, true);
      if (r.n < 0) throw new Error('back end closed the vhost-user socket');
      out.set(r.data, got);
      got += r.n;
    }
    return out;
  }

  private desc(i: number, gpa: number, len: number, flags: number, next: number): void {
    const at = this.layout.desc + 16 * i;
    this.v.setBigUint64(at, BigInt(gpa), true);
    this.v.setUint32(at + 8, len, true);
    this.v.setUint16(at + 12, flags, true);
    this.v.setUint16(at + 14, next, true);
  }

  /**
   * Reads (or writes) `pages` consecutive 4 KiB blocks from `block` into (from) the guest pages
   * `gpas`, one descriptor per page; waits for the device; returns the status byte.
   */
  io(op: 'read' | 'write', block: number, gpas: number[]): number {
    const q = this.layout.qsize;
    const need = gpas.length + 2;
    if (need > q) throw new RangeError('request longer than the ring');
    const d0 = this.nextSlot;
    this.nextSlot = (this.nextSlot + need) % q;
    const slot = (k: number): number => (d0 + k) % q;
    const hdr = this.layout.headers + 32 * d0;
    this.v.setUint32(hdr, op === 'read' ? BlkType.IN : BlkType.OUT, true);
    this.v.setUint32(hdr + 4, 0, true);
    this.v.setBigUint64(hdr + 8, BigInt(block * 8), true);
    const status = hdr + 16;
    this.ram[status] = 0xee;
    this.desc(slot(0), hdr, 16, N, slot(1));
    gpas.forEach((g, k) => this.desc(slot(1 + k), g, 4096, N | (op === 'read' ? W : 0), slot(2 + k)));
    this.desc(slot(need - 1), status, 1, W, 0);
    const av = this.layout.avail;
    this.v.setUint16(av + 4 + 2 * (this.availIdx % q), slot(0), true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.v.setUint16(av + 2, this.availIdx, true);
    eventfdSignal(this.kick, this.s, 60000);
    const rev = new Int32Array(1);
    const t0 = Date.now();
    for (;;) {
      if (Date.now() - t0 > 60_000)
        throw new Error(`request (${op} block ${block}) never completed: the device lost it`);
      const used = this.v.getUint16(this.layout.used + 2, true);
      if (used !== this.usedSeen) {
        this.usedSeen = (this.usedSeen + 1) & 0xffff;
        return this.ram[status];
      }
      poll([this.call], rev, 1000, this.s, 61000);
      eventfdDrain(this.call, this.s, 60000);
    }
  }

  close(): void {
    close(this.fd);
    close(this.kick);
    close(this.call);
  }
}

function u64(...xs: number[]): Uint8Array {
  const b = new Uint8Array(8 * xs.length);
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => v.setBigUint64(8 * i, BigInt(x), true));
  return b;
}
function u32(...xs: number[]): Uint8Array {
  const b = new Uint8Array(4 * xs.length);
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => v.setUint32(4 * i, x, true));
  return b;
}
function cat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const o = new Uint8Array(a.length + b.length);
  o.set(a);
  o.set(b, a.length);
  return o;
}
