import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProcess } from '../../src/pager/daemon-client.js';
import {
  QemuInterceptModel,
  interceptRegionBytes,
  postRequestAsQemu,
  takeReplyAsQemu,
} from '../../src/pager/intercept-region.js';
import {
  MAP_SHARED,
  type Mapping,
  PROT_READ,
  PROT_WRITE,
  Scratch,
  close,
  connectUnix,
  eventfd,
  eventfdSignal,
  ftruncate,
  memfdCreate,
  mmap,
  munmap,
  recvWithFds,
  sendWithFds,
  userfaultfd,
} from '../../src/pager/sys.js';
import { VhostFrontend } from './vhost-frontend.js';

/** Where the ring and the request headers live in the test guest's RAM (pages 0-3). */
export const RING_LAYOUT = { desc: 0x0000, avail: 0x1000, used: 0x2000, headers: 0x3000 };

export interface PagedProcessOptions {
  dir: string;
  pages: number;
  image: string;
  swap: string;
  mapper: boolean;
  disk: 'immediate' | 'hdd-model';
  residentLimitPages: number;
  queueSize: number;
  samplingDepth?: number;
  /** The daemon's busy-polling window (ns; its default when not given, 0 = none). */
  busyPollNs?: number;
  sabotage?: 'skip-write-protect' | 'ignore-discards';
  /**
   * The False Reads Preventer on: this process also plays QEMU's TCG intercept (the shared region
   * and its two eventfds, handed over with the userfaultfd as the shim does; `intercept()`).
   */
  preventer?: boolean;
}

/**
 * This process plays QEMU against a real pager daemon: it owns the guest RAM (a memfd it maps),
 * creates a userfaultfd for its own address space and hands it over as the shim does, lets the
 * daemon attach, and drives the daemon's vhost-user-blk device as a front end. Touching the RAM from
 * then on may fault, and the daemon serves the fault.
 */
export class PagedProcess {
  readonly daemon: DaemonProcess;
  ramFd = -1;
  ram: Mapping | undefined;
  frontend: VhostFrontend | undefined;
  /** The intercept's region (mapped) and eventfds, with the Preventer. */
  private icpt: { fds: number[]; region: Mapping; s: Scratch } | undefined;

  private constructor(cfg: Record<string, unknown>) {
    this.daemon = new DaemonProcess(cfg);
  }

  static async start(o: PagedProcessOptions): Promise<PagedProcess> {
    const p = new PagedProcess({
      vhostSocket: join(o.dir, 'vhost.sock'),
      shimSocket: join(o.dir, 'shim.sock'),
      image: o.image,
      swap: o.swap,
      mode: 'pager',
      ramBytes: o.pages * 4096,
      mapper: o.mapper,
      disk: o.disk,
      queueSize: o.queueSize,
      ...(o.sabotage ? { testSabotage: o.sabotage } : {}),
      ...(o.samplingDepth !== undefined ? { samplingDepth: o.samplingDepth } : {}),
      ...(o.busyPollNs !== undefined ? { busyPollNs: o.busyPollNs } : {}),
      ...(o.preventer ? { preventer: true } : {}),
    });
    try {
      p.ramFd = memfdCreate('paged-test-ram');
      ftruncate(p.ramFd, o.pages * 4096);
      p.ram = mmap(o.pages * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, p.ramFd, 0);
      await p.daemon.next((m) => m.event === 'listening');
      // The shim's part: our own userfaultfd, handed over; the daemon acknowledges with one byte.
      const s = new Scratch(4096);
      const uffd = userfaultfd();
      const c = connectUnix(join(o.dir, 'shim.sock'), s);
      const extra: number[] = [];
      if (o.preventer) {
        // The shim's intercept part: the region (the daemon writes its header before the ack), the
        // eventfd we signal when we post a request, the one the daemon signals when it answers.
        const regionFd = memfdCreate('paged-test-intercept');
        ftruncate(regionFd, interceptRegionBytes(o.pages));
        extra.push(regionFd, eventfd(), eventfd());
        p.icpt = {
          fds: extra,
          region: mmap(interceptRegionBytes(o.pages), PROT_READ | PROT_WRITE, MAP_SHARED, regionFd, 0),
          s: new Scratch(4096),
        };
      }
      sendWithFds(c, s, new TextEncoder().encode(`VSWUFFD1 ${process.pid}`), [uffd, ...extra]);
      const ack = recvWithFds(c, s, 1, true);
      close(c);
      close(uffd);
      if (ack.n !== 1) throw new Error('the daemon did not acknowledge the userfaultfd');
      await p.daemon.next((m) => m.event === 'uffd');
      await p.daemon.cmd({ cmd: 'attach', residentLimitPages: o.residentLimitPages });
      p.frontend = new VhostFrontend(join(o.dir, 'vhost.sock'), p.ram.bytes, p.ramFd, p.ram.addr, {
        ...RING_LAYOUT,
        qsize: o.queueSize,
      });
      return p;
    } catch (e) {
      await p.close();
      throw e;
    }
  }

