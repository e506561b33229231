/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML: the common part of decoding (RFC 8428 section 4.6 resolution and the
 * rules of DESIGN.md 3.2), format sniffing, packs and reject reasons.
 *
 * Resolution of record i:  name = bn + n;  unit = u or bu;  value = bv + v;
 * sum = bs + s;  time = bt + t, relative to the receive time when below 2^28,
 * the receive time itself when neither bt nor t is given.  Base fields stay in
 * force for the following records.
 */
#include "senml_internal.h"
#include "relais/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE    16384
#define RELATIVE_TIME 268435456.0    /* 2^28: RFC 8428 4.5.3 */
#define MAX_TIME      253402300799.0 /* 9999-12-31T23:59:59Z */

struct relais_pack_chunk {
    struct relais_pack_chunk *next;
    size_t used;
    char data[CHUNK_SIZE];
};

static const char *const reason_names[RELAIS_REJECT_COUNT] = {
    [RELAIS_REJECT_NONE] = "none",
    [RELAIS_REJECT_TOO_LARGE] = "too_large",
    [RELAIS_REJECT_FORMAT] = "unknown_format",
    [RELAIS_REJECT_JSON] = "malformed_json",
    [RELAIS_REJECT_CBOR] = "malformed_cbor",
    [RELAIS_REJECT_DUPLICATE_KEY] = "duplicate_key",
    [RELAIS_REJECT_NOT_SENML] = "not_senml",
    [RELAIS_REJECT_EMPTY] = "empty_pack",
    [RELAIS_REJECT_TOO_MANY_RECORDS] = "too_many_records",
    [RELAIS_REJECT_STRING_TOO_LONG] = "string_too_long",
    [RELAIS_REJECT_NOT_FINITE] = "not_finite",
    [RELAIS_REJECT_MUST_UNDERSTAND] = "must_understand",
    [RELAIS_REJECT_VERSION] = "bad_version",
    [RELAIS_REJECT_NAME] = "bad_name",
    [RELAIS_REJECT_FOREIGN_NAME] = "foreign_name",
    [RELAIS_REJECT_UNIT] = "bad_unit",
    [RELAIS_REJECT_VALUE] = "bad_value",
    [RELAIS_REJECT_TIME] = "bad_time",
    [RELAIS_REJECT_TOPIC] = "bad_topic",
    [RELAIS_REJECT_UNSIGNED_DOSE] = "unsigned_dose",
    [RELAIS_REJECT_BAD_SIGNATURE] = "bad_signature",
    [RELAIS_REJECT_NO_RECORD_KEY] = "no_record_key",
};

const char *relais_reject_reason_name(enum relais_reject_reason r)
{
    if ((unsigned)r < RELAIS_REJECT_COUNT && reason_names[r]) return reason_names[r];
    return "unknown";
}

const char senml__field_type[SENML_F_COUNT] = {
    [SENML_F_BN] = 's', [SENML_F_BT] = 'n',   [SENML_F_BU] = 's', [SENML_F_BV] = 'n',
    [SENML_F_BS] = 'n', [SENML_F_BVER] = 'n', [SENML_F_N] = 's',  [SENML_F_U] = 's',
    [SENML_F_V] = 'n',  [SENML_F_VS] = 's',   [SENML_F_VB] = 'b', [SENML_F_VD] = 'd',
    [SENML_F_S] = 'n',  [SENML_F_T] = 'n',    [SENML_F_UT] = 'n',
};

const char *const senml__field_name[SENML_F_COUNT] = {
    "bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut",
};

/* ---- packs ---- */

void relais_pack_init(struct relais_pack *pack)
{
    memset(pack, 0, sizeof *pack);
}

