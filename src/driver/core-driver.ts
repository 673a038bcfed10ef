import {
  type CoreAction,
  type FaultId,
  type GfnArray,
  IdMap,
  type MemoryCore,
  NO_FAULT,
} from '../core/index.js';

/** Every action but faultDone, which the driver itself turns into the waiter's continuation. */
export type DriverAction = Exclude<CoreAction, { kind: 'faultDone' }>;

/** What carries the core's actions out: the simulator's host, the pager, a test harness. */
export interface ActionPort {
  carryOut(a: DriverAction): void;
  /**
   * Called (when defined) before a continuation runs and after each batch of actions: a driver that
   * holds actions back to merge them (runs of drops into one hole punch) carries them out now.
   */
  flush?(): void;
}

export interface EachOptions {
  /** Ask the same step again after its fault (instead of going on with the next). */
  repeat?: boolean;
  /** How to continue after a fault: a driver with a clock charges the fault's cost here. */
  resume?: (k: () => void) => void;
}

/** The core finished a fault nobody waits for: the driver lost track of a continuation. */
export class CoreDriverError extends Error {
  override name = 'CoreDriverError';
}

/**
 * The one loop between the sans-I/O core and whatever carries its actions out (the simulator's
 * host, the pager, the test harness). It drains the core after every event, carries the actions out
 * strictly in the order the core emitted them (an action a continuation causes waits its turn), and
 * runs each fault's continuation when the core says the fault is done. Drivers never pump by hand:
 * every way in (settle, after, pump) leaves nothing queued.
 */
export class CoreDriver {
  /** Who resumes when each fault completes (an IdMap: it empties and fills on every fault). */
  private readonly waiters = new IdMap<() => void>();
  /** Continuations of events that completed while actions were being carried out. */
  private readonly afterActions: (() => void)[] = [];
  private pumping = false;

  constructor(
    readonly core: MemoryCore,
    private readonly port: ActionPort,
  ) {}

  /**
   * The continuation idiom, written once. An event returned `id`: a fault to wait for, whose
   * completion runs `k`; or NO_FAULT, the event is done and the caller may go on inline once the
   * actions it queued are carried out. Returns true when the caller goes on inline (`k` will not
   * run); false when `k` runs later: after the fault, or, for an event raised while actions were
   * being carried out, once they all are (a page just zero-filled or read must be in place first).
   */
  settle(id: FaultId, k: () => void): boolean {
    if (id !== NO_FAULT) {
      this.waiters.set(id, k);
      this.pump();
      return false;
    }
    if (!this.pumping) {
      this.pump();
      return true;
    }
    this.afterActions.push(k);
    return false;
  }

  /**
   * settle() of the core's touchRun(): the touches that went on inline, as the index of the first
   * page not touched (the caller touches it alone). Inside a carry-out none goes on inline (settle()
   * would defer each one), so none is made.
   */
  touchRun(gfns: GfnArray, from: number, to: number, write: boolean): number {
    if (this.pumping) return from;
    const done = this.core.touchRun(gfns, from, to, write);
    this.pump();
    return done;
  }

  /** settle() for a caller with nothing to do inline: `k` runs in every case, now or later. */
  after(id: FaultId, k: () => void): void {
    if (this.settle(id, k)) k();
  }

  /**
   * Runs `step(i)` for i = 0 .. n-1 in order, then `then`. A step that returns a fault continues,
   * once the fault is done (through `resume`, when given), with the next step, or with the same one
   * when `repeat` (a step that must be asked again until it needs no fault).
   */
  each(n: number, step: (i: number) => FaultId, then: () => void, opts: EachOptions = {}): void {
    const run = (from: number): void => {
      for (let i = from; i < n; i++) {
        const id = step(i);
        if (id !== NO_FAULT) {
          const next = (): void => run(opts.repeat ? i : i + 1);
          const { resume } = opts;
          this.after(id, resume ? () => resume(next) : next);
          return;
        }
      }
      this.after(NO_FAULT, then);
    };
    run(0);
  }

  /** Carries out every queued action, in order (a call from inside a carry-out returns at once). */
  pump(): void {
    if (this.pumping || (!this.core.hasActions && this.afterActions.length === 0)) return;
    this.pumping = true;
    try {
      for (;;) {
        const actions = this.core.drain();
        if (actions.length > 0) {
          for (let i = 0; i < actions.length; i++) {
            const a = actions[i]!;
            if (a.kind === 'faultDone') this.resume(a.fault);
            else this.port.carryOut(a);
          }
          this.port.flush?.();
          continue;
        }
        const then = this.afterActions.shift();
        if (!then) break;
        then();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Faults whose continuation has not run yet. */
  get waiting(): number {
    return this.waiters.size;
  }

  private resume(fault: FaultId): void {
    const k = this.waiters.get(fault);
    if (!k) throw new CoreDriverError(`fault ${fault} finished but nobody waits for it`);
    this.waiters.delete(fault);
    this.port.flush?.();
    // Synchronously: whoever waited acts on the page before anything else can evict it.
    k();
  }
}