  /** Guest RAM as 32-bit words (touching it may fault). */
  words(): Int32Array {
    return new Int32Array(this.ram!.bytes.buffer, this.ram!.bytes.byteOffset, this.ram!.length / 4);
  }

  /**
   * QEMU's side of the TCG intercept over the shared region (the Preventer on): loads and stores
   * to intercepted pages are combined in the write buffer or posted to the daemon (this thread
   * waits for the answer), a released page's access is made on RAM (a fault the daemon serves).
   */
  intercept(): { qemu: QemuInterceptModel; region: Uint8Array } {
    const icpt = this.icpt;
    const ram = this.ram;
    if (!icpt || !ram) throw new Error('intercept: the paged process runs without the Preventer');
    const region = icpt.region.bytes;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const qemu = new QemuInterceptModel(
      region,
      (write, offset, data) => {
        const seq = postRequestAsQemu(region, write, offset, data);
        eventfdSignal(icpt.fds[1]!, icpt.s, 0);
        const t0 = Date.now();
        for (;;) {
          const reply = takeReplyAsQemu(region, seq, data.length);
          if (reply) return reply;
          if (Date.now() - t0 > 30_000) throw new Error(`the daemon never answered request ${seq}`);
          Atomics.wait(nap, 0, 0, 0.2);
        }
      },
      (write, offset, data) => {
        if (write) ram.bytes.set(data, offset);
        else data.set(ram.bytes.subarray(offset, offset + data.length));
      },
    );
    return { qemu, region };
  }

  async stats(): Promise<Record<string, number>> {
    return ((await this.daemon.cmd({ cmd: 'stats' })).stats as { pager: Record<string, number> }).pager;
  }

  async close(): Promise<void> {
    this.frontend?.close();
    await this.daemon.quit();
    if (this.ram) munmap(this.ram);
    if (this.ramFd >= 0) close(this.ramFd);
    if (this.icpt) {
      munmap(this.icpt.region);
      for (const fd of this.icpt.fds) close(fd);
      this.icpt = undefined;
    }
    this.ram = undefined;
    this.ramFd = -1;
  }
}

/** Why a paged process cannot run here (the pager needs Linux, root and /proc/PID/map_files), or false. */
export const PAGED_PROCESS_SKIP: string | false =
  process.platform !== 'linux'
    ? 'the pager needs Linux'
    : process.getuid?.() !== 0
      ? 'needs root: userfaultfd for other processes is privileged here (vm.unprivileged_userfaultfd = 0)'
      : !existsSync('/proc/self/map_files')
        ? 'no /proc/PID/map_files'
        : false;

/** A paged process's files in a temporary folder of their own: `paths` for PagedProcess.start. */
export interface PagedProcessFiles {
  paths: { dir: string; image: string; swap: string };
  /** Removes the folder and everything in it. */
  remove(): void;
}

/**
 * A new temporary folder (named from `prefix`) with the disk image `imageBytes` and a zeroed swap file
 * of `swapPages` pages: what PagedProcess.start needs besides its own options.
 */
export function pagedProcessFiles(
  prefix: string,
  imageBytes: Uint8Array,
  swapPages: number,
): PagedProcessFiles {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const image = join(dir, 'disk.img');
  const swap = join(dir, 'swap');
  writeFileSync(image, imageBytes);
  writeFileSync(swap, new Uint8Array(swapPages * 4096));
  return { paths: { dir, image, swap }, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A paged process over a disk of `imagePages` (zeroed, or `image`) and a swap as large as its RAM, in a folder of
 * its own; `body` runs with it, and the process and the folder are gone after, whatever happens.
 */
export async function withPagedProcess<T>(
  o: Omit<PagedProcessOptions, 'dir' | 'image' | 'swap'> & {
    prefix: string;
    imagePages: number;
    /** The disk's content (zeros when not given). */
    image?: Uint8Array;
  },
  body: (p: PagedProcess) => Promise<T>,
): Promise<T> {
  const { prefix, imagePages, image, ...options } = o;
  const files = pagedProcessFiles(prefix, image ?? new Uint8Array(imagePages * 4096), o.pages);
  let proc: PagedProcess | undefined;
  try {
    proc = await PagedProcess.start({ ...options, ...files.paths });
    return await body(proc);
  } finally {
    await proc?.close();
    files.remove();
  }
}
