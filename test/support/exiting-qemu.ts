/**
 * A process that plays QEMU and then exits, for the daemon's power-off path
 * (test/pager-qemu-gone.test.ts): it owns a memfd as guest RAM, hands its own userfaultfd to the
 * daemon as the shim does, prints "handed", and on "touch" from stdin writes one word in each of the
 * first `touchPages` pages (each a fault the daemon serves), prints "touched" and exits at once: its
 * address space goes while the daemon's sampler still has pages to arm.
 * argv: SHIM_SOCKET RAM_PAGES TOUCH_PAGES
 */
import { createInterface } from 'node:readline';
import {
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  Scratch,
  close,
  connectUnix,
  ftruncate,
  memfdCreate,
  mmap,
  recvWithFds,
  sendWithFds,
  userfaultfd,
} from '../../src/pager/sys.js';

const [shimSocket, ramPagesText, touchText] = process.argv.slice(2);
const ramPages = Number(ramPagesText);
const touchPages = Number(touchText);
const fd = memfdCreate('exiting-qemu-ram');
ftruncate(fd, ramPages * 4096);
const ram = mmap(ramPages * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
const s = new Scratch(4096);
const uffd = userfaultfd();
const c = connectUnix(shimSocket!, s);
sendWithFds(c, s, new TextEncoder().encode(`VSWUFFD1 ${process.pid}`), [uffd]);
if (recvWithFds(c, s, 1, true).n !== 1) throw new Error('the daemon did not acknowledge the userfaultfd');
close(c);
close(uffd);
process.stdout.write('handed\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'touch') return;
  const words = new Int32Array(ram.bytes.buffer, ram.bytes.byteOffset, ram.length / 4);
  for (let p = 0; p < touchPages; p++) words[p * 1024] = p + 1;
  process.stdout.write('touched\n');
  process.exit(0);
});
