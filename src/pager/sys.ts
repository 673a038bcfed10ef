import koffi from 'koffi';

/**
 * The Linux system calls the qemu-pager engine needs and Node does not offer (file descriptors passed
 * over Unix sockets, poll on arbitrary descriptors, eventfd, mmap, fallocate, ioctl, I/O to raw
 * addresses), through koffi. Every wrapper checks the result and throws a SysError naming the call
 * and errno. Addresses are plain numbers: user-space addresses on x86-64 are below 2^47, well inside
 * a double's exact range, and numbers cross koffi faster than BigInts.
 *
 * Every call that takes a pointer has a `// SAFETY:` comment at its call site saying why the memory
 * it names is valid for the length given; the wrappers here only forward.
 */
export class SysError extends Error {
  override name = 'SysError';
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${errnoName(errno)} (${strerror(errno)})`);
  }
}

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(koffi.os.errno).map(([k, v]) => [v, k]),
);
export const errnoName = (e: number): string => ERRNO_NAMES[e] ?? `errno ${e}`;
export const ERRNO = koffi.os.errno;

/* eslint-disable @typescript-eslint/no-explicit-any -- koffi functions are untyped at the boundary */
/** A C function returning an integer: koffi gives a number, or a bigint past 2^53 (addresses, lengths). */
type Fn = (...args: any[]) => number | bigint;
interface Libc {
  strerror: (...args: any[]) => string;
  close: Fn;
  read: Fn;
  write: Fn;
  pread: Fn;
  pwrite: Fn;
  open: Fn;
  fdatasync: Fn;
  ftruncate: Fn;
  fallocate: Fn;
  lseek: Fn;
  mmap: Fn;
  munmap: Fn;
  madvise: Fn;
  ioctl: Fn;
  socket: Fn;
  bind: Fn;
  listen: Fn;
  accept4: Fn;
  connect: Fn;
  recvmsg: Fn;
  sendmsg: Fn;
  poll: Fn;
  eventfd: Fn;
  memfd_create: Fn;
  fcntl: Fn;
  memcpy: Fn;
  memset: Fn;
  memcmp: Fn;
  sched_setaffinity: Fn;
  gettid: Fn;
  sched_yield: Fn;
  syscall1: Fn;
  pidfd_open: Fn;
  prctlName: Fn;
}
let libc: Libc | undefined;
function lib(): Libc {
  if (libc) return libc;
  const l = koffi.load('libc.so.6');
  libc = {
    strerror: l.func('const char *strerror(int)'),
    close: l.func('int close(int)'),
    read: l.func('intptr_t read(int, uintptr_t, size_t)'),
    write: l.func('intptr_t write(int, uintptr_t, size_t)'),
    pread: l.func('intptr_t pread(int, uintptr_t, size_t, int64_t)'),
    pwrite: l.func('intptr_t pwrite(int, uintptr_t, size_t, int64_t)'),
    open: l.func('int open(const char *, int, int)'),
    fdatasync: l.func('int fdatasync(int)'),
    ftruncate: l.func('int ftruncate(int, int64_t)'),
    fallocate: l.func('int fallocate(int, int, int64_t, int64_t)'),
    lseek: l.func('int64_t lseek(int, int64_t, int)'),
    mmap: l.func('uintptr_t mmap(uintptr_t, size_t, int, int, int, int64_t)'),
    munmap: l.func('int munmap(uintptr_t, size_t)'),
    madvise: l.func('int madvise(uintptr_t, size_t, int)'),
    ioctl: l.func('int ioctl(int, unsigned long, uintptr_t)'),
    socket: l.func('int socket(int, int, int)'),
    bind: l.func('int bind(int, uintptr_t, uint32_t)'),
    listen: l.func('int listen(int, int)'),
    accept4: l.func('int accept4(int, uintptr_t, uintptr_t, int)'),
    connect: l.func('int connect(int, uintptr_t, uint32_t)'),
    recvmsg: l.func('intptr_t recvmsg(int, uintptr_t, int)'),
    sendmsg: l.func('intptr_t sendmsg(int, uintptr_t, int)'),
    poll: l.func('int poll(uintptr_t, unsigned long, int)'),
    eventfd: l.func('int eventfd(unsigned int, int)'),
    memfd_create: l.func('int memfd_create(const char *, unsigned int)'),
    fcntl: l.func('int fcntl(int, int, int)'),
    memcpy: l.func('uintptr_t memcpy(uintptr_t, uintptr_t, size_t)'),
    memset: l.func('uintptr_t memset(uintptr_t, int, size_t)'),
    memcmp: l.func('int memcmp(uintptr_t, uintptr_t, size_t)'),
    sched_setaffinity: l.func('int sched_setaffinity(int, size_t, uintptr_t)'),
    gettid: l.func('int gettid(void)'),
    sched_yield: l.func('int sched_yield(void)'),
    syscall1: l.func('long syscall(long, long)'),
    pidfd_open: l.func('int pidfd_open(int, unsigned int)'),
    prctlName: l.func('int prctl(int, const char *, unsigned long, unsigned long, unsigned long)'),
  };
  return libc;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

function strerror(e: number): string {
  try {
    return String(lib().strerror(e));
  } catch {
    return 'unknown error';
  }
}

function check(call: string, r: number | bigint): number {
  const n = Number(r);
  if (n < 0) throw new SysError(call, koffi.errno());
  return n;
}

/** The value of errno after a call that failed (for callers that expect some failures). */
export const lastErrno = (): number => koffi.errno();

// ------------------------------------------------------------------ constants (x86-64 Linux)

export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_CLOEXEC = 0o2000000;
export const O_DIRECT = 0o40000;
export const O_NONBLOCK = 0o4000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;
export const MAP_ANONYMOUS = 0x20;
export const MAP_POPULATE = 0x8000;
export const FALLOC_FL_KEEP_SIZE = 1;
export const FALLOC_FL_PUNCH_HOLE = 2;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;
export const POLLIN = 1;
export const POLLOUT = 4;
export const POLLERR = 8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CTRUNC = 8;
export const SOL_SOCKET = 1;
export const SCM_RIGHTS = 1;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const MADV_DONTNEED = 4;
export const PAGE = 4096;

// ------------------------------------------------------------------ memory

/** A region of our own address space (an mmap), with a byte view for JS. */
export interface Mapping {
  addr: number;
  length: number;
  bytes: Uint8Array;
}

/** mmap; `fd` -1 for anonymous memory. Returns the mapping with a view over it. */
export function mmap(length: number, prot: number, flags: number, fd: number, offset: number): Mapping {
  const r = lib().mmap(0, length, prot, flags, fd, offset);
  const addr = Number(r);
  // MAP_FAILED is (void *)-1, which uintptr_t returns as 2^64 - 1.
  if (typeof r === 'bigint' ? r === 0xffffffffffffffffn : addr >= 2 ** 64 - 4096)
    throw new SysError(`mmap(${length}, fd ${fd}, offset ${offset})`, koffi.errno());
  // SAFETY: the kernel just mapped [addr, addr + length) in this process; the view lives no longer
  // than the mapping because munmap() below is the only way we remove it and callers drop the view.
  const bytes = new Uint8Array(koffi.view(addr, length));
  return { addr, length, bytes };
}

/** Anonymous private memory, page-aligned (scratch buffers for O_DIRECT and uffd copies). */
export function anonymous(length: number): Mapping {
  return mmap(length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

export function munmap(m: Mapping): void {
  // SAFETY: `m` came from mmap() above with this exact address and length.
  check('munmap', lib().munmap(m.addr, m.length));
}

/** Copies `len` bytes between two addresses of our own memory. */
export function memcpy(dst: number, src: number, len: number): void {
  // SAFETY: callers pass addresses inside mappings they own, checked against their lengths.
  lib().memcpy(dst, src, len);
}

export function memset(dst: number, value: number, len: number): void {
  // SAFETY: as memcpy.
  lib().memset(dst, value, len);
}

/** Whether two ranges of our memory hold the same bytes. */
export function memeq(a: number, b: number, len: number): boolean {
  // SAFETY: as memcpy.
  return lib().memcmp(a, b, len) === 0;
}

// ------------------------------------------------------------------ files

export function open(path: string, flags: number, mode = 0o600): number {
  return check(`open(${path})`, lib().open(path, flags, mode));
}

export function close(fd: number): void {
  if (fd < 0) return;
  check(`close(${fd})`, lib().close(fd));
}

/** pread into our memory at `addr`; returns bytes read (short only at end of file). */
export function preadAddr(fd: number, addr: number, len: number, offset: number): number {
  // SAFETY: callers pass [addr, addr + len) inside a mapping they own.
  return check(`pread(fd ${fd}, ${len} bytes at ${offset})`, lib().pread(fd, addr, len, offset));
}

export function pwriteAddr(fd: number, addr: number, len: number, offset: number): number {
  // SAFETY: as preadAddr.
  return check(`pwrite(fd ${fd}, ${len} bytes at ${offset})`, lib().pwrite(fd, addr, len, offset));
}

/** Reads exactly `len` bytes or throws (a short read of a raw image or swap area is an error). */
export function preadFull(fd: number, addr: number, len: number, offset: number): void {
  let done = 0;
  while (done < len) {
    const n = preadAddr(fd, addr + done, len - done, offset + done);
    if (n === 0) throw new SysError(`pread(fd ${fd}) hit end of file at ${offset + done}`, ERRNO.EIO!);
    done += n;
  }
}

export function pwriteFull(fd: number, addr: number, len: number, offset: number): void {
  let done = 0;
  while (done < len) done += pwriteAddr(fd, addr + done, len - done, offset + done);
}

export function fdatasync(fd: number): void {
  check(`fdatasync(${fd})`, lib().fdatasync(fd));
}

export function ftruncate(fd: number, length: number): void {
  check(`ftruncate(${fd})`, lib().ftruncate(fd, length));
}

/** Frees [offset, offset + len) of a file (shmem: the pages go, and every mapping of them too). */
export function punchHole(fd: number, offset: number, len: number): void {
  check(
    `fallocate(PUNCH_HOLE, fd ${fd}, ${offset}+${len})`,
    lib().fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len),
  );
}

/**
 * madvise on a range of our own address space (tests play QEMU's balloon discard: punch, then
 * MADV_DONTNEED, which a registered userfaultfd reports as a remove event).
 */
export function madvise(addr: number, len: number, advice: number): void {
  // SAFETY: madvise only changes how [addr, addr + len) of our own mappings is backed.
  check(`madvise(0x${addr.toString(16)}, ${len}, ${advice})`, lib().madvise(addr, len, advice));
}

/** lseek SEEK_DATA/SEEK_HOLE; returns -1 where the kernel says ENXIO (no data past `offset`). */
export function seekData(fd: number, offset: number, whence: number): number {
  const r = Number(lib().lseek(fd, offset, whence));
  if (r < 0) {
    const e = koffi.errno();
    if (e === ERRNO.ENXIO) return -1;
    throw new SysError(`lseek(${fd}, ${offset}, ${whence})`, e);
  }
  return r;
}

/** A new descriptor for the same open file (close-on-exec). */
export function dup(fd: number): number {
  return check(`fcntl(${fd}, F_DUPFD_CLOEXEC)`, lib().fcntl(fd, 1030 /* F_DUPFD_CLOEXEC */, 0));
}

export function memfdCreate(name: string): number {
  return check(`memfd_create(${name})`, lib().memfd_create(name, 1 /* MFD_CLOEXEC */));
}

export function setNonBlocking(fd: number, on = true): void {
  const fl = check(`fcntl(${fd}, F_GETFL)`, lib().fcntl(fd, F_GETFL, 0));
  check(`fcntl(${fd}, F_SETFL)`, lib().fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK));
}

/** ioctl with a pointer argument; returns the result, or throws. */
export function ioctl(fd: number, request: number, argAddr: number, what: string): number {
  // SAFETY: callers pass the address of a structure of the size the request encodes, in a scratch
  // mapping they own.
  return check(what, lib().ioctl(fd, request, argAddr));
}

/** ioctl that may fail: returns -errno instead of throwing. */
export function ioctlErr(fd: number, request: number, argAddr: number): number {
  // SAFETY: as ioctl.
  const r = lib().ioctl(fd, request, argAddr) as number;
  return r < 0 ? -koffi.errno() : r;
}

// ------------------------------------------------------------------ scratch memory for structures

/**
 * A small page of our own memory for syscall structures (msghdr, pollfd, uffdio_*), so that their
 * addresses are known numbers and JS fills them through a DataView.
 */
export class Scratch {
  readonly m: Mapping;
  readonly view: DataView;
  constructor(bytes = 65536) {
    this.m = anonymous(bytes);
    this.view = new DataView(this.m.bytes.buffer, this.m.bytes.byteOffset, bytes);
  }
  get addr(): number {
    return this.m.addr;
  }
  /**
   * Writes `v` (an integer within 0 .. 2^53) as a little-endian u64, as two 32-bit halves: no BigInt
   * is allocated (several of these fill each ioctl's structure on the fault path).
   */
  setU64(off: number, v: number): void {
    if (!(Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER))
      throw new RangeError(`Scratch.setU64: ${v} is not an integer within 0..2^53`);
    this.view.setUint32(off, v % 0x100000000, true);
    this.view.setUint32(off + 4, Math.floor(v / 0x100000000), true);
  }
  getU64(off: number): number {
    return this.view.getUint32(off, true) + this.view.getUint32(off + 4, true) * 0x100000000;
  }
}

// ------------------------------------------------------------------ events and polling

export function eventfd(): number {
  return check('eventfd', lib().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

/** Adds one to an eventfd counter (wakes whoever polls it). */
export function eventfdSignal(fd: number, s: Scratch, off: number): void {
  s.setU64(off, 1);
  // SAFETY: 8 bytes at s.addr + off lie in the scratch page (callers reserve the slot).
  check(`write(eventfd ${fd})`, lib().write(fd, s.addr + off, 8));
}

/** Reads (and clears) an eventfd counter; 0 when it was not signalled (EAGAIN). */
export function eventfdDrain(fd: number, s: Scratch, off: number): number {
  // SAFETY: as eventfdSignal.
  const r = Number(lib().read(fd, s.addr + off, 8));
  if (r < 0) {
    const e = koffi.errno();
    if (e === ERRNO.EAGAIN) return 0;
    throw new SysError(`read(eventfd ${fd})`, e);
  }
  return s.getU64(off);
}

/** Reads up to `len` bytes into our memory; 0 on EAGAIN, -1 on end of file. */
export function readNonBlocking(fd: number, addr: number, len: number): number {
  // SAFETY: callers pass [addr, addr + len) inside a mapping they own.
  const r = Number(lib().read(fd, addr, len));
  if (r < 0) {
    const e = koffi.errno();
    if (e === ERRNO.EAGAIN) return 0;
    throw new SysError(`read(${fd})`, e);
  }
  return r === 0 ? -1 : r;
}

export function writeAll(fd: number, addr: number, len: number): void {
  let done = 0;
  while (done < len) {
    // SAFETY: as readNonBlocking.
    done += check(`write(${fd})`, lib().write(fd, addr + done, len - done));
  }
}

/**
 * poll(2) over `fds`; fills `revents` (same order) and returns how many are ready. `s` provides the
 * pollfd array at offset `off` (8 bytes per descriptor).
 */
export function poll(
  fds: readonly number[],
  revents: Int32Array,
  timeoutMs: number,
  s: Scratch,
  off: number,
): number {
  const v = s.view;
  for (let i = 0; i < fds.length; i++) {
    v.setInt32(off + i * 8, fds[i]!, true);
    v.setInt16(off + i * 8 + 4, POLLIN, true);
    v.setInt16(off + i * 8 + 6, 0, true);
  }
  // SAFETY: fds.length pollfd entries of 8 bytes at s.addr + off, inside the scratch page.
  const r = Number(lib().poll(s.addr + off, fds.length, Math.max(-1, Math.ceil(timeoutMs))));
  if (r < 0) {
    const e = koffi.errno();
    if (e === ERRNO.EINTR) return 0;
    throw new SysError('poll', e);
  }
  for (let i = 0; i < fds.length; i++) revents[i] = v.getInt16(off + i * 8 + 6, true);
  return r;
}

// ------------------------------------------------------------------ Unix sockets with descriptors

function sockaddrUn(s: Scratch, off: number, path: string): number {
  const b = Buffer.from(path);
  if (b.length >= 108) throw new SysError(`socket path too long: ${path}`, ERRNO.ENAMETOOLONG!);
  s.m.bytes.fill(0, off, off + 110);
  s.view.setUint16(off, AF_UNIX, true);
  s.m.bytes.set(b, off + 2);
  return 2 + b.length + 1;
}

/** A listening Unix stream socket at `path` (non-blocking). */
export function listenUnix(path: string, s: Scratch): number {
  const fd = check('socket', lib().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  const len = sockaddrUn(s, 0, path);
  // SAFETY: a sockaddr_un of `len` bytes at s.addr, written just above.
  check(`bind(${path})`, lib().bind(fd, s.addr, len));
  check(`listen(${path})`, lib().listen(fd, 4));
  return fd;
}

/** Accepts one connection (non-blocking descriptor); -1 when none is pending. */
export function accept(fd: number): number {
  const r = lib().accept4(fd, 0, 0, SOCK_CLOEXEC | SOCK_NONBLOCK) as number;
  if (r < 0) {
    const e = koffi.errno();
    if (e === ERRNO.EAGAIN) return -1;
    throw new SysError('accept4', e);
  }
  return r;
}

/** Connects a (blocking) Unix stream socket to `path` (tests and tools). */
export function connectUnix(path: string, s: Scratch): number {
  const fd = check('socket', lib().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const len = sockaddrUn(s, 0, path);
  // SAFETY: as listenUnix.
  check(`connect(${path})`, lib().connect(fd, s.addr, len));
  return fd;
}

const MSGHDR = 0;
const IOV = 64;
const CMSG = 128;
const CMSG_SPACE_MAX = 24 + 4 * 16; // up to 16 descriptors
const DATA = 256;

/**
 * Receives up to `maxBytes` into the scratch page (at offset DATA) with any descriptors attached.
 * Returns bytes received (-1 at end of stream, 0 on EAGAIN with `block` false) and the descriptors.
 */
export function recvWithFds(
  fd: number,
  s: Scratch,
  maxBytes: number,
  block: boolean,
): { n: number; fds: number[]; data: Uint8Array } {
  if (DATA + maxBytes > s.m.length) throw new RangeError(`recvWithFds: ${maxBytes} bytes do not fit`);
  const v = s.view;
  s.m.bytes.fill(0, MSGHDR, DATA);
  s.setU64(IOV, s.addr + DATA);
  s.setU64(IOV + 8, maxBytes);
  s.setU64(MSGHDR + 16, s.addr + IOV); // msg_iov
  s.setU64(MSGHDR + 24, 1); // msg_iovlen
  s.setU64(MSGHDR + 32, s.addr + CMSG); // msg_control
  s.setU64(MSGHDR + 40, CMSG_SPACE_MAX); // msg_controllen
  // SAFETY: msghdr, iovec and control buffer are laid out above inside the scratch page, and the
  // iovec names [DATA, DATA + maxBytes) which was checked to fit.
  const r = Number(lib().recvmsg(fd, s.addr + MSGHDR, (block ? 0 : MSG_DONTWAIT) | 0x40000000));
  if (r < 0) {
    const e = koffi.errno();
    if (e === ERRNO.EAGAIN) return { n: 0, fds: [], data: s.m.bytes.subarray(DATA, DATA) };
    throw new SysError(`recvmsg(${fd})`, e);
  }
  const fds: number[] = [];
  const controlLen = s.getU64(MSGHDR + 40);
  let off = 0;
  while (off + 16 <= controlLen) {
    const len = s.getU64(CMSG + off);
    const level = v.getInt32(CMSG + off + 8, true);
    const type = v.getInt32(CMSG + off + 12, true);
    if (len < 16) break;
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = 16; p + 4 <= len; p += 4) fds.push(v.getInt32(CMSG + off + p, true));
    }
    off += (len + 7) & ~7;
  }
  if (v.getInt32(MSGHDR + 48, true) & MSG_CTRUNC) {
    for (const f of fds) close(f);
    throw new SysError(`recvmsg(${fd}): too many descriptors attached`, ERRNO.EMSGSIZE!);
  }
  if (r === 0) return { n: -1, fds, data: s.m.bytes.subarray(DATA, DATA) };
  return { n: r, fds, data: s.m.bytes.subarray(DATA, DATA + r) };
}

/** Sends `data` (blocking until all is written) with descriptors attached to the first byte. */
export function sendWithFds(fd: number, s: Scratch, data: Uint8Array, fds: readonly number[] = []): void {
  if (DATA + data.length > s.m.length) throw new RangeError(`sendWithFds: ${data.length} bytes do not fit`);
  if (fds.length > 16) throw new RangeError('sendWithFds: at most 16 descriptors');
  s.m.bytes.fill(0, MSGHDR, DATA);
  s.m.bytes.set(data, DATA);
  s.setU64(IOV, s.addr + DATA);
  s.setU64(IOV + 8, data.length);
  s.setU64(MSGHDR + 16, s.addr + IOV);
  s.setU64(MSGHDR + 24, 1);
  if (fds.length > 0) {
    const len = 16 + 4 * fds.length;
    s.setU64(CMSG, len);
    s.view.setInt32(CMSG + 8, SOL_SOCKET, true);
    s.view.setInt32(CMSG + 12, SCM_RIGHTS, true);
    fds.forEach((f, i) => s.view.setInt32(CMSG + 16 + 4 * i, f, true));
    s.setU64(MSGHDR + 32, s.addr + CMSG);
    s.setU64(MSGHDR + 40, (len + 7) & ~7);
  }
  // SAFETY: as recvWithFds; the iovec names the `data.length` bytes copied to DATA.
  const n = check(`sendmsg(${fd})`, lib().sendmsg(fd, s.addr + MSGHDR, MSG_NOSIGNAL));
  if (n < data.length) writeAll(fd, s.addr + DATA + n, data.length - n);
}

// ------------------------------------------------------------------ threads

const SYS_userfaultfd = 323;

/** A userfaultfd for this process's own address space (tests that play QEMU's part). */
export function userfaultfd(): number {
  return check('userfaultfd', lib().syscall1(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
}

/**
 * A descriptor that becomes readable when process `pid` exits (pidfd_open(2), Linux 5.3, glibc
 * 2.36): how the daemon hears that QEMU is gone without waiting for an ioctl to fail.
 */
export function pidfdOpen(pid: number): number {
  // SAFETY: two integers in, a new descriptor (or -1 and errno) out; no memory is passed.
  return check(`pidfd_open(${pid})`, lib().pidfd_open(pid, 0));
}

/** Names the calling thread (prctl PR_SET_NAME, at most 15 bytes), as QEMU names its vCPUs. */
export function setThreadName(name: string): void {
  check(`prctl(PR_SET_NAME, ${name})`, lib().prctlName(15, name, 0, 0, 0));
}

/** Lets another runnable thread on this CPU run first (the loop's busy polling). */
export function schedYield(): void {
  // SAFETY: no arguments, no memory; it cannot fail on Linux.
  lib().sched_yield();
}

export function gettid(): number {
  return lib().gettid() as number;
}

/** Pins the calling thread to one CPU (for latency measurements); returns false if refused. */
export function pinToCpu(cpu: number, s: Scratch, off: number): boolean {
  s.m.bytes.fill(0, off, off + 128);
  s.m.bytes[off + (cpu >> 3)] = 1 << (cpu & 7);
  // SAFETY: a 128-byte cpu_set_t at s.addr + off inside the scratch page.
  return (lib().sched_setaffinity(0, 128, s.addr + off) as number) === 0;
}
