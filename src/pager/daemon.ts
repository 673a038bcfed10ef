import { rmSync } from 'node:fs';
import { Control } from './control.js';
import { DaemonControlBackend } from './control/daemon-backend.js';
import { ControlSocketServer } from './control/socket-server.js';
import { DirectIo } from './direct-io.js';
import { PagerDisk, type DiskMode } from './disk.js';
import { GuestRam } from './guest-ram.js';
import { RawFile } from './image-file.js';
import { Loop } from './loop.js';
import { Pager } from './pager.js';
import { PagerGate, PagerIo } from './pager-io.js';
import { InterceptRegion, interceptRegionBytes } from './intercept-region.js';
import { type InterceptFds, ShimListener } from './shim-listener.js';
import {
  MAP_SHARED,
  PAGE,
  PROT_READ,
  PROT_WRITE,
  Scratch,
  close,
  eventfdDrain,
  eventfdSignal,
  mmap,
  pidfdOpen,
} from './sys.js';
import { ThreadContexts } from './threads.js';
import { QemuGoneError, type Uffd } from './uffd.js';
import { type BlockIo, type MemoryGate, OPEN_GATE, VhostServer } from './vhost-server.js';

/** What the engine starts the daemon with (JSON in argv[2]). */
export interface DaemonConfig {
  /** Where QEMU's vhost-user-blk connects. */
  vhostSocket: string;
  /** The raw guest image (a file or a block device), 4 KiB blocks. */
  image: string;
  /** 'backend': serve the disk only (step 1); 'pager': also page QEMU's guest RAM. */
  mode: 'backend' | 'pager';
  queueSize: number;
  /** Pager: where the shim in QEMU hands over its userfaultfd. */
  shimSocket?: string;
  /** Pager: the guest's RAM size (QEMU's -m). */
  ramBytes?: number;
  /** Pager: the Swap Mapper on (mapper) or off (the pager's baseline). */
  mapper?: boolean;
  /** Pager: our swap area (a file at least ramBytes long). */
  swap?: string;
  disk?: DiskMode;
  /**
   * Pager: a heartbeat byte to the shim every so many ms (its watchdog, VSWAPPER_HEARTBEAT_MS,
   * stops QEMU when they stop coming); none when absent.
   */
  heartbeatMs?: number;
  /** Pager: the False Reads Preventer on (needs the patched QEMU's TCG intercept). */
  preventer?: boolean;
  /**
   * Pager: the operator's control socket (QMP-style JSON lines, `control/`), or none. The caller
   * claims the path first (`claimSocketPath`: a live socket refused, a stale one removed); bind(2)
   * fails on anything left there.
   */
  controlSocket?: string;
  /** How long the loop busy-polls after an event, ns (default 0 = always sleep; BUSY_POLL_NS = KVM's). */
  busyPollNs?: number;
  /** Pages armed for access sampling per inactive list and tick (default 64; 0 = no sampling). */
  samplingDepth?: number;
  /**
   * Linux's vm.page-cluster: a swap-in reads up to 2^n slots around the faulting one (default 3, as
   * Linux; 0 reads the faulting page alone, so pages come in only when touched).
   */
  pageClusterLog2?: number;
  /**
   * Tests only: 'skip-write-protect' evicts without freezing pages first (the torture test's
   * sabotage); 'ignore-discards' keeps QEMU's discards from the core (the balloon test's);
   * 'drop-merges' drops the guest's bytes instead of merging them (the Preventer torture test's).
   */
  testSabotage?: 'skip-write-protect' | 'ignore-discards' | 'drop-merges';
}

export class DaemonConfigError extends Error {
  override name = 'DaemonConfigError';
}

