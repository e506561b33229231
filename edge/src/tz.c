/* SPDX-License-Identifier: Apache-2.0 */
/* Local time in a plan's time zone (see relais/tz.h). */
#include "relais/tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char current[64];

static void use_zone(const char *tz)
{
    if (strcmp(current, tz) == 0) return;
    snprintf(current, sizeof current, "%s", tz);
    setenv("TZ", tz, 1);
    tzset();
}

int32_t relais_tz_days_from_civil(int y, unsigned m, unsigned d)
{
    /* H. Hinnant's days_from_civil */
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

static void civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)yoe + era * 400 + (*m <= 2);
}

void relais_tz_date(int32_t days, char out[11])
{
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) y = 0;
    out[0] = (char)('0' + y / 1000);
    out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10 % 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '-';
    out[8] = (char)('0' + d / 10 % 10);
    out[9] = (char)('0' + d % 10);
    out[10] = '\0';
}

void relais_tz_local(const char *tz, int64_t utc_ms, struct relais_local *out)
{
    use_zone(tz);
    int64_t s = utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000);
    time_t t = (time_t)s;
    struct tm tm;
    memset(out, 0, sizeof *out);
    if (!localtime_r(&t, &tm)) return;
    out->year = tm.tm_year + 1900;
    out->month = tm.tm_mon + 1;
    out->day = tm.tm_mday;
    out->hour = tm.tm_hour;
    out->min = tm.tm_min;
    out->sec = tm.tm_sec;
    out->days = relais_tz_days_from_civil(out->year, (unsigned)out->month, (unsigned)out->day);
    out->minute = (uint32_t)(tm.tm_hour * 60 + tm.tm_min);
}

/* The zone's UTC offset (seconds) at t. */
static long offset_at(time_t t)
{
    struct tm tm;
    if (!localtime_r(&t, &tm)) return 0;
    return tm.tm_gmtoff;
}

/*
 * Not mktime(): with tm_isdst = -1 glibc resolves an ambiguous local time by
 * the offset it used last, so the answer would depend on the process's
 * history.  The zone's offsets a day before and a day after give the only
 * candidates (a zone changes its offset at most once in two days); a candidate
 * is the answer when it reads back as the asked local time.  Both valid (fall
 * back): the earlier.  None (spring forward): the offset before the change,
 * which lands one gap later.
 */
int64_t relais_tz_utc(const char *tz, int32_t days, uint32_t minute)
{
    use_zone(tz);
    int64_t local = ((int64_t)days + minute / 1440) * 86400 + (int64_t)(minute % 1440) * 60;
    long before = offset_at((time_t)(local - 86400)), after = offset_at((time_t)(local + 86400));
    int64_t c1 = local - before, c2 = local - after;
    bool ok1 = offset_at((time_t)c1) == before, ok2 = offset_at((time_t)c2) == after;
    int64_t t;
    if (ok1 && ok2)
        t = c1 < c2 ? c1 : c2;
    else if (ok1 || ok2)
        t = ok1 ? c1 : c2;
    else
        t = c1;
    return t * 1000;
}
