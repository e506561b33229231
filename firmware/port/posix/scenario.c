// SPDX-License-Identifier: Apache-2.0
/*
 * Device scenarios: the parser, the seeded background generator, the
 * iterator and the accelerated clock (scenario.h, docs/device-scenarios.md).
 */
#include "scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 48

struct parser {
    struct relais_scn *s;
    struct relais_scn_error *err;
    uint32_t line;
    bool have_start, in_timeline, have_time;
    int64_t prev_t; /* the previous timeline line's time */
    uint64_t rng;
    uint32_t ord;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p->err->line = p->line;
    vsnprintf(p->err->why, sizeof p->err->why, fmt, ap);
    va_end(ap);
    return -1;
}

/* splitmix64: small, seeded, the same on every platform. */
static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* A whole number of at most maxdig digits in [lo, hi], the whole word. */
static bool parse_uint(const char *w, size_t maxdig, int64_t lo, int64_t hi, int64_t *out)
{
    size_t n = strlen(w);
    if (!n || n > maxdig) return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] < '0' || w[i] > '9') return false;
        v = v * 10 + (w[i] - '0');
    }
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* "HH:MM" or "HH:MM:SS" -> seconds of the day. */
static bool parse_hhmm(const char *w, int64_t *out)
{
    char buf[9];
    size_t n = strlen(w);
    if (n != 5 && n != 8) return false;
    memcpy(buf, w, n + 1);
    if (buf[2] != ':' || (n == 8 && buf[5] != ':')) return false;
    buf[2] = '\0';
    int64_t h, m, sec = 0;
    if (n == 8) buf[5] = '\0';
    if (!parse_uint(buf, 2, 0, 23, &h) || !parse_uint(buf + 3, 2, 0, 59, &m)) return false;
    if (n == 8 && !parse_uint(buf + 6, 2, 0, 59, &sec)) return false;
    *out = h * 3600 + m * 60 + sec;
    return true;
}

/* "D<n>" (n in -400..4000) and a time of day -> absolute time. */
static bool parse_day_time(const struct relais_scn *s, const char *dw, const char *tw, int64_t *out)
{
    int64_t day, tod;
    if (dw[0] != 'D') return false;
    bool neg = dw[1] == '-';
    if (!parse_uint(dw + 1 + neg, 4, 0, neg ? 400 : 4000, &day)) return false;
    if (neg) day = -day;
    if (!parse_hhmm(tw, &tod)) return false;
    *out = s->d1 + (day - 1) * 86400 + tod;
    return true;
}

/* "90s", "15m", "2h", "3d", combined as "1h30m" -> seconds (> 0). */
static bool parse_duration(const char *w, int64_t *out)
{
    int64_t total = 0;
    const char *c = w;
    if (!*c) return false;
    while (*c) {
        int64_t v = 0;
        size_t nd = 0;
        while (*c >= '0' && *c <= '9') {
            if (++nd > 6) return false;
            v = v * 10 + (*c++ - '0');
        }
        if (!nd) return false;
        switch (*c++) {
        case 's': total += v; break;
        case 'm': total += v * 60; break;
        case 'h': total += v * 3600; break;
        case 'd': total += v * 86400; break;
        default: return false;
        }
        if (total > 4400LL * 86400) return false;
    }
    if (total <= 0) return false;
    *out = total;
    return true;
}

/* A value "X" or "X±R" (also "X+-R"): the mean and the half-range scaled by
 * 10^dec, dec = the most decimals written (at most 3). */
struct value {
    int64_t mean, range; /* scaled */
    int64_t scale;
};

static bool parse_decimal(const char *w, size_t len, int64_t *scaled, unsigned *dec)
{
    int64_t ip = 0, fp = 0;
    unsigned d = 0, id = 0;
    size_t i = 0;
    for (; i < len && w[i] >= '0' && w[i] <= '9'; i++) {
        if (++id > 6) return false;
        ip = ip * 10 + (w[i] - '0');
    }
    if (!id) return false;
    if (i < len && w[i] == '.') {
        for (i++; i < len && w[i] >= '0' && w[i] <= '9'; i++) {
            if (++d > 3) return false;
            fp = fp * 10 + (w[i] - '0');
        }
        if (!d) return false;
    }
    if (i != len) return false;
    for (unsigned k = d; k < 3; k++)
        fp *= 10;
    *scaled = ip * 1000 + fp; /* always in thousandths here */
    *dec = d;
    return true;
}

