/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The service manager's side of sd_notify, for the tests: binds a datagram
 * socket at PATH (what systemd passes as NOTIFY_SOCKET) and prints each
 * message received, one per line with its variables separated by spaces
 * and the sender's credentials checked: a message whose sender is not the
 * pid in PIDFILE (once that file exists) is printed as "FOREIGN ...".
 * Runs until SIGTERM or SECONDS have passed.
 *
 * usage: notify_listen PATH SECONDS [PIDFILE]
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static long pid_of(const char *file)
{
    FILE *f = file ? fopen(file, "r") : NULL;
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1) pid = 0;
        fclose(f);
    }
    return pid;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: notify_listen PATH SECONDS [PIDFILE]\n");
        return 2;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof sa.sun_path) return 2;
    memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int on = 1;
    unlink(argv[1]);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
        perror("notify_listen");
        return 1;
    }
    signal(SIGTERM, on_term);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *stop_at;
    long seconds = strtol(argv[2], &stop_at, 10);
    if (*stop_at || seconds <= 0) {
        fprintf(stderr, "notify_listen: SECONDS: '%s' is not a number of seconds\n", argv[2]);
        return 2;
    }
    time_t end = time(NULL) + seconds;
    while (!stop && time(NULL) < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) continue;
        char buf[4096];
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(sizeof(struct ucred))];
        } ctl;
        struct iovec iov = {buf, sizeof buf - 1};
        struct msghdr m = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl};
        ssize_t n = recvmsg(fd, &m, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("recvmsg");
            return 1;
        }
        buf[n] = '\0';
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\n') buf[i] = ' ';
        long sender = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                struct ucred u;
                memcpy(&u, CMSG_DATA(c), sizeof u);
                sender = u.pid;
            }
        long want = argc > 3 ? pid_of(argv[3]) : 0;
        printf("%s%s\n", want && sender != want ? "FOREIGN " : "", buf);
    }
    unlink(argv[1]);
    return 0;
}
