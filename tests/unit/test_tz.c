/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of local time (edge/src/tz.c) against the system's tzdata:
 *
 *   - Europe/Paris around the 2026 changes (last Sundays of March and
 *     October, 01:00 UTC): relais_tz_local() on either side, relais_tz_utc()
 *     of a minute in the spring gap (taken one hour later, as relais/tz.h
 *     says) and in the autumn overlap (one of the two instants; relais/tz.h
 *     promises the first, which tz.c does not keep: see
 *     test_paris_overlap_is_first);
 *   - UTC, including instants and dates before 1970;
 *   - southern zones: Australia/Sydney (DST from October to April) and
 *     America/Sao_Paulo (DST until 2019, none since);
 *   - relais_tz_days_from_civil() / relais_tz_date() on known dates, leap
 *     years and a day-by-day round trip over eight centuries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relais/tz.h"

#define MIN_MS  INT64_C(60000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS  (24 * HOUR_MS)

/* UTC milliseconds of a UTC date and time. */
static int64_t utc(int y, unsigned m, unsigned d, int h, int mi, int s)
{
    return (int64_t)relais_tz_days_from_civil(y, m, d) * DAY_MS + h * HOUR_MS + mi * MIN_MS +
           s * INT64_C(1000);
}

static int32_t days(int y, unsigned m, unsigned d)
{
    return relais_tz_days_from_civil(y, m, d);
}

/* relais_tz_local(tz, ms) is y-mo-d h:mi:s, with days and minute to match. */
static void expect_local(const char *tz, int64_t ms, int y, int mo, int d, int h, int mi, int s)
{
    struct relais_local l;
    memset(&l, 0x5a, sizeof l);
    relais_tz_local(tz, ms, &l);
    if (l.year != y || l.month != mo || l.day != d || l.hour != h || l.min != mi || l.sec != s)
        fail_msg("%s at %lld ms: %04d-%02d-%02d %02d:%02d:%02d, expected "
                 "%04d-%02d-%02d %02d:%02d:%02d",
                 tz, (long long)ms, l.year, l.month, l.day, l.hour, l.min, l.sec, y, mo, d, h, mi,
                 s);
    assert_int_equal(l.days, days(y, (unsigned)mo, (unsigned)d));
    assert_int_equal(l.minute, (uint32_t)(h * 60 + mi));
}

/* relais_tz_utc(tz, local date, minute) is `want` (UTC ms). */
static void expect_utc(const char *tz, int32_t local_days, uint32_t minute, int64_t want)
{
    int64_t got = relais_tz_utc(tz, local_days, minute);
    if (got != want) {
        char date[11];
        relais_tz_date(local_days, date);
        fail_msg("%s %s +%u min: %lld ms UTC, expected %lld (%+lld min)", tz, date, minute,
                 (long long)got, (long long)want, (long long)((got - want) / MIN_MS));
    }
}

/* ---- Europe/Paris ---- */

static const char paris[] = "Europe/Paris";

/* 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST. */
static void test_paris_spring_local(void **state)
{
    (void)state;
    int64_t change = utc(2026, 3, 29, 1, 0, 0);
    expect_local(paris, change - 1000, 2026, 3, 29, 1, 59, 59);
    expect_local(paris, change - 1, 2026, 3, 29, 1, 59, 59); /* ms are cut, not rounded */
    expect_local(paris, change, 2026, 3, 29, 3, 0, 0);
    expect_local(paris, change + 30 * MIN_MS, 2026, 3, 29, 3, 30, 0);
    expect_local(paris, utc(2026, 3, 28, 23, 0, 0), 2026, 3, 29, 0, 0, 0); /* CET midnight */
    expect_local(paris, utc(2026, 3, 29, 22, 0, 0), 2026, 3, 30, 0, 0, 0); /* CEST midnight */
    expect_local(paris, utc(2026, 3, 29, 21, 59, 59), 2026, 3, 29, 23, 59, 59);
}

