/*
 * The False Reads Preventer's torture program, run INSIDE the real guest (test/preventer-torture.test.ts)
 * while the pager evicts its memory and the patched QEMU intercepts the guest's accesses to absent
 * pages. Written for this project. Static, built with the host's gcc.
 *
 *   torture SECONDS WRITERS WRITER_MIB IO_MIB FILE SEED [pfns]
 *
 * WRITERS threads each own a slice of an anonymous buffer of WRITER_MIB MiB and keep a shadow copy
 * (malloc'd, so it is paged too) of what they stored: stores of 1, 2, 4, 8 and 16 bytes (SSE) at
 * any alignment, crossing cache lines and pages; bursts of stores into one page (left partly
 * written); ascending runs (a page written whole: the Preventer's remap, or part of one); whole pages
 * by memset (rep stosb), by memcpy from another page (rep movsb), and in descending order (not
 * sequential: the Preventer falls back); loads of every size checked against the shadow, reads of
 * pages just written in part (the unwritten bytes must come from the page's old content: a merge),
 * and sweeps over many pages (memory pressure). One I/O thread owns IO_MIB MiB of the buffer and a
 * file opened with O_DIRECT, so the virtio-blk device (the pager's back end) reads and writes those
 * pages themselves: pages are first written in part (stores that may still sit in QEMU's write
 * buffer), then written to the file (the device must see the stores) or overwritten by a read from
 * it (the device's data must win over the stores); every page and file block is checked.
 * At the end every byte of the buffer and the file is checked. Prints one summary line
 * "TORTURE k=v ...", and at most 12 "MISMATCH ..." lines; exits 3 if any byte differs.
 * The guest has one vCPU: the threads interleave there, the device runs beside it (another process).
 * With "pfns", the guest-physical frames of the buffer (from /proc/self/pagemap; they stay put: the
 * guest has no swap) are printed after it is first written, as lines "PFNS from-to ..." then
 * "PFNS end": the test plants its broken merge on those pages only (on the guest kernel's own pages
 * it would crash the guest before any check could run). At most MAX_PFN_RUNS runs are printed: the
 * lines cross the emulated serial port, and a buffer scattered page by page over the guest's memory
 * (no huge pages) would give thousands; a few hundred runs are plenty of pages for the bug to show.
 */
#define _GNU_SOURCE
#include <emmintrin.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

typedef uint16_t u16u __attribute__((aligned(1), may_alias));
typedef uint32_t u32u __attribute__((aligned(1), may_alias));
typedef uint64_t u64u __attribute__((aligned(1), may_alias));

static uint8_t *buf;         /* the tortured memory */
static uint8_t *shadow;      /* what it must hold */
static uint8_t *file_shadow; /* what the file must hold */
static double deadline;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long bad_bytes, bad_checks, reported;

struct rng {
  uint64_t s;
};
static uint64_t next(struct rng *r) { /* xorshift64* */
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 0x2545f4914f6cdd1dULL;
}
static uint64_t below(struct rng *r, uint64_t n) { return next(r) % n; }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One store of exactly n bytes (one instruction: mov of 1-8 bytes, movdqu of 16). */
static void store(uint8_t *p, const uint8_t *v, int n) {
  switch (n) {
  case 1: *(volatile uint8_t *)p = v[0]; break;
  case 2: *(volatile u16u *)p = *(const u16u *)v; break;
  case 4: *(volatile u32u *)p = *(const u32u *)v; break;
  case 8: *(volatile u64u *)p = *(const u64u *)v; break;
  default: _mm_storeu_si128((__m128i *)p, _mm_loadu_si128((const __m128i *)v)); break;
  }
}

/* One load of exactly n bytes into out. */
static void load(const uint8_t *p, uint8_t *out, int n) {
  switch (n) {
  case 1: out[0] = *(const volatile uint8_t *)p; break;
  case 2: *(u16u *)out = *(const volatile u16u *)p; break;
  case 4: *(u32u *)out = *(const volatile u32u *)p; break;
  case 8: *(u64u *)out = *(const volatile u64u *)p; break;
  default: _mm_storeu_si128((__m128i *)out, _mm_loadu_si128((const __m128i *)p)); break;
  }
}

