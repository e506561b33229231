/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control socket (see relais/control.h).
 *
 * Client life:  accepted -> READING (line) -> WRITING (answer) -> closed
 *               any state --5 s timeout or error--> closed
 */
#include "relais/control.h"
#include "relais/error.h"
#include "relais/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS  8
#define MAX_REQUEST  (RELAIS_CONTROL_MAX_REQUEST + 1)
#define CLIENT_TO_MS 5000

struct client {
    struct relais_control *ctl;
    struct relais_io io;
    struct relais_timer timeout;
    char in[MAX_REQUEST];
    size_t in_len;
    char *out;
    size_t out_len, out_off;
    bool used;
};

struct relais_control {
    struct relais_loop *loop;
    char *path;
    struct relais_io listen_io;
    relais_control_cb cb;
    void *ud;
    struct client clients[MAX_CLIENTS];
};

static void client_close(struct client *c)
{
    if (!c->used) return;
    int fd = c->io.fd;
    relais_loop_io_remove(c->ctl->loop, &c->io);
    relais_loop_timer_cancel(c->ctl->loop, &c->timeout);
    if (fd >= 0) close(fd);
    free(c->out);
    c->out = NULL;
    c->used = false;
}

static void client_timeout_cb(struct relais_timer *t)
{
    struct client *c = (struct client *)((char *)t - offsetof(struct client, timeout));
    log_debug("control", "client timed out");
    client_close(c);
}

static void client_answer(struct client *c)
{
    char *nl = memchr(c->in, '\n', c->in_len);
    *nl = '\0';
    if (nl > c->in && nl[-1] == '\r') nl[-1] = '\0';
    char *args = strchr(c->in, ' ');
    if (args) *args++ = '\0';
    char *answer = NULL;
    int rc = c->ctl->cb(c->ctl->ud, c->in, args ? args : "", &answer);
    if (rc != RELAIS_OK || !answer) {
        free(answer);
        size_t n = 96;
        answer = malloc(n);
        if (answer)
            snprintf(answer, n, "{\"error\":\"%s\"}", relais_strerror(rc ? rc : RELAIS_EINTERNAL));
    }
    if (!answer) {
        client_close(c);
        return;
    }
    size_t len = strlen(answer);
    char *out = realloc(answer, len + 2);
    if (!out) {
        free(answer);
        client_close(c);
        return;
    }
    out[len] = '\n';
    out[len + 1] = '\0';
    c->out = out;
    c->out_len = len + 1;
    c->out_off = 0;
    relais_loop_io_update(c->ctl->loop, &c->io, RELAIS_IO_WRITE);
}

static void client_io_cb(struct relais_io *io, unsigned revents)
{
    struct client *c = (struct client *)((char *)io - offsetof(struct client, io));
    if (c->out) {
        if (!(revents & (RELAIS_IO_WRITE | RELAIS_IO_ERROR))) return;
        ssize_t n = send(io->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
            client_close(c);
            return;
        }
        c->out_off += (size_t)n;
        if (c->out_off == c->out_len) client_close(c);
        return;
    }
    ssize_t n = recv(io->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    c->in_len += (size_t)n;
    if (memchr(c->in, '\n', c->in_len)) {
        client_answer(c);
        return;
    }
    if (c->in_len == sizeof c->in) {
        log_warn("control", "request longer than %d bytes dropped", MAX_REQUEST);
        client_close(c);
    }
}

static void listen_cb(struct relais_io *io, unsigned revents)
{
    struct relais_control *ctl =
        (struct relais_control *)((char *)io - offsetof(struct relais_control, listen_io));
    (void)revents;
    for (;;) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR) log_errno("control", "accept");
            return;
        }
        struct client *c = NULL;
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (!ctl->clients[i].used) {
                c = &ctl->clients[i];
                break;
            }
        if (!c) {
            log_warn("control", "too many clients: one refused");
            close(fd);
            continue;
        }
        memset(c, 0, sizeof *c);
        c->ctl = ctl;
        c->used = true;
        c->io.fd = -1;
        relais_timer_init(&c->timeout, client_timeout_cb);
        if (relais_loop_io_add(ctl->loop, &c->io, fd, RELAIS_IO_READ, client_io_cb) != RELAIS_OK) {
            close(fd);
            c->used = false;
            continue;
        }
        relais_loop_timer_arm(ctl->loop, &c->timeout, CLIENT_TO_MS);
    }
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path) {
        log_error("control", "socket path too long: %s", path);
        return RELAIS_ETOOBIG;
    }
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return RELAIS_OK;
}

