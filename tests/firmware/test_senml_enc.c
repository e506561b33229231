/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the devices' SenML encoder (firmware/core/senml_enc*.c):
 * every pack is decoded by relaisd's own decoder (relais_senml_decode) and the
 * readings compared with what was encoded, in JSON and in CBOR:
 * - every metric of DESIGN 3.2 with each accepted unit (and the default one),
 *   strings and booleans, with and without a base time, records without time;
 * - numbers: short decimals, whole numbers, extremes and random doubles;
 * - times: exact through bt + t, random and millisecond times;
 * - strings: quotes, backslash, control characters, UTF-8; invalid UTF-8
 *   refused;
 * - a buffer too small at every size from 0 to the length needed: the error,
 *   the size needed, nothing written past cap (exactly-sized heap buffers
 *   for ASan, and guard bytes);
 * - DESIGN 3.2 limits refused (1025 records, 257-byte strings, NaN, inf, a
 *   pack over 64 KiB) and a pack exactly at them (1024 records, a 256-byte
 *   string, 65536 bytes) accepted and decoded.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relais/error.h"
#include "relais/fw/senml_enc.h"
#include "relais/senml.h"
#include "relais/wire.h"

#define NOW     1795000100.0 /* the gateway's receive time in the tests */
#define DEVICE  "pillbox-7"
#define MAXPACK RELAIS_SENML_MAX_BYTES

enum fmt { JSON, CBOR };

static uint8_t buf[MAXPACK + 64];

static int encode(enum fmt f, uint8_t *out, size_t cap, size_t *len, const char *device, double bt,
                  const struct relais_fw_record *r, size_t n)
{
    if (f == JSON) return relais_fw_senml_json((char *)out, cap, len, device, bt, r, n);
    return relais_fw_senml_cbor(out, cap, len, device, bt, r, n);
}

/* Encodes into buf (must succeed) and decodes with relaisd's decoder. */
static size_t encode_decode(enum fmt f, struct relais_pack *pack, double bt,
                            const struct relais_fw_record *r, size_t n)
{
    size_t len = 0;
    int rc = encode(f, buf, sizeof buf, &len, DEVICE, bt, r, n);
    assert_int_equal(rc, RELAIS_FW_OK);
    assert_true(len > 0 && len <= MAXPACK);
    enum relais_senml_format sniffed;
    assert_int_equal(relais_senml_sniff(buf, len, &sniffed), 0);
    assert_int_equal(sniffed, f == JSON ? RELAIS_SENML_JSON : RELAIS_SENML_CBOR);
    struct relais_senml_error err;
    rc = relais_senml_decode(pack, f == JSON ? RELAIS_SENML_JSON : RELAIS_SENML_CBOR, buf, len,
                             DEVICE, NOW, &err);
    if (rc != RELAIS_OK) {
        fprintf(stderr, "decode: %s: %s\n", relais_reject_reason_name(err.reason), err.detail);
        if (f == JSON) fprintf(stderr, "%.*s\n", (int)(len > 2000 ? 2000 : len), (char *)buf);
    }
    assert_int_equal(rc, RELAIS_OK);
    assert_int_equal(pack->count, n);
    return len;
}

