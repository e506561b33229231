/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop: one epoll instance that owns every fd, a list of timers and
 * end-of-turn hooks.  Watchers and timers are embedded in the objects that own
 * them, so the loop never allocates after it is created.
 *
 * One turn:  wait (until the next timer or an fd) -> dispatch ready fds ->
 *            run due timers -> run the end-of-turn hooks (group commit, ...).
 * Callbacks may add, remove or re-arm any watcher or timer, including their
 * own; a watcher removed during a turn is not called again in that turn.
 */
#ifndef RELAIS_LOOP_H
#define RELAIS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "relais/clock.h"

struct relais_loop;

#define RELAIS_IO_READ  0x1u
#define RELAIS_IO_WRITE 0x2u
#define RELAIS_IO_ERROR 0x4u /* reported only: hang-up or error on the fd */

struct relais_io;
typedef void (*relais_io_cb)(struct relais_io *io, unsigned revents);

/* An fd watcher.  Owned and embedded by the caller; borrowed by the loop
 * between relais_loop_io_add() and relais_loop_io_remove(). */
struct relais_io {
    int fd;
    unsigned events;
    relais_io_cb cb;
    bool active;
};

struct relais_timer;
typedef void (*relais_timer_cb)(struct relais_timer *t);

/* A one-shot timer on the monotonic clock (microsecond resolution: the loop
 * waits with epoll_pwait2).  Owned and embedded by the caller; borrowed by the
 * loop while armed. */
struct relais_timer {
    uint64_t due_us;
    relais_timer_cb cb;
    struct relais_timer *next;
    bool armed;
};

struct relais_hook;
typedef void (*relais_hook_cb)(struct relais_hook *h);

/* Called at the end of every turn, in the order added. */
struct relais_hook {
    relais_hook_cb cb;
    struct relais_hook *next;
};

/* clock is borrowed for the loop's lifetime; NULL means the system clock. */
int relais_loop_create(struct relais_loop **out, const struct relais_clock *clock);
/* Every watcher, timer and hook must have been removed. */
void relais_loop_destroy(struct relais_loop *loop);

/* Runs turns until relais_loop_stop() is called from inside the loop (the
 * flag is cleared when run starts).  Returns RELAIS_OK or RELAIS_EIO. */
int relais_loop_run(struct relais_loop *loop);
/* Runs one turn, waiting at most max_wait_ms (-1: until something happens). */
int relais_loop_run_once(struct relais_loop *loop, int max_wait_ms);
void relais_loop_stop(struct relais_loop *loop);
bool relais_loop_stopping(const struct relais_loop *loop);

/* Monotonic time, read once per turn (and after each wait). */
uint64_t relais_loop_now_ms(const struct relais_loop *loop);
/* Reads the clock again (for code that measures a long step). */
uint64_t relais_loop_update_now(struct relais_loop *loop);
const struct relais_clock *relais_loop_clock(const struct relais_loop *loop);

int relais_loop_io_add(struct relais_loop *loop, struct relais_io *io, int fd, unsigned events,
                       relais_io_cb cb);
int relais_loop_io_update(struct relais_loop *loop, struct relais_io *io, unsigned events);
/* Safe on an inactive watcher.  Call it before closing the fd. */
void relais_loop_io_remove(struct relais_loop *loop, struct relais_io *io);

void relais_timer_init(struct relais_timer *t, relais_timer_cb cb);
/* (Re)arms t to fire delay_ms (delay_us) from the loop's current time, or at
 * due_ms on the monotonic clock. */
void relais_loop_timer_arm(struct relais_loop *loop, struct relais_timer *t, uint64_t delay_ms);
void relais_loop_timer_arm_us(struct relais_loop *loop, struct relais_timer *t, uint64_t delay_us);
void relais_loop_timer_arm_at(struct relais_loop *loop, struct relais_timer *t, uint64_t due_ms);
void relais_loop_timer_cancel(struct relais_loop *loop, struct relais_timer *t);

void relais_loop_hook_add(struct relais_loop *loop, struct relais_hook *h, relais_hook_cb cb);
void relais_loop_hook_remove(struct relais_loop *loop, struct relais_hook *h);

#endif
