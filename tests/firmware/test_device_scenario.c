/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the device scenarios (firmware/port/posix/scenario.c,
 * docs/device-scenarios.md):
 * - the three shipped files (tests/device-scenarios/, found through the
 *   RELAIS_SRC environment variable) parse, with their event counts per
 *   device, in time order, and their incidents where the file says;
 * - bad lines are refused with their line number and the reason (unknown
 *   keyword, bad time, time going backwards, bad value, ...);
 * - the seeded background: the same seed gives the same values, another
 *   seed other values, and every value stays within mean ± range at the
 *   written precision;
 * - the time syntax (D<n>, +DURATION, =, the UTC offset) and the
 *   repetitions (every ... for / until);
 * - the accelerated clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scenario.h"

/* 2026-11-23 00:00 +01:00 */
#define D1_UTC 1795388400LL

static void load_shipped(struct relais_scn *s, const char *name)
{
    char path[1024];
    struct relais_scn_error err;
    const char *src = getenv("RELAIS_SRC");
    assert_non_null(src);
    int n = snprintf(path, sizeof path, "%s/tests/device-scenarios/%s", src, name);
    assert_true(n > 0 && (size_t)n < sizeof path);
    int rc = relais_scn_load(s, path, 0, &err);
    if (rc) fprintf(stderr, "%s:%u: %s\n", name, err.line, err.why);
    assert_int_equal(rc, 0);
}

static void assert_sorted(const struct relais_scn *s)
{
    for (size_t i = 1; i < s->n_ev; i++)
        assert_true(s->ev[i - 1].t <= s->ev[i].t);
}

/* The vitals event at time t with metric name, or NULL. */
static const struct relais_scn_record *find(const struct relais_scn *s, int64_t t, const char *name)
{
    for (size_t i = 0; i < s->n_ev; i++) {
        if (s->ev[i].t != t) continue;
        for (uint32_t k = 0; k < s->ev[i].n; k++)
            if (strcmp(s->ev[i].rec[k].name, name) == 0) return &s->ev[i].rec[k];
    }
    return NULL;
}

static int64_t at(int day, int h, int m)
{
    return D1_UTC + (int64_t)(day - 1) * 86400 + h * 3600 + m * 60;
}

static void test_capecitabine(void **state)
{
    (void)state;
    struct relais_scn s;
    load_shipped(&s, "capecitabine_cycle.dev");
    assert_string_equal(s.name, "capecitabine-cycle");
    assert_int_equal(s.d1, D1_UTC);
    /* 21 days x 6 background sets, 21 bp+weight, 9 explicit lines */
    assert_int_equal(relais_scn_count(&s, RELAIS_SCN_VITALS), 156);
    /* 28 slots - 1 missed + 1 double + 1 rest-day dose */
    assert_int_equal(relais_scn_count(&s, RELAIS_SCN_PILLBOX), 29);
    assert_int_equal(s.missed, 1);
    assert_sorted(&s);
    /* the fever and the diarrhoea of D10 */
    const struct relais_scn_record *r = find(&s, at(10, 14, 0), "temp");
    assert_non_null(r);
    assert_true(r->v == 38.6);
    r = find(&s, at(10, 14, 20), "pro_diarrhoea");
    assert_non_null(r);
    assert_true(r->v == 2.0);
    /* the double dose: 08:00 and 08:05 on D7; the late pm dose of D12 */
    assert_non_null(find(&s, at(7, 8, 0), "dose"));
    assert_non_null(find(&s, at(7, 8, 5), "dose"));
    assert_non_null(find(&s, at(12, 21, 30), "dose"));
    assert_null(find(&s, at(12, 20, 0), "dose"));
    /* the missed pm of D4, the rest-day dose of D16 */
    assert_null(find(&s, at(4, 20, 0), "dose"));
    r = find(&s, at(16, 8, 0), "dose");
    assert_non_null(r);
    /* only the pill box's events when iterating over it, in order */
    struct relais_scn_iter it;
    relais_scn_iter_init(&it, &s, RELAIS_SCN_PILLBOX);
    const struct relais_scn_event *e, *prev = NULL;
    size_t n = 0;
    while ((e = relais_scn_next(&it))) {
        assert_int_equal(e->device, RELAIS_SCN_PILLBOX);
        if (prev) assert_true(prev->t <= e->t);
        prev = e;
        n++;
    }
    assert_int_equal(n, 29);
    relais_scn_free(&s);
}

