import { ChunkRangeError } from './errors.js';

/** Bytes of a page are tracked in 64-byte chunks (cache lines): 64 per 4 KiB page. */
export const CHUNKS_PER_PAGE = 64;

/** The Preventer's record of one emulated page (§4.2): which chunks the guest has written. */
export class EmulatedPage {
  readonly written = new Uint8Array(CHUNKS_PER_PAGE);
  count = 0;
  /** The chunk a sequential writer would write next. */
  next: number;
  /** The old content is being read for a merge; writes are still buffered until it arrives. */
  terminating = false;

  constructor(firstChunk: number) {
    this.next = firstChunk;
  }

  record(first: number, chunks: number): void {
    for (let c = first; c < first + chunks; c++) {
      if (this.written[c] === 0) {
        this.written[c] = 1;
        this.count++;
      }
    }
    this.next = first + chunks;
  }

  covers(first: number, chunks: number): boolean {
    for (let c = first; c < first + chunks; c++) if (this.written[c] === 0) return false;
    return true;
  }

  get full(): boolean {
    return this.count === CHUNKS_PER_PAGE;
  }
}

/** Throws a ChunkRangeError unless chunks [first, first + chunks) lie inside one page. */
export function checkChunks(first: number, chunks: number): void {
  if (
    !Number.isInteger(first) ||
    !Number.isInteger(chunks) ||
    first < 0 ||
    chunks < 1 ||
    first + chunks > CHUNKS_PER_PAGE
  ) {
    throw new ChunkRangeError(first, chunks, CHUNKS_PER_PAGE);
  }
}
