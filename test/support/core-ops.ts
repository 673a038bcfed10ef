import { asVmmPage } from '../../src/core/index.js';
import type { CoreHarness } from './core-harness.js';

/** One step of a random history for the core: what the guest, its devices, QEMU and the host do. */
export type CoreOp =
  | { k: 'read' | 'write' | 'overwrite' | 'hostRead'; g: number }
  /** The guest reads `|n|` consecutive pages from `g`, forwards (n > 0) or backwards. */
  | { k: 'scan'; g: number; n: number }
  | { k: 'diskRead'; b: number; g: number }
  | { k: 'diskWrite'; g: number; b: number }
  | { k: 'vmm'; v: number }
  | { k: 'io'; n: number }
  | { k: 'limit'; pages: number }
  | { k: 'inflate' | 'deflate'; g: number }
  | { k: 'chunkWrite' | 'chunkRead'; g: number; first: number; n: number }
  | { k: 'timer' };

/** Plays one step on a harness; the guest never touches a page it gave to the balloon. */
export function playOp(h: CoreHarness, op: CoreOp): void {
  if ('g' in op && h.ballooned.has(op.g) && op.k !== 'deflate') return;
  switch (op.k) {
    case 'read':
      return h.guestRead(op.g);
    case 'hostRead':
      return h.hostRead(op.g);
    case 'write':
      return h.guestWrite(op.g);
    case 'overwrite':
      return h.guestOverwrite(op.g);
    case 'scan':
      for (let j = 0; j !== op.n; j += Math.sign(op.n)) {
        const g = op.g + j;
        if (g >= 0 && g < h.core.cfg.guestPages && !h.ballooned.has(g)) h.guestRead(g);
      }
      return;
    case 'diskRead':
      return h.diskRead(op.b, op.g);
    case 'diskWrite':
      return h.diskWrite(op.g, op.b);
    case 'vmm':
      return h.wait(h.core.touchVmm(asVmmPage(op.v)));
    case 'io':
      for (let j = 0; j < op.n; j++) h.completeOne();
      return;
    case 'limit':
      return h.setLimit(op.pages);
    case 'inflate':
      return h.balloonInflate(op.g);
    case 'deflate':
      return h.balloonDeflate(op.g);
    case 'chunkWrite':
      return h.chunkWrite(op.g, op.first, op.n);
    case 'chunkRead':
      return h.chunkRead(op.g, op.first, op.n);
    case 'timer':
      return h.fireTimer();
  }
}
