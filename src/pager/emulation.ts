import { BUFFERED, CHUNKS_PER_PAGE, type FaultId, type Gfn, NO_FAULT, asGfn } from '../core/index.js';
import type { InterceptRegion, InterceptRequest, TakenBuffer } from './intercept-region.js';
import { type Mapping, PAGE, anonymous } from './sys.js';

/** Bytes per chunk of the core's Preventer (a cache line; 64 per page). */
const CHUNK_BYTES = PAGE / CHUNKS_PER_PAGE;
/**
 * Pages holding bytes the guest wrote that complete no chunk yet, on pages the core does not
 * emulate, at most: the Preventer's own bound (32 pages, §4.2; `preventerMaxPages`).
 */
const MAX_PENDING_ONLY_PAGES = 32;

export class EmulationInvariantError extends Error {
  override name = 'EmulationInvariantError';
}

/** The bytes the guest wrote to one absent page, and which of them. */
class PageBuffer {
  readonly data = new Uint8Array(PAGE);
  readonly mask = new Uint8Array(PAGE);
  /** Chunks already reported to the core (each complete in `mask`). */
  readonly reported = new Uint8Array(CHUNKS_PER_PAGE);

  /** Copies the bytes QEMU's write buffer holds over ours. */
  absorb(t: TakenBuffer): void {
    if (t.bytesWritten === PAGE) {
      this.data.set(t.data);
      this.mask.fill(1);
      return;
    }
    const { data, mask } = t;
    for (let i = 0; i < PAGE; i++)
      if (mask[i]) {
        this.data[i] = data[i]!;
        this.mask[i] = 1;
      }
  }

  covers(from: number, to: number): boolean {
    for (let i = from; i < to; i++) if (this.mask[i] === 0) return false;
    return true;
  }

  get full(): boolean {
    return this.covers(0, PAGE);
  }
}

/** What the pager gives the emulation: the core (through its driver) and guest RAM. */
export interface EmulationHost {
  readonly core: {
    isResident(g: Gfn): boolean;
    isDirty(g: Gfn): boolean;
    isEmulating(g: Gfn): boolean;
    touch(g: Gfn, write: boolean, ctx: 'guest' | 'host'): FaultId;
    emulatedWrite(g: Gfn, first: number, chunks: number, ctx: 'guest' | 'host'): FaultId;
    emulatedRead(g: Gfn, first: number, chunks: number, ctx: 'guest' | 'host'): FaultId;
  };
  /** Runs `k` once fault `id` is done and the actions before it carried out (NO_FAULT: now). */
  after(id: FaultId, k: () => void): void;
  /** A resident page, usable through our mapping (an armed page put back), for a guest access. */
  guestBytes(g: Gfn, write: boolean): Uint8Array;
}

/**
 * The False Reads Preventer's data path in the pager: the guest's loads and stores to intercepted
 * (absent) pages, as QEMU's TCG intercept hands them over, and the buffers they fill. The decisions
 * stay in the core (`emulatedWrite`/`emulatedRead`, its timer, remap and merge actions); this class
 * keeps the bytes, which are finer than the core's 64-byte chunks: a chunk is reported to the core
 * only once every byte of it is written, so the core's record is always covered by the bytes here
 * (a remap never installs an unwritten byte, and "a read of unwritten bytes" is exact). Bytes of a
 * chunk not complete yet wait here; they reach the page when it is installed (`mergeInto`), like
 * the core's buffers.
 *
 * QEMU combines a writer's stores to one intercepted page in a write buffer of its own (in the
 * region) and hands it over (a FLUSH request) when the page is written whole, when a store goes to
 * another page, when a load needs bytes it lacks, or before a device access; the bytes are absorbed
 * here and their complete chunks reported to the core in ascending runs, so the core's rules (start,
 * sequential, 1 ms from the hand-over, at most 32 pages, remap or merge) apply unchanged. The pager
 * also takes QEMU's buffer over whenever it brings a page in or lets a device access it (`claim`).
 */