static void test_imatinib(void **state)
{
    (void)state;
    struct relais_scn s;
    load_shipped(&s, "imatinib_month.dev");
    assert_int_equal(relais_scn_count(&s, RELAIS_SCN_VITALS), 30 * 6 + 30 + 1);
    assert_int_equal(relais_scn_count(&s, RELAIS_SCN_PILLBOX), 30 + 2);
    assert_int_equal(s.missed, 0);
    assert_sorted(&s);
    /* uneventful: every vital inside the thresholds */
    for (size_t i = 0; i < s.n_ev; i++) {
        for (uint32_t k = 0; k < s.ev[i].n; k++) {
            const struct relais_scn_record *r = &s.ev[i].rec[k];
            if (strcmp(r->name, "temp") == 0) assert_true(r->v < 38.0 && r->v > 35.0);
            if (strcmp(r->name, "spo2") == 0) assert_true(r->v >= 95.0);
            if (strcmp(r->name, "hr") == 0) assert_true(r->v > 40.0 && r->v < 111.0);
        }
    }
    relais_scn_free(&s);
}

static void test_febrile_neutropenia(void **state)
{
    (void)state;
    struct relais_scn s;
    load_shipped(&s, "febrile_neutropenia.dev");
    assert_int_equal(relais_scn_count(&s, RELAIS_SCN_VITALS), 63);
    assert_int_equal(relais_scn_count(&s, RELAIS_SCN_PILLBOX), 10);
    assert_int_equal(s.missed, 4);
    assert_sorted(&s);
    /* a fever >= 38.3 held from D11 07:00 to D12 05:00, hourly */
    size_t fever = 0;
    for (int64_t t = at(11, 7, 0); t <= at(12, 5, 0); t += 3600) {
        const struct relais_scn_record *r = find(&s, t, "temp");
        assert_non_null(r);
        assert_true(r->v >= 38.3);
        fever++;
    }
    assert_int_equal(fever, 23);
    const struct relais_scn_record *r = find(&s, at(11, 12, 0), "spo2");
    assert_non_null(r);
    assert_true(r->v <= 93.0);
    r = find(&s, at(11, 12, 0), "hr");
    assert_non_null(r);
    assert_true(r->v >= 128.0);
    relais_scn_free(&s);
}

/* Parses text, expects a refusal at line with why containing reason. */
static void refused(const char *text, uint32_t line, const char *reason)
{
    struct relais_scn s;
    struct relais_scn_error err;
    int rc = relais_scn_parse(&s, text, strlen(text), 0, &err);
    relais_scn_free(&s);
    if (rc == 0 || err.line != line || !strstr(err.why, reason))
        fprintf(stderr, "for:\n%s\ngot rc %d line %u: %s\n", text, rc, err.line, err.why);
    assert_int_equal(rc, -1);
    assert_int_equal(err.line, line);
    assert_non_null(strstr(err.why, reason));
}

#define HDR "# c\nstart 2026-11-23 +01:00\n"

