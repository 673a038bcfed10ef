import { rmSync } from 'node:fs';
import { Control } from './control.js';
import { DirectIo } from './direct-io.js';
import { RawFile } from './image-file.js';
import { Loop } from './loop.js';
import { VhostServer } from './vhost-server.js';

/** What the engine starts the daemon with (JSON in argv[2]). */
export interface DaemonConfig {
  /** Where QEMU's vhost-user-blk connects. */
  vhostSocket: string;
  /** The raw guest image (a file or a block device), 4 KiB blocks. */
  image: string;
  /** 'backend': serve the disk only (step 1). */
  mode: 'backend';
  queueSize: number;
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
  for (const k of ['vhostSocket', 'image'] as const)
    if (typeof c[k] !== 'string' || !c[k]) throw new DaemonConfigError(`pager daemon: ${k} must be a path`);
  if (c.mode !== 'backend') throw new DaemonConfigError(`pager daemon: mode must be 'backend', got ${String(c.mode)}`);
  const q = c.queueSize ?? 128;
  if (!Number.isInteger(q) || q < 4 || q > 1024 || (q & (q - 1)) !== 0)
    throw new DaemonConfigError(`pager daemon: queueSize must be a power of two within 4..1024, got ${q}`);
  return { vhostSocket: c.vhostSocket!, image: c.image!, mode: c.mode, queueSize: q };
}

/** Runs the daemon until the engine closes its stdin or sends {"cmd":"quit"}. */
export function runDaemon(cfg: DaemonConfig): void {
  const loop = new Loop();
  const image = new RawFile(cfg.image);
  rmSync(cfg.vhostSocket, { force: true });
  const server = new VhostServer(
    loop,
    cfg.vhostSocket,
    { capacitySectors: Math.floor(image.sizeBytes / 512), blockBytes: 4096, queueSize: cfg.queueSize },
    new DirectIo(image),
  );
  const control = new Control(
    loop,
    (cmd) => {
      switch (cmd.cmd) {
        case 'stats':
          return { stats: { device: server.stats, image: image.counts } };
        case 'quit':
          loop.stop();
          return { ok: true };
        default:
          throw new Error(`unknown command ${String(cmd.cmd)}`);
      }
    },
    () => loop.stop(),
  );
  control.send({ event: 'listening', vhostSocket: cfg.vhostSocket, pid: process.pid });
  try {
    loop.run();
  } finally {
    server.close();
    image.close();
    rmSync(cfg.vhostSocket, { force: true });
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
