/* SPDX-License-Identifier: Apache-2.0 */
/* Capped exponential backoff with jitter (see relais/backoff.h). */
#include "relais/backoff.h"

#include <sys/random.h>
#include <time.h>

static uint64_t next_random(struct relais_backoff *b)
{
    /* xorshift64* (Vigna): good enough for spreading reconnects */
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void relais_backoff_init(struct relais_backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed)
{
    if (seed == 0 && getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
    }
    b->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
    b->attempt = 0;
    relais_backoff_set_bounds(b, min_ms, max_ms);
}

void relais_backoff_set_bounds(struct relais_backoff *b, uint32_t min_ms, uint32_t max_ms)
{
    if (min_ms == 0) min_ms = 1;
    if (max_ms < min_ms) max_ms = min_ms;
    b->min_ms = min_ms;
    b->max_ms = max_ms;
}

uint32_t relais_backoff_next(struct relais_backoff *b)
{
    uint64_t base = (uint64_t)b->min_ms * 2;
    for (uint32_t i = 0; i < b->attempt && base < b->max_ms; i++)
        base *= 2;
    if (base > b->max_ms) base = b->max_ms;
    if (b->attempt < UINT32_MAX) b->attempt++;
    uint64_t lo = base / 2 > b->min_ms ? base / 2 : b->min_ms;
    if (lo > base) lo = base;
    return (uint32_t)(lo + next_random(b) % (base - lo + 1));
}

void relais_backoff_reset(struct relais_backoff *b)
{
    b->attempt = 0;
}
