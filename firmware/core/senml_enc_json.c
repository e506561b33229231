/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML JSON (RFC 8428 section 5) for the devices: strings escaped, numbers
 * formatted here without stdio.
 *
 * A number x is written, first found:
 *  1. as m / 10^d with the fewest decimals d <= 22 and |m| < 2^53 for which
 *     base + m / 10^d == target in double.  Both m and 10^d are exact doubles,
 *     so the division is the correctly rounded value of the decimal, the very
 *     double a correct strtod returns: the check is exact (Clinger's fast
 *     path).  For a time, base is bt and target the record's absolute time:
 *     the fewest decimals that give the time back, not those of t itself;
 *  2. for a whole |x| < 2^63, as that integer;
 *  3. for 2^-8 <= |x| < 2^53, as its exact binary expansion rounded to 17
 *     significant digits, generated with 64-bit integers (the fraction has at
 *     most 60 bits): always decodes to x;
 *  4. a large x that is m * 10^k (m < 2^53, k <= 22) as "mek", exactly;
 *     otherwise as 17 digits and an exponent, scaled by repeated * or / 10:
 *     within a relative 1e-13.  Only values no sensor yields end here.
 */
#include "senml_enc_internal.h"

#include "relais/wire.h"

#include <string.h>

#define TWO_53 9007199254740992.0
#define TWO_63 9223372036854775808.0

struct json {
    struct senml_enc__out o;
};

static void put(struct json *j, const char *s, size_t n)
{
    senml_enc__put(&j->o, s, n);
}

static void puts_(struct json *j, const char *s)
{
    put(j, s, strlen(s));
}

/* ---- strings ---- */

/* A JSON string: '"' and '\' escaped, control characters as \u00XX, UTF-8
 * (checked before) written as is. */
static void put_string(struct json *j, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    put(j, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20) continue;
        put(j, s + start, i - start);
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(j, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(j, e, 6);
        }
        start = i + 1;
    }
    put(j, s + start, len - start);
    put(j, "\"", 1);
}

/* ---- numbers ---- */

static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#define POW10_MAX 22

/* Decimal digits of v into d (at least 20 bytes); returns their count. */
static size_t u64_digits(uint64_t v, char *d)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        d[i] = tmp[n - 1 - i];
    return n;
}

/* m / 10^dec as a decimal. */
static void put_fixed(struct json *j, bool neg, uint64_t m, int dec)
{
    char d[48];
    size_t n = u64_digits(m, d);
    size_t need = (size_t)dec + 1; /* at least one digit before the point */
    if (neg && m) put(j, "-", 1);
    if (n < need) {
        memmove(d + (need - n), d, n);
        memset(d, '0', need - n);
        n = need;
    }
    put(j, d, n - (size_t)dec);
    if (dec) {
        put(j, ".", 1);
        put(j, d + n - (size_t)dec, (size_t)dec);
    }
}

/* Case 1: the fewest decimals that give target back. */
static bool put_short(struct json *j, double x, double base, double target)
{
    double ax = x < 0 ? -x : x;
    for (int d = 0; d <= POW10_MAX; d++) {
        double s = ax * pow10[d];
        if (!(s < TWO_53)) break;
        uint64_t m = (uint64_t)(s + 0.5);
        double dec = (double)m / pow10[d];
        if (base + (x < 0 ? -dec : dec) == target) {
            put_fixed(j, x < 0, m, d);
            return true;
        }
    }
    return false;
}

/* Case 3: 2^-8 <= ax < 2^53, not whole: 17 significant digits of the exact
 * expansion, rounded half up. */
static void put_exact17(struct json *j, bool neg, double ax)
{
    uint64_t bits;
    memcpy(&bits, &ax, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff);
    uint64_t mant = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1 << 52);
    int sh = 1075 - e; /* ax = mant / 2^sh, 1 <= sh <= 60 */
    uint64_t mask = ((uint64_t)1 << sh) - 1;
    uint64_t frac = mant & mask;
    char d[48];
    size_t n = u64_digits(mant >> sh, d);
    size_t point = n;
    int sig = d[0] != '0' ? (int)n : 0;
    while (frac && sig < 17) {
        frac *= 10; /* < 2^64: frac < 2^60 */
        int dg = (int)(frac >> sh);
        frac &= mask;
        d[n++] = (char)('0' + dg);
        if (sig || dg) sig++;
    }
    if (frac >> (sh - 1)) { /* the rest is at least half a unit: round up */
        size_t i = n;
        while (i > 0 && d[i - 1] == '9')
            d[--i] = '0';
        if (i == 0) {
            memmove(d + 1, d, n++);
            d[0] = '1';
            point++;
        } else {
            d[i - 1]++;
        }
    }
    while (n > point && d[n - 1] == '0')
        n--;
    if (neg) put(j, "-", 1);
    put(j, d, point);
    if (n > point) {
        put(j, ".", 1);
        put(j, d + point, n - point);
    }
}

