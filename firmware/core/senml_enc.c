/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML encoder, common part: every record is checked against DESIGN.md 3.2
 * and the wire contract's metric table (relais/wire.h) before it is written,
 * so that a pack this encoder produces is one relaisd accepts: the same name
 * characters, units, kinds, plausible ranges, string, record and size limits
 * as relaisd's decoder.  The output buffer never grows past its capacity; it
 * keeps counting, so that a too-small buffer reports the size needed.
 *
 * Times: a record's time is resolved by the gateway as bt + t.  t is chosen
 * here so that this sum, computed in double as the decoder does, gives the
 * record's time exactly (a record without time in a pack with bt is written with
 * t = -bt, resolved to 0 = "now").
 */
#include "senml_enc_internal.h"

#include "relais/wire.h"

#include <string.h>

#define MIN_ABS_TIME 268435456.0    /* 2^28: below, SenML times are relative */
#define MAX_TIME     253402300799.0 /* 9999-12-31T23:59:59Z, as relaisd */

void senml_enc__put(struct senml_enc__out *o, const void *p, size_t n)
{
    if (n && o->off <= o->cap && n <= o->cap - o->off) memcpy(o->buf + o->off, p, n);
    o->off += n;
}

int senml_enc__finish(const struct senml_enc__out *o, size_t *len)
{
    if (o->off > RELAIS_SENML_MAX_BYTES) {
        *len = 0;
        return RELAIS_FW_ETOOBIG;
    }
    *len = o->off;
    return o->off > o->cap ? RELAIS_FW_SENML_ENOMEM : RELAIS_FW_OK;
}

/* ---- checks ---- */

static bool finite(double x)
{
    return x == x && x - x == 0.0; /* NaN != NaN; inf - inf is NaN */
}

bool senml_enc__integral(double x, int64_t *out)
{
    if (!(x >= -9007199254740992.0 && x <= 9007199254740992.0)) return false;
    int64_t i = (int64_t)x;
    if ((double)i != x) return false;
    *out = i;
    return true;
}

/* strlen bounded at max + 1, so that an over-long string costs little. */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n])
        n++;
    return n;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static bool utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t more;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            more = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i - 1 < more) return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += 1 + more;
    }
    return true;
}

/* The characters relaisd accepts in a resolved name, without ':' (the metric
 * is relative to the device). */
static bool metric_valid(const char *s, size_t len)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '.' && c != '/' && c != '_'))) return false;
    }
    return true;
}

static bool time_valid(double t)
{
    return t == 0.0 || (t >= MIN_ABS_TIME && t <= MAX_TIME);
}

size_t senml_enc__bn(char bn[SENML_ENC__BN_MAX], const char *device)
{
    const size_t plen = sizeof RELAIS_SENML_NAME_PREFIX - 1;
    size_t dlen = strlen(device); /* checked: at most RELAIS_WIRE_ID_MAX */
    memcpy(bn, RELAIS_SENML_NAME_PREFIX, plen);
    memcpy(bn + plen, device, dlen);
    bn[plen + dlen] = ':';
    return plen + dlen + 1;
}

int senml_enc__check_pack(const void *out, size_t cap, const size_t *len, const char *device,
                          double bt, const struct relais_fw_record *r, size_t n)
{
    if (!len || !device || !r || (!out && cap)) return RELAIS_FW_EINVAL;
    if (!relais_wire_id_valid(device, bounded_len(device, RELAIS_WIRE_ID_MAX)))
        return RELAIS_FW_EINVAL;
    if (n == 0) return RELAIS_FW_EINVAL;
    if (n > RELAIS_SENML_MAX_RECORDS) return RELAIS_FW_ETOOBIG;
    if (!finite(bt) || !time_valid(bt)) return RELAIS_FW_ERANGE;
    return RELAIS_FW_OK;
}