static void mismatch(const char *what, size_t off, const uint8_t *want, const uint8_t *got, size_t n) {
  unsigned long bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < n; i++)
    if (want[i] != got[i]) {
      if (bad++ == 0) first = i;
    }
  if (!bad) return;
  pthread_mutex_lock(&report_lock);
  bad_bytes += bad;
  bad_checks++;
  if (reported++ < 12)
    printf("MISMATCH %s page %zu byte %zu: %lu of %zu bytes differ (want %02x got %02x)\n", what,
           (off + first) / PAGE, (off + first) % PAGE, bad, n, want[first], got[first]);
  pthread_mutex_unlock(&report_lock);
}

/* Checks buf[off, off+n) against the shadow, reading it with loads of `width` bytes. */
static void check(size_t off, size_t n, int width) {
  uint8_t got[8192 + 16];
  for (size_t done = 0; done < n;) {
    size_t len = n - done > 8192 ? 8192 : n - done;
    size_t i = 0;
    for (; i + (size_t)width <= len; i += (size_t)width) load(buf + off + done + i, got + i, width);
    for (; i < len; i++) load(buf + off + done + i, got + i, 1);
    mismatch("memory", off + done, shadow + off + done, got, len);
    done += len;
  }
}

static void put(size_t off, const uint8_t *v, int n) {
  store(buf + off, v, n);
  memcpy(shadow + off, v, (size_t)n);
}

static void random_bytes(struct rng *r, uint8_t *v, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t x = next(r);
    memcpy(v + i, &x, n - i < 8 ? n - i : 8);
  }
}

static const int SIZES[] = {1, 2, 4, 8, 16};

struct counts {
  unsigned long ops, stores, loads, whole_pages, partial_runs, partial_reads, io_reads, io_writes;
};

struct writer {
  size_t lo, hi; /* its slice of buf, bytes */
  struct rng r;
  struct counts c;
};

/* A run of stores of `width` bytes over [from, to) of the page at `pg`, ascending. */
static void run(struct writer *w, size_t pg, size_t from, size_t to, int width) {
  uint8_t v[16];
  for (size_t at = from; at < to;) {
    int n = (int)(to - at < (size_t)width ? 1 : (size_t)width);
    random_bytes(&w->r, v, (size_t)n);
    put(pg + at, v, n);
    at += (size_t)n;
    w->c.stores++;
  }
}

static void writer_op(struct writer *w) {
  struct rng *r = &w->r;
  size_t pages = (w->hi - w->lo) / PAGE;
  size_t pg = w->lo + below(r, pages) * PAGE;
  uint8_t v[16];
  uint64_t k = below(r, 100);
  w->c.ops++;
  if (k < 30) { /* one store, any size, any alignment (crossing lines and pages) */
    int n = SIZES[below(r, 5)];
    size_t off = w->lo + below(r, w->hi - w->lo - (size_t)n + 1);
    random_bytes(r, v, (size_t)n);
    put(off, v, n);
    w->c.stores++;
  } else if (k < 40) { /* a burst into one page, left partly written */
    int m = 8 + (int)below(r, 57);
    for (int i = 0; i < m; i++) {
      int n = SIZES[below(r, 5)];
      size_t off = below(r, PAGE - (size_t)n + 1);
      random_bytes(r, v, (size_t)n);
      put(pg + off, v, n);
      w->c.stores++;
    }
  } else if (k < 50) { /* an ascending run inside one page, from any byte */
    size_t from = below(r, PAGE), to = from + 1 + below(r, PAGE - from);
    run(w, pg, from, to, SIZES[below(r, 5)]);
    w->c.partial_runs++;
  } else if (k < 60) { /* a page written whole: ascending stores, memset, memcpy, or descending */
    uint64_t how = below(r, 5);
    if (how == 0) {
      run(w, pg, 0, PAGE, 8);
    } else if (how == 1) {
      run(w, pg, 0, PAGE, 16);
    } else if (how == 2) {
      int c = (int)below(r, 256);
      memset(buf + pg, c, PAGE);
      memset(shadow + pg, c, PAGE);
      w->c.stores++;
    } else if (how == 3) {
      size_t src = w->lo + below(r, pages) * PAGE;
      if (src != pg) {
        memcpy(buf + pg, buf + src, PAGE);
        memcpy(shadow + pg, shadow + src, PAGE);
      }
      w->c.stores++;
    } else {
      for (size_t at = PAGE; at > 0; at -= 8) {
        random_bytes(r, v, 8);
        put(pg + at - 8, v, 8);
        w->c.stores++;
      }
    }
    w->c.whole_pages++;
  } else if (k < 75) { /* loads of every size and alignment, checked */
    int n = SIZES[below(r, 5)];
    size_t len = below(r, 4) == 0 ? 1 + below(r, 2 * PAGE) : (size_t)n;
    if (len > w->hi - w->lo) len = w->hi - w->lo;
    size_t off = w->lo + below(r, w->hi - w->lo - len + 1);
    check(off, len, n);
    w->c.loads++;
  } else if (k < 87) { /* part of a page written, then the whole page read (its other bytes are old) */
    size_t from = below(r, PAGE), to = from + 1 + below(r, PAGE - from < 512 ? PAGE - from : 512);
    run(w, pg, from, to, SIZES[below(r, 5)]);
    check(pg, PAGE, SIZES[below(r, 5)]);
    w->c.partial_reads++;
  } else { /* a sweep: one line of many pages (pressure; mostly absent pages) */
    for (int i = 0; i < 32; i++) {
      size_t p = w->lo + below(r, pages) * PAGE + below(r, PAGE / 64) * 64;
      check(p, 64, 8);
      w->c.loads++;
    }
  }
}