void relais_pack_cleanup(struct relais_pack *pack)
{
    free(pack->readings);
    for (struct relais_pack_chunk *c = pack->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    memset(pack, 0, sizeof *pack);
}

static void pack_reset(struct relais_pack *pack)
{
    pack->count = 0;
    pack->signed_ok = false;
    for (struct relais_pack_chunk *c = pack->chunks; c; c = c->next)
        c->used = 0;
    pack->chunk_cur = pack->chunks;
}

/* Copies s[0..len) into the pack, NUL-terminated; NULL when out of memory.
 * len is at most RELAIS_SENML_MAX_STRING, so it always fits one chunk. */
static char *pack_strdup(struct relais_pack *pack, const void *s, size_t len)
{
    struct relais_pack_chunk *c = pack->chunk_cur;
    while (c && c->used + len + 1 > CHUNK_SIZE)
        c = c->next;
    if (!c) {
        c = malloc(sizeof *c);
        if (!c) return NULL;
        c->used = 0;
        c->next = pack->chunks; /* new chunks go first; cur keeps moving forward */
        pack->chunks = c;
    }
    pack->chunk_cur = c;
    char *p = c->data + c->used;
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    c->used += len + 1;
    return p;
}

static struct relais_reading *pack_append(struct relais_pack *pack)
{
    if (pack->count == pack->cap) {
        size_t ncap = pack->cap ? pack->cap * 2 : 16;
        struct relais_reading *n = realloc(pack->readings, ncap * sizeof *n);
        if (!n) return NULL;
        pack->readings = n;
        pack->cap = ncap;
    }
    struct relais_reading *r = &pack->readings[pack->count++];
    memset(r, 0, sizeof *r);
    return r;
}

/* ---- sniffing ---- */

int relais_senml_sniff(const uint8_t *body, size_t len, enum relais_senml_format *out)
{
    if (len == 0) return -1;
    uint8_t b = body[0];
    if (b == '[' || b == ' ' || b == '\t' || b == '\n' || b == '\r') {
        *out = RELAIS_SENML_JSON;
        return 0;
    }
    if (b >= 0x80 && b <= 0x9f) {
        *out = RELAIS_SENML_CBOR;
        return 0;
    }
    return -1;
}

/* ---- errors and checks ---- */

void senml__begin(struct senml__ctx *c, struct relais_pack *pack, const char *device, double now,
                  struct relais_senml_error *err)
{
    memset(c, 0, sizeof *c);
    c->pack = pack;
    c->device = device;
    c->device_len = strlen(device);
    c->now = now;
    c->err = err;
    c->record = -1;
    err->reason = RELAIS_REJECT_NONE;
    err->record = -1;
    err->detail[0] = '\0';
    pack_reset(pack);
}

int senml__fail(struct senml__ctx *c, enum relais_reject_reason reason, const char *fmt, ...)
{
    if (c->err->reason != RELAIS_REJECT_NONE) return RELAIS_EPARSE;
    c->err->reason = reason;
    c->err->record = c->record;
    char msg[sizeof c->err->detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* "record N: " then the message, cut at the detail's capacity */
    size_t off = 0, cap = sizeof c->err->detail;
    if (c->record >= 0) {
        int n = snprintf(c->err->detail, cap, "record %d: ", c->record);
        off = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    }
    size_t mlen = strlen(msg);
    if (mlen > cap - 1 - off) mlen = cap - 1 - off;
    memcpy(c->err->detail + off, msg, mlen);
    c->err->detail[off + mlen] = '\0';
    return RELAIS_EPARSE;
}

int senml__key(struct senml__ctx *c, const char *key, size_t len, int *field)
{
    if (len > RELAIS_SENML_MAX_STRING)
        return senml__fail(c, RELAIS_REJECT_STRING_TOO_LONG, "key longer than %d bytes",
                           RELAIS_SENML_MAX_STRING);
    for (int f = 0; f < SENML_F_COUNT; f++) {
        if (strlen(senml__field_name[f]) == len && memcmp(senml__field_name[f], key, len) == 0) {
            *field = f;
            return RELAIS_OK;
        }
    }
    if (len > 0 && key[len - 1] == '_')
        return senml__fail(c, RELAIS_REJECT_MUST_UNDERSTAND, "unknown must-understand field '%.*s'",
                           (int)(len > 40 ? 40 : len), key);
    *field = SENML_F_UNKNOWN;
    return RELAIS_OK;
}

int senml__check_string(struct senml__ctx *c, const char *what, const char *s, size_t len)
{
    if (len > RELAIS_SENML_MAX_STRING)
        return senml__fail(c, RELAIS_REJECT_STRING_TOO_LONG, "'%s' longer than %d bytes", what,
                           RELAIS_SENML_MAX_STRING);
    if (memchr(s, '\0', len))
        return senml__fail(c, RELAIS_REJECT_NOT_SENML, "'%s' contains a NUL character", what);
    return RELAIS_OK;
}

int senml__check_number(struct senml__ctx *c, const char *what, double v)
{
    if (!isfinite(v))
        return senml__fail(c, RELAIS_REJECT_NOT_FINITE, "'%s' is not a finite number", what);
    return RELAIS_OK;
}

/* ---- resolution ---- */

static bool name_char(char ch, bool first)
{
    bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (first) return alnum;
    return alnum || ch == '-' || ch == ':' || ch == '.' || ch == '/' || ch == '_';
}

/* Resolves bn + n to the metric of this device; fails on other devices'
 * names.  The metric is written to out (capacity > 2 * MAX_STRING). */
static int resolve_name(struct senml__ctx *c, const struct senml__record *r, char *out,
                        size_t *out_len)
{
    const struct senml__str *n = &r->str[SENML_F_N];
    bool has_n = r->present & (1u << SENML_F_N);
    size_t len = c->bn.len + (has_n ? n->len : 0);
    if (len == 0) return senml__fail(c, RELAIS_REJECT_NAME, "no name (neither bn nor n)");
    if (len > RELAIS_SENML_MAX_STRING)
        return senml__fail(c, RELAIS_REJECT_STRING_TOO_LONG, "name longer than %d bytes",
                           RELAIS_SENML_MAX_STRING);
    if (c->bn.len) memcpy(out, c->bn.p, c->bn.len);
    if (has_n && n->len) memcpy(out + c->bn.len, n->p, n->len);
    out[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (!name_char(out[i], i == 0))
            return senml__fail(c, RELAIS_REJECT_NAME,
                               "name has a character outside [A-Za-z0-9-:./_] or does not start "
                               "with a letter or digit");

    const size_t plen = sizeof RELAIS_SENML_NAME_PREFIX - 1;
    const char *metric = out;
    if (len > plen && memcmp(out, RELAIS_SENML_NAME_PREFIX, plen) == 0) {
        const char *dev = out + plen;
        const char *colon = memchr(dev, ':', len - plen);
        if (!colon || (size_t)(colon - dev) != c->device_len ||
            memcmp(dev, c->device, c->device_len) != 0)
            return senml__fail(c, RELAIS_REJECT_FOREIGN_NAME,
                               "name '%.80s' belongs to another device", out);
        metric = colon + 1;
        if (memchr(metric, ':', len - (size_t)(metric - out)))
            return senml__fail(c, RELAIS_REJECT_NAME, "metric in '%.80s' has a ':'", out);
    }
    size_t mlen = len - (size_t)(metric - out);
    if (mlen == 0) return senml__fail(c, RELAIS_REJECT_NAME, "empty metric in name '%.80s'", out);
    if (memchr(metric, ':', mlen))
        return senml__fail(c, RELAIS_REJECT_FOREIGN_NAME,
                           "name '%.80s' is neither a metric nor urn:dev:relais:%s:{metric}", out,
                           c->device);
    memmove(out, metric, mlen + 1);
    *out_len = mlen;
    return RELAIS_OK;
}

static int b64url_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '-') return 62;
    if (ch == '_') return 63;
    return -1;
}

/* Strict base64url without padding (RFC 8428 4.3, "vd"). */
static int b64url_decode(const char *in, size_t len, uint8_t *out, size_t *out_len)
{
    if (len % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* the leftover bits must be zero (canonical encoding) */
    if (bits && (acc & ((1u << bits) - 1))) return -1;
    *out_len = o;
    return 0;
}

/* has_unit: the record resolves to a unit; own_unit: the record itself has
 * "u" (a base unit does not make a unitless metric wrong). */
static int check_known(struct senml__ctx *c, struct relais_reading *rd, const char *unit,
                       size_t unit_len, bool has_unit, bool own_unit)
{
    const struct relais_wire_metric *m = rd->known;
    if (rd->kind == RELAIS_READING_SUM_ONLY || (int)rd->kind != (int)m->kind) {
        static const char *const kinds[] = {"a number (v)", "a string (vs)", "a boolean (vb)",
                                            "data (vd)"};
        return senml__fail(c, RELAIS_REJECT_VALUE, "%s needs %s", m->name, kinds[m->kind]);
    }
    if (!m->units[0].unit) {
        if (own_unit)
            return senml__fail(c, RELAIS_REJECT_UNIT, "%s takes no unit, got '%.*s'", m->name,
                               (int)(unit_len > 32 ? 32 : unit_len), unit);
        rd->unit = "";
    } else {
        if (!has_unit)
            return senml__fail(c, RELAIS_REJECT_UNIT, "%s needs a unit ('%s')", m->name,
                               m->units[0].unit);
        const struct relais_wire_unit *u;
        for (u = m->units; u->unit; u++)
            if (strlen(u->unit) == unit_len && memcmp(u->unit, unit, unit_len) == 0) break;
        if (!u->unit)
            return senml__fail(c, RELAIS_REJECT_UNIT, "unit '%.*s' not accepted for %s",
                               (int)(unit_len > 32 ? 32 : unit_len), unit, m->name);
        rd->unit = m->units[0].unit;
        rd->value *= u->scale;
    }
    if (m->kind == RELAIS_WIRE_NUMBER) {
        if (rd->value < m->min || rd->value > m->max)
            return senml__fail(c, RELAIS_REJECT_VALUE, "%s %g outside the plausible range [%g, %g]",
                               m->name, rd->value, m->min, m->max);
        if (m->integer && rd->value != floor(rd->value))
            return senml__fail(c, RELAIS_REJECT_VALUE, "%s must be a whole number", m->name);
    }
    if (m->kind == RELAIS_WIRE_STRING && rd->len == 0)
        return senml__fail(c, RELAIS_REJECT_VALUE, "%s needs a non-empty string", m->name);
    return RELAIS_OK;
}

static bool base_only(const struct senml__record *r)
{
    const unsigned record_fields = (1u << SENML_F_N) | (1u << SENML_F_U) | (1u << SENML_F_V) |
                                   (1u << SENML_F_VS) | (1u << SENML_F_VB) | (1u << SENML_F_VD) |
                                   (1u << SENML_F_S) | (1u << SENML_F_T) | (1u << SENML_F_UT);
    return (r->present & record_fields) == 0;
}

int senml__record_add(struct senml__ctx *c, const struct senml__record *r)
{
#define HAS(f) ((r->present & (1u << (f))) != 0)
    /* base fields first: they apply to this record and the following ones */
    if (HAS(SENML_F_BVER)) {
        double v = r->num[SENML_F_BVER];
        if (v != floor(v) || v < 1 || v > RELAIS_SENML_VERSION)
            return senml__fail(c, RELAIS_REJECT_VERSION,
                               "bver %g is not a version this gateway understands (1..%d)", v,
                               RELAIS_SENML_VERSION);
        if (c->bver && c->bver != (long)v)
            return senml__fail(c, RELAIS_REJECT_VERSION, "bver %ld then %ld in one pack", c->bver,
                               (long)v);
        c->bver = (long)v;
    }
    if (HAS(SENML_F_BN)) c->bn = r->str[SENML_F_BN];
    if (HAS(SENML_F_BU)) c->bu = r->str[SENML_F_BU];
    if (HAS(SENML_F_BT)) {
        c->bt = r->num[SENML_F_BT];
        c->have_bt = true;
    }
    if (HAS(SENML_F_BV)) {
        c->bv = r->num[SENML_F_BV];
        c->have_bv = true;
    }
    if (HAS(SENML_F_BS)) {
        c->bs = r->num[SENML_F_BS];
        c->have_bs = true;
    }
    if (r->present == 0)
        return senml__fail(c, RELAIS_REJECT_NOT_SENML, "a record without any SenML field");
    if (base_only(r)) return RELAIS_OK;

    int nvalues = HAS(SENML_F_V) + HAS(SENML_F_VS) + HAS(SENML_F_VB) + HAS(SENML_F_VD);
    if (nvalues > 1) return senml__fail(c, RELAIS_REJECT_VALUE, "more than one value field");
    if (nvalues == 0 && !HAS(SENML_F_S))
        return senml__fail(c, RELAIS_REJECT_VALUE, "no value (v, vs, vb, vd) and no sum (s)");
    if (c->pack->count >= RELAIS_SENML_MAX_RECORDS)
        return senml__fail(c, RELAIS_REJECT_TOO_MANY_RECORDS, "more than %d records",
                           RELAIS_SENML_MAX_RECORDS);

    char name[2 * RELAIS_SENML_MAX_STRING + 2];
    size_t name_len = 0;
    int rc = resolve_name(c, r, name, &name_len);
    if (rc) return rc;

    struct relais_reading *rd = pack_append(c->pack);
    if (!rd) return RELAIS_ENOMEM;
    rd->metric = pack_strdup(c->pack, name, name_len);
    if (!rd->metric) return RELAIS_ENOMEM;
    rd->known = relais_wire_metric_find(name, name_len);

    if (HAS(SENML_F_V)) {
        rd->kind = RELAIS_READING_NUMBER;
        rd->value = r->num[SENML_F_V] + (c->have_bv ? c->bv : 0.0);
        if (senml__check_number(c, "v", rd->value)) return RELAIS_EPARSE;
    } else if (HAS(SENML_F_VS)) {
        rd->kind = RELAIS_READING_STRING;
        rd->len = r->str[SENML_F_VS].len;
        rd->str = pack_strdup(c->pack, r->str[SENML_F_VS].p, rd->len);
        if (!rd->str) return RELAIS_ENOMEM;
    } else if (HAS(SENML_F_VB)) {
        rd->kind = RELAIS_READING_BOOL;
        rd->boolean = r->vb;
    } else if (HAS(SENML_F_VD)) {
        rd->kind = RELAIS_READING_DATA;
        if (r->vd) {
            rd->len = r->vd_len;
            rd->data = (const uint8_t *)pack_strdup(c->pack, r->vd, r->vd_len);
        } else {
            uint8_t tmp[RELAIS_SENML_MAX_STRING];
            const struct senml__str *t = &r->str[SENML_F_VD];
            if (b64url_decode(t->p, t->len, tmp, &rd->len) != 0)
                return senml__fail(c, RELAIS_REJECT_VALUE, "vd is not base64url");
            rd->data = (const uint8_t *)pack_strdup(c->pack, tmp, rd->len);
        }
        if (!rd->data) return RELAIS_ENOMEM;
    } else {
        rd->kind = RELAIS_READING_SUM_ONLY;
    }
    if (HAS(SENML_F_S)) {
        rd->has_sum = true;
        rd->sum = r->num[SENML_F_S] + (c->have_bs ? c->bs : 0.0);
        if (senml__check_number(c, "s", rd->sum)) return RELAIS_EPARSE;
    }

    /* unit */
    bool has_unit = HAS(SENML_F_U) || c->bu.p;
    const struct senml__str *u = HAS(SENML_F_U) ? &r->str[SENML_F_U] : &c->bu;
    if (rd->known) {
        rc = check_known(c, rd, u->p, u->len, has_unit, HAS(SENML_F_U));
        if (rc) return rc;
    } else {
        rd->unit = pack_strdup(c->pack, has_unit ? u->p : "", has_unit ? u->len : 0);
        if (!rd->unit) return RELAIS_ENOMEM;
    }

    /* time */
    if (!c->have_bt && !HAS(SENML_F_T)) {
        rd->time = c->now;
        rd->time_source = RELAIS_TIME_GATEWAY;
    } else {
        double t = (c->have_bt ? c->bt : 0.0) + (HAS(SENML_F_T) ? r->num[SENML_F_T] : 0.0);
        if (senml__check_number(c, "t", t)) return RELAIS_EPARSE;
        if (t < RELATIVE_TIME) {
            rd->time = c->now + t;
            rd->time_source = t == 0.0 ? RELAIS_TIME_GATEWAY : RELAIS_TIME_RELATIVE;
        } else {
            rd->time = t;
            rd->time_source = RELAIS_TIME_DEVICE;
        }
        if (rd->time < 0 || rd->time > MAX_TIME)
            return senml__fail(c, RELAIS_REJECT_TIME, "time %.3f out of range", rd->time);
    }
    if (HAS(SENML_F_UT)) {
        double ut = r->num[SENML_F_UT];
        if (ut < 0 || ut > MAX_TIME)
            return senml__fail(c, RELAIS_REJECT_TIME, "ut %g out of range", ut);
        rd->has_update_time = true;
        rd->update_time = ut;
    }
    return RELAIS_OK;
#undef HAS
}

int senml__finish(struct senml__ctx *c)
{
    c->record = -1;
    if (c->pack->count == 0) return senml__fail(c, RELAIS_REJECT_EMPTY, "no record with a value");
    return RELAIS_OK;
}

int relais_senml_decode(struct relais_pack *pack, enum relais_senml_format format,
                        const uint8_t *body, size_t len, const char *device, double now_s,
                        struct relais_senml_error *err)
{
    struct senml__ctx c;
    senml__begin(&c, pack, device, now_s, err);
    pack->format = format;
    if (len > RELAIS_SENML_MAX_BYTES)
        return senml__fail(&c, RELAIS_REJECT_TOO_LARGE, "pack of %zu bytes exceeds %d", len,
                           RELAIS_SENML_MAX_BYTES);
    if (len == 0) return senml__fail(&c, RELAIS_REJECT_EMPTY, "the body is empty");
    int rc = format == RELAIS_SENML_CBOR ? senml__decode_cbor(&c, body, len)
                                         : senml__decode_json(&c, body, len);
    if (rc == RELAIS_OK) rc = senml__finish(&c);
    if (rc != RELAIS_OK) {
        if (rc == RELAIS_ENOMEM && err->reason == RELAIS_REJECT_NONE)
            snprintf(err->detail, sizeof err->detail, "out of memory");
        pack->count = 0;
    }
    return rc;
}
