import { PAGE_SIZE_BYTES as PAGE, State } from '../../core/index.js';
import type { Pager } from '../pager.js';
import { flattenStats } from './flat-stats.js';
import type { ControlBackend } from './protocol.js';

// State is a const enum: TypeScript lets its members be used as values, not the enum itself, so
// its names are listed here rather than taken from Object.entries(State).
const STATE_NAMES: Record<number, string> = {
  [State.Untouched]: 'untouched',
  [State.Resident]: 'resident',
  [State.Swapped]: 'swapped',
  [State.InImage]: 'inimage',
  [State.Loading]: 'loading',
  [State.Ballooned]: 'ballooned',
  [State.Emulating]: 'emulating',
};

/**
 * The daemon's side of the control socket: its pager (once attached to QEMU's RAM) and its stats.
 * The floor is the virtqueue's size in pages: every request in flight may hold a guest page pinned
 * for its DMA (a descriptor is at least one page of a chain), so a limit below that can leave
 * the guest's disk I/O waiting on frames the limit forbids.
 */
export class DaemonControlBackend implements ControlBackend {
  readonly memoryPages: number;
  readonly floorPages: number;

  constructor(
    private readonly pager: () => Pager | undefined,
    private readonly rawStats: () => Record<string, unknown>,
    ramBytes: number,
    queueSize: number,
    private readonly mapper: boolean,
    /** Set once QEMU has exited (the call that found its address space gone). */
    private readonly qemuGone: () => string | undefined = () => undefined,
  ) {
    this.memoryPages = Math.floor(ramBytes / PAGE);
    this.floorPages = Math.min(queueSize, this.memoryPages);
  }

  private attached(): Pager {
    if (this.qemuGone()) throw new Error(`QEMU has exited; nothing left to page`);
    const p = this.pager();
    if (!p) throw new Error(`the pager has not attached to QEMU's RAM yet`);
    return p;
  }

  status(): Record<string, unknown> {
    const p = this.pager();
    return {
      attached: p !== undefined,
      mapper: this.mapper,
      residentPages: p?.core.residentPages ?? 0,
      ...(this.qemuGone() ? { qemuExited: true } : {}),
    };
  }

  stats(): Record<string, number> {
    return flattenStats(this.rawStats());
  }

  page(gfn: number): Record<string, unknown> {
    const i = this.attached().core.inspect(gfn);
    return {
      state: STATE_NAMES[i.state] ?? String(i.state),
      flags: i.flags,
      swapSlot: i.slot,
      imageBlock: i.block,
      lruList: i.list ?? null,
      pins: i.pins,
    };
  }

  limitPages(): number {
    return this.pager()?.core.residentLimit ?? this.memoryPages;
  }

  setLimit(pages: number): number {
    const p = this.attached();
    p.setLimit(pages);
    return p.core.residentPages;
  }
}
