/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The epoll event loop (see relais/loop.h).
 *
 * Timers are a list sorted by due time: relaisd arms a handful of them (link
 * keepalive and backoff, commit window, control clients), so an O(n) insert
 * costs less than a heap and needs no allocation.
 *
 * Invariant: loop->events[loop->ev_pos + 1 .. loop->ev_count) are the events
 * not yet dispatched in this turn; removing a watcher clears its entries there.
 */
#include "relais/loop.h"
#include "relais/error.h"
#include "relais/log.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 64

struct relais_loop {
    int epfd;
    const struct relais_clock *clock;
    uint64_t now_us;
    bool stop;
    struct relais_timer *timers;
    struct relais_timer *due; /* timers being run by run_timers() */
    struct relais_hook *hooks;
    struct relais_hook *hook_next; /* next hook to run in this turn */
    struct epoll_event events[MAX_EVENTS];
    int ev_count;
    int ev_pos;
};

int relais_loop_create(struct relais_loop **out, const struct relais_clock *clock)
{
    struct relais_loop *loop = calloc(1, sizeof *loop);
    if (!loop) return RELAIS_ENOMEM;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        log_errno("loop", "epoll_create1");
        free(loop);
        return RELAIS_EIO;
    }
    loop->clock = clock ? clock : &relais_clock_system;
    loop->now_us = relais_clock_mono_us(loop->clock);
    *out = loop;
    return RELAIS_OK;
}

void relais_loop_destroy(struct relais_loop *loop)
{
    if (!loop) return;
    if (loop->epfd >= 0) close(loop->epfd);
    free(loop);
}

uint64_t relais_loop_now_ms(const struct relais_loop *loop)
{
    return loop->now_us / 1000u;
}

uint64_t relais_loop_update_now(struct relais_loop *loop)
{
    loop->now_us = relais_clock_mono_us(loop->clock);
    return loop->now_us / 1000u;
}

const struct relais_clock *relais_loop_clock(const struct relais_loop *loop)
{
    return loop->clock;
}

void relais_loop_stop(struct relais_loop *loop)
{
    loop->stop = true;
}

bool relais_loop_stopping(const struct relais_loop *loop)
{
    return loop->stop;
}

/* ---- fd watchers ---- */

static uint32_t to_epoll(unsigned events)
{
    uint32_t e = 0;
    if (events & RELAIS_IO_READ) e |= EPOLLIN;
    if (events & RELAIS_IO_WRITE) e |= EPOLLOUT;
    return e;
}

int relais_loop_io_add(struct relais_loop *loop, struct relais_io *io, int fd, unsigned events,
                       relais_io_cb cb)
{
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (io->active) return RELAIS_EINVAL;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        log_errno("loop", "epoll_ctl(ADD)");
        return RELAIS_EIO;
    }
    io->fd = fd;
    io->events = events;
    io->cb = cb;
    io->active = true;
    return RELAIS_OK;
}

int relais_loop_io_update(struct relais_loop *loop, struct relais_io *io, unsigned events)
{
    if (!io->active) return RELAIS_EINVAL;
    if (io->events == events) return RELAIS_OK;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0) {
        log_errno("loop", "epoll_ctl(MOD)");
        return RELAIS_EIO;
    }
    io->events = events;
    return RELAIS_OK;
}

void relais_loop_io_remove(struct relais_loop *loop, struct relais_io *io)
{
    if (!io->active) return;
    /* The fd may already be closed by a library (libmosquitto closes its
     * socket on errors); the kernel then dropped it from the set already. */
    if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL) != 0 && errno != EBADF &&
        errno != ENOENT)
        log_errno("loop", "epoll_ctl(DEL)");
    for (int i = loop->ev_pos + 1; i < loop->ev_count; i++)
        if (loop->events[i].data.ptr == io) loop->events[i].data.ptr = NULL;
    io->active = false;
    io->fd = -1;
}

/* ---- timers ---- */

void relais_timer_init(struct relais_timer *t, relais_timer_cb cb)
{
    t->due_us = 0;
    t->cb = cb;
    t->next = NULL;
    t->armed = false;
}

static bool timer_unlink(struct relais_timer **pp, struct relais_timer *t)
{
    for (; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            return true;
        }
    }
    return false;
}

void relais_loop_timer_cancel(struct relais_loop *loop, struct relais_timer *t)
{
    if (!t->armed) return;
    /* an armed timer is in exactly one of the two lists */
    if (!timer_unlink(&loop->timers, t)) timer_unlink(&loop->due, t);
    t->next = NULL;
    t->armed = false;
}

static void timer_arm_us(struct relais_loop *loop, struct relais_timer *t, uint64_t due_us)
{
    relais_loop_timer_cancel(loop, t);
    t->due_us = due_us;
    struct relais_timer **pp = &loop->timers;
    while (*pp && (*pp)->due_us <= due_us)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    t->armed = true;
}