/* 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET; 02:00-02:59 twice. */
static void test_paris_autumn_local(void **state)
{
    (void)state;
    int64_t change = utc(2026, 10, 25, 1, 0, 0);
    expect_local(paris, change - 1000, 2026, 10, 25, 2, 59, 59);
    expect_local(paris, change, 2026, 10, 25, 2, 0, 0);
    expect_local(paris, change - 30 * MIN_MS, 2026, 10, 25, 2, 30, 0); /* the first 02:30 */
    expect_local(paris, change + 30 * MIN_MS, 2026, 10, 25, 2, 30, 0); /* the second */
    expect_local(paris, change + HOUR_MS, 2026, 10, 25, 3, 0, 0);
    expect_local(paris, utc(2026, 10, 24, 22, 0, 0), 2026, 10, 25, 0, 0, 0); /* CEST midnight */
    expect_local(paris, utc(2026, 10, 25, 23, 0, 0), 2026, 10, 26, 0, 0, 0); /* CET midnight */
}

/* Minutes that exist once, on either side of both changes. */
static void test_paris_utc(void **state)
{
    (void)state;
    int32_t spring = days(2026, 3, 29), autumn = days(2026, 10, 25);
    expect_utc(paris, days(2026, 1, 15), 8 * 60, utc(2026, 1, 15, 7, 0, 0));
    expect_utc(paris, days(2026, 7, 15), 8 * 60, utc(2026, 7, 15, 6, 0, 0));
    expect_utc(paris, spring, 0, utc(2026, 3, 28, 23, 0, 0));
    expect_utc(paris, spring, 60 + 59, utc(2026, 3, 29, 0, 59, 0));
    expect_utc(paris, spring, 3 * 60, utc(2026, 3, 29, 1, 0, 0));
    expect_utc(paris, spring, 8 * 60, utc(2026, 3, 29, 6, 0, 0));
    expect_utc(paris, autumn, 60 + 59, utc(2026, 10, 24, 23, 59, 0));
    expect_utc(paris, autumn, 3 * 60, utc(2026, 10, 25, 2, 0, 0));
    expect_utc(paris, autumn, 8 * 60, utc(2026, 10, 25, 7, 0, 0));
    /* a dose at 08:00 every day of the week around each change */
    for (int32_t d = -3; d <= 3; d++) {
        expect_utc(paris, spring + d, 8 * 60, utc(2026, 3, 29, d < 0 ? 7 : 6, 0, 0) + d * DAY_MS);
        expect_utc(paris, autumn + d, 8 * 60, utc(2026, 10, 25, d < 0 ? 6 : 7, 0, 0) + d * DAY_MS);
    }
    /* minute >= 1440 runs into the next days */
    expect_utc(paris, spring - 1, 1440 + 8 * 60, utc(2026, 3, 29, 6, 0, 0));
    expect_utc(paris, spring - 1, 3 * 1440 + 8 * 60, utc(2026, 3, 31, 6, 0, 0));
    assert_int_equal(relais_tz_utc(paris, autumn - 1, 1440 + 150),
                     relais_tz_utc(paris, autumn, 150));
}

/* 02:00-02:59 on 2026-03-29 does not exist: taken one hour later (03:xx
 * CEST), whatever was asked before. */
static void test_paris_spring_gap(void **state)
{
    (void)state;
    int32_t spring = days(2026, 3, 29);
    for (int round = 0; round < 3; round++) {
        /* what mktime() saw last: nothing, summer, winter */
        if (round == 1) (void)relais_tz_utc(paris, days(2026, 7, 1), 600);
        if (round == 2) (void)relais_tz_utc(paris, days(2026, 1, 1), 600);
        expect_utc(paris, spring, 2 * 60, utc(2026, 3, 29, 1, 0, 0));
        expect_utc(paris, spring, 2 * 60 + 30, utc(2026, 3, 29, 1, 30, 0));
        expect_utc(paris, spring, 2 * 60 + 59, utc(2026, 3, 29, 1, 59, 0));
        expect_local(paris, relais_tz_utc(paris, spring, 2 * 60 + 30), 2026, 3, 29, 3, 30, 0);
    }
}

