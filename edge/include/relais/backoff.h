/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capped exponential backoff with jitter, for reconnects.  Delay n (from 0)
 * is drawn uniformly from [max(min, base_n / 2), base_n] where
 * base_n = min(cap, min * 2^(n+1)): the first delay lies in [min, 2 min],
 * successive delays grow until the cap, and gateways that lost the same
 * broker do not all come back at the same instant.
 */
#ifndef RELAIS_BACKOFF_H
#define RELAIS_BACKOFF_H

#include <stdint.h>

struct relais_backoff {
    uint32_t min_ms;
    uint32_t max_ms;
    uint32_t attempt;
    uint64_t rng; /* xorshift64* state, never 0 */
};

/* seed 0 draws a seed from getrandom(). */
void relais_backoff_init(struct relais_backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed);
/* Changes the bounds and keeps the attempt count. */
void relais_backoff_set_bounds(struct relais_backoff *b, uint32_t min_ms, uint32_t max_ms);
/* The next delay; counts an attempt. */
uint32_t relais_backoff_next(struct relais_backoff *b);
/* After a success: the next delay starts from min again. */
void relais_backoff_reset(struct relais_backoff *b);

#endif
