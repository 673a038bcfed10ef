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

/** A partition as the guest reads it: its number (1-based, as fdisk shows them), start and size in 4 KiB sectors. */
export interface Partition {
  index: number;
  startBlock: number;
  /** Blocks; undefined for GPT entries (their end is not checked). */
  sizeBlocks?: number;
}

/**
 * The image's partition table as the guest reads it. The pager's disk has 4096-byte logical
 * sectors, and Linux reads tables in logical sectors (block/partitions/msdos.c multiplies MBR
 * entries by logical_block_size / 512; efi.c looks for the GPT header at LBA 1, byte 4096). A GPT
 * whose header is at byte 512 was written for 512-byte sectors: the guest does not find it.
 */
export type PartitionTable =
  | { kind: 'none' }
  | { kind: 'mbr'; partitions: Partition[] }
  | { kind: 'gpt'; partitions: Partition[] }
  | { kind: 'gpt-512' };

/** The table in the image's first bytes (pure), read in 4096-byte sectors as the guest will. */
export function partitionTableOf(head: Buffer): PartitionTable {
  if (head.length < SECTOR || head.readUInt16LE(510) !== 0xaa55) return { kind: 'none' };
  const mbr: Partition[] = [];
  let protective = false;
  for (let i = 0; i < 4; i++) {
    const e = 446 + 16 * i;
    const type = head[e + 4]!;
    if (type === 0) continue;
    if (type === 0xee) protective = true;
    mbr.push({ index: i + 1, startBlock: head.readUInt32LE(e + 8), sizeBlocks: head.readUInt32LE(e + 12) });
  }
  if (!protective) return { kind: 'mbr', partitions: mbr };
  // GPT (UEFI spec 5.3): the header at LBA 1, the entries where it says.
  const gptAt = (at: number): boolean =>
    head.length >= at + 92 && head.toString('latin1', at, at + 8) === 'EFI PART';
  if (!gptAt(BLOCK)) return gptAt(SECTOR) ? { kind: 'gpt-512' } : { kind: 'none' };
  const entriesLba = Number(head.readBigUInt64LE(BLOCK + 72));
  const count = head.readUInt32LE(BLOCK + 80);
  const size = head.readUInt32LE(BLOCK + 84);
  const out: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const e = entriesLba * BLOCK + i * size;
    if (size < 48 || e + 48 > head.length) break;
    if (head.subarray(e, e + 16).every((x) => x === 0)) continue;
    out.push({ index: i + 1, startBlock: Number(head.readBigUInt64LE(e + 32)) });
  }
  return { kind: 'gpt', partitions: out };
}

/** Bytes read from the image's start: the MBR, a 4 KiB-sector GPT header and its 128 entries of 128 bytes. */
const HEAD_BYTES = 2 * BLOCK + 128 * 128;

/**
 * Whether `path` can be the guest's disk under the pager: a raw image (QEMU's other formats are
 * refused by their magic, with the conversion), a whole number of 4 KiB blocks, and a partition
 * table the guest can read on a disk of 4096-byte logical sectors (the Mapper names a guest page by
 * one image block, §4.1 "Page Alignment"): none, a GPT at byte 4096, or an MBR whose partitions
 * fit in the image read in 4096-byte sectors. Every partition of such a table starts on a 4 KiB
 * boundary by construction.
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
  const table = partitionTableOf(b);
  const redo =
    're-create the table for 4096-byte sectors (losetup --sector-size 4096 -P -f --show the image, partition that loop device, copy the file systems over), or use an unpartitioned image with -kernel';
  if (table.kind === 'gpt-512')
    throw new ImageCheckError(
      `--image ${path}: its GPT is written for 512-byte sectors (header at byte 512); the pager's disk has 4096-byte logical sectors, so the guest looks for the header at byte 4096 and finds no partition: ${redo}`,
    );
  const partitions = table.kind === 'none' ? [] : table.partitions;
  // An MBR does not say its sector size: a table for 512-byte sectors, read in 4096-byte ones,
  // reaches 8 times as far, past the image's end for any partition over an eighth of it.
  if (st.isFile())
    for (const p of partitions)
      if (p.sizeBlocks !== undefined && (p.startBlock + p.sizeBlocks) * BLOCK > sizeBytes)
        throw new ImageCheckError(
          `--image ${path}: partition ${p.index} (start ${p.startBlock}, ${p.sizeBlocks} sectors) ends past the image when read in 4096-byte sectors, as the guest on the pager's disk reads it: the MBR was written for 512-byte sectors; ${redo}`,
        );
  return { sizeBytes, partitions };
}
