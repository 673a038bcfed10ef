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
 * Built by scripts/build-uffd-shim.sh (gcc, cached beside the guest image).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static void fail(const char *what) {
    fprintf(stderr, "vswapper uffd shim: %s: %s\n", what, strerror(errno));
    _exit(1);
}

__attribute__((constructor)) static void vswapper_uffd_shim(void) {
    const char *path = getenv("VSWAPPER_UFFD_SOCK");
    if (!path || !*path)
        return;
    /* Not inherited by anything QEMU might exec. */
    unsetenv("VSWAPPER_UFFD_SOCK");

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
    close(sock);
    close(uffd);
}