/* 02:00-02:59 on 2026-10-25 happens twice (00:xx UTC in CEST, 01:xx UTC in
 * CET): the answer is one of the two, and reads back as the same local time. */
static void test_paris_autumn_overlap(void **state)
{
    (void)state;
    int32_t autumn = days(2026, 10, 25);
    for (int round = 0; round < 3; round++) {
        if (round == 1) (void)relais_tz_utc(paris, days(2026, 7, 1), 600);
        if (round == 2) (void)relais_tz_utc(paris, days(2026, 1, 1), 600);
        for (uint32_t m = 2 * 60; m < 3 * 60; m += 15) {
            int64_t got = relais_tz_utc(paris, autumn, m);
            int64_t first = utc(2026, 10, 25, 0, (int)m - 120, 0);
            if (got != first && got != first + HOUR_MS)
                fail_msg("02:%02u on 2026-10-25: %lld, neither %lld nor %lld", m - 120,
                         (long long)got, (long long)first, (long long)(first + HOUR_MS));
            expect_local(paris, got, 2026, 10, 25, 2, (int)m - 120, 0);
        }
    }
}

/*
 * relais/tz.h: "an ambiguous one (fall back) is the first of the two",
 * whatever the process converted before (glibc's mktime() with tm_isdst = -1
 * picks the offset it used last, which is why tz.c does not use it).
 */
static void test_paris_overlap_is_first(void **state)
{
    (void)state;
    int32_t autumn = days(2026, 10, 25);
    (void)relais_tz_utc(paris, days(2026, 7, 1), 600);
    expect_utc(paris, autumn, 150, utc(2026, 10, 25, 0, 30, 0));
    (void)relais_tz_utc(paris, days(2026, 1, 1), 600);
    expect_utc(paris, autumn, 150, utc(2026, 10, 25, 0, 30, 0));
    /* the same in the southern hemisphere: 02:30 on 2026-04-05 in Sydney */
    (void)relais_tz_utc("Australia/Sydney", days(2026, 7, 1), 600);
    expect_utc("Australia/Sydney", days(2026, 4, 5), 150, utc(2026, 4, 4, 15, 30, 0));
}

/* Before 1970: France had no summer time in 1960. */
static void test_paris_before_1970(void **state)
{
    (void)state;
    expect_local(paris, utc(1960, 7, 1, 12, 0, 0), 1960, 7, 1, 13, 0, 0);
    expect_utc(paris, days(1960, 7, 1), 13 * 60, utc(1960, 7, 1, 12, 0, 0));
    /* the epoch is already 01:00 in Paris */
    expect_local(paris, utc(1969, 12, 31, 23, 30, 0), 1970, 1, 1, 0, 30, 0);
    expect_local(paris, -1, 1970, 1, 1, 0, 59, 59);
    expect_local(paris, 0, 1970, 1, 1, 1, 0, 0);
}

/* ---- UTC ---- */

