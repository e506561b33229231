/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the reconnect backoff (edge/src/backoff.c): every delay lies
 * in [max(min, base/2), base] with base = min(max, min * 2^(n+1)), delays grow
 * until the cap, reset and set_bounds, min > max and min = 0, determinism of
 * a seed, spread of the jitter, and no overflow after a million attempts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relais/backoff.h"

/* The documented base of delay n. */
static uint64_t expected_base(uint32_t min_ms, uint32_t max_ms, uint32_t n)
{
    uint64_t base = (uint64_t)min_ms * 2;
    for (uint32_t i = 0; i < n && base < max_ms; i++)
        base *= 2;
    return base > max_ms ? max_ms : base;
}

/* Asserts that delay n of a fresh backoff with these bounds lies in its
 * documented interval, for many draws of the jitter. */
static void check_bounds(uint32_t min_ms, uint32_t max_ms, uint32_t attempts, uint64_t seed)
{
    struct relais_backoff b;

    relais_backoff_init(&b, min_ms, max_ms, seed);
    for (uint32_t n = 0; n < attempts; n++) {
        uint64_t base = expected_base(min_ms, max_ms, n);
        uint64_t lo = base / 2 > min_ms ? base / 2 : min_ms;
        uint32_t d = relais_backoff_next(&b);

        assert_in_range(d, lo, base);
    }
}

static void test_bounds_of_every_delay(void **state)
{
    (void)state;
    static const uint32_t bounds[][2] = {
        {250, 30000},
        {10, 60000},
        {100, 3600000},
        {1, 1},
        {1, 2},
        {3, 7},
        {1000, 1500},
        {1, UINT32_MAX},
        {UINT32_MAX / 3, UINT32_MAX},
        {UINT32_MAX, UINT32_MAX},
    };
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++)
        for (uint64_t seed = 1; seed <= 20; seed++)
            check_bounds(bounds[i][0], bounds[i][1], 48, seed);
}