export class Emulation {
  private readonly buffers = new Map<number, PageBuffer>();
  private readonly scratch: Mapping = anonymous(PAGE);
  private inFlight: bigint | undefined;
  readonly stats = {
    writes: 0,
    reads: 0,
    servedFromBuffer: 0,
    servedPresent: 0,
    waited: 0,
    refusedPending: 0,
    /** QEMU's write buffer: handed over (FLUSH requests), and taken by the pager on its own. */
    flushes: 0,
    buffersTaken: 0,
    bytesTaken: 0,
  };

  constructor(
    private readonly host: EmulationHost,
    private readonly region: InterceptRegion,
    /** Tells QEMU its request is answered (signals the reply eventfd). */
    private readonly signal: () => void,
  ) {}

  /** Whether the guest wrote bytes to `page` that no page holds yet. */
  has(page: number): boolean {
    return this.buffers.has(page);
  }

  /** QEMU signalled: serve the request it posted (one at a time; it waits for the reply). */
  poll(): void {
    if (this.inFlight !== undefined) return;
    const q = this.region.pending();
    if (q) this.serve(q);
  }

  private answer(q: InterceptRequest, read?: Uint8Array): void {
    this.inFlight = undefined;
    this.region.reply(q.seq, read);
    this.signal();
  }

  private serve(q: InterceptRequest): void {
    this.inFlight = q.seq;
    if (q.flush) {
      this.stats.flushes++;
      const page = this.take(undefined);
      const id = page === undefined ? NO_FAULT : this.report(asGfn(page));
      if (id !== NO_FAULT && id !== BUFFERED) this.stats.waited++;
      this.host.after(id === BUFFERED ? NO_FAULT : id, () => this.answer(q));
      return;
    }
    // An access to the page QEMU's buffer holds (a load it lacks bytes for): its bytes come first.
    const taken = this.take(Math.floor(q.offset / PAGE));
    if (taken !== undefined) {
      const id = this.report(asGfn(taken));
      if (id !== NO_FAULT && id !== BUFFERED) {
        this.stats.waited++;
        this.host.after(id, () => this.serveAccess(q));
        return;
      }
    }
    this.serveAccess(q);
  }

  private serveAccess(q: InterceptRequest): void {
    const g = asGfn(Math.floor(q.offset / PAGE));
    const at = q.offset % PAGE;
    if (q.write) this.stats.writes++;
    else this.stats.reads++;
    const core = this.host.core;
    if (core.isResident(g)) {
      // Present (the bit was stale): the access as a fault would have made it; QEMU flushes the entry.
      this.stats.servedPresent++;
      this.region.unmark(g);
      this.host.after(core.touch(g, q.write, 'guest'), () => this.accessPage(q, g, at));
      return;
    }
    if (q.write) this.write(q, g, at);
    else this.read(q, g, at);
  }

  /** The access on the page itself (present now). */
  private accessPage(q: InterceptRequest, g: Gfn, at: number): void {
    const bytes = this.host.guestBytes(g, q.write);
    if (q.write) {
      bytes.set(q.data, at);
      this.answer(q);
    } else this.answer(q, bytes.slice(at, at + q.sizeBytes));
  }

  /** One store handed over alone (the page was marked after QEMU found its bit clear). */
  private write(q: InterceptRequest, g: Gfn, at: number): void {
    let b = this.buffers.get(g);
    if (!b) this.buffers.set(g, (b = new PageBuffer()));
    b.data.set(q.data, at);
    b.mask.fill(1, at, at + q.sizeBytes);
    const id = this.report(g);
    if (id !== NO_FAULT && id !== BUFFERED) this.stats.waited++;
    this.host.after(id === BUFFERED ? NO_FAULT : id, () => this.answer(q));
  }

  /**
   * Takes QEMU's write buffer (of `page` only, when given) into ours. Returns the page taken.
   * The core hears nothing here: the caller reports, or is about to install the page.
   */
  private take(page: number | undefined): number | undefined {
    return this.region.takeBuffer(page, (t) => {
      let b = this.buffers.get(t.page);
      if (!b) this.buffers.set(t.page, (b = new PageBuffer()));
      b.absorb(t);
      this.stats.buffersTaken++;
      this.stats.bytesTaken += t.bytesWritten;
    });
  }

