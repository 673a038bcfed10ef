/*
 * What a guest store costs on the patched QEMU, run INSIDE the guest by `npm run bench`
 * (bench/preventer-qemu.ts). Written for this project. Static, built with the host's gcc.
 *
 *   store-cost BUF_MIB WINDOW_PAGES
 *
 * Writes a buffer of BUF_MIB MiB once (more than the pager keeps, so the pager evicts most of it),
 * then writes windows of WINDOW_PAGES pages whole, each page with ascending stores of one width
 * (1, 2, 4, 8 or 16 bytes; 16 is an SSE movdqu), timed by the guest's clock:
 *   - "absent": a window written last long ago (evicted by the pager): every page is absent when
 *     the pass reaches it (with the Preventer: intercepted; without: a userfaultfd fault);
 *   - "resident": the same window again at once (it fits in what the pager keeps): TCG's fast path.
 * Prints one line per pass: "PASS kind=absent width=8 pages=2048 ns_per_page=..." The per-page
 * time is F + (4096 / width) * c: the host's cost per store c and its cost per page F, which a fit
 * over the widths separates. The guest's clock is the host's wall clock, which a loaded host
 * stretches; so each pass is also framed by "BEGIN n" and "END n" lines with 300 ms of sleep
 * around them, during which the vCPU is idle: the host reads its vCPU thread's CPU time at each
 * line, and the difference is the pass's CPU time in QEMU whatever the load.
 */
#define _GNU_SOURCE
#include <emmintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void fill(uint8_t *p, int width, uint8_t v) {
  switch (width) {
  case 1:
    for (int i = 0; i < PAGE; i++) ((volatile uint8_t *)p)[i] = v;
    break;
  case 2:
    for (int i = 0; i < PAGE / 2; i++) ((volatile uint16_t *)p)[i] = (uint16_t)(v * 0x0101u);
    break;
  case 4:
    for (int i = 0; i < PAGE / 4; i++) ((volatile uint32_t *)p)[i] = v * 0x01010101u;
    break;
  case 8:
    for (int i = 0; i < PAGE / 8; i++) ((volatile uint64_t *)p)[i] = v * 0x0101010101010101ull;
    break;
  default: {
    __m128i x = _mm_set1_epi8((char)v);
    for (int i = 0; i < PAGE / 16; i++) _mm_storeu_si128((__m128i *)p + i, x);
  }
  }
}

static int passes;

static double pass(uint8_t *w, size_t pages, int width, uint8_t v) {
  int n = passes++;
  printf("BEGIN %d\n", n);
  fflush(stdout);
  usleep(300000);
  double t0 = now_ns();
  for (size_t i = 0; i < pages; i++) fill(w + i * PAGE, width, v);
  double t = (now_ns() - t0) / (double)pages;
  usleep(300000);
  printf("END %d\n", n);
  fflush(stdout);
  usleep(300000);
  return t;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: store-cost BUF_MIB WINDOW_PAGES\n");
    return 2;
  }
  size_t pages = (size_t)atoi(argv[1]) * 256, window = (size_t)atoi(argv[2]);
  if (window < 16 || pages < 6 * window) {
    fprintf(stderr, "store-cost: the buffer must hold at least 6 windows\n");
    return 2;
  }
  uint8_t *buf = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) {
    perror("store-cost: mmap");
    return 2;
  }
  for (size_t i = 0; i < pages; i++) fill(buf + i * PAGE, 8, (uint8_t)i);
  static const int widths[] = {8, 1, 16, 4, 2, 8, 1, 16};
  size_t windows = pages / window;
  for (int k = 0; k < 8; k++) {
    /* The window written longest ago: the first ones, in turn (the initial fill ran in order). */
    uint8_t *w = buf + (size_t)(k % (int)windows) * window * PAGE;
    int width = widths[k];
    double absent = pass(w, window, width, (uint8_t)(k + 1));
    double resident = pass(w, window, width, (uint8_t)(k + 2));
    printf("PASS kind=absent width=%d pages=%zu ns_per_page=%.0f\n", width, window, absent);
    printf("PASS kind=resident width=%d pages=%zu ns_per_page=%.0f\n", width, window, resident);
    fflush(stdout);
  }
  return 0;
}
