/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one clock interface: monotonic time for delays and timers, wall time
 * for timestamps and schedules.  Every module takes its time from a struct
 * relais_clock so that tests can run days in seconds and jump the wall clock.
 */
#ifndef RELAIS_CLOCK_H
#define RELAIS_CLOCK_H

#include <stdint.h>

struct relais_clock {
    uint64_t (*mono_ms_cb)(void *ctx); /* milliseconds, never goes back */
    int64_t (*wall_ms_cb)(void *ctx);  /* milliseconds since 1970 (UTC), may jump */
    void *ctx;
    /* optional: microseconds on the same monotonic base (NULL: from mono_ms) */
    uint64_t (*mono_us_cb)(void *ctx);
};

/* The system clock (CLOCK_MONOTONIC, CLOCK_REALTIME). */
extern const struct relais_clock relais_clock_system;

static inline uint64_t relais_clock_mono_ms(const struct relais_clock *c)
{
    return c->mono_ms_cb(c->ctx);
}

static inline uint64_t relais_clock_mono_us(const struct relais_clock *c)
{
    return c->mono_us_cb ? c->mono_us_cb(c->ctx) : c->mono_ms_cb(c->ctx) * 1000u;
}

static inline int64_t relais_clock_wall_ms(const struct relais_clock *c)
{
    return c->wall_ms_cb(c->ctx);
}

#endif
