/**
 * Windows' zeroed page list: free frames the zero page thread has already filled with zeros, so a
 * demand-zero fault can map one without zeroing it (Windows Internals, 6th ed., ch. 10, "Page List
 * Dynamics"). A stack, as the free list beside it (GuestMemory's) is: the most recently zeroed frame,
 * the likeliest to be in the host's memory still, goes first. `handedOut` marks a frame taken for a
 * demand-zero fault until the fault asks whether it is zeroed (GuestOs.isPrezeroed).
 */
export class ZeroedList {
  private readonly stack: Int32Array;
  private top = 0;
  private readonly handedOut: Uint8Array;

  constructor(pages: number) {
    this.stack = new Int32Array(pages);
    this.handedOut = new Uint8Array(pages);
  }

  get size(): number {
    return this.top;
  }

  push(g: number): void {
    this.stack[this.top++] = g;
  }

  /** The most recently zeroed frame; -1 when the list is empty. */
  pop(): number {
    return this.top === 0 ? -1 : this.stack[--this.top]!;
  }

  /** A zeroed frame for a demand-zero fault (marked until `takeMark`); -1 when the list is empty. */
  popForDemandZero(): number {
    const g = this.pop();
    if (g >= 0) this.handedOut[g] = 1;
    return g;
  }

  /** Whether `g` came from popForDemandZero and is still untouched; forgets the mark. */
  takeMark(g: number): boolean {
    const marked = this.handedOut[g] === 1;
    this.handedOut[g] = 0;
    return marked;
  }
}
