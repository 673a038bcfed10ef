import { type GuestOs, type Program, WaitQueue } from '../sim/guest/guest-os.js';

/** A bounded FIFO between guest threads (pthread mutex + condition variables). */
export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private readonly notFull = new WaitQueue();
  private readonly notEmpty = new WaitQueue();
  private closed = false;

  constructor(
    private readonly os: GuestOs,
    readonly capacity: number,
  ) {
    if (!(Number.isInteger(capacity) && capacity > 0))
      throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
  }

  get length(): number {
    return this.items.length;
  }

  *put(item: T): Program {
    while (this.items.length >= this.capacity) yield* this.os.sleepOn(this.notFull);
    this.items.push(item);
    this.os.wakeAll(this.notEmpty);
  }

  /** Takes the oldest item; `out` receives it, or nothing once the queue is closed and empty. */
  *take(out: T[]): Program {
    while (this.items.length === 0 && !this.closed) yield* this.os.sleepOn(this.notEmpty);
    if (this.items.length === 0) return;
    out.push(this.items.shift()!);
    this.os.wakeAll(this.notFull);
  }

  /** No more items will come: takers of an empty queue return empty-handed. */
  close(): void {
    this.closed = true;
    this.os.wakeAll(this.notEmpty);
  }
}

/** Something guest threads wait for until another thread says it changed (a condition variable). */
export class Condition {
  private readonly q = new WaitQueue();
  constructor(private readonly os: GuestOs) {}

  *waitUntil(ready: () => boolean): Program {
    while (!ready()) yield* this.os.sleepOn(this.q);
  }

  signal(): void {
    this.os.wakeAll(this.q);
  }
}

/** Address ranges of one size a program maps and unmaps over and over (malloc reusing its arena). */
export class RangePool {
  private readonly free: number[] = [];
  constructor(
    private readonly reserve: (pages: number) => number,
    readonly pages: number,
  ) {}

  take(): number {
    return this.free.pop() ?? this.reserve(this.pages);
  }

  give(vpage: number): void {
    this.free.push(vpage);
  }
}