export function parseDaemonConfig(text: string | undefined): DaemonConfig {
  if (!text) throw new DaemonConfigError('pager daemon: no configuration (JSON in the first argument)');
  let c: Partial<DaemonConfig>;
  try {
    c = JSON.parse(text) as Partial<DaemonConfig>;
  } catch (e) {
    throw new DaemonConfigError(`pager daemon: configuration is not JSON: ${(e as Error).message}`);
  }
  const path = (k: 'vhostSocket' | 'image' | 'shimSocket' | 'swap' | 'controlSocket'): string => {
    const v = c[k];
    if (typeof v !== 'string' || !v) throw new DaemonConfigError(`pager daemon: ${k} must be a path`);
    return v;
  };
  if (c.mode !== 'backend' && c.mode !== 'pager')
    throw new DaemonConfigError(`pager daemon: mode must be 'backend' or 'pager', got ${String(c.mode)}`);
  const q = c.queueSize ?? 128;
  if (!Number.isInteger(q) || q < 4 || q > 1024 || (q & (q - 1)) !== 0)
    throw new DaemonConfigError(`pager daemon: queueSize must be a power of two within 4..1024, got ${q}`);
  const out: DaemonConfig = {
    vhostSocket: path('vhostSocket'),
    image: path('image'),
    mode: c.mode,
    queueSize: q,
  };
  if (c.heartbeatMs !== undefined) {
    const h = c.heartbeatMs;
    if (!(Number.isInteger(h) && h >= 1 && h <= 600_000))
      throw new DaemonConfigError(
        `pager daemon: heartbeatMs must be an integer within 1..600000, got ${String(h)}`,
      );
    out.heartbeatMs = h;
  }
  if (c.busyPollNs !== undefined) {
    const b = c.busyPollNs;
    if (!Number.isInteger(b) || b < 0 || b > 10_000_000)
      throw new DaemonConfigError(
        `pager daemon: busyPollNs must be an integer within 0..10000000 (10 ms), got ${String(b)}`,
      );
    out.busyPollNs = b;
  }
  if (c.mode === 'pager') {
    const ram = c.ramBytes;
    if (typeof ram !== 'number' || !Number.isInteger(ram) || ram <= 0 || ram % PAGE !== 0)
      throw new DaemonConfigError(
        `pager daemon: ramBytes must be a positive multiple of 4096, got ${String(ram)}`,
      );
    if (typeof c.mapper !== 'boolean')
      throw new DaemonConfigError('pager daemon: mapper must be true or false');
    const disk = c.disk ?? 'immediate';
    if (disk !== 'immediate' && disk !== 'hdd-model')
      throw new DaemonConfigError(
        `pager daemon: disk must be 'immediate' or 'hdd-model', got ${String(disk)}`,
      );
    if (
      c.testSabotage !== undefined &&
      c.testSabotage !== 'skip-write-protect' &&
      c.testSabotage !== 'ignore-discards' &&
      c.testSabotage !== 'drop-merges'
    )
      throw new DaemonConfigError(`pager daemon: unknown testSabotage ${String(c.testSabotage)}`);
    Object.assign(out, {
      shimSocket: path('shimSocket'),
      swap: path('swap'),
      ramBytes: ram,
      mapper: c.mapper,
      disk,
    });
    if (c.testSabotage) out.testSabotage = c.testSabotage;
    if (c.preventer !== undefined && typeof c.preventer !== 'boolean')
      throw new DaemonConfigError('pager daemon: preventer must be true or false');
    if (c.preventer) out.preventer = true;
    const depth = c.samplingDepth ?? 64;
    if (!Number.isInteger(depth) || depth < 0 || depth > 4096)
      throw new DaemonConfigError(
        `pager daemon: samplingDepth must be an integer within 0..4096, got ${String(depth)}`,
      );
    out.samplingDepth = depth;
    if (c.pageClusterLog2 !== undefined) {
      const n = c.pageClusterLog2;
      if (!Number.isInteger(n) || n < 0 || n > 8)
        throw new DaemonConfigError(
          `pager daemon: pageClusterLog2 must be an integer within 0..8, got ${String(n)}`,
        );
      out.pageClusterLog2 = n;
    }
    if (c.controlSocket !== undefined) out.controlSocket = path('controlSocket');
  }
  return out;
}

