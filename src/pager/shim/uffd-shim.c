/*
 * vswapper's userfaultfd shim, preloaded into stock QEMU (LD_PRELOAD) by the qemu-pager engine.
 *
 * A userfaultfd belongs to the address space of the process that creates it, and only QEMU's own
 * address space can create one for QEMU's guest RAM. So this library, when QEMU loads it, creates a
 * userfaultfd in QEMU and hands the descriptor to the pager over the Unix socket named by
 * VSWAPPER_UFFD_SOCK (SCM_RIGHTS), then closes its copy. Everything else (UFFDIO_API, registering
 * the guest RAM range, serving faults) is done by the pager with that descriptor: the kernel acts on
 * the address space the descriptor was created in, whoever issues the ioctl.
 *
 * With VSWAPPER_INTERCEPT=<ramblock>:<pages> as well (the patched QEMU of
 * scripts/build-qemu-intercept.sh), it also creates the region QEMU's TCG intercept shares with the
 * pager (a memfd) and the two eventfds of its mailbox, sends them with the userfaultfd, and names them
 * to QEMU in QEMU_TCG_INTERCEPT, which the patch reads on its first TLB fill (after the pager has
 * written the region's header and acknowledged). QEMU itself then needs no option and no socket code.
 *
 * Without VSWAPPER_UFFD_SOCK the library does nothing. If the variable is set and the hand-over
 * fails, QEMU exits at once: a guest whose memory nobody pages must not run as if it were paged.
 *
 * When the pager dies (src/pager/README.md, "When the daemon dies"): pages it had evicted exist only
 * in its memory and swap file, so the guest must never run past its death. Two things ensure it:
 * - the shim keeps its own copy of the userfaultfd. The kernel tears the registrations down only
 *   when the last reference to the userfaultfd's file goes (userfaultfd_release is the file's
 *   release operation, fs/userfaultfd.c); after that a fault on a hole in the memfd is retried
 *   unregistered and shmem fills it with zeros. With our copy open, a vCPU that touches an absent
 *   page after the pager died blocks in handle_userfault instead;
 * - the shim keeps the hand-over connection open, and a thread waits for it to hang up (the pager
 *   holds its end for its whole life; the kernel closes it when the pager dies, however it dies).
 *   It then stops QEMU at once, with exit code 69 (EX_UNAVAILABLE, sysexits.h) and a message on
 *   stderr: a power cut for the guest, never wrong data.
 * A pager that hangs without dying (SIGSTOP, a deadlock in its loop) keeps the connection open, and
 * the guest would wait in its faults forever. With VSWAPPER_HEARTBEAT_MS=<ms> the pager sends a
 * byte on the connection every so often from its loop, and the watcher also stops QEMU (exit 69,
 * its own message) when none has come for that long: the pager's loop has not turned, so no fault
 * is being served. The launcher sets it (src/pager/supervision.ts: WATCHDOG_TIMEOUT_MS).
 * VSWAPPER_SHIM_TEST_SABOTAGE (tests only) plants the bugs the crash trials must catch: 'legacy'
 * (neither: the shim before this contract), 'no-keep' (the watch without the copy), 'no-stop' (the
 * copy without the watch).
 *
 * Built by scripts/build-uffd-shim.sh (gcc, cached beside the guest image).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what) {
    fprintf(stderr, "vswapper uffd shim: %s: %s\n", what, strerror(errno));
    _exit(1);
}

/* The hand-over connection, watched by the thread below for the pager's death. */
static int pager_sock = -1;
/* The watchdog: the longest time without a heartbeat byte, in ms (0: none expected). */
static long heartbeat_ms = 0;

/* What stderr says when the pager died: src/pager/supervision.ts looks for this text. */
static const char died_message[] =
    "vswapper: the pager daemon died; stopping the VM so the guest cannot read a page it does not have\n";
/* ... and when it stopped sending heartbeats (alive, but its loop no longer turns). */
static const char hung_message[] =
    "vswapper: the pager daemon stopped answering (no heartbeat within the watchdog timeout); stopping the VM so the guest does not wait for its pages forever\n";

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Blocks until the pager's end of the connection is gone (it sends nothing after its
 * acknowledgement), then ends QEMU. _exit: nothing of QEMU's may run any more (no atexit handler,
 * no flush of QEMU's state); every thread of the process ends with it (exit_group).
 */