static void test_utc_zone(void **state)
{
    (void)state;
    for (int32_t d = -800; d <= 800; d += 37)
        for (uint32_t m = 0; m < 1440; m += 97) {
            expect_utc("UTC", d, m, (int64_t)d * DAY_MS + m * MIN_MS);
            int64_t ms = (int64_t)d * DAY_MS + m * MIN_MS + 59999;
            struct relais_local l;
            relais_tz_local("UTC", ms, &l);
            assert_int_equal(l.days, d);
            assert_int_equal(l.minute, m);
            assert_int_equal(l.sec, 59);
        }
    expect_local("UTC", 0, 1970, 1, 1, 0, 0, 0);
    expect_local("UTC", -1, 1969, 12, 31, 23, 59, 59);
    expect_local("UTC", -999, 1969, 12, 31, 23, 59, 59);
    expect_local("UTC", -1000, 1969, 12, 31, 23, 59, 59);
    expect_local("UTC", -1001, 1969, 12, 31, 23, 59, 58);
    expect_local("UTC", -DAY_MS, 1969, 12, 31, 0, 0, 0);
    expect_local("UTC", -DAY_MS - 1, 1969, 12, 30, 23, 59, 59);
    expect_local("UTC", utc(2024, 2, 29, 12, 34, 56) + 789, 2024, 2, 29, 12, 34, 56);
    expect_local("UTC", utc(2100, 3, 1, 0, 0, 0) - 1, 2100, 2, 28, 23, 59, 59);
    expect_local("UTC", utc(1900, 3, 1, 0, 0, 0) - 1, 1900, 2, 28, 23, 59, 59);
    expect_local("UTC", utc(2000, 3, 1, 0, 0, 0) - 1, 2000, 2, 29, 23, 59, 59);
    /* the day after the minute 1439 */
    expect_utc("UTC", 0, 1440, DAY_MS);
    expect_utc("UTC", -1, 1439, -MIN_MS);
}

/* ---- the southern hemisphere ---- */

static const char sydney[] = "Australia/Sydney";

/* AEDT (+11) until 2026-04-05 03:00, AEST (+10) until 2026-10-04 02:00. */
static void test_sydney(void **state)
{
    (void)state;
    expect_local(sydney, utc(2026, 1, 15, 1, 0, 0), 2026, 1, 15, 12, 0, 0);
    expect_local(sydney, utc(2026, 7, 15, 2, 0, 0), 2026, 7, 15, 12, 0, 0);
    /* autumn (April): 03:00 AEDT becomes 02:00 AEST */
    expect_local(sydney, utc(2026, 4, 4, 15, 59, 59), 2026, 4, 5, 2, 59, 59);
    expect_local(sydney, utc(2026, 4, 4, 16, 0, 0), 2026, 4, 5, 2, 0, 0);
    /* spring (October): 02:00 AEST becomes 03:00 AEDT */
    expect_local(sydney, utc(2026, 10, 3, 15, 59, 59), 2026, 10, 4, 1, 59, 59);
    expect_local(sydney, utc(2026, 10, 3, 16, 0, 0), 2026, 10, 4, 3, 0, 0);
    /* local dates run ahead of UTC's */
    expect_local(sydney, utc(2026, 12, 31, 13, 0, 0), 2027, 1, 1, 0, 0, 0);
    expect_utc(sydney, days(2027, 1, 1), 0, utc(2026, 12, 31, 13, 0, 0));
    expect_utc(sydney, days(2026, 1, 15), 12 * 60, utc(2026, 1, 15, 1, 0, 0));
    expect_utc(sydney, days(2026, 7, 15), 12 * 60, utc(2026, 7, 15, 2, 0, 0));
    expect_utc(sydney, days(2026, 4, 5), 3 * 60, utc(2026, 4, 4, 17, 0, 0));
    expect_utc(sydney, days(2026, 10, 4), 3 * 60, utc(2026, 10, 3, 16, 0, 0));
    /* the October gap: 02:30 is taken as 03:30 AEDT */
    expect_utc(sydney, days(2026, 10, 4), 150, utc(2026, 10, 3, 16, 30, 0));
    /* the April overlap: one of the two 02:30 */
    int64_t got = relais_tz_utc(sydney, days(2026, 4, 5), 150);
    int64_t first = utc(2026, 4, 4, 15, 30, 0);
    assert_true(got == first || got == first + HOUR_MS);
}