/** Runs the daemon until the engine closes its stdin or sends {"cmd":"quit"}. */
export function runDaemon(cfg: DaemonConfig): void {
  const loop = new Loop(cfg.busyPollNs);
  const image = new RawFile(cfg.image);
  let pager: Pager | undefined;
  let uffd: { u: Uffd; pid: number } | undefined;
  /** The userfaultfd call that found QEMU's address space gone (QEMU exited), once it happened. */
  let qemuGone: string | undefined;
  // QEMU's TCG intercept (patched QEMU, with VSWAPPER_INTERCEPT given to the shim).
  let intercept: { fds: InterceptFds; region: InterceptRegion } | undefined;
  const eventScratch = new Scratch(4096);
  // The block layer and the gate exist once the pager has attached; before that (and without a
  // pager) requests go straight to the image.
  let io: BlockIo = new DirectIo(image);
  let gate: MemoryGate = OPEN_GATE;
  rmSync(cfg.vhostSocket, { force: true });
  const server = new VhostServer(
    loop,
    cfg.vhostSocket,
    { capacitySectors: Math.floor(image.sizeBytes / 512), blockBytes: 4096, queueSize: cfg.queueSize },
    { submit: (req, mem, done) => io.submit(req, mem, done) },
    { with: (mem, ranges, fn) => gate.with(mem, ranges, fn) },
  );
  const swap = cfg.mode === 'pager' ? new RawFile(cfg.swap!) : undefined;
  const t0 = performance.now();
  const statsObject = (): Record<string, unknown> => ({
    uptimeS: (performance.now() - t0) / 1000,
    device: server.stats,
    image: image.counts,
    swap: swap?.counts,
    disk: pager?.disk.stats,
    pager: pager?.snapshot(),
  });
  const control = new Control(
    loop,
    (cmd) => {
      switch (cmd.cmd) {
        case 'attach': {
          if (!uffd)
            throw new Error('attach: QEMU has not handed over its userfaultfd (is the shim preloaded?)');
          if (pager) throw new Error('attach: already attached');
          const ram = new GuestRam(uffd.pid, cfg.ramBytes!);
          const limit = Number(cmd.residentLimitPages ?? ram.pages);
          if (cfg.preventer && !intercept)
            throw new Error(
              "attach: the Preventer needs QEMU's TCG intercept, and QEMU handed over none (run the patched QEMU with VSWAPPER_INTERCEPT)",
            );
          const icpt = cfg.preventer ? intercept : undefined;
          pager = new Pager(
            loop,
            ram,
            uffd.u,
            new ThreadContexts(uffd.pid),
            swap!,
            image,
            new PagerDisk(loop, cfg.disk!, image.sizeBytes / PAGE),
            {
              mapper: cfg.mapper!,
              residentLimitPages: limit,
              imageBlocks: Math.floor(image.sizeBytes / PAGE),
              swapSlots: Math.floor(swap!.sizeBytes / PAGE),
              sampling: { slots: 4096, depth: cfg.samplingDepth ?? 64, periodMs: 5 },
              ...(cfg.pageClusterLog2 !== undefined ? { pageClusterLog2: cfg.pageClusterLog2 } : {}),
              ...(cfg.testSabotage === 'skip-write-protect' ? { unsafeSkipWriteProtect: true } : {}),
              ...(cfg.testSabotage === 'ignore-discards' ? { unsafeIgnoreDiscards: true } : {}),
              ...(cfg.testSabotage === 'drop-merges' ? { unsafeDropMerges: true } : {}),
              ...(icpt
                ? {
                    preventer: {
                      region: icpt.region,
                      signal: () => eventfdSignal(icpt.fds.reply, eventScratch, 0),
                    },
                  }
                : {}),
            },
          );
          // QEMU's exit, heard at once: at power-off QEMU tears its memory down and exits, and the
          // pager would otherwise learn it only from its next ioctl's ESRCH (if one ever comes).
          const qemuPid = uffd.pid;
          const qemuExit = pidfdOpen(qemuPid);
          loop.watch(qemuExit, () => {
            loop.unwatch(qemuExit);
            close(qemuExit);
            markQemuGone(`pidfd: QEMU (pid ${qemuPid}) exited`);
          });
          if (icpt) {
            const p = pager;
            loop.watch(icpt.fds.notify, () => {
              // Readable: QEMU posted a request (the eventfd is blocking, so read only now).
              eventfdDrain(icpt.fds.notify, eventScratch, 8);
              p.emulation!.poll();
              p.driver.pump();
            });
          }
          const g = new PagerGate(pager);
          gate = g;
          io = new PagerIo(pager, g);
          server.device.onMemTable = (mem) => {
            // Every region must be the memfd the pager manages, at the same offsets.
            for (const r of mem.regions)
              if (r.userAddr - ram.qemuBase !== r.fileOffset)
                throw new Error(
                  `guest RAM region at 0x${r.gpa.toString(16)} is not the memfd the pager attached to`,
                );
          };
          pager.attach();
          return { ok: true, qemuBase: ram.qemuBase, adopted: pager.stats.adopted };
        }
        case 'limit': {
          if (!pager) throw new Error('limit: not attached');
          if (qemuGone) throw new Error(`limit: QEMU has exited (${qemuGone}); nothing left to page`);
          const pages = Number(cmd.pages);
          if (!Number.isInteger(pages) || pages < 1)
            throw new Error(`limit: pages must be a positive integer, got ${String(cmd.pages)}`);
          const oldPages = pager.core.residentLimit;
          pager.setLimit(pages);
          if (oldPages !== pager.core.residentLimit)
            controlSocket?.broadcast('RESIDENT_LIMIT_CHANGED', {
              oldPages,
              newPages: pager.core.residentLimit,
            });
          return { ok: true, residentPages: pager.core.residentPages };
        }
        case 'sabotage-merges': {
          // The torture test's planted bug, on the pages it names: [[from, to], ...].
          if (!pager) throw new Error('sabotage-merges: not attached');
          const ranges = cmd.ranges;
          if (
            !Array.isArray(ranges) ||
            !ranges.every(
              (r) => Array.isArray(r) && r.length === 2 && r.every((x) => Number.isInteger(x) && x >= 0),
            )
          )
            throw new Error('sabotage-merges: ranges must be [[from, to], ...] of page numbers');
          return { ok: true, pages: pager.sabotageMerges(ranges as [number, number][]) };
        }
        case 'fault-trace': {
          // The bench's per-fault timeline: {on: true, capacity} starts it, {on: false} returns it.
          if (!pager) throw new Error('fault-trace: not attached');
          const capacity = cmd.on === true ? Number(cmd.capacity ?? 16384) : undefined;
          if (capacity !== undefined && !(Number.isInteger(capacity) && capacity > 0 && capacity <= 1 << 20))
            throw new Error(`fault-trace: capacity must be an integer within 1..${1 << 20}`);
          return { records: pager.traceFaults(capacity) };
        }
        case 'stats':
          return { stats: statsObject() };
        case 'check':
          return { problems: pager ? pager.core.checkInvariants() : [] };
        case 'quit':
          loop.stop();
          return { ok: true };
        default:
          throw new Error(`unknown command ${String(cmd.cmd)}`);
      }
    },
    () => loop.stop(),
  );
  const shim =
    cfg.mode === 'pager'
      ? new ShimListener(
          loop,
          cfg.shimSocket!,
          (u, pid, fds) => {
            uffd = { u, pid };
            if (fds) {
              // The header is written before QEMU is acknowledged: its first TLB fill reads it.
              const pages = cfg.ramBytes! / PAGE;
              const m = mmap(interceptRegionBytes(pages), PROT_READ | PROT_WRITE, MAP_SHARED, fds.region, 0);
              intercept = { fds, region: new InterceptRegion(m.bytes, pages, true) };
            }
            control.send({ event: 'uffd', pid });
          },
          (e) => loop.stop(e),
        )
      : undefined;
  // The operator's socket: the same pager, through the QMP-style protocol (control/).
  const controlSocket =
    cfg.mode === 'pager' && cfg.controlSocket
      ? new ControlSocketServer(
          loop,
          cfg.controlSocket,
          new DaemonControlBackend(
            () => pager,
            statsObject,
            cfg.ramBytes!,
            cfg.queueSize,
            cfg.mapper!,
            () => qemuGone,
          ),
        )
      : undefined;
  /** QEMU is gone (its pidfd said so, or an ioctl met ESRCH): the pager stops, the daemon stays. */
  const markQemuGone = (call: string): void => {
    if (qemuGone || !pager) return;
    qemuGone = call;
    pager.stop();
    control.send({ event: 'qemu-gone', call });
  };
  if (shim && cfg.heartbeatMs !== undefined) {
    const period = cfg.heartbeatMs * 1e6;
    const beat = (): void => {
      shim.heartbeat();
      loop.after(period, beat);
    };
    loop.after(period, beat);
  }
  control.send({ event: 'listening', vhostSocket: cfg.vhostSocket, pid: process.pid });
  try {
    for (;;) {
      try {
        loop.run();
        break;
      } catch (e) {
        // QEMU exited first (power-off): the pager stops, the daemon stays until told to quit.
        if (!(e instanceof QemuGoneError) || !pager) throw e;
        markQemuGone(e.call);
      }
    }
  } finally {
    pager?.stop();
    server.close();
    shim?.close();
    controlSocket?.close();
    image.close();
    swap?.close();
    rmSync(cfg.vhostSocket, { force: true });
    if (cfg.shimSocket) rmSync(cfg.shimSocket, { force: true });
  }
}

const isMain = process.argv[1]?.endsWith('/pager/daemon.js');
if (isMain) {
  try {
    runDaemon(parseDaemonConfig(process.argv[2]));
  } catch (e) {
    process.stderr.write(`vswapper pager daemon: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  }
}