static void *writer_main(void *arg) {
  struct writer *w = arg;
  while (now() < deadline)
    for (int i = 0; i < 64; i++) writer_op(w);
  return NULL;
}

struct io {
  size_t lo, hi; /* its part of buf, bytes */
  size_t file_pages;
  int fd;
  struct rng r;
  struct counts c;
};

static void io_op(struct io *o) {
  struct rng *r = &o->r;
  size_t pages = (o->hi - o->lo) / PAGE;
  size_t n = 1 + below(r, 8);
  size_t pg = o->lo + below(r, pages - n + 1) * PAGE;
  size_t fp = below(r, o->file_pages - n + 1) * PAGE;
  uint8_t v[16];
  /* Stores into the pages first (often: they may still be in QEMU's write buffer when the device comes). */
  if (below(r, 10) < 7) {
    int m = 1 + (int)below(r, 24);
    for (int i = 0; i < m; i++) {
      int s = SIZES[below(r, 5)];
      size_t off = below(r, n * PAGE - (size_t)s + 1);
      random_bytes(r, v, (size_t)s);
      put(pg + off, v, s);
      o->c.stores++;
    }
  }
  o->c.ops++;
  if (below(r, 2) == 0) { /* the device reads the pages (a disk write) */
    ssize_t done = pwrite(o->fd, buf + pg, n * PAGE, (off_t)fp);
    if (done != (ssize_t)(n * PAGE)) {
      perror("torture: pwrite");
      exit(2);
    }
    memcpy(file_shadow + fp, shadow + pg, n * PAGE);
    o->c.io_writes++;
  } else { /* the device writes the pages (a disk read): its data replaces the stores */
    ssize_t done = pread(o->fd, buf + pg, n * PAGE, (off_t)fp);
    if (done != (ssize_t)(n * PAGE)) {
      perror("torture: pread");
      exit(2);
    }
    memcpy(shadow + pg, file_shadow + fp, n * PAGE);
    o->c.io_reads++;
    if (below(r, 2) == 0) check(pg, n * PAGE, SIZES[below(r, 5)]);
  }
}

static void *io_main(void *arg) {
  struct io *o = arg;
  while (now() < deadline) io_op(o);
  return NULL;
}

#define MAX_PFN_RUNS 256

