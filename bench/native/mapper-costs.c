/*
 * The host-side costs the Swap Mapper adds with plentiful memory (paper §5.3), measured on this
 * machine: what src/sim/costs.ts's mapperMapPageNs and namedCowNs cite.
 *
 *   pread           a 4 KiB read of a page-cache page into anonymous memory (what a plain read does)
 *   mmap            mmap(MAP_PRIVATE | MAP_FIXED) of one page-cache page over anonymous memory, as
 *                   the Mapper maps each page of a guest read to its image block (§4.1)
 *   read fault      the first read of that mapping (the page is in the page cache: a minor fault)
 *   cow             the first write to it: the copy-on-write of a privately mapped file page
 *   ioctl           an ioctl() system call that does nothing (the entry cost of the Mapper's KVM ioctl)
 *
 * Each is the minimum over ROUNDS rounds of PAGES pages, in ns per page: the least disturbed round on
 * a shared machine. Prints one JSON object.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGES 4096
#define ROUNDS 40
#define PAGE 4096

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s SCRATCH_FILE\n", argv[0]);
    return 2;
  }
  const size_t size = (size_t)PAGES * PAGE;
  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, size) != 0) {
    perror(argv[1]);
    return 1;
  }
  char page[PAGE];
  memset(page, 1, sizeof page);
  for (size_t i = 0; i < PAGES; i++)
    if (pwrite(fd, page, PAGE, i * PAGE) != PAGE) {
      perror("pwrite");
      return 1;
    }
  int null_fd = open("/dev/null", O_RDONLY);
  double best[5] = {1e18, 1e18, 1e18, 1e18, 1e18};
  for (int round = 0; round < ROUNDS; round++) {
    char *area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (area == MAP_FAILED) {
      perror("mmap");
      return 1;
    }
    double t[6];
    t[0] = now_ns();
    for (size_t i = 0; i < PAGES; i++)
      if (pread(fd, area + i * PAGE, PAGE, i * PAGE) != PAGE) return 1;
    t[1] = now_ns();
    for (size_t i = 0; i < PAGES; i++)
      if (mmap(area + i * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, i * PAGE) == MAP_FAILED)
        return 1;
    t[2] = now_ns();
    volatile char sum = 0;
    for (size_t i = 0; i < PAGES; i++) sum += area[i * PAGE];
    t[3] = now_ns();
    for (size_t i = 0; i < PAGES; i++) area[i * PAGE] = 2;
    t[4] = now_ns();
    int n;
    for (size_t i = 0; i < PAGES; i++) ioctl(null_fd, FIONREAD, &n);
    t[5] = now_ns();
    for (int k = 0; k < 5; k++) {
      double per = (t[k + 1] - t[k]) / PAGES;
      if (per < best[k]) best[k] = per;
    }
    munmap(area, size);
  }
  close(fd);
  unlink(argv[1]);
  printf("{\"preadNs\":%.0f,\"mmapNs\":%.0f,\"readFaultNs\":%.0f,\"cowNs\":%.0f,\"ioctlNs\":%.0f}\n", best[0], best[1],
         best[2], best[3], best[4]);
  return 0;
}