static bool parse_value(const char *w, struct value *v)
{
    const char *pm = strstr(w, "\xC2\xB1");
    size_t pml = 2;
    if (!pm) {
        pm = strstr(w, "+-");
        pml = 2;
    }
    int64_t m, r = 0;
    unsigned dm, dr = 0;
    if (!parse_decimal(w, pm ? (size_t)(pm - w) : strlen(w), &m, &dm)) return false;
    if (pm && !parse_decimal(pm + pml, strlen(pm + pml), &r, &dr)) return false;
    unsigned dec = dm > dr ? dm : dr;
    int64_t div = 1;
    for (unsigned k = dec; k < 3; k++)
        div *= 10;
    v->mean = m / div;
    v->range = r / div;
    v->scale = 1000 / div;
    return true;
}

/* Draws a value of v: uniform over the written precision in mean ± range. */
static double draw(struct parser *p, const struct value *v)
{
    int64_t k = 0;
    if (v->range) {
        uint64_t span = (uint64_t)(2 * v->range + 1);
        k = (int64_t)(rng_next(&p->rng) % span) - v->range;
    }
    return (double)(v->mean + k) / (double)v->scale;
}

/* A measurement of the vitals hub. */
struct measure {
    const char *metric;
    double lo, hi;
    bool whole;
};

static const struct measure m_temp = {"temp", 30.0, 43.0, false};
static const struct measure m_spo2 = {"spo2", 50.0, 100.0, true};
static const struct measure m_hr = {"hr", 20.0, 250.0, true};
static const struct measure m_sys = {"bp_sys", 40.0, 300.0, true};
static const struct measure m_dia = {"bp_dia", 20.0, 200.0, true};
static const struct measure m_weight = {"weight", 2.0, 400.0, false};

static const char *const pro_names[][2] = {
    {"diarrhoea", "pro_diarrhoea"}, {"nausea", "pro_nausea"}, {"hfs", "pro_hfs"},
    {"fatigue", "pro_fatigue"},     {"pain", "pro_pain"},     {"mucositis", "pro_mucositis"}};

/* One command spec, drawn again for each repetition. */
struct spec_item {
    const struct measure *m; /* vitals: the measurement */
    const char *metric;      /* its name (pro_* resolved) */
    struct value val;
};

struct spec {
    enum relais_scn_device device;
    size_t n;
    struct spec_item item[RELAIS_SCN_MAX_RECORDS];
    /* pill box */
    enum { PB_NONE, PB_DOSE, PB_MISSED, PB_LID } pb;
    char slot[RELAIS_SCN_SLOT_MAX + 1];
    int64_t late_s;
    bool dbl, lid_open;
};

static int check_value(struct parser *p, const struct measure *m, const char *metric,
                       const struct value *v, const char *word)
{
    double lo = (double)(v->mean - v->range) / (double)v->scale;
    double hi = (double)(v->mean + v->range) / (double)v->scale;
    if (m->whole && v->scale != 1)
        return fail(p, "bad value for %s: %s (whole number)", metric, word);
    if (lo < m->lo || hi > m->hi)
        return fail(p, "bad value for %s: %s (outside %g..%g)", metric, word, m->lo, m->hi);
    return 0;
}

static int add_item(struct parser *p, struct spec *sp, const struct measure *m, const char *metric,
                    const struct value *v, const char *word)
{
    if (check_value(p, m, metric, v, word)) return -1;
    for (size_t i = 0; i < sp->n; i++)
        if (strcmp(sp->item[i].metric, metric) == 0) return fail(p, "%s given twice", metric);
    if (sp->n >= RELAIS_SCN_MAX_RECORDS)
        return fail(p, "too many measurements on one line (at most %u)", RELAIS_SCN_MAX_RECORDS);
    sp->item[sp->n++] = (struct spec_item){.m = m, .metric = metric, .val = *v};
    return 0;
}

static int set_device(struct parser *p, struct spec *sp, enum relais_scn_device d, const char *kw)
{
    if (sp->device && sp->device != d)
        return fail(p, "%s: one line drives one device (vitals hub or pill box)", kw);
    sp->device = d;
    return 0;
}