/* Brazil: UTC-3, with summer time (UTC-2) until 2019. */
static void test_sao_paulo(void **state)
{
    (void)state;
    const char *tz = "America/Sao_Paulo";
    expect_local(tz, utc(2026, 1, 15, 15, 0, 0), 2026, 1, 15, 12, 0, 0);
    expect_local(tz, utc(2026, 7, 15, 15, 0, 0), 2026, 7, 15, 12, 0, 0);
    expect_local(tz, utc(2018, 1, 15, 12, 0, 0), 2018, 1, 15, 10, 0, 0);
    expect_local(tz, utc(2026, 1, 1, 2, 0, 0), 2025, 12, 31, 23, 0, 0);
    expect_utc(tz, days(2026, 1, 15), 8 * 60, utc(2026, 1, 15, 11, 0, 0));
    expect_utc(tz, days(2018, 1, 15), 8 * 60, utc(2018, 1, 15, 10, 0, 0));
    expect_utc(tz, days(2025, 12, 31), 23 * 60, utc(2026, 1, 1, 2, 0, 0));
}

/* Zones asked for in turn do not leak into each other (tz.c switches TZ
 * only when the zone changes). */
static void test_zone_switching(void **state)
{
    (void)state;
    int64_t t = utc(2026, 7, 15, 10, 0, 0);
    for (int i = 0; i < 4; i++) {
        expect_local(paris, t, 2026, 7, 15, 12, 0, 0);
        expect_local(sydney, t, 2026, 7, 15, 20, 0, 0);
        expect_local("UTC", t, 2026, 7, 15, 10, 0, 0);
        expect_local("America/Sao_Paulo", t, 2026, 7, 15, 7, 0, 0);
        expect_local("Asia/Kolkata", t, 2026, 7, 15, 15, 30, 0);
        expect_utc(paris, days(2026, 7, 15), 12 * 60, t);
        expect_utc(sydney, days(2026, 7, 15), 20 * 60, t);
        expect_utc("Asia/Kolkata", days(2026, 7, 15), 15 * 60 + 30, t);
    }
}

/* ---- civil dates ---- */

static void test_known_dates(void **state)
{
    (void)state;
    static const struct {
        int y;
        unsigned m, d;
        int32_t days;
        const char *text;
    } k[] = {
        {1970, 1, 1, 0, "1970-01-01"},       {1969, 12, 31, -1, "1969-12-31"},
        {1970, 1, 2, 1, "1970-01-02"},       {2000, 2, 29, 11016, "2000-02-29"},
        {2000, 3, 1, 11017, "2000-03-01"},   {1900, 2, 28, -25509, "1900-02-28"},
        {1900, 3, 1, -25508, "1900-03-01"},  {1960, 7, 1, -3471, "1960-07-01"},
        {1600, 1, 1, -135140, "1600-01-01"}, {2024, 2, 29, 19782, "2024-02-29"},
        {2400, 2, 29, 157113, "2400-02-29"}, {1, 1, 1, -719162, "0001-01-01"},
        {0, 3, 1, -719468, "0000-03-01"},    {9999, 12, 31, 2932896, "9999-12-31"},
        {2026, 3, 29, 20541, "2026-03-29"},  {2026, 10, 25, 20751, "2026-10-25"},
        {2026, 11, 23, 20780, "2026-11-23"}, {2038, 1, 19, 24855, "2038-01-19"},
        {2200, 12, 31, 84370, "2200-12-31"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        char text[11];
        memset(text, 'x', sizeof text);
        if (relais_tz_days_from_civil(k[i].y, k[i].m, k[i].d) != k[i].days)
            fail_msg("%s: %d days, expected %d", k[i].text,
                     relais_tz_days_from_civil(k[i].y, k[i].m, k[i].d), k[i].days);
        relais_tz_date(k[i].days, text);
        assert_string_equal(text, k[i].text);
    }
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int y, unsigned m)
{
    static const unsigned n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : n[m - 1];
}

static void test_leap_years(void **state)
{
    (void)state;
    static const int leap_years[] = {1600, 1904, 1968, 1972, 2000, 2024, 2028, 2400};
    static const int common[] = {1700, 1800, 1900, 1969, 1971, 2023, 2026, 2100, 2200, 2300};
    for (size_t i = 0; i < sizeof leap_years / sizeof leap_years[0]; i++) {
        int y = leap_years[i];
        assert_int_equal(days(y, 3, 1) - days(y, 2, 1), 29);
        assert_int_equal(days(y + 1, 1, 1) - days(y, 1, 1), 366);
    }
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
        int y = common[i];
        char text[11];
        assert_int_equal(days(y, 3, 1) - days(y, 2, 1), 28);
        assert_int_equal(days(y + 1, 1, 1) - days(y, 1, 1), 365);
        relais_tz_date(days(y, 2, 28) + 1, text);
        char want[11];
        snprintf(want, sizeof want, "%04d-03-01", y);
        assert_string_equal(text, want);
    }
    /* 400 years are 146097 days, on either side of 1970 */
    assert_int_equal(days(2000, 1, 1) - days(1600, 1, 1), 146097);
    assert_int_equal(days(2400, 1, 1) - days(2000, 1, 1), 146097);
    assert_int_equal(days(1600, 3, 1) - days(1200, 3, 1), 146097);
}