static void test_refusals(void **state)
{
    (void)state;
    /* unknown keywords, in the header and in the timeline */
    refused("nonsense 1\n", 1, "unknown keyword: nonsense");
    refused(HDR "D1 08:00 temp 37.0\nD1 09:00 glucose 5.1\n", 4, "unknown keyword: glucose");
    refused(HDR "D1 08:00 temp 37.0 sneeze\n", 3, "unknown keyword: sneeze");
    refused(HDR "D1 08:00 temp 37.0\nseed 4\n", 4, "header line after the timeline");
    refused(HDR "D1 08:00 pro cough 2\n", 3, "unknown symptom: cough");
    /* bad times */
    refused(HDR "D1 8:00 temp 37.0\n", 3, "bad time");
    refused(HDR "D1 24:00 temp 37.0\n", 3, "bad time");
    refused(HDR "D1 08:60 temp 37.0\n", 3, "bad time");
    refused(HDR "Dx 08:00 temp 37.0\n", 3, "bad time");
    refused(HDR "D4001 08:00 temp 37.0\n", 3, "bad time");
    refused(HDR "+1h temp 37.0\n", 3, "bad time");
    refused(HDR "D1 08:00 temp 37.0\n+1y temp 37.0\n", 4, "bad time");
    refused(HDR "D1 08:00 every 0h for 1d temp 37.0\n", 3, "every");
    refused(HDR "D2 08:00 every 1h until D1 08:00 temp 37.0\n", 3, "until is before");
    refused("start 2026-02-29 +01:00\n", 1, "bad date");
    refused("start 2026-11-23 01:00\n", 1, "bad UTC offset");
    refused("D1 08:00 temp 37.0\n", 1, "before the header's start");
    /* out of order */
    refused(HDR "D2 08:00 temp 37.0\n\n# x\nD1 08:00 temp 37.0\n", 6, "time goes backwards");
    refused(HDR "D1 08:00 temp 37.0\nD1 07:59:59 temp 37.0\n", 4, "time goes backwards");
    /* bad values */
    refused(HDR "D1 08:00 temp 37,1\n", 3, "bad value for temp");
    refused(HDR "D1 08:00 temp 47.0\n", 3, "bad value for temp");
    refused(HDR "D1 08:00 temp 42.9±0.2\n", 3, "bad value for temp");
    refused(HDR "D1 08:00 spo2 96.5\n", 3, "bad value for spo2");
    refused(HDR "D1 08:00 spo2 101\n", 3, "bad value for spo2");
    refused(HDR "D1 08:00 hr -5\n", 3, "bad value for hr");
    refused(HDR "D1 08:00 bp 120\n", 3, "bad value for bp");
    refused(HDR "D1 08:00 pro nausea 5\n", 3, "bad value for pro");
    refused(HDR "D1 08:00 temp\n", 3, "missing value");
    refused(HDR "D1 08:00 temp 37.0 temp 37.2\n", 3, "given twice");
    refused(HDR "D1 08:00 dose am late 0\n", 3, "bad value for late");
    refused(HDR "D1 08:00 dose am early\n", 3, "unexpected word early");
    refused(HDR "D1 08:00 dose a.m\n", 3, "bad slot");
    refused(HDR "D1 08:00 lid ajar\n", 3, "bad value for lid");
    refused(HDR "D1 08:00 temp 37.0 dose am\n", 3, "one line drives one device");
    refused(HDR "D1 08:00\n", 3, "no command");
    refused("seed 0\n", 1, "bad value for seed");
    /* no start at all */
    refused("# only a comment\n", 0, "no start line");
}

static void test_times(void **state)
{
    (void)state;
    const char *text = "start 2026-11-23 +01:00 # Europe/Paris in winter\n"
                       "D1 08:00 temp 37.0\n"
                       "+1h30m temp 37.1\n"
                       "= spo2 96\n"
                       "D0 23:00:30 weight 70.0\n"; /* backwards: refused */
    struct relais_scn s;
    struct relais_scn_error err;
    assert_int_equal(relais_scn_parse(&s, text, strlen(text), 0, &err), -1);
    assert_int_equal(err.line, 5);
    relais_scn_free(&s);
    text = "start 2026-11-23 -03:30\n"
           "D0 23:00:30 weight 70.0\n"
           "D1 08:00 temp 37.0\n"
           "+1h30m temp 37.1\n"
           "= spo2 96\n"
           "D2 00:00 every 6h for 1d hr 60\n"
           "D3 00:00 every 1d until D5 00:00 lid open\n"
           "D9 20:00 dose pm late 90 double\n";
    assert_int_equal(relais_scn_parse(&s, text, strlen(text), 0, &err), 0);
    int64_t d1 = 1795392000LL + 3 * 3600 + 30 * 60; /* 2026-11-23 00:00 -03:30 */
    assert_int_equal(s.d1, d1);
    assert_int_equal(s.n_ev, 1 + 3 + 4 + 3 + 2);
    assert_int_equal(s.ev[0].t, d1 - 3600 + 30);
    assert_int_equal(s.ev[2].t, d1 + 9 * 3600 + 30 * 60);
    assert_int_equal(s.ev[3].t, s.ev[2].t);
    assert_int_equal(s.ev[4].t, d1 + 86400);
    assert_int_equal(s.ev[7].t, d1 + 86400 + 18 * 3600);
    assert_int_equal(s.ev[8].t, d1 + 2 * 86400);
    assert_true(s.ev[8].rec[0].vb);
    assert_int_equal(s.ev[10].t, d1 + 4 * 86400);
    assert_int_equal(s.ev[11].t, d1 + 8 * 86400 + 21 * 3600 + 30 * 60);
    assert_int_equal(s.ev[12].t, s.ev[11].t + 300);
    assert_string_equal(s.ev[12].slot, "pm");
    assert_int_equal(s.ev[12].device, RELAIS_SCN_PILLBOX);
    relais_scn_free(&s);
}

