import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawFile } from '../../src/pager/image-file.js';
import { DirectIo } from '../../src/pager/direct-io.js';
import { Loop } from '../../src/pager/loop.js';
import {
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  close,
  dup,
  eventfd,
  eventfdDrain,
  ftruncate,
  memfdCreate,
  mmap,
  Scratch,
} from '../../src/pager/sys.js';
import { type BlockIo, type MemoryGate, OPEN_GATE, VhostServer } from '../../src/pager/vhost-server.js';
import { Req } from '../../src/pager/vhost-user.js';

/** Guest-physical layout of the test guest's RAM (one region, QEMU's address = GPA + USER_BASE). */
export const RAM_BYTES = 1 << 20;
export const USER_BASE = 0x7f0000000000;
export const QSIZE = 16;
export const DESC_GPA = 0x1000;
export const AVAIL_GPA = 0x2000;
export const USED_GPA = 0x3000;
export const DATA_GPA = 0x10000;

function msg(request: number, payload: Uint8Array, fds: number[] = []) {
  return { request, flags: 1, payload, fds };
}
function u64s(...xs: number[]): Uint8Array {
  const b = new Uint8Array(8 * xs.length);
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => v.setBigUint64(8 * i, BigInt(x), true));
  return b;
}
function u32s(...xs: number[]): Uint8Array {
  const b = new Uint8Array(4 * xs.length);
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => v.setUint32(4 * i, x, true));
  return b;
}

/**
 * A vhost-user-blk device driven the way QEMU drives it (the same protocol messages, a memfd as
 * guest RAM, real eventfds), with no QEMU: tests write descriptors into "guest RAM" and look at the
 * used ring and the status bytes.
 */
export class VringHarness {
  readonly dir = mkdtempSync(join(tmpdir(), 'vswapper-vring-'));
  readonly loop = new Loop();
  readonly image: RawFile;
  readonly server: VhostServer;
  /** Our own mapping of guest RAM, as the "guest" writes it. */
  readonly ram: Uint8Array;
  readonly view: DataView;
  private readonly ramFd: number;
  private readonly kick = eventfd();
  private readonly call = eventfd();
  private readonly s = new Scratch(4096);
  private usedSeen = 0;
  private availIdx = 0;

  constructor(
    opts: {
      imageBytes?: number;
      indirect?: boolean;
      io?: (image: RawFile) => BlockIo;
      gate?: (loop: Loop) => MemoryGate;
    } = {},
  ) {
    const imagePath = join(this.dir, 'disk.img');
    const bytes = opts.imageBytes ?? 1 << 20;
    const init = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i += 4096) init.fill((i / 4096) & 0xff, i, i + 4096);
    writeFileSync(imagePath, init);
    this.image = new RawFile(imagePath, { direct: false });
    this.server = new VhostServer(
      this.loop,
      join(this.dir, 'vhost.sock'),
      { capacitySectors: bytes / 512, blockBytes: 4096, queueSize: QSIZE },
      opts.io ? opts.io(this.image) : new DirectIo(this.image),
      opts.gate ? opts.gate(this.loop) : OPEN_GATE,
    );
    this.ramFd = memfdCreate('vring-test-ram');
    ftruncate(this.ramFd, RAM_BYTES);
    const m = mmap(RAM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, this.ramFd, 0);
    this.ram = m.bytes;
    this.view = new DataView(m.bytes.buffer, m.bytes.byteOffset, RAM_BYTES);
    const features =
      (1n << 32n) |
      (1n << 30n) |
      (opts.indirect === false ? 0n : 1n << 28n) |
      (1n << 9n) |
      (1n << 6n) |
      (1n << 2n);
    const dev = this.server.device;
    const f = new Uint8Array(8);
    new DataView(f.buffer).setBigUint64(0, features, true);
    dev.handle(msg(Req.SET_FEATURES, f));
    const table = new Uint8Array(8 + 32);
    table.set(u32s(1, 0), 0);
    table.set(u64s(0, RAM_BYTES, USER_BASE, 0), 8);
    // The device closes the descriptor it receives: give it a duplicate by reopening the memfd.
    dev.handle(msg(Req.SET_MEM_TABLE, table, [dup(this.ramFd)]));
    dev.handle(msg(Req.SET_VRING_NUM, u32s(0, QSIZE)));
    dev.handle(
      msg(
        Req.SET_VRING_ADDR,
        new Uint8Array([
          ...u32s(0, 0),
          ...u64s(USER_BASE + DESC_GPA, USER_BASE + USED_GPA, USER_BASE + AVAIL_GPA, 0),
        ]),
      ),
    );
    dev.handle(msg(Req.SET_VRING_BASE, u32s(0, 0)));
    dev.handle(msg(Req.SET_VRING_CALL, u64s(0), [dup(this.call)]));
    dev.handle(msg(Req.SET_VRING_KICK, u64s(0), [dup(this.kick)]));
    dev.handle(msg(Req.SET_VRING_ENABLE, u32s(0, 1)));
  }

  /** Writes descriptor `i`. */
  desc(i: number, gpa: number, len: number, flags: number, next: number): void {
    const at = DESC_GPA + 16 * i;
    this.view.setBigUint64(at, BigInt(gpa), true);
    this.view.setUint32(at + 8, len, true);
    this.view.setUint16(at + 12, flags, true);
    this.view.setUint16(at + 14, next, true);
  }

  /** Makes chain `head` available and lets the device serve it; returns the used entries it produced. */
  submit(...heads: number[]): { id: number; len: number }[] {
    for (const h of heads) {
      this.view.setUint16(AVAIL_GPA + 4 + 2 * (this.availIdx % QSIZE), h, true);
      this.availIdx = (this.availIdx + 1) & 0xffff;
    }
    this.view.setUint16(AVAIL_GPA + 2, this.availIdx, true);
    this.server.process(0);
    this.loop.turn(0);
    return this.takeUsed();
  }

  takeUsed(): { id: number; len: number }[] {
    const out: { id: number; len: number }[] = [];
    const idx = this.view.getUint16(USED_GPA + 2, true);
    while (this.usedSeen !== idx) {
      const at = USED_GPA + 4 + 8 * (this.usedSeen % QSIZE);
      out.push({ id: this.view.getUint32(at, true), len: this.view.getUint32(at + 4, true) });
      this.usedSeen = (this.usedSeen + 1) & 0xffff;
    }
    return out;
  }

  /** Whether the device signalled the call eventfd since the last look. */
  interrupted(): boolean {
    return eventfdDrain(this.call, this.s, 0) > 0;
  }

  /** A virtio-blk header at `gpa`. */
  header(gpa: number, type: number, sector: number): void {
    this.view.setUint32(gpa, type, true);
    this.view.setUint32(gpa + 4, 0, true);
    this.view.setBigUint64(gpa + 8, BigInt(sector), true);
  }

  close(): void {
    this.server.close();
    this.image.close();
    close(this.kick);
    close(this.call);
    close(this.ramFd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