/* The reading decoded from r matches it. */
static void check_reading(const struct relais_reading *rd, const struct relais_fw_record *r)
{
    assert_string_equal(rd->metric, r->name);
    const struct relais_wire_metric *m = relais_wire_metric_find(r->name, strlen(r->name));
    assert_ptr_equal(rd->known, m);
    double scale = 1.0;
    if (m && m->units[0].unit) {
        assert_string_equal(rd->unit, m->units[0].unit);
        for (const struct relais_wire_unit *u = m->units; r->unit && u->unit; u++)
            if (strcmp(u->unit, r->unit) == 0) scale = u->scale;
    } else {
        assert_string_equal(rd->unit, r->unit ? r->unit : "");
    }
    switch (r->kind) {
    case RELAIS_FW_V_NUM:
        assert_int_equal(rd->kind, RELAIS_READING_NUMBER);
        assert_true(rd->value == r->v * scale);
        break;
    case RELAIS_FW_V_STR:
        assert_int_equal(rd->kind, RELAIS_READING_STRING);
        assert_int_equal(rd->len, strlen(r->vs));
        assert_memory_equal(rd->str, r->vs, rd->len);
        break;
    case RELAIS_FW_V_BOOL:
        assert_int_equal(rd->kind, RELAIS_READING_BOOL);
        assert_int_equal(rd->boolean, r->vb);
        break;
    }
    if (r->t == 0.0) {
        assert_int_equal(rd->time_source, RELAIS_TIME_GATEWAY);
        assert_true(rd->time == NOW);
    } else {
        assert_int_equal(rd->time_source, RELAIS_TIME_DEVICE);
        if (rd->time != r->t) fprintf(stderr, "time %.17g != %.17g\n", rd->time, r->t);
        assert_true(rd->time == r->t);
    }
}

static void roundtrip(enum fmt f, double bt, const struct relais_fw_record *r, size_t n)
{
    struct relais_pack pack;
    relais_pack_init(&pack);
    encode_decode(f, &pack, bt, r, n);
    for (size_t i = 0; i < n; i++)
        check_reading(&pack.readings[i], &r[i]);
    relais_pack_cleanup(&pack);
}

static void roundtrip_both(double bt, const struct relais_fw_record *r, size_t n)
{
    roundtrip(JSON, bt, r, n);
    roundtrip(CBOR, bt, r, n);
}

/* ---- return codes ---- */

static void test_codes(void **state)
{
    (void)state;
    assert_int_equal(RELAIS_FW_OK, RELAIS_OK);
    assert_int_equal(RELAIS_FW_EINVAL, RELAIS_EINVAL);
    assert_int_equal(RELAIS_FW_SENML_ENOMEM, RELAIS_ENOMEM);
    assert_int_equal(RELAIS_FW_ERANGE, RELAIS_ERANGE);
    assert_int_equal(RELAIS_FW_ETOOBIG, RELAIS_ETOOBIG);
}

/* ---- every metric of DESIGN 3.2 ---- */