static void parse_ok(struct relais_scn *s, const char *text, uint64_t seed)
{
    struct relais_scn_error err;
    int rc = relais_scn_parse(s, text, strlen(text), seed, &err);
    if (rc) fprintf(stderr, "%u: %s\n", err.line, err.why);
    assert_int_equal(rc, 0);
}

static void test_seeded_background(void **state)
{
    (void)state;
    const char *text = "start 2026-11-23 +01:00\nseed 7\n"
                       "D1 00:00 every 1h for 30d temp 36.8±0.3 spo2 97+-1 hr 70±5 "
                       "bp 120±10/80±5 weight 70.25±0.5\n";
    struct relais_scn a, b, c;
    parse_ok(&a, text, 0);
    parse_ok(&b, text, 0);
    parse_ok(&c, text, 8);
    assert_int_equal(a.n_ev, 720);
    assert_int_equal(a.seed, 7);
    assert_int_equal(c.seed, 8);
    size_t differ = 0;
    double tmin = 99, tmax = 0;
    for (size_t i = 0; i < a.n_ev; i++) {
        assert_int_equal(a.ev[i].n, 6);
        for (uint32_t k = 0; k < 6; k++) {
            const struct relais_scn_record *r = &a.ev[i].rec[k];
            assert_true(r->v == b.ev[i].rec[k].v); /* same seed, same values */
            if (r->v != c.ev[i].rec[k].v) differ++;
            double v = r->v;
            if (strcmp(r->name, "temp") == 0) {
                assert_true(v >= 36.5 - 1e-9 && v <= 37.1 + 1e-9);
                double tenths = v * 10.0;
                assert_true(tenths - (double)(long long)(tenths + 0.5) < 1e-6);
                tmin = v < tmin ? v : tmin;
                tmax = v > tmax ? v : tmax;
            } else if (strcmp(r->name, "spo2") == 0) {
                assert_true(v >= 96 && v <= 98 && v == (double)(int)v);
            } else if (strcmp(r->name, "hr") == 0) {
                assert_true(v >= 65 && v <= 75 && v == (double)(int)v);
            } else if (strcmp(r->name, "bp_sys") == 0) {
                assert_true(v >= 110 && v <= 130);
            } else if (strcmp(r->name, "bp_dia") == 0) {
                assert_true(v >= 75 && v <= 85);
            } else {
                assert_string_equal(r->name, "weight");
                assert_true(v >= 69.75 - 1e-9 && v <= 70.75 + 1e-9);
            }
        }
    }
    /* the whole range is used, and another seed gives other values */
    assert_true(tmin < 36.55 && tmax > 37.05);
    assert_true(differ > a.n_ev);
    relais_scn_free(&a);
    relais_scn_free(&b);
    relais_scn_free(&c);
}

static void test_clock(void **state)
{
    (void)state;
    struct relais_scn_clock c;
    relais_scn_clock_init(&c, 3600, 1000, 5000); /* one hour per second */
    assert_true(relais_scn_clock_due(&c, 1000, 5000));
    assert_false(relais_scn_clock_due(&c, 1000 + 3600, 5999));
    assert_true(relais_scn_clock_due(&c, 1000 + 3600, 6000));
    assert_true(relais_scn_clock_due(&c, 500, 0));
    relais_scn_clock_init(&c, 0, 1000, 5000); /* as fast as acks allow */
    assert_true(relais_scn_clock_due(&c, 1000 + 86400 * 365, 5000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capecitabine),
        cmocka_unit_test(test_imatinib),
        cmocka_unit_test(test_febrile_neutropenia),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_seeded_background),
        cmocka_unit_test(test_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