static void *watch_pager(void *arg) {
    (void)arg;
    const char *why = died_message;
    size_t why_len = sizeof died_message - 1;
    long deadline = heartbeat_ms > 0 ? now_ms() + heartbeat_ms : 0;
    for (;;) {
        struct pollfd p = {.fd = pager_sock, .events = POLLIN | POLLRDHUP};
        int wait = -1;
        if (deadline) {
            long left = deadline - now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        int r = poll(&p, 1, wait);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            /* No heartbeat for heartbeat_ms: the pager lives but serves nothing. */
            why = hung_message;
            why_len = sizeof hung_message - 1;
            break;
        }
        if (r > 0 && !(p.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
            /* Readable but not hung up: heartbeats; drain them, the deadline starts again. */
            char junk[64];
            ssize_t n = recv(pager_sock, junk, sizeof junk, MSG_DONTWAIT);
            if (n > 0 && deadline)
                deadline = now_ms() + heartbeat_ms;
            if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
                continue;
        }
        break;
    }
    /* write(2), not stdio: QEMU's threads may hold stdio's locks. */
    ssize_t w = write(2, why, why_len);
    (void)w;
    _exit(69 /* EX_UNAVAILABLE */);
    return NULL;
}

/* Starts the watcher with every signal blocked, so it never takes a signal meant for QEMU's threads. */
static void start_watch(void) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    /* Its stack is small: it only polls. */
    pthread_attr_setstacksize(&a, 64 * 1024);
    int e = pthread_create(&t, &a, watch_pager, NULL);
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        errno = e;
        fail("starting the thread that watches the pager");
    }
}

__attribute__((constructor)) static void vswapper_uffd_shim(void) {
    const char *path = getenv("VSWAPPER_UFFD_SOCK");
    if (!path || !*path)
        return;
    /* Not inherited by anything QEMU might exec. */
    unsetenv("VSWAPPER_UFFD_SOCK");
    const char *sabotage = getenv("VSWAPPER_SHIM_TEST_SABOTAGE");
    int keep_uffd = 1, watch = 1;
    if (sabotage && *sabotage) {
        if (!strcmp(sabotage, "legacy"))
            keep_uffd = watch = 0;
        else if (!strcmp(sabotage, "no-keep"))
            keep_uffd = 0;
        else if (!strcmp(sabotage, "no-stop"))
            watch = 0;
        else {
            errno = EINVAL;
            fail("VSWAPPER_SHIM_TEST_SABOTAGE must be legacy, no-keep or no-stop");
        }
        fprintf(stderr, "vswapper uffd shim: TEST SABOTAGE %s\n", sabotage);
    }
    unsetenv("VSWAPPER_SHIM_TEST_SABOTAGE");
    const char *hb = getenv("VSWAPPER_HEARTBEAT_MS");
    if (hb && *hb) {
        char *end;
        heartbeat_ms = strtol(hb, &end, 10);
        if (*end || heartbeat_ms <= 0 || heartbeat_ms > 3600000) {
            errno = EINVAL;
            fail("VSWAPPER_HEARTBEAT_MS must be a whole number of milliseconds within 1..3600000");
        }
    }
    unsetenv("VSWAPPER_HEARTBEAT_MS");

    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0)
        fail("userfaultfd");

    /* The intercept's region and eventfds (blocking: QEMU's vCPU sleeps in read() for replies). */
    int fds[4] = {uffd, -1, -1, -1}, nfds = 1;
    const char *icpt = getenv("VSWAPPER_INTERCEPT");
    if (icpt && *icpt) {
        char block[128];
        unsigned long pages;
        int used = 0;
        if (sscanf(icpt, "%127[^:]:%lu%n", block, &pages, &used) != 2 || icpt[used] != '\0' || !pages) {
            errno = EINVAL;
            fail("VSWAPPER_INTERCEPT must be <ramblock>:<pages>");
        }
        /* Header page, write buffer (bytes, mask), then one bit per page, whole pages
         * (intercept-region.ts: interceptRegionBytes). */
        size_t bitmap = (pages + 63) / 64 * 8;
        size_t bytes = 3 * 4096 + (bitmap + 4095) / 4096 * 4096;
        fds[1] = memfd_create("vswapper-intercept", MFD_CLOEXEC);
        if (fds[1] < 0 || ftruncate(fds[1], (off_t)bytes) < 0)
            fail("intercept region");
        fds[2] = eventfd(0, EFD_CLOEXEC);
        fds[3] = eventfd(0, EFD_CLOEXEC);
        if (fds[2] < 0 || fds[3] < 0)
            fail("intercept eventfds");
        char value[200];
        snprintf(value, sizeof value, "%s,%d,%d,%d", block, fds[1], fds[2], fds[3]);
        if (setenv("QEMU_TCG_INTERCEPT", value, 1) < 0)
            fail("setenv");
        nfds = 4;
    }
    unsetenv("VSWAPPER_INTERCEPT");

    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        fail("socket");
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        fail(path);
    }
    strcpy(addr.sun_path, path);
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
        fail(path);

    /* One message: "VSWUFFD1 <pid>" with the descriptors attached (userfaultfd[, region, notify, reply]). */
    char text[32];
    int n = snprintf(text, sizeof text, "VSWUFFD1 %d", (int)getpid());
    struct iovec iov = {.iov_base = text, .iov_len = (size_t)n};
    union {
        char buf[CMSG_SPACE(4 * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) != n)
        fail("sendmsg");

    /* Wait for the pager's one-byte acknowledgement: it has registered the descriptor's API. */
    char ack;
    if (read(sock, &ack, 1) != 1)
        fail("waiting for the pager's acknowledgement");
    /* Our copy of the userfaultfd stays open for QEMU's life (see the top of this file). */
    if (!keep_uffd)
        close(uffd);
    if (!watch) {
        close(sock);
        return;
    }
    pager_sock = sock;
    start_watch();
}