static void test_every_metric(void **state)
{
    (void)state;
    static struct relais_fw_record r[128];
    size_t n = 0;
    const double t0 = 1795000000.0;
    for (size_t i = 0; relais_wire_metric_at(i); i++) {
        const struct relais_wire_metric *m = relais_wire_metric_at(i);
        /* the default unit (NULL), then each accepted one */
        for (int u = -1; u < 0 || m->units[u].unit; u++) {
            struct relais_fw_record *x = &r[n];
            memset(x, 0, sizeof *x);
            x->name = m->name;
            x->unit = u < 0 ? NULL : m->units[u].unit;
            x->kind = (enum relais_fw_value_kind)m->kind;
            double scale = u < 0 ? 1.0 : m->units[u].scale;
            /* a value with 3 decimals (whole for integer metrics) in range */
            double canon = m->min + (m->max - m->min) * 0.37;
            x->v = m->integer ? (double)(long long)canon
                              : (double)(long long)(canon / scale * 1000.0) / 1000.0;
            if (!m->integer && x->v * scale < m->min) x->v += 0.001;
            x->vs = "2026-11-22T08:00/am";
            x->vb = (n % 2) == 0;
            /* times: none, whole seconds, milliseconds */
            x->t = n % 3 == 0
                       ? 0.0
                       : t0 + (double)n * 61.0 + (n % 3 == 2 ? 0.125 + 0.001 * (double)n : 0);
            n++;
        }
    }
    assert_true(n >= 20);
    roundtrip_both(0.0, r, n);
    roundtrip_both(t0, r, n);
    roundtrip_both(t0 + 0.5, r, n);
    roundtrip_both(1795000777.777, r, n);

    /* typical readings */
    static const struct relais_fw_record typical[] = {
        {"temp", "Cel", RELAIS_FW_V_NUM, 36.6, NULL, false, 1795000001.123},
        {"temp", NULL, RELAIS_FW_V_NUM, 38.125, NULL, false, 1795000002.5},
        {"spo2", "%", RELAIS_FW_V_NUM, 97, NULL, false, 1795000003},
        {"hr", "beat/min", RELAIS_FW_V_NUM, 72, NULL, false, 0},
        {"hr", "1/min", RELAIS_FW_V_NUM, 71.5, NULL, false, 0},
        {"bp_sys", "mmHg", RELAIS_FW_V_NUM, 128, NULL, false, 1795000004.004},
        {"bp_dia", "Pa", RELAIS_FW_V_NUM, 10932.4, NULL, false, 1795000004.004},
        {"weight", "kg", RELAIS_FW_V_NUM, 81.35, NULL, false, 1795000005},
        {"resp", NULL, RELAIS_FW_V_NUM, 16, NULL, false, 1795000006},
        {"steps", "count", RELAIS_FW_V_NUM, 12034, NULL, false, 1795000007},
        {"dose", NULL, RELAIS_FW_V_STR, 0, "2026-11-22T08:00/am", false, 1795000008.25},
        {"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, 1795000009},
        {"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, false, 1795000010},
        {"pro_nausea", NULL, RELAIS_FW_V_NUM, 2, NULL, false, 0},
        {"pro_diarrhoea", NULL, RELAIS_FW_V_NUM, 0, NULL, false, 0},
        {"pro_hfs", NULL, RELAIS_FW_V_NUM, 4, NULL, false, 0},
        {"pro_fatigue", NULL, RELAIS_FW_V_NUM, 1, NULL, false, 0},
        {"pro_pain", NULL, RELAIS_FW_V_NUM, 3, NULL, false, 0},
        {"pro_mucositis", NULL, RELAIS_FW_V_NUM, 1, NULL, false, 0},
        {"battery", "%EL", RELAIS_FW_V_NUM, 87.5, NULL, false, 0},
        {"custom.metric", "lx", RELAIS_FW_V_NUM, -12.75, NULL, false, 0},
        {"note", NULL, RELAIS_FW_V_STR, 0, "", false, 0},
    };
    const size_t nt = sizeof typical / sizeof typical[0];
    roundtrip_both(0.0, typical, nt);
    roundtrip_both(1795000000.0, typical, nt);

    /* the JSON text itself */
    size_t len;
    assert_int_equal(
        relais_fw_senml_json((char *)buf, sizeof buf, &len, DEVICE, 1795000000.0, typical, 2),
        RELAIS_FW_OK);
    static const char want[] = "[{\"bn\":\"urn:dev:relais:pillbox-7:\",\"bt\":1795000000,"
                               "\"n\":\"temp\",\"u\":\"Cel\",\"v\":36.6,\"t\":1.123},"
                               "{\"n\":\"temp\",\"u\":\"Cel\",\"v\":38.125,\"t\":2.5}]";
    assert_int_equal(len, sizeof want - 1);
    assert_memory_equal(buf, want, len);
    /* and the CBOR bytes of a small pack */
    static const struct relais_fw_record one[] = {
        {"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, 0},
        {"hr", NULL, RELAIS_FW_V_NUM, 72, NULL, false, 1795000010}};
    assert_int_equal(relais_fw_senml_cbor(buf, sizeof buf, &len, "d1", 1795000000.0, one, 2),
                     RELAIS_FW_OK);
    static const uint8_t
        cwant[] = {0x82, 0xa5, 0x21, 0x72, 'u',  'r',  'n',  ':',  'd', 'e', 'v',
                   ':',  'r',  'e',  'l',  'a',  'i',  's',  ':',  'd', '1', ':',
                   0x22, 0x1a, 0x6a, 0xfd, 0x86, 0xc0, 0x00, 0x63, 'l', 'i', 'd',
                   0x04, 0xf5, 0x06, 0x3a, 0x6a, 0xfd, 0x86, 0xbf, /* t = -bt: "now" */
                   0xa4, 0x00, 0x62, 'h',  'r',  0x01, 0x68, 'b',  'e', 'a', 't',
                   '/',  'm',  'i',  'n',  0x02, 0x18, 0x48, 0x06, 0x0a};
    assert_int_equal(len, sizeof cwant);
    assert_memory_equal(buf, cwant, len);
}

/* ---- numbers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* One value through an unknown metric; JSON decodes exactly unless the value
 * is outside [2^-8, 2^63) and has no short form: then within 1e-13. */
static void value_roundtrip(double v)
{
    struct relais_fw_record r = {"x", NULL, RELAIS_FW_V_NUM, v, NULL, false, 0};
    struct relais_pack pack;
    relais_pack_init(&pack);
    encode_decode(CBOR, &pack, 0.0, &r, 1);
    assert_true(pack.readings[0].value == v);
    encode_decode(JSON, &pack, 0.0, &r, 1);
    double got = pack.readings[0].value, av = fabs(v);
    if (got != v && !(av < 0.00390625 || av >= 9223372036854775808.0 || got == 0.0)) {
        fprintf(stderr, "value %.17g decoded as %.17g\n", v, got);
        fail();
    }
    assert_true(fabs(got - v) <= av * 1e-13);
    relais_pack_cleanup(&pack);
}

static void test_numbers(void **state)
{
    (void)state;
    static const double values[] = {0.0,
                                    -0.0,
                                    1.0,
                                    -1.0,
                                    0.1,
                                    -0.3,
                                    36.6,
                                    1e-5,
                                    0.001,
                                    123456.789,
                                    3.141592653589793,
                                    2.718281828459045,
                                    1.0 / 3.0,
                                    -2.0 / 3.0,
                                    0.00390625,
                                    0.0039,
                                    9007199254740991.0,
                                    9007199254740992.0,
                                    9007199254740993.0 * 2,
                                    -9007199254740992.0 * 1024,
                                    1152921504606846976.0, /* 2^60 */
                                    9223372036854775808.0, /* 2^63 */
                                    1e20,
                                    1e22,
                                    1e23,
                                    -1e300,
                                    1.7976931348623157e308,
                                    2.2250738585072014e-308,
                                    5e-324,
                                    1e-22,
                                    1e-30,
                                    65504.0,
                                    0.5,
                                    16777217.0,
                                    4503599627370495.5};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        value_roundtrip(values[i]);
    /* random doubles, all over the range, and random values near a sensor's */
    for (int i = 0; i < 3000; i++) {
        uint64_t bits = rng();
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v)) value_roundtrip(v);
        value_roundtrip((double)(int64_t)(rng() % 2000000) / 1000.0 - 1000.0);
        value_roundtrip((double)(rng() >> 11) / 9007199254740992.0 * 400.0);
    }
}

/* ---- times ---- */

static void test_times(void **state)
{
    (void)state;
    static struct relais_fw_record r[64];
    for (int round = 0; round < 300; round++) {
        double bt = 0.0;
        if (round % 3 == 1) bt = 1700000000.0 + (double)(rng() % 100000000);
        if (round % 3 == 2) bt = 1700000000.0 + (double)(rng() % 100000000000) / 1000.0;
        for (size_t i = 0; i < 64; i++) {
            memset(&r[i], 0, sizeof r[i]);
            r[i].name = "lid";
            r[i].kind = RELAIS_FW_V_BOOL;
            double base = bt != 0.0 ? bt : 1790000000.0;
            switch (i % 4) {
            case 0: r[i].t = 0.0; break; /* none */
            case 1: r[i].t = base + (double)(rng() % 86400000) / 1000.0; break;
            case 2: /* any double within a day of base */
                r[i].t = base + (double)(rng() >> 11) / 9007199254740992.0 * 86400.0;
                break;
            case 3: r[i].t = base - (double)(rng() % 86400000) / 1000.0; break;
            }
        }
        roundtrip_both(bt, r, 64);
    }
    /* the extremes of the range */
    struct relais_fw_record x[] = {{"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, 268435456.0},
                                   {"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, 253402300799.0},
                                   {"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, 0}};
    roundtrip_both(0.0, x, 3);
    roundtrip_both(268435456.0, x, 3);
    roundtrip_both(253402300799.0, x, 3);
}

/* ---- strings ---- */

static void test_strings(void **state)
{
    (void)state;
    static char ctl[40];
    for (int i = 0; i < 31; i++)
        ctl[i] = (char)(i + 1); /* 0x01 .. 0x1f */
    ctl[31] = 0x7f;
    ctl[32] = '\0';
    static const struct relais_fw_record r[] = {
        {"dose", NULL, RELAIS_FW_V_STR, 0, "say \"hi\"", false, 0},
        {"dose", NULL, RELAIS_FW_V_STR, 0, "back\\slash\\", false, 0},
        {"dose", NULL, RELAIS_FW_V_STR, 0, "\"", false, 0},
        {"dose", NULL, RELAIS_FW_V_STR, 0, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
         false, 0},
        {"dose", NULL, RELAIS_FW_V_STR, 0, ctl, false, 0},
        {"dose", NULL, RELAIS_FW_V_STR, 0, "tab\there\nnew line\r/slash", false, 0},
        {"note", "\xc2\xb5g/\"m3\"\\", RELAIS_FW_V_STR, 0, "\\u0041 is not an escape", false, 0},
        {"a-b.c/d_e", "\x01", RELAIS_FW_V_NUM, 1, NULL, false, 0},
    };
    roundtrip_both(0.0, r, sizeof r / sizeof r[0]);

    size_t len;
    assert_int_equal(relais_fw_senml_json((char *)buf, sizeof buf, &len, DEVICE, 0, &r[4], 1),
                     RELAIS_FW_OK);
    buf[len] = '\0';
    assert_non_null(strstr((char *)buf, "\"vs\":\"\\u0001\\u0002"));
    assert_non_null(strstr((char *)buf, "\\u001f\x7f\""));

    /* invalid UTF-8 is refused (relaisd's JSON parser would reject it) */
    static const char *const bad[] = {
        "\xc0\x80",         /* overlong NUL */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* a surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf5\x80\x80\x80", "\xc3", "\xe6\x97", "\x80", "ok\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct relais_fw_record b = {"dose", NULL, RELAIS_FW_V_STR, 0, bad[i], false, 0};
        assert_int_equal(relais_fw_senml_json((char *)buf, sizeof buf, &len, DEVICE, 0, &b, 1),
                         RELAIS_FW_EINVAL);
        assert_int_equal(len, 0);
        assert_int_equal(relais_fw_senml_cbor(buf, sizeof buf, &len, DEVICE, 0, &b, 1),
                         RELAIS_FW_EINVAL);
        struct relais_fw_record u = {"x", bad[i], RELAIS_FW_V_NUM, 1, NULL, false, 0};
        assert_int_equal(relais_fw_senml_cbor(buf, sizeof buf, &len, DEVICE, 0, &u, 1),
                         RELAIS_FW_EINVAL);
    }
}

/* ---- buffer too small ---- */

static void too_small(enum fmt f, double bt, const struct relais_fw_record *r, size_t n)
{
    static uint8_t ref[MAXPACK], guarded[MAXPACK + 32];
    size_t need = 0, len;
    assert_int_equal(encode(f, NULL, 0, &need, DEVICE, bt, r, n), RELAIS_FW_SENML_ENOMEM);
    assert_int_equal(encode(f, ref, sizeof ref, &len, DEVICE, bt, r, n), RELAIS_FW_OK);
    assert_int_equal(len, need);
    for (size_t cap = 0; cap <= need; cap++) {
        /* exactly cap bytes on the heap: ASan sees any write past them */
        uint8_t *exact = cap ? malloc(cap) : NULL;
        assert_true(cap == 0 || exact);
        len = 12345;
        int rc = encode(f, exact, cap, &len, DEVICE, bt, r, n);
        assert_int_equal(len, need);
        if (cap < need) {
            assert_int_equal(rc, RELAIS_FW_SENML_ENOMEM);
        } else {
            assert_int_equal(rc, RELAIS_FW_OK);
            assert_memory_equal(exact, ref, need);
        }
        free(exact);
        /* guard bytes after cap stay as they were */
        memset(guarded, 0xa5, sizeof guarded);
        encode(f, guarded, cap, &len, DEVICE, bt, r, n);
        for (size_t i = cap; i < cap + 32; i++)
            assert_int_equal(guarded[i], 0xa5);
    }
}

static void test_buffer_too_small(void **state)
{
    (void)state;
    static const struct relais_fw_record r[] = {
        {"temp", NULL, RELAIS_FW_V_NUM, 36.625, NULL, false, 1795000001.5},
        {"dose", NULL, RELAIS_FW_V_STR, 0, "2026-11-22T08:00/am \"\x01\" caf\xc3\xa9", false, 0},
        {"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, 1795000002},
        {"bp_sys", "Pa", RELAIS_FW_V_NUM, 17000.25, NULL, false, 1795000003.001},
        {"x", NULL, RELAIS_FW_V_NUM, 1e300, NULL, false, 0},
        {"y", NULL, RELAIS_FW_V_NUM, 1.0 / 3.0, NULL, false, 0},
    };
    const size_t n = sizeof r / sizeof r[0];
    too_small(JSON, 0.0, r, n);
    too_small(CBOR, 0.0, r, n);
    too_small(JSON, 1795000000.25, r, n);
    too_small(CBOR, 1795000000.25, r, n);
}

/* ---- limits ---- */

static struct relais_fw_record big[RELAIS_SENML_MAX_RECORDS + 1];
static char strs[RELAIS_SENML_MAX_RECORDS + 1][RELAIS_SENML_MAX_STRING + 2];

static void expect_both(int want, double bt, const struct relais_fw_record *r, size_t n)
{
    size_t len = 99;
    assert_int_equal(relais_fw_senml_json((char *)buf, sizeof buf, &len, DEVICE, bt, r, n), want);
    if (want != RELAIS_FW_OK) assert_int_equal(len, 0);
    len = 99;
    assert_int_equal(relais_fw_senml_cbor(buf, sizeof buf, &len, DEVICE, bt, r, n), want);
    if (want != RELAIS_FW_OK) assert_int_equal(len, 0);
}

static void expect_one(int want, struct relais_fw_record r)
{
    expect_both(want, 0.0, &r, 1);
}

static void test_limits_refused(void **state)
{
    (void)state;
    const double inf = HUGE_VAL, nan = NAN;
    for (size_t i = 0; i <= RELAIS_SENML_MAX_RECORDS; i++)
        big[i] = (struct relais_fw_record){"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, 0};
    expect_both(RELAIS_FW_ETOOBIG, 0.0, big, RELAIS_SENML_MAX_RECORDS + 1);
    expect_both(RELAIS_FW_EINVAL, 0.0, big, 0);

    char s257[258];
    memset(s257, 'a', 257);
    s257[257] = '\0';
    expect_one(RELAIS_FW_ETOOBIG,
               (struct relais_fw_record){"dose", NULL, RELAIS_FW_V_STR, 0, s257, false, 0});
    expect_one(RELAIS_FW_ETOOBIG,
               (struct relais_fw_record){"x", s257, RELAIS_FW_V_NUM, 1, NULL, false, 0});
    /* the name resolved with bn ("urn:dev:relais:pillbox-7:", 25 bytes) */
    expect_one(RELAIS_FW_ETOOBIG,
               (struct relais_fw_record){s257 + 25, NULL, RELAIS_FW_V_NUM, 1, NULL, false, 0});
    expect_one(RELAIS_FW_OK,
               (struct relais_fw_record){s257 + 26, NULL, RELAIS_FW_V_NUM, 1, NULL, false, 0});

    /* NaN and infinities */
    const double bad[] = {nan, -nan, inf, -inf};
    for (size_t i = 0; i < 4; i++) {
        expect_one(RELAIS_FW_ERANGE,
                   (struct relais_fw_record){"x", NULL, RELAIS_FW_V_NUM, bad[i], NULL, false, 0});
        expect_one(RELAIS_FW_ERANGE, (struct relais_fw_record){"temp", NULL, RELAIS_FW_V_NUM,
                                                               bad[i], NULL, false, 0});
        expect_one(RELAIS_FW_ERANGE,
                   (struct relais_fw_record){"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, bad[i]});
        expect_both(RELAIS_FW_ERANGE, bad[i], big, 1);
    }
    /* times that are not absolute */
    expect_one(RELAIS_FW_ERANGE,
               (struct relais_fw_record){"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, 5.0});
    expect_one(RELAIS_FW_ERANGE,
               (struct relais_fw_record){"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL, true, -1.0});
    expect_one(RELAIS_FW_ERANGE, (struct relais_fw_record){"lid", NULL, RELAIS_FW_V_BOOL, 0, NULL,
                                                           true, 253402300800.0});
    expect_both(RELAIS_FW_ERANGE, 1000.0, big, 1);

    /* what relaisd's metric table refuses */
    expect_one(RELAIS_FW_ERANGE,
               (struct relais_fw_record){"temp", NULL, RELAIS_FW_V_NUM, 50.0, NULL, false, 0});
    expect_one(RELAIS_FW_ERANGE,
               (struct relais_fw_record){"pro_pain", NULL, RELAIS_FW_V_NUM, 2.5, NULL, false, 0});
    /* 60000 Pa = 450 mmHg */
    expect_one(RELAIS_FW_ERANGE,
               (struct relais_fw_record){"bp_sys", "Pa", RELAIS_FW_V_NUM, 60000, NULL, false, 0});
    expect_one(RELAIS_FW_EINVAL,
               (struct relais_fw_record){"temp", "F", RELAIS_FW_V_NUM, 98.6, NULL, false, 0});
    expect_one(RELAIS_FW_EINVAL,
               (struct relais_fw_record){"pro_pain", "1", RELAIS_FW_V_NUM, 2, NULL, false, 0});
    expect_one(RELAIS_FW_EINVAL,
               (struct relais_fw_record){"temp", NULL, RELAIS_FW_V_STR, 0, "36.6", false, 0});
    expect_one(RELAIS_FW_EINVAL,
               (struct relais_fw_record){"lid", NULL, RELAIS_FW_V_NUM, 1, NULL, false, 0});
    expect_one(RELAIS_FW_EINVAL,
               (struct relais_fw_record){"dose", NULL, RELAIS_FW_V_STR, 0, "", false, 0});
    expect_one(RELAIS_FW_EINVAL,
               (struct relais_fw_record){"dose", NULL, RELAIS_FW_V_STR, 0, NULL, false, 0});
    expect_one(RELAIS_FW_EINVAL, (struct relais_fw_record){"x", NULL, (enum relais_fw_value_kind)7,
                                                           0, NULL, false, 0});
    /* names relaisd refuses */
    static const char *const names[] = {"", "_x", "a:b", "a b", "caf\xc3\xa9", "-a", "a\"b"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        expect_one(RELAIS_FW_EINVAL,
                   (struct relais_fw_record){names[i], NULL, RELAIS_FW_V_NUM, 1, NULL, false, 0});
    expect_one(RELAIS_FW_EINVAL,
               (struct relais_fw_record){NULL, NULL, RELAIS_FW_V_NUM, 1, NULL, false, 0});

    /* arguments */
    size_t len;
    static const char *const devices[] = {"", "Dev", "-a", "abcdefghijklmnopqrstuvwxyz0123456",
                                          "a_b"};
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
        assert_int_equal(relais_fw_senml_json((char *)buf, sizeof buf, &len, devices[i], 0, big, 1),
                         RELAIS_FW_EINVAL);
        assert_int_equal(relais_fw_senml_cbor(buf, sizeof buf, &len, devices[i], 0, big, 1),
                         RELAIS_FW_EINVAL);
    }
    assert_int_equal(relais_fw_senml_json((char *)buf, sizeof buf, &len, NULL, 0, big, 1),
                     RELAIS_FW_EINVAL);
    assert_int_equal(relais_fw_senml_json((char *)buf, sizeof buf, NULL, DEVICE, 0, big, 1),
                     RELAIS_FW_EINVAL);
    assert_int_equal(relais_fw_senml_cbor(NULL, 10, &len, DEVICE, 0, big, 1), RELAIS_FW_EINVAL);
    assert_int_equal(relais_fw_senml_cbor(buf, sizeof buf, &len, DEVICE, 0, NULL, 1),
                     RELAIS_FW_EINVAL);
}

/* A pack of 1024 records of "vs" strings, one of 256 bytes, grown to exactly
 * target bytes; the strings stay under 256 bytes otherwise, so that one more
 * character is one more byte in both formats. */
static void fill_to(enum fmt f, size_t target)
{
    const size_t n = RELAIS_SENML_MAX_RECORDS;
    size_t lens[RELAIS_SENML_MAX_RECORDS];
    for (size_t i = 0; i < n; i++) {
        lens[i] = i == 0 ? RELAIS_SENML_MAX_STRING : 30;
        memset(strs[i], 'a' + (int)(i % 26), lens[i]);
        strs[i][lens[i]] = '\0';
        big[i] =
            (struct relais_fw_record){"m", NULL, RELAIS_FW_V_STR, 0, strs[i], false, 1795000000.0};
    }
    size_t need;
    assert_int_equal(encode(f, NULL, 0, &need, DEVICE, 1795000000.0, big, n),
                     RELAIS_FW_SENML_ENOMEM);
    assert_true(need <= target);
    size_t delta = target - need;
    for (size_t i = 1; i < n && delta; i++) {
        size_t add = 255 - lens[i] < delta ? 255 - lens[i] : delta;
        memset(strs[i] + lens[i], 'z', add);
        lens[i] += add;
        strs[i][lens[i]] = '\0';
        delta -= add;
    }
    assert_int_equal(delta, 0);
}

static void test_at_limits(void **state)
{
    (void)state;
    for (int f = JSON; f <= CBOR; f++) {
        struct relais_pack pack;
        relais_pack_init(&pack);
        fill_to((enum fmt)f, MAXPACK);
        size_t len = encode_decode((enum fmt)f, &pack, 1795000000.0, big, RELAIS_SENML_MAX_RECORDS);
        assert_int_equal(len, MAXPACK);
        assert_int_equal(pack.readings[0].len, RELAIS_SENML_MAX_STRING);
        for (size_t i = 0; i < RELAIS_SENML_MAX_RECORDS; i++)
            check_reading(&pack.readings[i], &big[i]);
        relais_pack_cleanup(&pack);
        /* one byte more: refused, whatever the buffer */
        size_t l1 = strlen(strs[1]);
        strs[1][l1] = 'z';
        strs[1][l1 + 1] = '\0';
        len = 7;
        assert_int_equal(encode((enum fmt)f, buf, sizeof buf, &len, DEVICE, 1795000000.0, big,
                                RELAIS_SENML_MAX_RECORDS),
                         RELAIS_FW_ETOOBIG);
        assert_int_equal(len, 0);
        assert_int_equal(
            encode((enum fmt)f, NULL, 0, &len, DEVICE, 1795000000.0, big, RELAIS_SENML_MAX_RECORDS),
            RELAIS_FW_ETOOBIG);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),          cmocka_unit_test(test_every_metric),
        cmocka_unit_test(test_numbers),        cmocka_unit_test(test_times),
        cmocka_unit_test(test_strings),        cmocka_unit_test(test_buffer_too_small),
        cmocka_unit_test(test_limits_refused), cmocka_unit_test(test_at_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