static void test_first_delay_is_min(void **state)
{
    (void)state;
    struct relais_backoff b;
    uint32_t lo = UINT32_MAX, hi = 0;

    /* base_0 = 2 min: the first delay is jittered within [min, 2 min], so
     * gateways that lost the same broker do not all retry at one instant */
    for (uint64_t seed = 1; seed < 200; seed++) {
        relais_backoff_init(&b, 250, 30000, seed);
        uint32_t d = relais_backoff_next(&b);
        assert_in_range(d, 250, 500);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(hi - lo > 100);
}

static void test_growth_until_cap(void **state)
{
    (void)state;
    struct relais_backoff b;

    /* min 100, max 3200: bases 200 400 800 1600 3200 3200 ...; the
     * intervals [base/2, base] of successive attempts never overlap beyond
     * their ends, so the lower end of delay n+1 is the upper end of delay n. */
    relais_backoff_init(&b, 100, 3200, 42);
    uint32_t prev = relais_backoff_next(&b);
    assert_in_range(prev, 100, 200);
    for (int n = 1; n <= 4; n++) {
        uint32_t d = relais_backoff_next(&b);
        assert_in_range(d, 100u << n, 100u << (n + 1));
        assert_true(d >= prev);
        prev = d;
    }
    for (int n = 0; n < 1000; n++)
        assert_in_range(relais_backoff_next(&b), 1600, 3200);
    assert_int_equal(b.attempt, 1005);
}

static void test_reset(void **state)
{
    (void)state;
    struct relais_backoff b;

    relais_backoff_init(&b, 100, 10000, 7);
    for (int n = 0; n < 20; n++)
        relais_backoff_next(&b);
    assert_in_range(relais_backoff_next(&b), 5000, 10000);
    relais_backoff_reset(&b);
    assert_int_equal(b.attempt, 0);
    assert_in_range(relais_backoff_next(&b), 100, 200);
    assert_in_range(relais_backoff_next(&b), 200, 400);
    assert_in_range(relais_backoff_next(&b), 400, 800);
}

static void test_set_bounds_keeps_attempts(void **state)
{
    (void)state;
    struct relais_backoff b;

    relais_backoff_init(&b, 100, 10000, 9);
    for (int n = 0; n < 3; n++)
        relais_backoff_next(&b);
    relais_backoff_set_bounds(&b, 1000, 50000);
    assert_int_equal(b.min_ms, 1000);
    assert_int_equal(b.max_ms, 50000);
    assert_int_equal(b.attempt, 3);
    /* attempt 3: base = 1000 * 2^4 */
    assert_in_range(relais_backoff_next(&b), 8000, 16000);
    /* a smaller cap applies at once */
    relais_backoff_set_bounds(&b, 1000, 2000);
    for (int n = 0; n < 100; n++)
        assert_in_range(relais_backoff_next(&b), 1000, 2000);
}

static void test_min_greater_than_max(void **state)
{
    (void)state;
    struct relais_backoff b;

    relais_backoff_init(&b, 500, 100, 3);
    assert_int_equal(b.min_ms, 500);
    assert_int_equal(b.max_ms, 500);
    for (int n = 0; n < 100; n++)
        assert_int_equal(relais_backoff_next(&b), 500);

    relais_backoff_set_bounds(&b, 2000, 1);
    assert_int_equal(b.min_ms, 2000);
    assert_int_equal(b.max_ms, 2000);
    assert_int_equal(relais_backoff_next(&b), 2000);
}

static void test_min_zero(void **state)
{
    (void)state;
    struct relais_backoff b;

    /* a zero minimum would never grow: it is raised to 1 ms */
    relais_backoff_init(&b, 0, 1000, 5);
    assert_int_equal(b.min_ms, 1);
    assert_int_equal(relais_backoff_next(&b), 1);
    for (int n = 0; n < 30; n++)
        assert_in_range(relais_backoff_next(&b), 1, 1000);
    assert_in_range(relais_backoff_next(&b), 500, 1000);

    relais_backoff_init(&b, 0, 0, 5);
    assert_int_equal(b.min_ms, 1);
    assert_int_equal(b.max_ms, 1);
    for (int n = 0; n < 30; n++)
        assert_int_equal(relais_backoff_next(&b), 1);
}

static void test_seed_determinism(void **state)
{
    (void)state;
    struct relais_backoff a, b, c;

    relais_backoff_init(&a, 10, 100000, 12345);
    relais_backoff_init(&b, 10, 100000, 12345);
    relais_backoff_init(&c, 10, 100000, 54321);
    int differ = 0;
    for (int n = 0; n < 200; n++) {
        uint32_t da = relais_backoff_next(&a);
        uint32_t dc = relais_backoff_next(&c);
        assert_int_equal(da, relais_backoff_next(&b));
        if (da != dc) differ++;
    }
    /* another seed gives another sequence (delay 0 is min for both) */
    assert_true(differ > 150);

    /* reset rewinds the attempt count, not the generator: two backoffs in
     * the same state still draw the same delays */
    relais_backoff_reset(&a);
    relais_backoff_reset(&b);
    for (int n = 0; n < 20; n++)
        assert_int_equal(relais_backoff_next(&a), relais_backoff_next(&b));
}

static void test_seed_zero_draws_a_seed(void **state)
{
    (void)state;
    struct relais_backoff a, b;

    relais_backoff_init(&a, 100, 100000, 0);
    relais_backoff_init(&b, 100, 100000, 0);
    assert_true(a.rng != 0);
    assert_true(b.rng != 0);
    /* two gateways started at once must not share a sequence */
    assert_true(a.rng != b.rng);
    check_bounds(100, 100000, 40, 0);
}

static void test_distribution_spread(void **state)
{
    (void)state;
    struct relais_backoff b;
    unsigned buckets[10] = {0};

    /* capped: every delay is drawn from [5000, 10000] */
    relais_backoff_init(&b, 100, 10000, 2026);
    for (int n = 0; n < 20; n++)
        relais_backoff_next(&b);
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int n = 0; n < 10000; n++) {
        uint32_t d = relais_backoff_next(&b);
        assert_in_range(d, 5000, 10000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        buckets[d == 10000 ? 9 : (d - 5000) / 500]++;
    }
    assert_true(lo < 5100);
    assert_true(hi > 9900);
    /* roughly uniform: each tenth of the interval gets 1000 +- 25% */
    for (int i = 0; i < 10; i++)
        assert_in_range(buckets[i], 750, 1250);
}

static void test_no_overflow_after_a_million_attempts(void **state)
{
    (void)state;
    struct relais_backoff b;

    relais_backoff_init(&b, 1, UINT32_MAX, 99);
    for (uint32_t n = 0; n < 1000000; n++) {
        uint32_t d = relais_backoff_next(&b);
        if (n >= 32) assert_true(d >= UINT32_MAX / 2);
    }
    assert_int_equal(b.attempt, 1000000);

    relais_backoff_init(&b, 250, 30000, 99);
    for (uint32_t n = 0; n < 1000000; n++) {
        uint32_t d = relais_backoff_next(&b);
        if (n >= 7) assert_in_range(d, 15000, 30000);
    }

    /* the attempt counter saturates instead of wrapping back to min */
    b.attempt = UINT32_MAX - 1;
    for (int n = 0; n < 5; n++)
        assert_in_range(relais_backoff_next(&b), 15000, 30000);
    assert_int_equal(b.attempt, UINT32_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_of_every_delay),
        cmocka_unit_test(test_first_delay_is_min),
        cmocka_unit_test(test_growth_until_cap),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_set_bounds_keeps_attempts),
        cmocka_unit_test(test_min_greater_than_max),
        cmocka_unit_test(test_min_zero),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_seed_zero_draws_a_seed),
        cmocka_unit_test(test_distribution_spread),
        cmocka_unit_test(test_no_overflow_after_a_million_attempts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