void relais_loop_timer_arm_at(struct relais_loop *loop, struct relais_timer *t, uint64_t due_ms)
{
    timer_arm_us(loop, t, due_ms * 1000u);
}

void relais_loop_timer_arm(struct relais_loop *loop, struct relais_timer *t, uint64_t delay_ms)
{
    timer_arm_us(loop, t, loop->now_us + delay_ms * 1000u);
}

void relais_loop_timer_arm_us(struct relais_loop *loop, struct relais_timer *t, uint64_t delay_us)
{
    timer_arm_us(loop, t, loop->now_us + delay_us);
}

/* ---- hooks ---- */

void relais_loop_hook_add(struct relais_loop *loop, struct relais_hook *h, relais_hook_cb cb)
{
    struct relais_hook **pp = &loop->hooks;
    while (*pp)
        pp = &(*pp)->next;
    h->cb = cb;
    h->next = NULL;
    *pp = h;
}

void relais_loop_hook_remove(struct relais_loop *loop, struct relais_hook *h)
{
    for (struct relais_hook **pp = &loop->hooks; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            if (loop->hook_next == h) loop->hook_next = h->next;
            *pp = h->next;
            h->next = NULL;
            return;
        }
    }
}

/* ---- running ---- */

static void run_timers(struct relais_loop *loop)
{
    /* Timers armed by callbacks for "now" run in the next turn, so that a
     * timer re-arming itself with delay 0 cannot starve the fds.  The due
     * timers move to loop->due, where relais_loop_timer_cancel() finds them. */
    uint64_t now = loop->now_us;
    struct relais_timer **tail = &loop->due;
    while (loop->timers && loop->timers->due_us <= now) {
        struct relais_timer *t = loop->timers;
        loop->timers = t->next;
        t->next = NULL;
        *tail = t;
        tail = &t->next;
    }
    while (loop->due) {
        struct relais_timer *t = loop->due;
        loop->due = t->next;
        t->next = NULL;
        t->armed = false;
        t->cb(t);
    }
}

/* Waits for events at most wait_us (-1: forever), with epoll_pwait2's
 * nanosecond timeout where the kernel has it. */
static int wait_events(struct relais_loop *loop, int64_t wait_us)
{
    static bool no_pwait2;
    if (!no_pwait2) {
        struct timespec ts = {(time_t)(wait_us / 1000000), (long)(wait_us % 1000000) * 1000};
        int n = epoll_pwait2(loop->epfd, loop->events, MAX_EVENTS, wait_us < 0 ? NULL : &ts, NULL);
        if (n >= 0 || errno != ENOSYS) return n;
        no_pwait2 = true;
    }
    int ms = wait_us < 0 ? -1 : (int)((wait_us + 999) / 1000);
    return epoll_wait(loop->epfd, loop->events, MAX_EVENTS, ms);
}

int relais_loop_run_once(struct relais_loop *loop, int max_wait_ms)
{
    int64_t wait_us = max_wait_ms < 0 ? -1 : (int64_t)max_wait_ms * 1000;
    if (loop->timers) {
        relais_loop_update_now(loop);
        uint64_t due = loop->timers->due_us;
        int64_t until = due > loop->now_us ? (int64_t)(due - loop->now_us) : 0;
        if (until > 60000000) until = 60000000;
        if (wait_us < 0 || wait_us > until) wait_us = until;
    }
    int n = wait_events(loop, wait_us);
    if (n < 0) {
        if (errno == EINTR)
            n = 0;
        else {
            log_errno("loop", "epoll_wait");
            return RELAIS_EIO;
        }
    }
    relais_loop_update_now(loop);
    loop->ev_count = n;
    for (loop->ev_pos = 0; loop->ev_pos < n; loop->ev_pos++) {
        struct epoll_event *ev = &loop->events[loop->ev_pos];
        struct relais_io *io = ev->data.ptr;
        if (!io || !io->active) continue;
        unsigned re = 0;
        if (ev->events & EPOLLIN) re |= RELAIS_IO_READ;
        if (ev->events & EPOLLOUT) re |= RELAIS_IO_WRITE;
        if (ev->events & (EPOLLERR | EPOLLHUP)) re |= RELAIS_IO_ERROR;
        io->cb(io, re);
    }
    loop->ev_count = 0;
    loop->ev_pos = 0;
    relais_loop_update_now(loop);
    run_timers(loop);
    for (struct relais_hook *h = loop->hooks; h; h = loop->hook_next) {
        loop->hook_next = h->next;
        h->cb(h);
    }
    return RELAIS_OK;
}

int relais_loop_run(struct relais_loop *loop)
{
    loop->stop = false; /* a stop before run is not kept: signals arrive inside the loop */
    while (!loop->stop) {
        int rc = relais_loop_run_once(loop, -1);
        if (rc) return rc;
    }
    return RELAIS_OK;
}
