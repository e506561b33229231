/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Local time in a care plan's time zone (dose schedules are wall-clock
 * things: "08:00 in Europe/Paris", whatever the gateway's own zone).
 *
 * The conversions go through the C library with TZ set to the zone; relaisd
 * is single-threaded and nothing else in it reads local time (logs are UTC),
 * so TZ is switched only when the zone differs from the last one asked for.
 * A local time that does not exist (spring forward) is taken one hour later;
 * an ambiguous one (fall back) is the first of the two.
 */
#ifndef RELAIS_TZ_H
#define RELAIS_TZ_H

#include <stdint.h>

struct relais_local {
    int32_t days;    /* local date, days since 1970-01-01 */
    uint32_t minute; /* minutes after local midnight */
    int year, month, day, hour, min, sec;
};

/* UTC milliseconds to the local date and time in tz. */
void relais_tz_local(const char *tz, int64_t utc_ms, struct relais_local *out);
/* The UTC milliseconds of a local date and minute (may be >= 1440: the next days). */
int64_t relais_tz_utc(const char *tz, int32_t days, uint32_t minute);
/* "YYYY-MM-DD" of a local date (days since 1970-01-01). */
void relais_tz_date(int32_t days, char out[11]);
/* Days since 1970-01-01 of a civil date. */
int32_t relais_tz_days_from_civil(int y, unsigned m, unsigned d);

#endif
