import { EventQueue } from '../sim/event-queue.js';
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, Scratch, poll, schedYield } from './sys.js';

/** Monotonic time in nanoseconds (CLOCK_MONOTONIC: the same clock in every process of the host). */
export const monoNs = (): number => Number(process.hrtime.bigint());

/**
 * How long the loop keeps polling without sleeping after a descriptor was ready: KVM's default
 * halt-polling window for an idle vCPU (`halt_poll_ns`, KVM_HALT_POLL_NS_DEFAULT = 200000 on x86,
 * arch/x86/include/asm/kvm_host.h), for the same reason. A guest fault comes in bursts; a sleeping
 * daemon costs each one a wake-up (the bench measured 12-36 us at p50 from the fault to poll
 * returning, on this 2-core VM), a spinning one sees it at once. Spinning yields the CPU at every
 * turn, so a faulting thread woken on the same CPU runs first.
 */
export const BUSY_POLL_NS = 200_000;

/**
 * The pager's event loop: poll(2) over the descriptors it serves (the vhost-user socket, the vrings'
 * kick eventfds, the userfaultfd, the control pipe) plus timers on a real-time EventQueue (the
 * simulator's, with its clock set to monotonic time). Synchronous on purpose: a guest fault is
 * answered without a trip through Node's event loop or another thread, and the core sees events
 * in the order they were served.
 */
export class Loop {
  readonly timers = new EventQueue();
  private readonly handlers = new Map<number, (revents: number) => void>();
  private fds: number[] = [];
  private revents = new Int32Array(0);
  private readonly scratch = new Scratch(4096);
  private stopped: Error | 'done' | undefined;
  /** Work queued to run before the next poll (completions that must not recurse). */
  private readonly soon: (() => void)[] = [];
  readonly t0Ns = monoNs();
  /** When the last poll returned with a descriptor ready (the fault trace's wake-up time). */
  wokeNs = 0;
  /** Until when (monoNs) polls do not sleep: BUSY_POLL_NS after the last ready descriptor. */
  private spinUntilNs = 0;

  /**
   * `busyPollNs`: the busy-polling window (0, the default: always sleep in poll). Off unless asked
   * for: the bench measured no clear gain under load, and on a 2-core host a spinning daemon takes
   * CPU from the vCPU thread it waits for (never measured on a real guest).
   */
  constructor(private readonly busyPollNs = 0) {
    this.timers.nowNs = this.t0Ns;
  }

  /** Calls `fn` whenever `fd` is readable (or hung up). */
  watch(fd: number, fn: (revents: number) => void): void {
    if (this.handlers.size >= 500) throw new Error('loop: too many descriptors');
    this.handlers.set(fd, fn);
    this.rebuild();
  }

  unwatch(fd: number): void {
    if (this.handlers.delete(fd)) this.rebuild();
  }

  private rebuild(): void {
    this.fds = [...this.handlers.keys()];
    this.revents = new Int32Array(this.fds.length);
  }

  /** Whether the next poll will not sleep (inside the busy-polling window after an event). */
  get busyPolling(): boolean {
    return monoNs() < this.spinUntilNs;
  }

  /** Runs `fn` after `delayNs` of real time. */
  after(delayNs: number, fn: () => void): void {
    this.timers.after(Math.max(0, delayNs), fn);
  }

  /** Runs `fn` before the loop polls again. */
  defer(fn: () => void): void {
    this.soon.push(fn);
  }

  stop(reason: Error | 'done' = 'done'): void {
    this.stopped ??= reason;
  }

  /** Runs until stop(); rethrows the error stop() was given, or what a handler threw. */
  run(): void {
    while (!this.stopped) this.turn(1000);
    if (this.stopped instanceof Error) throw this.stopped;
  }

  /** One turn: due timers and deferred work, then a poll of at most `maxWaitMs`. */
  turn(maxWaitMs: number): void {
    this.runDue();
    if (this.stopped) return;
    const next = this.timers.peekTimeNs();
    const before = monoNs();
    let waitMs = this.soon.length > 0 ? 0 : Math.min(maxWaitMs, Math.max(0, (next - before) / 1e6));
    if (waitMs > 0 && before < this.spinUntilNs) {
      // Busy polling: look again at once, after letting whatever else is runnable on this CPU go.
      waitMs = 0;
      schedYield();
    }
    const n = poll(this.fds, this.revents, waitMs, this.scratch, 0);
    if (n <= 0) return;
    const now = monoNs();
    this.wokeNs = now;
    this.spinUntilNs = now + this.busyPollNs;
    if (this.timers.peekTimeNs() > now) this.timers.advanceTo(now);
    const fds = this.fds;
    const rev = this.revents;
    for (let i = 0; i < fds.length && !this.stopped; i++) {
      const r = rev[i]!;
      if (r & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) this.handlers.get(fds[i]!)?.(r);
    }
  }

  private runDue(): void {
    for (;;) {
      while (this.soon.length > 0 && !this.stopped) this.soon.shift()!();
      const now = monoNs();
      if (this.timers.peekTimeNs() > now || this.stopped) {
        if (!this.stopped) this.timers.advanceTo(now);
        if (this.soon.length === 0) return;
        continue;
      }
      this.timers.step();
    }
  }
}
