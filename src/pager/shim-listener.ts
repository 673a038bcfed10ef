import type { Loop } from './loop.js';
import { Scratch, accept, close, listenUnix, recvWithFds, sendWithFds, setNonBlocking } from './sys.js';
import { NEEDED_FEATURES, Uffd } from './uffd.js';

/** The TCG intercept's descriptors (patched QEMU): its shared region and the two eventfds. */
export interface InterceptFds {
  region: number;
  /** QEMU signals it when it has posted a request. */
  notify: number;
  /** We signal it when we have answered. */
  reply: number;
}

const HEARTBEAT = new Uint8Array([0]);

export class ShimError extends Error {
  override name = 'ShimError';
}

/** Parses the shim's hello ("VSWUFFD1 <pid>"); returns QEMU's pid. */
export function parseHello(text: string): number {
  const m = /^VSWUFFD1 (\d+)$/.exec(text);
  if (!m)
    throw new ShimError(`unexpected message from the userfaultfd shim: ${JSON.stringify(text.slice(0, 40))}`);
  return Number(m[1]);
}

/**
 * Where the shim preloaded into QEMU connects to hand over its userfaultfd: one connection, one
 * message with the descriptor attached. We enable the userfaultfd API (the features the pager
 * needs) and acknowledge, after which QEMU goes on starting.
 */
export class ShimListener {
  private readonly s = new Scratch(4096);
  private fd: number;
  /**
   * The connections of shims we acknowledged, held open for our whole life: the shim in QEMU stops
   * QEMU when its end hangs up, which the kernel does when we die, however we die (README, "When
   * the daemon dies"). Accepted with SOCK_CLOEXEC, so no child of ours keeps one open after us.
   */
  private readonly held: number[] = [];
  constructor(
    private readonly loop: Loop,
    readonly path: string,
    /** Called before QEMU is acknowledged (so the intercept region can be set up first). */
    private readonly onUffd: (uffd: Uffd, qemuPid: number, intercept?: InterceptFds) => void,
    private readonly onError: (e: Error) => void,
  ) {
    this.fd = listenUnix(path, this.s);
    loop.watch(this.fd, () => this.onAccept());
  }

  private onAccept(): void {
    const c = accept(this.fd);
    if (c < 0) return;
    try {
      // The shim sends its one message right after connecting: wait for it.
      setNonBlocking(c, false);
      const r = recvWithFds(c, this.s, 64, true);
      if (r.n <= 0) throw new ShimError('the userfaultfd shim closed without sending its descriptor');
      const pid = parseHello(Buffer.from(r.data).toString('utf8'));
      if (r.fds.length !== 1 && r.fds.length !== 4)
        throw new ShimError(
          `the shim sent ${r.fds.length} descriptors, not one (or four, with the intercept)`,
        );
      const uffd = new Uffd(r.fds[0]!);
      uffd.api(NEEDED_FEATURES);
      const [, region, notify, reply] = r.fds;
      this.onUffd(uffd, pid, region !== undefined ? { region, notify: notify!, reply: reply! } : undefined);
      sendWithFds(c, this.s, new Uint8Array([1]));
      this.held.push(c);
    } catch (e) {
      close(c);
      this.onError(e as Error);
    }
  }

  /**
   * One heartbeat byte to every shim we acknowledged: sent from the daemon's loop, so it proves the
   * loop still turns (the shim's watchdog stops QEMU when none comes in time). A connection whose
   * QEMU is gone is closed.
   */
  heartbeat(): void {
    for (const c of [...this.held]) {
      try {
        sendWithFds(c, this.s, HEARTBEAT);
      } catch {
        close(c);
        this.held.splice(this.held.indexOf(c), 1);
      }
    }
  }

  /** Closes the listening socket and the connections held (a QEMU still running then stops). */
  close(): void {
    for (const c of this.held.splice(0)) close(c);
    if (this.fd < 0) return;
    this.loop.unwatch(this.fd);
    close(this.fd);
    this.fd = -1;
  }
}
