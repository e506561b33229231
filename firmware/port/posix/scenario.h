/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device scenarios (docs/device-scenarios.md): what a patient's devices
 * measure and do over days, read from a small line-based text file, for the
 * posix port's simulated devices (DESIGN.md 7: "sensors driven by a scenario
 * file, with an accelerated clock").
 *
 * relais_scn_parse() reads the whole file strictly (the first bad line stops
 * it, with its number and why), expands the repetitions (`every`) with a
 * seeded generator, so that the same file and seed always give the same
 * values, and sorts the events by time (lines at the same time keep their
 * order).  An iterator then yields one device kind's events in time order, and
 * relais_scn_clock maps the monotonic clock onto scenario time at N scenario
 * seconds per real second.
 *
 * Posix only (stdio, heap), bounded: a file of at most RELAIS_SCN_MAX_FILE
 * bytes, lines of at most RELAIS_SCN_MAX_LINE, at most RELAIS_SCN_MAX_EVENTS
 * events.  Not thread-safe.
 */
#ifndef RELAIS_FW_SCENARIO_H
#define RELAIS_FW_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAIS_SCN_MAX_FILE    (1024u * 1024u)
#define RELAIS_SCN_MAX_LINE    1024u
#define RELAIS_SCN_MAX_EVENTS  100000u
#define RELAIS_SCN_MAX_RECORDS 12u /* measurements of one line (bp counts 2) */
#define RELAIS_SCN_SLOT_MAX    16u /* a dose slot id, bytes */

enum relais_scn_device {
    RELAIS_SCN_NONE = 0,
    RELAIS_SCN_VITALS = 1,  /* temp spo2 hr bp weight pro */
    RELAIS_SCN_PILLBOX = 2, /* dose lid */
};

enum relais_scn_kind {
    RELAIS_SCN_NUM = 0,  /* v */
    RELAIS_SCN_STR = 1,  /* vs: the event's slot */
    RELAIS_SCN_BOOL = 2, /* vb */
};

/* One measurement.  name points to a static string (a metric of DESIGN 3.2:
 * "temp", "bp_sys", "pro_nausea", "dose", "lid", ...). */
struct relais_scn_record {
    const char *name;
    enum relais_scn_kind kind;
    double v;
    bool vb;
};

/* What one device emits at one time: one pack. */
struct relais_scn_event {
    int64_t t; /* absolute time, seconds since 1970 (UTC) */
    enum relais_scn_device device;
    uint32_t line; /* the line of the file it comes from */
    uint32_t ord;  /* private: the order of generation (stable sort) */
    uint32_t n;    /* records */
    struct relais_scn_record rec[RELAIS_SCN_MAX_RECORDS];
    char slot[RELAIS_SCN_SLOT_MAX + 1]; /* the vs of a "dose" record */
};

struct relais_scn {
    char name[64];               /* the header's name, "" when none */
    char plan[256];              /* the header's plan, "" when none (not read) */
    int64_t d1;                  /* D1 00:00 local time, seconds since 1970 (UTC) */
    int32_t utc_offset_s;        /* local time - UTC */
    uint64_t seed;               /* the header's seed (default 1) */
    uint32_t missed;             /* `missed` lines: nothing is emitted */
    uint32_t lines;              /* timeline lines */
    struct relais_scn_event *ev; /* sorted by time; owned */
    size_t n_ev, cap_ev;
};

/* Where and why a file was refused. */
struct relais_scn_error {
    uint32_t line; /* 1-based; 0: not a line's fault (I/O, size) */
    char why[160];
};

/* Parses text[0..len) (need not be NUL-terminated) into *s (zeroed first;
 * relais_scn_free() it, also after an error).  seed_override: when nonzero,
 * replaces the header's seed.  Returns 0, or -1 with *err filled. */
int relais_scn_parse(struct relais_scn *s, const char *text, size_t len, uint64_t seed_override,
                     struct relais_scn_error *err);

/* The same for a file. */
int relais_scn_load(struct relais_scn *s, const char *path, uint64_t seed_override,
                    struct relais_scn_error *err);

void relais_scn_free(struct relais_scn *s);

/* Events of a device kind (RELAIS_SCN_NONE: all). */
size_t relais_scn_count(const struct relais_scn *s, enum relais_scn_device device);

/* Yields the events of one device kind in time order. */
struct relais_scn_iter {
    const struct relais_scn *s;
    enum relais_scn_device device;
    size_t i;
};

void relais_scn_iter_init(struct relais_scn_iter *it, const struct relais_scn *s,
                          enum relais_scn_device device);
/* The next event without consuming it, NULL at the end. */
const struct relais_scn_event *relais_scn_peek(struct relais_scn_iter *it);
/* The next event, NULL at the end. */
const struct relais_scn_event *relais_scn_next(struct relais_scn_iter *it);

/*
 * The accelerated clock: scenario time t0 at monotonic time mono0_ms, then
 * speed scenario seconds per real second.  speed 0: every scenario time is
 * already due (the device goes as fast as its acks allow).
 */
struct relais_scn_clock {
    uint64_t speed;
    int64_t t0;
    uint64_t mono0_ms;
};

void relais_scn_clock_init(struct relais_scn_clock *c, uint64_t speed, int64_t t0,
                           uint64_t mono0_ms);
/* True when scenario time t is due at monotonic time now_ms. */
bool relais_scn_clock_due(const struct relais_scn_clock *c, int64_t t, uint64_t now_ms);

#endif