/* Prints the guest-physical frames of buf[0, bytes) as ranges, the first MAX_PFN_RUNS (see the top). */
static int print_pfns(size_t bytes) {
  int pm = open("/proc/self/pagemap", O_RDONLY);
  if (pm < 0) {
    perror("torture: pagemap");
    return -1;
  }
  uint64_t from = 0, to = 0;
  int on_line = 0, runs = 0;
  for (size_t off = 0; off < bytes; off += PAGE) {
    uint64_t e;
    if (pread(pm, &e, 8, (off_t)(((uintptr_t)buf + off) / PAGE * 8)) != 8 || !(e >> 63) ||
        (e & ((1ULL << 55) - 1)) == 0) {
      fprintf(stderr, "torture: no frame for page %zu (pagemap needs root)\n", off / PAGE);
      close(pm);
      return -1;
    }
    uint64_t pfn = e & ((1ULL << 55) - 1);
    if (to != 0 && pfn == to) {
      to++;
      continue;
    }
    if (to != 0) {
      if (++runs == MAX_PFN_RUNS) break;
      printf("%s%llu-%llu", on_line ? " " : "PFNS ", (unsigned long long)from, (unsigned long long)to);
      if (++on_line == 64) {
        printf("\n");
        on_line = 0;
      }
    }
    from = pfn;
    to = pfn + 1;
  }
  printf("%s%llu-%llu\nPFNS end\n", on_line ? " " : "PFNS ", (unsigned long long)from, (unsigned long long)to);
  fflush(stdout);
  close(pm);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 7 && !(argc == 8 && strcmp(argv[7], "pfns") == 0)) {
    fprintf(stderr, "usage: torture SECONDS WRITERS WRITER_MIB IO_MIB FILE SEED [pfns]\n");
    return 2;
  }
  double seconds = atof(argv[1]);
  int writers = atoi(argv[2]);
  size_t wbytes = (size_t)atoi(argv[3]) << 20, iobytes = (size_t)atoi(argv[4]) << 20;
  uint64_t seed = strtoull(argv[6], NULL, 10);
  if (seconds <= 0 || writers < 1 || writers > 8 || wbytes < (size_t)writers * 16 * PAGE || iobytes < 16 * PAGE) {
    fprintf(stderr, "torture: bad arguments\n");
    return 2;
  }
  size_t total = wbytes + iobytes, file_bytes = iobytes;
  buf = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  shadow = malloc(total);
  file_shadow = malloc(file_bytes);
  if (buf == MAP_FAILED || !shadow || !file_shadow) {
    fprintf(stderr, "torture: out of memory\n");
    return 2;
  }
  struct rng r = {seed * 2654435761u + 1};
  /* Every byte written once, from a pattern (the pager then evicts most of it). */
  random_bytes(&r, shadow, total);
  memcpy(buf, shadow, total);
  random_bytes(&r, file_shadow, file_bytes);
  int fd = open(argv[5], O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
  if (fd < 0) {
    perror("torture: open");
    return 2;
  }
  /* The file's first content, written from the I/O part of buf (then restored from the shadow). */
  memcpy(buf + wbytes, file_shadow, file_bytes);
  if (pwrite(fd, buf + wbytes, file_bytes, 0) != (ssize_t)file_bytes || fsync(fd) != 0) {
    perror("torture: initial write");
    return 2;
  }
  memcpy(buf + wbytes, shadow + wbytes, file_bytes);
  if (argc == 8 && print_pfns(total) != 0) return 2;
  double t0 = now();
  deadline = t0 + seconds;
  pthread_t th[9];
  struct writer ws[8];
  size_t slice = (wbytes / PAGE / (size_t)writers) * PAGE;
  for (int i = 0; i < writers; i++) {
    ws[i] = (struct writer){.lo = (size_t)i * slice, .hi = (size_t)(i + 1) * slice};
    ws[i].r.s = seed * 7919 + (uint64_t)i * 104729 + 17;
    pthread_create(&th[i], NULL, writer_main, &ws[i]);
  }
  struct io io = {.lo = wbytes, .hi = total, .file_pages = file_bytes / PAGE, .fd = fd};
  io.r.s = seed * 31 + 5;
  pthread_create(&th[writers], NULL, io_main, &io);
  for (int i = 0; i <= writers; i++) pthread_join(th[i], NULL);
  double ran = now() - t0;
  /* Everything, at the end: the memory, then the file (read back into a fresh buffer). */
  check(0, total, 8);
  uint8_t *back = mmap(NULL, file_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (back == MAP_FAILED || pread(fd, back, file_bytes, 0) != (ssize_t)file_bytes) {
    perror("torture: final read");
    return 2;
  }
  for (size_t off = 0; off < file_bytes; off += PAGE) mismatch("file", off, file_shadow + off, back + off, PAGE);
  close(fd);
  struct counts c = io.c;
  for (int i = 0; i < writers; i++) {
    c.ops += ws[i].c.ops;
    c.stores += ws[i].c.stores;
    c.loads += ws[i].c.loads;
    c.whole_pages += ws[i].c.whole_pages;
    c.partial_runs += ws[i].c.partial_runs;
    c.partial_reads += ws[i].c.partial_reads;
  }
  printf("TORTURE seconds=%.1f ops=%lu stores=%lu loads=%lu whole_pages=%lu partial_runs=%lu "
         "partial_reads=%lu io_reads=%lu io_writes=%lu bad_bytes=%lu bad_checks=%lu\n",
         ran, c.ops, c.stores, c.loads, c.whole_pages, c.partial_runs, c.partial_reads, io.c.io_reads,
         io.c.io_writes, bad_bytes, bad_checks);
  fflush(stdout);
  return bad_bytes ? 3 : 0;
}