/* The unit to write for a metric relais knows (m), or an error. */
static int known_unit(const struct relais_wire_metric *m, const char *unit, size_t unit_len,
                      struct senml_enc__rec *out, double *scale)
{
    *scale = 1.0;
    if (!m->units[0].unit) { /* a metric without unit */
        if (unit) return RELAIS_FW_EINVAL;
        out->unit = NULL;
        return RELAIS_FW_OK;
    }
    if (!unit) { /* the canonical unit */
        out->unit = m->units[0].unit;
        out->unit_len = strlen(out->unit);
        return RELAIS_FW_OK;
    }
    for (const struct relais_wire_unit *u = m->units; u->unit; u++) {
        if (strlen(u->unit) == unit_len && memcmp(u->unit, unit, unit_len) == 0) {
            *scale = u->scale;
            return RELAIS_FW_OK;
        }
    }
    return RELAIS_FW_EINVAL;
}

/* x moved by k ulps (k may be negative); x is finite and not 0. */
static double ulp_step(double x, int k)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits = (uint64_t)((int64_t)bits + k); /* same sign: magnitude moves by k */
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* The "t" to write so that the decoder's base + t gives target exactly when
 * a double allows it (when the record's time is far below bt it may not: the
 * difference is kept, off by less than a microsecond). */
static double relative_time(double base, double target)
{
    double t = target - base;
    if (t == 0.0 || base + t == target) return t;
    for (int k = 1; k <= 4; k++) {
        double up = ulp_step(t, k), down = ulp_step(t, -k);
        if (finite(up) && base + up == target) return up;
        if (finite(down) && base + down == target) return down;
    }
    return t;
}

int senml_enc__prepare(const struct relais_fw_record *r, size_t bn_len, double bt,
                       struct senml_enc__rec *out)
{
    memset(out, 0, sizeof *out);
    if (!r->name) return RELAIS_FW_EINVAL;
    out->name = r->name;
    out->name_len = bounded_len(r->name, RELAIS_SENML_MAX_STRING);
    /* the resolved name bn + n */
    if (out->name_len > RELAIS_SENML_MAX_STRING - bn_len) return RELAIS_FW_ETOOBIG;
    if (!metric_valid(r->name, out->name_len)) return RELAIS_FW_EINVAL;

    if (r->unit) {
        out->unit = r->unit;
        out->unit_len = bounded_len(r->unit, RELAIS_SENML_MAX_STRING);
        if (out->unit_len > RELAIS_SENML_MAX_STRING) return RELAIS_FW_ETOOBIG;
        if (!utf8_valid(r->unit, out->unit_len)) return RELAIS_FW_EINVAL;
    }

    out->kind = r->kind;
    switch (r->kind) {
    case RELAIS_FW_V_NUM:
        if (!finite(r->v)) return RELAIS_FW_ERANGE;
        out->v = r->v;
        break;
    case RELAIS_FW_V_STR:
        if (!r->vs) return RELAIS_FW_EINVAL;
        out->vs = r->vs;
        out->vs_len = bounded_len(r->vs, RELAIS_SENML_MAX_STRING);
        if (out->vs_len > RELAIS_SENML_MAX_STRING) return RELAIS_FW_ETOOBIG;
        if (!utf8_valid(r->vs, out->vs_len)) return RELAIS_FW_EINVAL;
        break;
    case RELAIS_FW_V_BOOL: out->vb = r->vb; break;
    default: return RELAIS_FW_EINVAL;
    }

    const struct relais_wire_metric *m = relais_wire_metric_find(out->name, out->name_len);
    if (m) {
        double scale;
        if ((int)m->kind != (int)r->kind) return RELAIS_FW_EINVAL;
        int rc = known_unit(m, r->unit, out->unit_len, out, &scale);
        if (rc) return rc;
        if (m->kind == RELAIS_WIRE_STRING && out->vs_len == 0) return RELAIS_FW_EINVAL;
        if (m->kind == RELAIS_WIRE_NUMBER) {
            double canon = out->v * scale; /* as the decoder converts */
            int64_t whole;
            if (!(canon >= m->min && canon <= m->max)) return RELAIS_FW_ERANGE;
            if (m->integer && !senml_enc__integral(canon, &whole)) return RELAIS_FW_ERANGE;
        }
    }

    if (!finite(r->t) || !time_valid(r->t)) return RELAIS_FW_ERANGE;
    out->t_base = bt;
    out->t_target = r->t;
    if (bt == 0.0) {
        out->has_t = r->t != 0.0;
        out->t = r->t;
    } else {
        out->has_t = r->t != bt;
        out->t = relative_time(bt, r->t);
    }
    return RELAIS_FW_OK;
}