/* Case 4: 17 digits and an exponent, approximately; exactly when a large
 * ax is m * 10^k with m < 2^53 and k <= 22 (the product is then correctly
 * rounded, as for case 1). */
static void put_scientific(struct json *j, bool neg, double ax)
{
    int exp10 = 0;
    char d[24];
    for (int k = 1; ax >= TWO_53 && k <= POW10_MAX; k++) {
        double q = ax / pow10[k];
        if (!(q < TWO_53)) continue;
        uint64_t m = (uint64_t)(q + 0.5);
        if ((double)m * pow10[k] == ax) {
            if (neg) put(j, "-", 1);
            put(j, d, u64_digits(m, d));
            put(j, "e", 1);
            put(j, d, u64_digits((uint64_t)k, d));
            return;
        }
    }
    /* by exact powers of ten, 22 at a time: few roundings */
    while (ax >= 1e17) {
        int k = ax >= 1e39 ? POW10_MAX : 1;
        ax /= pow10[k];
        exp10 += k;
    }
    while (ax < 1e16) {
        int k = ax < 1e-6 ? POW10_MAX : 1;
        ax *= pow10[k];
        exp10 -= k;
    }
    uint64_t m = (uint64_t)(ax + 0.5);
    if (m >= 100000000000000000ULL) { /* rounded up to 18 digits */
        m /= 10;
        exp10++;
    }
    /* never past the largest double (it would decode as an overflow) */
    if (exp10 == 292 && m > 17976931348623157ULL) m = 17976931348623157ULL;
    if (neg) put(j, "-", 1);
    put(j, d, u64_digits(m, d));
    put(j, "e", 1);
    if (exp10 < 0) put(j, "-", 1);
    put(j, d, u64_digits((uint64_t)(exp10 < 0 ? -exp10 : exp10), d));
}

/* x (finite) for a decoder that computes base + x, which should be target. */
static void put_number(struct json *j, double x, double base, double target)
{
    if (put_short(j, x, base, target)) return;
    bool neg = x < 0;
    double ax = neg ? -x : x;
    if (ax < TWO_63 && (double)(uint64_t)ax == ax) {
        put_fixed(j, neg, (uint64_t)ax, 0);
    } else if (ax >= 0.00390625 && ax < TWO_53) {
        put_exact17(j, neg, ax);
    } else {
        put_scientific(j, neg, ax);
    }
}

/* ---- the pack ---- */

static void put_record(struct json *j, const struct senml_enc__rec *rec, bool first)
{
    puts_(j, first ? "\"n\":" : "{\"n\":");
    put_string(j, rec->name, rec->name_len);
    if (rec->unit) {
        puts_(j, ",\"u\":");
        put_string(j, rec->unit, rec->unit_len);
    }
    switch (rec->kind) {
    case RELAIS_FW_V_NUM:
        puts_(j, ",\"v\":");
        put_number(j, rec->v, 0.0, rec->v);
        break;
    case RELAIS_FW_V_STR:
        puts_(j, ",\"vs\":");
        put_string(j, rec->vs, rec->vs_len);
        break;
    case RELAIS_FW_V_BOOL: puts_(j, rec->vb ? ",\"vb\":true" : ",\"vb\":false"); break;
    }
    if (rec->has_t) {
        puts_(j, ",\"t\":");
        put_number(j, rec->t, rec->t_base, rec->t_target);
    }
    put(j, "}", 1);
}

int relais_fw_senml_json(char *out, size_t cap, size_t *len, const char *device, double bt,
                         const struct relais_fw_record *r, size_t n)
{
    int rc = senml_enc__check_pack(out, cap, len, device, bt, r, n);
    if (rc) {
        if (len) *len = 0;
        return rc;
    }
    struct json j = {{(uint8_t *)out, cap, 0}};
    char bn[SENML_ENC__BN_MAX];
    size_t bn_len = senml_enc__bn(bn, device);

    puts_(&j, "[{\"bn\":");
    put_string(&j, bn, bn_len);
    if (bt != 0.0) {
        puts_(&j, ",\"bt\":");
        put_number(&j, bt, 0.0, bt);
    }
    put(&j, ",", 1);
    for (size_t i = 0; i < n; i++) {
        struct senml_enc__rec rec;
        rc = senml_enc__prepare(&r[i], bn_len, bt, &rec);
        if (rc) {
            *len = 0;
            return rc;
        }
        if (i) put(&j, ",", 1);
        put_record(&j, &rec, i == 0);
    }
    put(&j, "]", 1);
    return senml_enc__finish(&j.o, len);
}