  /**
   * The chunks of `g` newly written whole go to the core, in ascending runs (the core decides:
   * emulate, remap when whole, fall back when a run does not continue the sequence). Returns
   * BUFFERED, NO_FAULT (the bytes are on the page now), or a fault to wait for (refused: the page
   * is faulted in, and the bytes buffered here are merged as it is installed).
   */
  private report(g: Gfn): FaultId {
    const core = this.host.core;
    const b = this.buffers.get(g);
    if (!b) return NO_FAULT;
    if (core.isResident(g)) {
      // The page came in meanwhile: the bytes go onto it (the core sees the write first).
      this.stats.servedPresent++;
      this.host.after(core.touch(g, true, 'guest'), () => this.mergeInto(g, this.host.guestBytes(g, true)));
      return NO_FAULT;
    }
    for (let c = 0; c < CHUNKS_PER_PAGE;) {
      if (b.reported[c] || !b.covers(c * CHUNK_BYTES, (c + 1) * CHUNK_BYTES)) {
        c++;
        continue;
      }
      let n = 0;
      while (
        c + n < CHUNKS_PER_PAGE &&
        !b.reported[c + n] &&
        b.covers((c + n) * CHUNK_BYTES, (c + n + 1) * CHUNK_BYTES)
      )
        b.reported[c + n++] = 1;
      const id = core.emulatedWrite(g, c, n, 'guest');
      if (id !== BUFFERED && id !== NO_FAULT) return id;
      if (!this.buffers.has(g) || core.isResident(g)) return BUFFERED; // remapped whole
      c += n;
    }
    if (!core.isEmulating(g) && this.pendingOnly() > MAX_PENDING_ONLY_PAGES) {
      // Too many pages with stray bytes: this one is faulted in (its old content read, then merged).
      this.stats.refusedPending++;
      return core.touch(g, true, 'guest');
    }
    return BUFFERED;
  }

  /**
   * Page `page` is coming in (installed, or given to a device): QEMU buffers nothing more for it,
   * and what its buffer holds of it comes here, to be merged (`mergeInto`) or discarded.
   */
  claim(page: number): void {
    this.region.unmark(page);
    this.take(page);
  }

  private read(q: InterceptRequest, g: Gfn, at: number): void {
    const b = this.buffers.get(g);
    if (b?.covers(at, at + q.sizeBytes)) {
      this.stats.servedFromBuffer++;
      this.answer(q, b.data.slice(at, at + q.sizeBytes));
      return;
    }
    const first = Math.floor(at / CHUNK_BYTES);
    const last = Math.floor((at + q.sizeBytes - 1) / CHUNK_BYTES);
    const id = this.host.core.emulatedRead(g, first, last - first + 1, 'guest');
    if (id === BUFFERED)
      throw new EmulationInvariantError(
        `page ${g}: the core holds chunks ${first}..${last} buffered, but bytes ${at}+${q.sizeBytes} were never written`,
      );
    this.stats.waited++;
    this.host.after(id, () => this.accessPage(q, g, at));
  }

  private pendingOnly(): number {
    let n = 0;
    for (const p of this.buffers.keys()) if (!this.host.core.isEmulating(asGfn(p))) n++;
    return n;
  }

  /**
   * Page `page` is about to be installed from `dst` (its old content, read for a merge or a fault):
   * the bytes the guest wrote go over it, and the buffer is gone. Returns whether there were any.
   */
  mergeInto(page: number, dst: Uint8Array): boolean {
    const b = this.buffers.get(page);
    if (!b) return false;
    for (let i = 0; i < PAGE; i++) if (b.mask[i]) dst[i] = b.data[i]!;
    this.buffers.delete(page);
    return true;
  }

  /**
   * The core's remap: every byte was written, the buffer becomes the page. Returns the address of
   * a page of our memory holding it (valid until the next call).
   */
  remapSource(page: number): number {
    const b = this.buffers.get(page);
    if (!b || !b.full)
      throw new EmulationInvariantError(
        `page ${page}: the core remapped it, but ${b ? 'not every byte was written' : 'nothing is buffered'}`,
      );
    this.scratch.bytes.set(b.data);
    this.buffers.delete(page);
    return this.scratch.addr;
  }

  /** Whatever the guest wrote is superseded (a whole-page device write, or the core's discard). */
  discard(page: number): void {
    this.take(page);
    this.buffers.delete(page);
  }

  get bufferedPages(): number {
    return this.buffers.size;
  }
}