int relais_control_open(struct relais_control **out, struct relais_loop *loop, const char *path,
                        relais_control_cb cb, void *ud)
{
    struct sockaddr_un sa;
    int rc = fill_addr(&sa, path);
    if (rc) return rc;
    /* somebody serving it already? then another relaisd owns this data dir */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
        int c = connect(probe, (struct sockaddr *)&sa, sizeof sa);
        close(probe);
        if (c == 0) {
            log_error("control", "%s is served by another process: is relaisd already running?",
                      path);
            return RELAIS_EEXIST;
        }
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_error("control", "%s exists and is not a socket", path);
            return RELAIS_EEXIST;
        }
        unlink(path); /* stale, from a relaisd that did not stop cleanly */
    }

    struct relais_control *ctl = calloc(1, sizeof *ctl);
    if (!ctl) return RELAIS_ENOMEM;
    ctl->loop = loop;
    ctl->cb = cb;
    ctl->ud = ud;
    ctl->listen_io.fd = -1;
    ctl->path = strdup(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!ctl->path || fd < 0) {
        log_errno("control", "socket");
        rc = RELAIS_EIO;
        goto fail;
    }
    mode_t old = umask(077);
    int b = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (b != 0 || chmod(path, 0600) != 0 || listen(fd, MAX_CLIENTS) != 0) {
        log_errno("control", path);
        rc = RELAIS_EIO;
        goto fail;
    }
    if ((rc = relais_loop_io_add(loop, &ctl->listen_io, fd, RELAIS_IO_READ, listen_cb))) goto fail;
    *out = ctl;
    return RELAIS_OK;
fail:
    if (fd >= 0) close(fd);
    free(ctl->path);
    free(ctl);
    return rc;
}

void relais_control_close(struct relais_control *ctl)
{
    if (!ctl) return;
    for (int i = 0; i < MAX_CLIENTS; i++)
        client_close(&ctl->clients[i]);
    int fd = ctl->listen_io.fd;
    relais_loop_io_remove(ctl->loop, &ctl->listen_io);
    if (fd >= 0) close(fd);
    unlink(ctl->path);
    free(ctl->path);
    free(ctl);
}

/* ---- client side ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int relais_control_request(const char *path, const char *request, char **answer,
                           unsigned timeout_ms)
{
    struct sockaddr_un sa;
    int rc = fill_addr(&sa, path);
    if (rc) return rc;
    *answer = NULL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return RELAIS_EIO;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return RELAIS_ECONN;
    }
    size_t rlen = strlen(request);
    char *line = malloc(rlen + 2);
    if (!line) {
        close(fd);
        return RELAIS_ENOMEM;
    }
    memcpy(line, request, rlen);
    line[rlen] = '\n';
    size_t off = 0;
    while (off < rlen + 1) {
        ssize_t w = send(fd, line + off, rlen + 1 - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            free(line);
            close(fd);
            return RELAIS_EIO;
        }
        off += (size_t)w;
    }
    free(line);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int64_t deadline = mono_ms() + timeout_ms;
    rc = RELAIS_OK;
    while (buf) {
        int64_t left = deadline - mono_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            rc = RELAIS_EIO;
            break;
        }
        if (len + 1 == cap) {
            char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                rc = RELAIS_ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = RELAIS_EIO;
            break;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (!buf) return RELAIS_ENOMEM;
    if (rc != RELAIS_OK) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *answer = buf;
    return RELAIS_OK;
}