/* Every day from 1600 to 2400, then every 89th day over years 0..9999:
 * relais_tz_date() gives a real date that days_from_civil() maps back, and
 * consecutive days give consecutive dates. */
static void check_day(int32_t d, int *py, unsigned *pm, unsigned *pd)
{
    char text[11];
    relais_tz_date(d, text);
    int y = 0;
    unsigned m = 0, dd = 0;
    char dash1 = 0, dash2 = 0;
    if (strlen(text) != 10 || sscanf(text, "%4d%c%2u%c%2u", &y, &dash1, &m, &dash2, &dd) != 5 ||
        dash1 != '-' || dash2 != '-' || m < 1 || m > 12 || dd < 1 || dd > month_days(y, m))
        fail_msg("day %d: \"%s\" is not a date", d, text);
    if (relais_tz_days_from_civil(y, m, dd) != d)
        fail_msg("day %d: \"%s\" maps back to %d", d, text, relais_tz_days_from_civil(y, m, dd));
    *py = y;
    *pm = m;
    *pd = dd;
}

static void test_round_trip(void **state)
{
    (void)state;
    int y0, y;
    unsigned m0, d0, m, d;
    check_day(days(1600, 1, 1) - 1, &y0, &m0, &d0);
    assert_int_equal(y0, 1599);
    for (int32_t n = days(1600, 1, 1); n <= days(2400, 12, 31); n++) {
        check_day(n, &y, &m, &d);
        bool next = (y == y0 && m == m0 && d == d0 + 1) ||
                    (y == y0 && m == m0 + 1 && d == 1 && d0 == month_days(y0, m0)) ||
                    (y == y0 + 1 && m == 1 && d == 1 && m0 == 12 && d0 == 31);
        if (!next) fail_msg("day %d: %04d-%02u-%02u after %04d-%02u-%02u", n, y, m, d, y0, m0, d0);
        y0 = y;
        m0 = m;
        d0 = d;
    }
    for (int32_t n = days(0, 1, 1); n <= days(9999, 12, 31); n += 89)
        check_day(n, &y, &m, &d);
    check_day(days(9999, 12, 31), &y, &m, &d);
    assert_int_equal(y, 9999);
    check_day(days(0, 1, 1), &y, &m, &d);
    assert_int_equal(y, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paris_spring_local),
        cmocka_unit_test(test_paris_autumn_local),
        cmocka_unit_test(test_paris_utc),
        cmocka_unit_test(test_paris_spring_gap),
        cmocka_unit_test(test_paris_autumn_overlap),
        cmocka_unit_test(test_paris_overlap_is_first),
        cmocka_unit_test(test_paris_before_1970),
        cmocka_unit_test(test_utc_zone),
        cmocka_unit_test(test_sydney),
        cmocka_unit_test(test_sao_paulo),
        cmocka_unit_test(test_zone_switching),
        cmocka_unit_test(test_known_dates),
        cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
