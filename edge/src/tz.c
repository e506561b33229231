/* SPDX-License-Identifier: Apache-2.0 */
/* Local time in a plan's time zone (see relais/tz.h). */
#include "relais/tz.h"

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

int64_t relais_tz_utc(const char *tz, int32_t days, uint32_t minute)
{
    use_zone(tz);
    days += (int32_t)(minute / 1440);
    minute %= 1440;
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = (int)m - 1;
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)(minute / 60);
    tm.tm_min = (int)(minute % 60);
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    return (int64_t)t * 1000;
}
