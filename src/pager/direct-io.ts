import { type BlkRequest, BlkStatus, DEVICE_ID, SECTOR_BYTES, scatter } from './blk-request.js';
import type { GuestMemory } from './guest-memory.js';
import type { RawFile } from './image-file.js';
import type { BlockIo } from './vhost-server.js';

/**
 * Block requests served straight between the image and guest RAM, with no pager: the backend of
 * step 1 (and of tests that need a disk but no memory management).
 */
export class DirectIo implements BlockIo {
  constructor(private readonly image: RawFile) {}

  submit(req: BlkRequest, mem: GuestMemory, done: (status: number) => void): void {
    done(execute(this.image, req, mem));
  }
}

/** Executes one request synchronously; returns its virtio-blk status. */
export function execute(image: RawFile, req: BlkRequest, mem: GuestMemory): number {
  switch (req.kind) {
    case 'read':
    case 'write': {
      let pos = req.sector * SECTOR_BYTES;
      for (const p of req.data) {
        // Pieces were validated to lie inside guest RAM when the chain was read.
        const l = mem.locateGpa(p.gpa, p.len)!;
        if (req.kind === 'read') image.read(l.region.addr + l.off, p.len, pos);
        else image.write(l.region.addr + l.off, p.len, pos);
        pos += p.len;
      }
      return BlkStatus.OK;
    }
    case 'flush':
      image.flush();
      return BlkStatus.OK;
    case 'get-id':
      scatter(mem, req.data, new TextEncoder().encode(DEVICE_ID.padEnd(20, '\0')).subarray(0, req.dataBytes));
      return BlkStatus.OK;
    case 'unsupported':
      return BlkStatus.UNSUPP;
  }
}
