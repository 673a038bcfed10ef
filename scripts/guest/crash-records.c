/*
 * The crash trials' guest program (test/support/crash-trial.ts; src/pager/README.md, "When the
 * daemon dies"). Runs until the VM is stopped under it:
 *
 * - a checker process keeps MEM_MIB of memory with a known content (each 8-byte word a function of
 *   the nonce, its page, its place and the page's generation), and in passes over it checks every
 *   word and rewrites the page with the next generation, so that the pager keeps evicting and
 *   bringing back pages whose content changes. A page read back wrong is reported at once:
 *   "ZEROREAD page=P pass=K" when it reads all zeros (a page the pager had evicted, filled by the
 *   kernel with zeros), "BADREAD page=P word=W pass=K" otherwise; "PASS K" after each full pass;
 * - the writer (this process) appends 4 KiB records to FILE: record n holds a header (magic, nonce,
 *   n, a checksum of its payload) and a payload derived from (nonce, n); after each write it calls
 *   fsync and only then prints "ACK n". The host collects the ACKs it saw and, after the VM
 *   stopped, checks each of those records on the image.
 *
 * Usage: crash-records NONCE MEM_MIB FILE
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define WORDS (PAGE / 8)

static uint64_t mix(uint64_t x) {
    /* splitmix64's finalizer: every input bit moves every output bit. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Never zero, so a zero-filled page can never pass for a good one. */
static uint64_t word(uint64_t nonce, uint64_t page, uint64_t w, uint64_t gen) {
    return mix(nonce ^ mix(page * WORDS + w) ^ (gen << 48)) | 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write(2) per line: the checker's and the writer's lines never interleave mid-line. */
    if (n > 0 && write(1, line, (size_t)n) < 0)
        _exit(3);
}

static void checker(uint64_t nonce, size_t pages) {
    uint64_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t *gen = calloc(pages, sizeof *gen);
    if (mem == MAP_FAILED || !gen) {
        say("CHECKER cannot allocate %zu pages\n", pages);
        _exit(2);
    }
    for (size_t p = 0; p < pages; p++)
        for (size_t w = 0; w < WORDS; w++)
            mem[p * WORDS + w] = word(nonce, p, w, 0);
    for (uint64_t pass = 1;; pass++) {
        for (size_t p = 0; p < pages; p++) {
            uint64_t *pg = mem + p * WORDS;
            for (size_t w = 0; w < WORDS; w++) {
                if (pg[w] == word(nonce, p, w, gen[p]))
                    continue;
                int zero = 1;
                for (size_t k = 0; k < WORDS; k++)
                    zero &= pg[k] == 0;
                if (zero)
                    say("ZEROREAD page=%zu pass=%" PRIu64 "\n", p, pass);
                else
                    say("BADREAD page=%zu word=%zu pass=%" PRIu64 "\n", p, w, pass);
                _exit(2);
            }
            gen[p]++;
            for (size_t w = 0; w < WORDS; w++)
                pg[w] = word(nonce, p, w, gen[p]);
        }
        say("PASS %" PRIu64 "\n", pass);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: crash-records NONCE MEM_MIB FILE\n");
        return 2;
    }
    uint64_t nonce = strtoull(argv[1], NULL, 0);
    size_t pages = (size_t)strtoull(argv[2], NULL, 0) * 256;
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0)
        checker(nonce, pages);
    int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(argv[3]);
        return 2;
    }
    say("START nonce=%" PRIu64 " pages=%zu\n", nonce, pages);
    static uint64_t rec[WORDS];
    for (uint64_t n = 0;; n++) {
        int status;
        if (waitpid(child, &status, WNOHANG) == child) {
            say("CHECKER ended status=%d\n", status);
            return 2;
        }
        /* Header: magic, nonce, n, checksum of the payload (words 4..). */
        uint64_t sum = 0;
        for (size_t w = 4; w < WORDS; w++) {
            rec[w] = mix(nonce ^ mix(n * WORDS + w));
            sum = mix(sum ^ rec[w]);
        }
        memcpy(&rec[0], "VSWREC01", 8);
        rec[1] = nonce;
        rec[2] = n;
        rec[3] = sum;
        if (pwrite(fd, rec, PAGE, (off_t)(n * PAGE)) != PAGE) {
            perror("pwrite");
            return 2;
        }
        if (fsync(fd) != 0) {
            perror("fsync");
            return 2;
        }
        say("ACK %" PRIu64 "\n", n);
    }
}