static bool valid_slot(const char *w)
{
    size_t n = strlen(w);
    if (!n || n > RELAIS_SCN_SLOT_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

/* The command words w[0..n) -> *sp. */
static int parse_command(struct parser *p, char **w, size_t n, struct spec *sp)
{
    memset(sp, 0, sizeof *sp);
    if (!n) return fail(p, "no command after the time");
    size_t i = 0;
    while (i < n) {
        const char *kw = w[i];
        const struct measure *m = NULL;
        if (strcmp(kw, "temp") == 0)
            m = &m_temp;
        else if (strcmp(kw, "spo2") == 0)
            m = &m_spo2;
        else if (strcmp(kw, "hr") == 0)
            m = &m_hr;
        else if (strcmp(kw, "weight") == 0)
            m = &m_weight;
        if (m) {
            struct value v;
            if (set_device(p, sp, RELAIS_SCN_VITALS, kw)) return -1;
            if (i + 1 >= n) return fail(p, "%s: missing value", kw);
            if (!parse_value(w[i + 1], &v)) return fail(p, "bad value for %s: %s", kw, w[i + 1]);
            if (add_item(p, sp, m, m->metric, &v, w[i + 1])) return -1;
            i += 2;
        } else if (strcmp(kw, "bp") == 0) {
            struct value vs, vd;
            if (set_device(p, sp, RELAIS_SCN_VITALS, kw)) return -1;
            if (i + 1 >= n) return fail(p, "bp: missing value");
            char buf[64];
            const char *word = w[i + 1];
            const char *slash = strchr(word, '/');
            size_t sl = slash ? (size_t)(slash - word) : 0;
            if (!slash || sl >= sizeof buf) return fail(p, "bad value for bp: %s (SYS/DIA)", word);
            memcpy(buf, word, sl);
            buf[sl] = '\0';
            if (!parse_value(buf, &vs) || !parse_value(slash + 1, &vd))
                return fail(p, "bad value for bp: %s", word);
            if (add_item(p, sp, &m_sys, "bp_sys", &vs, word) ||
                add_item(p, sp, &m_dia, "bp_dia", &vd, word))
                return -1;
            i += 2;
        } else if (strcmp(kw, "pro") == 0) {
            static const struct measure m_pro = {"pro", 0.0, 4.0, true};
            struct value v;
            const char *metric = NULL;
            if (set_device(p, sp, RELAIS_SCN_VITALS, kw)) return -1;
            if (i + 2 >= n) return fail(p, "pro: NAME GRADE expected");
            for (size_t k = 0; k < sizeof pro_names / sizeof pro_names[0]; k++)
                if (strcmp(w[i + 1], pro_names[k][0]) == 0) metric = pro_names[k][1];
            if (!metric) return fail(p, "unknown symptom: %s", w[i + 1]);
            if (!parse_value(w[i + 2], &v)) return fail(p, "bad value for pro: %s", w[i + 2]);
            if (add_item(p, sp, &m_pro, metric, &v, w[i + 2])) return -1;
            i += 3;
        } else if (strcmp(kw, "dose") == 0 || strcmp(kw, "missed") == 0) {
            bool dose = kw[0] == 'd';
            if (set_device(p, sp, RELAIS_SCN_PILLBOX, kw)) return -1;
            if (i != 0) return fail(p, "%s must be alone on its line", kw);
            if (n < 2 || !valid_slot(w[1])) return fail(p, "%s: bad slot", kw);
            memcpy(sp->slot, w[1], strlen(w[1]) + 1);
            sp->pb = dose ? PB_DOSE : PB_MISSED;
            for (i = 2; i < n; i++) {
                int64_t min;
                if (dose && strcmp(w[i], "double") == 0 && !sp->dbl) {
                    sp->dbl = true;
                } else if (dose && strcmp(w[i], "late") == 0 && !sp->late_s && i + 1 < n) {
                    if (!parse_uint(w[i + 1], 4, 1, 1440, &min))
                        return fail(p, "bad value for late: %s (1..1440 minutes)", w[i + 1]);
                    sp->late_s = min * 60;
                    i++;
                } else {
                    return fail(p, "%s: unexpected word %s", kw, w[i]);
                }
            }
        } else if (strcmp(kw, "lid") == 0) {
            if (set_device(p, sp, RELAIS_SCN_PILLBOX, kw)) return -1;
            if (i != 0 || n != 2) return fail(p, "lid must be alone on its line: lid open|closed");
            if (strcmp(w[1], "open") == 0)
                sp->lid_open = true;
            else if (strcmp(w[1], "closed") != 0)
                return fail(p, "bad value for lid: %s", w[1]);
            sp->pb = PB_LID;
            i = n;
        } else {
            return fail(p, "unknown keyword: %s", kw);
        }
    }
    return 0;
}

static int push_event(struct parser *p, const struct relais_scn_event *e)
{
    struct relais_scn *s = p->s;
    if (s->n_ev >= RELAIS_SCN_MAX_EVENTS)
        return fail(p, "too many events (at most %u)", RELAIS_SCN_MAX_EVENTS);
    if (s->n_ev == s->cap_ev) {
        size_t cap = s->cap_ev ? s->cap_ev * 2 : 256;
        struct relais_scn_event *n = realloc(s->ev, cap * sizeof *n);
        if (!n) return fail(p, "out of memory");
        s->ev = n;
        s->cap_ev = cap;
    }
    s->ev[s->n_ev] = *e;
    s->ev[s->n_ev].ord = p->ord++;
    s->n_ev++;
    return 0;
}

/* Emits the events of spec at time t (one occurrence). */
static int emit(struct parser *p, const struct spec *sp, int64_t t)
{
    struct relais_scn_event e;
    memset(&e, 0, sizeof e);
    e.t = t;
    e.device = sp->device;
    e.line = p->line;
    if (sp->device == RELAIS_SCN_VITALS) {
        for (size_t i = 0; i < sp->n; i++)
            e.rec[i] = (struct relais_scn_record){
                .name = sp->item[i].metric, .kind = RELAIS_SCN_NUM, .v = draw(p, &sp->item[i].val)};
        e.n = (uint32_t)sp->n;
        return push_event(p, &e);
    }
    switch (sp->pb) {
    case PB_MISSED: p->s->missed++; return 0;
    case PB_LID:
        e.rec[0] =
            (struct relais_scn_record){.name = "lid", .kind = RELAIS_SCN_BOOL, .vb = sp->lid_open};
        e.n = 1;
        return push_event(p, &e);
    case PB_DOSE:
        e.rec[0] = (struct relais_scn_record){.name = "dose", .kind = RELAIS_SCN_STR};
        e.n = 1;
        memcpy(e.slot, sp->slot, sizeof e.slot);
        e.t = t + sp->late_s;
        if (push_event(p, &e)) return -1;
        if (!sp->dbl) return 0;
        e.t += 300; /* the second dose of a double: 5 minutes later */
        return push_event(p, &e);
    case PB_NONE: break;
    }
    return fail(p, "internal: empty command");
}

static int header_line(struct parser *p, char **w, size_t n)
{
    struct relais_scn *s = p->s;
    if (strcmp(w[0], "name") == 0) {
        if (n < 2) return fail(p, "name: missing text");
        size_t used = 0;
        s->name[0] = '\0';
        for (size_t i = 1; i < n; i++) {
            int k = snprintf(s->name + used, sizeof s->name - used, "%s%s", i > 1 ? " " : "", w[i]);
            if (k < 0 || (size_t)k >= sizeof s->name - used) return fail(p, "name: too long");
            used += (size_t)k;
        }
        return 0;
    }
    if (strcmp(w[0], "plan") == 0) {
        if (n != 2 || strlen(w[1]) >= sizeof s->plan) return fail(p, "plan: one path expected");
        memcpy(s->plan, w[1], strlen(w[1]) + 1);
        return 0;
    }
    if (strcmp(w[0], "seed") == 0) {
        int64_t v;
        if (n != 2 || !parse_uint(w[1], 18, 1, INT64_MAX, &v))
            return fail(p, "bad value for seed: %s", n > 1 ? w[1] : "(none)");
        s->seed = (uint64_t)v;
        return 0;
    }
    if (strcmp(w[0], "start") == 0) {
        /* start YYYY-MM-DD +HH:MM */
        int64_t y, mo, d, oh, om;
        char buf[16];
        if (n != 3) return fail(p, "start: YYYY-MM-DD +HH:MM expected");
        size_t l = strlen(w[1]);
        if (l != 10 || w[1][4] != '-' || w[1][7] != '-') return fail(p, "bad date: %s", w[1]);
        memcpy(buf, w[1], 11);
        buf[4] = buf[7] = '\0';
        static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (!parse_uint(buf, 4, 1970, 9999, &y) || !parse_uint(buf + 5, 2, 1, 12, &mo) ||
            !parse_uint(buf + 8, 2, 1, mdays[mo - 1], &d))
            return fail(p, "bad date: %s", w[1]);
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (mo == 2 && d == 29 && !leap) return fail(p, "bad date: %s", w[1]);
        l = strlen(w[2]);
        if (l != 6 || (w[2][0] != '+' && w[2][0] != '-') || w[2][3] != ':')
            return fail(p, "bad UTC offset: %s (+HH:MM)", w[2]);
        memcpy(buf, w[2], 7);
        buf[3] = '\0';
        if (!parse_uint(buf + 1, 2, 0, 14, &oh) || !parse_uint(buf + 4, 2, 0, 59, &om))
            return fail(p, "bad UTC offset: %s (+HH:MM)", w[2]);
        s->utc_offset_s = (int32_t)((w[2][0] == '-' ? -1 : 1) * (oh * 3600 + om * 60));
        s->d1 = days_from_civil(y, mo, d) * 86400 - s->utc_offset_s;
        p->have_start = true;
        return 0;
    }
    return fail(p, "unknown keyword: %s", w[0]);
}

static int timeline_line(struct parser *p, char **w, size_t n)
{
    int64_t t;
    size_t i;
    if (!p->have_start) return fail(p, "a timeline line before the header's start");
    if (w[0][0] == 'D') {
        if (n < 2 || !parse_day_time(p->s, w[0], w[1], &t))
            return fail(p, "bad time: %s %s (D<n> HH:MM[:SS])", w[0], n > 1 ? w[1] : "");
        i = 2;
    } else if (w[0][0] == '+') {
        int64_t d;
        if (!p->have_time) return fail(p, "bad time: %s with no previous line", w[0]);
        if (!parse_duration(w[0] + 1, &d)) return fail(p, "bad time: %s (+DURATION)", w[0]);
        t = p->prev_t + d;
        i = 1;
    } else {
        if (!p->have_time) return fail(p, "bad time: = with no previous line");
        t = p->prev_t;
        i = 1;
    }
    if (p->have_time && t < p->prev_t) return fail(p, "time goes backwards");
    p->prev_t = t;
    p->have_time = true;
    p->s->lines++;

    int64_t every = 0, until = t;
    if (i < n && strcmp(w[i], "every") == 0) {
        if (i + 2 >= n || !parse_duration(w[i + 1], &every))
            return fail(p, "every: DURATION then for DURATION or until D<n> HH:MM expected");
        if (strcmp(w[i + 2], "for") == 0) {
            int64_t d;
            if (i + 3 >= n || !parse_duration(w[i + 3], &d))
                return fail(p, "bad time: for %s", i + 3 < n ? w[i + 3] : "");
            until = t + d - 1; /* "for 14d" from 08:00: up to the 14th day's 08:00 */
            i += 4;
        } else if (strcmp(w[i + 2], "until") == 0) {
            if (i + 4 >= n || !parse_day_time(p->s, w[i + 3], w[i + 4], &until))
                return fail(p, "bad time: until (D<n> HH:MM[:SS])");
            if (until < t) return fail(p, "bad time: until is before the line's time");
            i += 5;
        } else {
            return fail(p, "every: for or until expected, not %s", w[i + 2]);
        }
    }
    struct spec sp;
    if (parse_command(p, w + i, n - i, &sp)) return -1;
    if (!every) return emit(p, &sp, t);
    for (int64_t k = t; k <= until; k += every)
        if (emit(p, &sp, k)) return -1;
    return 0;
}

/* Splits line (modified) into words at blanks, up to a '#' word. */
static int split(struct parser *p, char *line, char **w, size_t *n)
{
    *n = 0;
    char *c = line;
    for (;;) {
        while (*c == ' ' || *c == '\t' || *c == '\r')
            c++;
        if (!*c || *c == '#') break;
        if (*n >= MAX_WORDS) return fail(p, "too many words (at most %d)", MAX_WORDS);
        w[(*n)++] = c;
        while (*c && *c != ' ' && *c != '\t' && *c != '\r')
            c++;
        if (*c) *c++ = '\0';
    }
    return 0;
}

static int cmp_event(const void *a, const void *b)
{
    const struct relais_scn_event *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

int relais_scn_parse(struct relais_scn *s, const char *text, size_t len, uint64_t seed_override,
                     struct relais_scn_error *err)
{
    struct parser p = {.s = s, .err = err};
    char line[RELAIS_SCN_MAX_LINE + 2];
    char *w[MAX_WORDS];
    memset(s, 0, sizeof *s);
    memset(err, 0, sizeof *err);
    s->seed = 1;
    if (len > RELAIS_SCN_MAX_FILE) return fail(&p, "file over %u bytes", RELAIS_SCN_MAX_FILE);
    size_t pos = 0;
    while (pos < len) {
        p.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (l > RELAIS_SCN_MAX_LINE)
            return fail(&p, "line over %u characters", RELAIS_SCN_MAX_LINE);
        memcpy(line, text + pos, l);
        line[l] = '\0';
        pos += l + (nl != NULL);
        if (memchr(line, '\0', l)) return fail(&p, "a NUL byte");
        size_t n;
        if (split(&p, line, w, &n)) return -1;
        if (!n) continue;
        bool timed = w[0][0] == 'D' || w[0][0] == '+' || strcmp(w[0], "=") == 0;
        if (!timed && p.in_timeline && strcmp(w[0], "name") && strcmp(w[0], "plan") &&
            strcmp(w[0], "seed") && strcmp(w[0], "start"))
            return fail(&p, "unknown keyword: %s", w[0]);
        if (!timed && p.in_timeline) return fail(&p, "%s: a header line after the timeline", w[0]);
        if (timed) {
            if (!p.in_timeline) p.rng = seed_override ? seed_override : s->seed;
            p.in_timeline = true;
            if (timeline_line(&p, w, n)) return -1;
        } else if (header_line(&p, w, n)) {
            return -1;
        }
    }
    if (seed_override) s->seed = seed_override;
    p.line = 0;
    if (!p.have_start) return fail(&p, "no start line");
    if (s->n_ev) qsort(s->ev, s->n_ev, sizeof *s->ev, cmp_event);
    return 0;
}

int relais_scn_load(struct relais_scn *s, const char *path, uint64_t seed_override,
                    struct relais_scn_error *err)
{
    memset(s, 0, sizeof *s);
    memset(err, 0, sizeof *err);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err->why, sizeof err->why, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(RELAIS_SCN_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, RELAIS_SCN_MAX_FILE + 1, f) : 0;
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > RELAIS_SCN_MAX_FILE) {
        snprintf(err->why, sizeof err->why, "%s: %s", path,
                 bad ? "cannot read" : "file over 1 MiB");
        free(buf);
        return -1;
    }
    int rc = relais_scn_parse(s, buf, n, seed_override, err);
    free(buf);
    return rc;
}

void relais_scn_free(struct relais_scn *s)
{
    free(s->ev);
    s->ev = NULL;
    s->n_ev = s->cap_ev = 0;
}

size_t relais_scn_count(const struct relais_scn *s, enum relais_scn_device device)
{
    size_t c = 0;
    for (size_t i = 0; i < s->n_ev; i++)
        if (device == RELAIS_SCN_NONE || s->ev[i].device == device) c++;
    return c;
}

void relais_scn_iter_init(struct relais_scn_iter *it, const struct relais_scn *s,
                          enum relais_scn_device device)
{
    it->s = s;
    it->device = device;
    it->i = 0;
}

const struct relais_scn_event *relais_scn_peek(struct relais_scn_iter *it)
{
    while (it->i < it->s->n_ev) {
        const struct relais_scn_event *e = &it->s->ev[it->i];
        if (it->device == RELAIS_SCN_NONE || e->device == it->device) return e;
        it->i++;
    }
    return NULL;
}

const struct relais_scn_event *relais_scn_next(struct relais_scn_iter *it)
{
    const struct relais_scn_event *e = relais_scn_peek(it);
    if (e) it->i++;
    return e;
}

void relais_scn_clock_init(struct relais_scn_clock *c, uint64_t speed, int64_t t0,
                           uint64_t mono0_ms)
{
    c->speed = speed;
    c->t0 = t0;
    c->mono0_ms = mono0_ms;
}

bool relais_scn_clock_due(const struct relais_scn_clock *c, int64_t t, uint64_t now_ms)
{
    if (!c->speed || t <= c->t0) return true;
    uint64_t ahead_ms = (uint64_t)(t - c->t0) * 1000u;
    uint64_t elapsed = now_ms > c->mono0_ms ? now_ms - c->mono0_ms : 0;
    if (elapsed > UINT64_MAX / c->speed) return true;
    return elapsed * c->speed >= ahead_ms;
}
