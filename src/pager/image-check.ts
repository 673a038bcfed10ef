import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** The image cannot be served as the guest's disk: not raw, or not 4 KiB-aligned. */
export class ImageCheckError extends Error {
  override name = 'ImageCheckError';
}

const SECTOR = 512;
const BLOCK = 4096;

/** Formats QEMU reads that are not raw, by their magic (QEMU's block/qcow2.h, vmdk.c, vdi.c, vhdx.c). */
const MAGICS: [string, (b: Buffer) => boolean][] = [
  ['qcow2 (or qcow)', (b) => b.readUInt32BE(0) === 0x514649fb],
  ['VMDK', (b) => b.toString('latin1', 0, 4) === 'KDMV'],
  ['VDI', (b) => b.readUInt32LE(64) === 0xbeda107f],
  ['VHDX', (b) => b.toString('latin1', 0, 8) === 'vhdxfile'],
];

/** A partition: its number (1-based, as fdisk shows them) and its first sector. */
export interface Partition {
  index: number;
  startSector: number;
}

/** The partitions an MBR or a GPT lists, from the image's first bytes (pure). */
export function partitionsOf(head: Buffer): Partition[] {
  if (head.length < 2 * SECTOR || head.readUInt16LE(510) !== 0xaa55) return [];
  const mbr: Partition[] = [];
  let protective = false;
  for (let i = 0; i < 4; i++) {
    const e = 446 + 16 * i;
    const type = head[e + 4]!;
    if (type === 0) continue;
    if (type === 0xee) protective = true;
    mbr.push({ index: i + 1, startSector: head.readUInt32LE(e + 8) });
  }
  if (!protective) return mbr;
  // GPT (UEFI spec 5.3): the header at LBA 1, the entries where it says.
  if (head.toString('latin1', SECTOR, SECTOR + 8) !== 'EFI PART') return [];
  const entriesLba = Number(head.readBigUInt64LE(SECTOR + 72));
  const count = head.readUInt32LE(SECTOR + 80);
  const size = head.readUInt32LE(SECTOR + 84);
  const out: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const e = entriesLba * SECTOR + i * size;
    if (size < 48 || e + 48 > head.length) break;
    if (head.subarray(e, e + 16).every((x) => x === 0)) continue;
    out.push({ index: i + 1, startSector: Number(head.readBigUInt64LE(e + 32)) });
  }
  return out;
}

/** Bytes read from the image's start: the MBR, the GPT header and its 128 entries of 128 bytes. */
const HEAD_BYTES = 34 * SECTOR;

/**
 * Whether `path` can be the guest's disk under the pager: a raw image (QEMU's other formats are
 * refused by their magic, with the conversion), a whole number of 4 KiB blocks, and every
 * partition starting on a 4 KiB boundary. The daemon serves 4 KiB logical blocks (the Mapper names
 * a guest page by one image block, §4.1 "Page Alignment"); a partition at a 512-byte boundary puts
 * every file-system block across two of ours, so no page read from it could be named.
 */
export function checkRawImage(path: string): { sizeBytes: number; partitions: Partition[] } {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new ImageCheckError(`--image ${path}: no such file`);
  }
  if (!st.isFile() && !st.isBlockDevice())
    throw new ImageCheckError(`--image ${path}: not a file or a block device`);
  const head = Buffer.alloc(HEAD_BYTES);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, HEAD_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  const b = head.subarray(0, n);
  if (b.length >= 72)
    for (const [fmt, is] of MAGICS)
      if (is(b))
        throw new ImageCheckError(
          `--image ${path} is ${fmt}, not raw: convert it with qemu-img convert -O raw ${path} ${path.replace(/\.[^./]*$/, '')}.raw`,
        );
  const sizeBytes = st.isFile() ? st.size : 0;
  if (st.isFile() && (sizeBytes === 0 || sizeBytes % BLOCK !== 0))
    throw new ImageCheckError(
      `--image ${path}: ${sizeBytes} bytes is not a whole number of 4 KiB blocks (grow it: truncate -s %4K ${path})`,
    );
  const partitions = partitionsOf(b);
  for (const p of partitions)
    if ((p.startSector * SECTOR) % BLOCK !== 0)
      throw new ImageCheckError(
        `--image ${path}: partition ${p.index} starts at sector ${p.startSector} (512-byte aligned, not 4 KiB): the pager's disk has 4 KiB blocks, so this file system's pages would straddle two blocks and the Mapper could name none of them; re-create the partition at a multiple of 8 sectors (parted -a optimal, or sfdisk start=2048) and copy the file system over`,
      );
  return { sizeBytes, partitions };
}
