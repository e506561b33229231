/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the bounded CBOR decoder (edge/src/cbor.c): every error path
 * (truncation at each byte offset, limits, misplaced breaks, chunk types,
 * UTF-8, trailing bytes, huge declared lengths), the shape of decoded trees,
 * doc reuse and diagnostic notation.
 *
 * Inputs are copied into exactly-sized heap buffers so that ASan catches any
 * read past the end of the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relais/cbor.h"
#include "relais/error.h"

struct fixture {
    struct relais_cbor_doc doc;
    struct relais_cbor_error err;
    uint8_t *buf; /* the last input, exactly len bytes; the doc borrows it */
    size_t len;
    char diag[1024];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f) return -1;
    relais_cbor_doc_init(&f->doc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    relais_cbor_doc_cleanup(&f->doc);
    free(f->buf);
    free(f);
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes bytes[0..len) from an exactly-sized copy. */
static int dec_bin(struct fixture *f, const uint8_t *bytes, size_t len,
                   const struct relais_cbor_limits *lim)
{
    free(f->buf);
    f->buf = malloc(len ? len : 1);
    assert_non_null(f->buf);
    if (len) memcpy(f->buf, bytes, len);
    f->len = len;
    f->err.message = NULL;
    return relais_cbor_decode(&f->doc, f->buf, len, lim, &f->err);
}

/* Decodes hex digits (spaces ignored). */
static int dec(struct fixture *f, const char *hex, const struct relais_cbor_limits *lim)
{
    uint8_t bytes[512];
    size_t n = 0;

    for (const char *p = hex; *p; p++) {
        if (*p == ' ') continue;
        assert_true(hexval(p[0]) >= 0 && hexval(p[1]) >= 0);
        assert_true(n < sizeof bytes);
        bytes[n++] = (uint8_t)(hexval(p[0]) << 4 | hexval(p[1]));
        p++;
    }
    return dec_bin(f, bytes, n, lim);
}

static const char *diag(struct fixture *f, size_t idx)
{
    assert_true(relais_cbor_diag(&f->doc, idx, f->diag, sizeof f->diag) >= 0);
    return f->diag;
}

/* Decodes hex expecting rc; on error the message must contain want_msg. */
static void expect(struct fixture *f, const char *hex, const struct relais_cbor_limits *lim, int rc,
                   const char *want_msg)
{
    int got = dec(f, hex, lim);

    if (got != rc) fail_msg("%s: got %d, want %d (%s)", hex, got, rc, f->err.message);
    if (rc == RELAIS_OK) return;
    assert_non_null(f->err.message);
    if (want_msg && !strstr(f->err.message, want_msg)) {
        fail_msg("%s: message \"%s\" lacks \"%s\"", hex, f->err.message, want_msg);
    }
    assert_true(f->err.offset <= f->len);
    assert_int_equal(f->doc.count, 0);
}

static void check_item(const struct relais_cbor_item *it, int type, uint32_t count, uint32_t next)
{
    assert_int_equal(it->type, type);
    assert_int_equal(it->count, count);
    assert_int_equal(it->next, next);
}

static void test_truncation_at_every_offset(void **state)
{
    static const char *const valid[] = {
        "9f018202039f0405ffff",
        "bf61610161629f0203ffff",
        "a26161016162820203",
        "5f42010243030405ff",
        "7f657374726561646d696e67ff",
        "c1fb41d452d9ec200000",
        "c249010000000000000000",
        "1bffffffffffffffff",
        "3bffffffffffffffff",
        "f8ff",
        "f97bff",
        "fa47c35000",
        "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
        "83c6f0d4f8208102",
        "64f0908591",
        "bf6346756ef563416d7421ff",
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        uint8_t full[64];
        size_t n;

        assert_int_equal(dec(f, valid[i], NULL), RELAIS_OK);
        n = f->len;
        assert_true(n <= sizeof full);
        memcpy(full, f->buf, n);
        for (size_t cut = 0; cut < n; cut++) {
            int rc = dec_bin(f, full, cut, NULL);

            if (rc != RELAIS_EPARSE) fail_msg("%s cut at %zu: rc %d", valid[i], cut, rc);
            assert_non_null(f->err.message);
            assert_true(f->err.offset <= cut);
            assert_int_equal(f->doc.count, 0);
        }
    }
}

static void test_empty_and_invalid_args(void **state)
{
    struct fixture *f = *state;
    struct relais_cbor_error err;
    uint8_t b = 0;

    expect(f, "", NULL, RELAIS_EPARSE, "empty");
    assert_int_equal(relais_cbor_decode(&f->doc, NULL, 0, NULL, &err), RELAIS_EPARSE);
    assert_int_equal(relais_cbor_decode(NULL, &b, 1, NULL, &err), RELAIS_EINVAL);
    assert_int_equal(relais_cbor_decode(&f->doc, NULL, 1, NULL, NULL), RELAIS_EINVAL);
    assert_int_equal(relais_cbor_decode(&f->doc, &b, 1, NULL, NULL), RELAIS_OK);
}

static void test_reserved_initial_bytes(void **state)
{
    static const char *const bad[] = {"1c", "1d", "1e", "1f", "3c", "3f", "5c", "5e",
                                      "7d", "9c", "be", "dc", "df", "fc", "fd", "fe"};
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        expect(f, bad[i], NULL, RELAIS_EPARSE, "reserved");
    }
    expect(f, "f800", NULL, RELAIS_EPARSE, "two-byte");
    expect(f, "f81f", NULL, RELAIS_EPARSE, "two-byte");
    expect(f, "f817", NULL, RELAIS_EPARSE, "two-byte");
    expect(f, "f8", NULL, RELAIS_EPARSE, "truncated");
    expect(f, "82 01 1c", NULL, RELAIS_EPARSE, "reserved");
    assert_int_equal(f->err.offset, 2);
}

static void test_limit_items(void **state)
{
    struct fixture *f = *state;
    struct relais_cbor_limits lim = {.max_items = 4, .max_depth = 8, .max_string = 64};
    uint8_t *big;
    size_t n = 5 + 65536;

    expect(f, "83010203", &lim, RELAIS_OK, NULL);
    expect(f, "9f010203ff", &lim, RELAIS_OK, NULL);
    expect(f, "5f410141024103ff", &lim, RELAIS_OK, NULL); /* chunks are not items */
    lim.max_items = 3;
    expect(f, "83010203", &lim, RELAIS_ETOOBIG, "items");
    assert_int_equal(f->err.offset, 3);
    expect(f, "9f010203ff", &lim, RELAIS_ETOOBIG, "items");
    expect(f, "84 00000000", &lim, RELAIS_ETOOBIG, "items"); /* declared count alone */
    assert_int_equal(f->err.offset, 0);
    lim.max_items = 0;
    expect(f, "00", &lim, RELAIS_ETOOBIG, "items");

    /* default: 65536 items; [65535 zeros] fits, [65536 zeros] does not */
    big = calloc(1, n);
    assert_non_null(big);
    memcpy(big, "\x99\xff\xff", 3);
    assert_int_equal(dec_bin(f, big, 3 + 65535, NULL), RELAIS_OK);
    assert_int_equal(f->doc.count, 65536);
    assert_int_equal(f->doc.items[0].count, 65535);
    assert_int_equal(f->doc.items[0].next, 65536);
    memcpy(big, "\x9a\x00\x01\x00\x00", 5);
    assert_int_equal(dec_bin(f, big, n, NULL), RELAIS_ETOOBIG);
    assert_int_equal(f->err.offset, n - 1);
    free(big);
}

static void test_limit_depth(void **state)
{
    struct fixture *f = *state;
    struct relais_cbor_limits lim = {.max_items = 100, .max_depth = 4, .max_string = 64};
    uint8_t deep[40];

    expect(f, "8181818100", &lim, RELAIS_OK, NULL);
    expect(f, "818181818100", &lim, RELAIS_ETOOBIG, "deep");
    assert_int_equal(f->err.offset, 4);
    expect(f, "c1c1c1c100", &lim, RELAIS_OK, NULL); /* tags count */
    expect(f, "c1c1c1c1c100", &lim, RELAIS_ETOOBIG, "deep");
    expect(f, "9fbf009f9fffffffff", &lim, RELAIS_OK, NULL);
    expect(f, "9fbf009f9f80ffffffff", &lim, RELAIS_ETOOBIG, "deep"); /* empty ones too */
    expect(f, "7f60ff", &(struct relais_cbor_limits){10, 0, 10}, RELAIS_OK, NULL);
    lim.max_depth = 1;
    expect(f, "8100", &lim, RELAIS_OK, NULL);
    expect(f, "8180", &lim, RELAIS_ETOOBIG, "deep");
    lim.max_depth = 0;
    expect(f, "00", &lim, RELAIS_OK, NULL);
    expect(f, "80", &lim, RELAIS_ETOOBIG, "deep");

    /* default depth 32 */
    memset(deep, 0x81, sizeof deep);
    deep[32] = 0;
    assert_int_equal(dec_bin(f, deep, 33, NULL), RELAIS_OK);
    assert_int_equal(f->doc.count, 33);
    deep[32] = 0x81;
    deep[33] = 0;
    assert_int_equal(dec_bin(f, deep, 34, NULL), RELAIS_ETOOBIG);
    assert_int_equal(f->err.offset, 32);
}

static void test_limit_string(void **state)
{
    struct fixture *f = *state;
    struct relais_cbor_limits lim = {.max_items = 100, .max_depth = 8, .max_string = 5};

    expect(f, "450102030405", &lim, RELAIS_OK, NULL);
    expect(f, "6568656c6c6f", &lim, RELAIS_OK, NULL);
    expect(f, "5f4201024303040500ff", &lim, RELAIS_EPARSE, "type"); /* 00 is no chunk */
    expect(f, "5f42010243030405ff", &lim, RELAIS_OK, NULL);
    lim.max_string = 4;
    expect(f, "450102030405", &lim, RELAIS_ETOOBIG, "long");
    expect(f, "6568656c6c6f", &lim, RELAIS_ETOOBIG, "long");
    expect(f, "5f42010243030405ff", &lim, RELAIS_ETOOBIG, "long");
    assert_int_equal(f->err.offset, 4);
    expect(f, "7f626865636c6c6fff", &lim, RELAIS_ETOOBIG, "long");
    expect(f, "5f4401020304ff", &lim, RELAIS_OK, NULL);
    expect(f, "5f44010203044100ff", &lim, RELAIS_ETOOBIG, "long");
    lim.max_string = 0;
    expect(f, "40", &lim, RELAIS_OK, NULL);
    expect(f, "5f4040ff", &lim, RELAIS_OK, NULL);
    expect(f, "4100", &lim, RELAIS_ETOOBIG, "long");
}

static void test_misplaced_breaks(void **state)
{
    struct fixture *f = *state;

    expect(f, "ff", NULL, RELAIS_EPARSE, "outside");
    expect(f, "00ff", NULL, RELAIS_EPARSE, "trailing"); /* the item is already complete */
    expect(f, "81ff", NULL, RELAIS_EPARSE, "definite-length");
    expect(f, "8201ff", NULL, RELAIS_EPARSE, "definite-length");
    expect(f, "a1ff", NULL, RELAIS_EPARSE, "exceeds"); /* caught by the count check */
    expect(f, "a1ff00", NULL, RELAIS_EPARSE, "definite-length");
    expect(f, "a100ff", NULL, RELAIS_EPARSE, "definite-length");
    expect(f, "9f81ff", NULL, RELAIS_EPARSE, "definite-length");
    assert_int_equal(f->err.offset, 2);
    expect(f, "c0ff", NULL, RELAIS_EPARSE, "tag");
    expect(f, "9fc6ffff", NULL, RELAIS_EPARSE, "tag");
    expect(f, "bf00ff", NULL, RELAIS_EPARSE, "value position");
    expect(f, "bf000000ff", NULL, RELAIS_EPARSE, "value position");
    assert_int_equal(f->err.offset, 4);
    expect(f, "9f829f819f9fffffffff", NULL, RELAIS_EPARSE, "definite-length");
    assert_int_equal(f->err.offset, 9);
    expect(f, "9fffff", NULL, RELAIS_EPARSE, "trailing");
    /* and the right places */
    expect(f, "bf0000ff", NULL, RELAIS_OK, NULL);
    expect(f, "bfff", NULL, RELAIS_OK, NULL);
    expect(f, "9f9fffff", NULL, RELAIS_OK, NULL);
    expect(f, "5fff", NULL, RELAIS_OK, NULL);
}

static void test_chunk_types(void **state)
{
    static const char *const wrong[] = {"5f00ff", "5f21ff",   "5f6100ff", "5f80ff",
                                        "5fa0ff", "5fc000ff", "5fe0ff",   "7f4100ff",
                                        "7ff4ff", "7ff820ff", "5f9fffff", "7fc600ff"};
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        expect(f, wrong[i], NULL, RELAIS_EPARSE, "type");
    }
    expect(f, "5f5f4100ffff", NULL, RELAIS_EPARSE, "not definite");
    expect(f, "7f7f6100ffff", NULL, RELAIS_EPARSE, "not definite");
    expect(f, "5f4100", NULL, RELAIS_EPARSE, "end of input");
    expect(f, "7f6100", NULL, RELAIS_EPARSE, "end of input");
}

static void test_utf8(void **state)
{
    static const char *const bad[] = {
        "6180",                           /* lone continuation byte */
        "61c3",                           /* truncated sequence */
        "62c080",                         /* overlong NUL */
        "62c1bf",                         /* overlong */
        "63e08080",                       /* overlong 3-byte */
        "63e09fbf",                       /* overlong 3-byte */
        "63eda080",                       /* surrogate D800 */
        "63edbfbf",                       /* surrogate DFFF */
        "64f0808080",                     /* overlong 4-byte */
        "64f08fbfbf",                     /* overlong 4-byte */
        "64f4908080",                     /* U+110000 */
        "64f5808080",                     /* lead byte past U+10FFFF */
        "61ff",         "61fe", "62e6b0", /* 3-byte sequence cut by the string end */
        "6241c3",                         /* sequence cut at the string end */
        "7f61c361bcff",                   /* code point split across chunks */
        "8261616180",                     /* in an array */
    };
    static const char *const good[] = {"62c3bc",   "63efbfbf", "64f48fbfbf", "63ed9fbf",
                                       "63ee8080", "6100",     "62c280",     "7f62c3bc6161ff"};
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        expect(f, bad[i], NULL, RELAIS_EPARSE, "UTF-8");
    }
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        expect(f, good[i], NULL, RELAIS_OK, NULL);
    }
    /* byte strings are not checked */
    expect(f, "42c080", NULL, RELAIS_OK, NULL);
}

static void test_trailing_bytes(void **state)
{
    struct fixture *f = *state;

    expect(f, "0000", NULL, RELAIS_EPARSE, "trailing");
    assert_int_equal(f->err.offset, 1);
    expect(f, "820102 03", NULL, RELAIS_EPARSE, "trailing");
    assert_int_equal(f->err.offset, 3);
    expect(f, "9fff 1c", NULL, RELAIS_EPARSE, "trailing"); /* reported before the reserved byte */
    expect(f, "5fff00", NULL, RELAIS_EPARSE, "trailing");
    expect(f, "c100 00", NULL, RELAIS_EPARSE, "trailing");
}

static void test_huge_declared_lengths(void **state)
{
    static const char *const huge[] = {
        "9affffffff",
        "9bffffffffffffffff00",
        "9b000000010000000001",
        "baffffffff",
        "bbffffffffffffffff00",
        "a2000000",
        "8301",
        "5affffffff00",
        "5bffffffffffffffff010203",
        "5bfffffffffffffff7",
        "7b7fffffffffffffff010203",
        "7a7fffffff61",
        "99ffff",
        "5f5affffffffff",
        "9f9affffffff",
        "c29bffffffffffffffff",
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        struct relais_cbor_doc fresh;
        int rc;

        relais_cbor_doc_init(&fresh);
        assert_int_equal(dec(f, huge[i], NULL), RELAIS_EPARSE);
        rc = relais_cbor_decode(&fresh, f->buf, f->len, NULL, &f->err);
        if (rc != RELAIS_EPARSE) fail_msg("%s: rc %d", huge[i], rc);
        /* nothing allocated beyond what the input can hold */
        assert_true(fresh.cap <= f->len);
        assert_true(fresh.strbuf_cap <= f->len);
        relais_cbor_doc_cleanup(&fresh);
    }
    expect(f, "9affffffff", NULL, RELAIS_EPARSE, "exceeds");
    assert_int_equal(f->err.offset, 0);
}

static void test_tree_nested_indefinite(void **state)
{
    struct fixture *f = *state;
    const struct relais_cbor_item *it;

    /* [_ 1, [2, 3], [_ 4, 5]] */
    assert_int_equal(dec(f, "9f018202039f0405ffff", NULL), RELAIS_OK);
    it = f->doc.items;
    assert_int_equal(f->doc.count, 8);
    check_item(&it[0], RELAIS_CBOR_ARRAY, 3, 8);
    assert_int_equal(it[0].indefinite, 1);
    check_item(&it[1], RELAIS_CBOR_UINT, 0, 2);
    assert_int_equal(it[1].v.u, 1);
    check_item(&it[2], RELAIS_CBOR_ARRAY, 2, 5);
    assert_int_equal(it[2].indefinite, 0);
    check_item(&it[3], RELAIS_CBOR_UINT, 0, 4);
    check_item(&it[4], RELAIS_CBOR_UINT, 0, 5);
    check_item(&it[5], RELAIS_CBOR_ARRAY, 2, 8);
    assert_int_equal(it[5].indefinite, 1);
    check_item(&it[6], RELAIS_CBOR_UINT, 0, 7);
    assert_int_equal(it[6].v.u, 4);
    check_item(&it[7], RELAIS_CBOR_UINT, 0, 8);
    assert_string_equal(diag(f, 0), "[1, [2, 3], [4, 5]]");
    assert_string_equal(diag(f, 5), "[4, 5]");

    /* {_ "a": 1, "b": [_ 2, 3]} */
    assert_int_equal(dec(f, "bf61610161629f0203ffff", NULL), RELAIS_OK);
    it = f->doc.items;
    assert_int_equal(f->doc.count, 7);
    check_item(&it[0], RELAIS_CBOR_MAP, 2, 7);
    check_item(&it[1], RELAIS_CBOR_TEXT, 0, 2);
    assert_int_equal(it[1].v.str.len, 1);
    assert_ptr_equal(it[1].v.str.ptr, f->buf + 2); /* definite: into the input */
    check_item(&it[2], RELAIS_CBOR_UINT, 0, 3);
    check_item(&it[3], RELAIS_CBOR_TEXT, 0, 4);
    check_item(&it[4], RELAIS_CBOR_ARRAY, 2, 7);
    check_item(&it[5], RELAIS_CBOR_UINT, 0, 6);
    check_item(&it[6], RELAIS_CBOR_UINT, 0, 7);

    /* [[], {}, [_ ], {_ }, 6(7(0)), {[]: {}}] */
    assert_int_equal(dec(f, "86 80 a0 9fff bfff c6c700 a180a0", NULL), RELAIS_OK);
    it = f->doc.items;
    assert_int_equal(f->doc.count, 11);
    check_item(&it[0], RELAIS_CBOR_ARRAY, 6, 11);
    check_item(&it[1], RELAIS_CBOR_ARRAY, 0, 2);
    check_item(&it[2], RELAIS_CBOR_MAP, 0, 3);
    check_item(&it[3], RELAIS_CBOR_ARRAY, 0, 4);
    check_item(&it[4], RELAIS_CBOR_MAP, 0, 5);
    check_item(&it[5], RELAIS_CBOR_TAG, 1, 8);
    assert_int_equal(it[5].v.u, 6);
    check_item(&it[6], RELAIS_CBOR_TAG, 1, 8);
    assert_int_equal(it[6].v.u, 7);
    check_item(&it[7], RELAIS_CBOR_UINT, 0, 8);
    check_item(&it[8], RELAIS_CBOR_MAP, 1, 11);
    check_item(&it[9], RELAIS_CBOR_ARRAY, 0, 10);
    check_item(&it[10], RELAIS_CBOR_MAP, 0, 11);
    assert_string_equal(diag(f, 0), "[[], {}, [], {}, 6(7(0)), {[]: {}}]");
}

static void test_tree_indefinite_strings(void **state)
{
    struct fixture *f = *state;
    const struct relais_cbor_item *it;

    /* [(_ h'01', h'0203'), (_ "a", "", "bc"), (_ ), h'ff'] */
    assert_int_equal(dec(f, "84 5f41014202 03ff 7f6161606262 63ff 5fff 41ff", NULL), RELAIS_OK);
    it = f->doc.items;
    assert_int_equal(f->doc.count, 5);
    check_item(&it[0], RELAIS_CBOR_ARRAY, 4, 5);
    check_item(&it[1], RELAIS_CBOR_BYTES, 0, 2);
    assert_int_equal(it[1].indefinite, 1);
    assert_int_equal(it[1].v.str.len, 3);
    assert_memory_equal(it[1].v.str.ptr, "\x01\x02\x03", 3);
    assert_ptr_equal(it[1].v.str.ptr, f->doc.strbuf);
    check_item(&it[2], RELAIS_CBOR_TEXT, 0, 3);
    assert_int_equal(it[2].v.str.len, 3);
    assert_memory_equal(it[2].v.str.ptr, "abc", 3);
    assert_ptr_equal(it[2].v.str.ptr, f->doc.strbuf + 3);
    check_item(&it[3], RELAIS_CBOR_BYTES, 0, 4);
    assert_int_equal(it[3].v.str.len, 0);
    check_item(&it[4], RELAIS_CBOR_BYTES, 0, 5);
    assert_int_equal(it[4].indefinite, 0);
    assert_ptr_equal(it[4].v.str.ptr, f->buf + f->len - 1);
    assert_true(f->doc.strbuf_cap >= f->len);
    assert_string_equal(diag(f, 0), "[h'010203', \"abc\", h'', h'ff']");
}

static void test_scalars(void **state)
{
    struct fixture *f = *state;
    const struct relais_cbor_item *it;

    assert_int_equal(dec(f,
                         "8c 3bffffffffffffffff f0 f8ff f8 20 f4 f5 f6 f7 f93c00 fa47c35000 "
                         "fb3ff199999999999a d400",
                         NULL),
                     RELAIS_OK);
    it = f->doc.items;
    assert_int_equal(f->doc.count, 14);
    assert_int_equal(it[1].type, RELAIS_CBOR_NEGINT);
    assert_true(it[1].v.u == UINT64_MAX);
    for (size_t i = 2; i <= 8; i++) {
        assert_int_equal(it[i].type, RELAIS_CBOR_SIMPLE);
    }
    assert_int_equal(it[2].v.u, 16);
    assert_int_equal(it[3].v.u, 255);
    assert_int_equal(it[4].v.u, 32);
    assert_int_equal(it[5].v.u, RELAIS_CBOR_SIMPLE_FALSE);
    assert_int_equal(it[6].v.u, RELAIS_CBOR_SIMPLE_TRUE);
    assert_int_equal(it[7].v.u, RELAIS_CBOR_SIMPLE_NULL);
    assert_int_equal(it[8].v.u, RELAIS_CBOR_SIMPLE_UNDEFINED);
    assert_int_equal(it[9].type, RELAIS_CBOR_FLOAT);
    assert_int_equal(it[9].float_size, 2);
    assert_true(it[9].v.f == 1.0);
    assert_int_equal(it[10].float_size, 4);
    assert_true(it[10].v.f == 100000.0);
    assert_int_equal(it[11].float_size, 8);
    assert_true(it[11].v.f == 1.1);
    check_item(&it[12], RELAIS_CBOR_TAG, 1, 14);
    assert_int_equal(it[12].v.u, 20);
    assert_string_equal(diag(f, 0), "[-18446744073709551616, simple(16), simple(255), simple(32), "
                                    "false, true, null, undefined, 1.0, 100000.0, 1.1, 20(0)]");
}

static void test_reuse(void **state)
{
    struct fixture *f = *state;
    uint8_t big[300];
    size_t cap;

    memset(big, 0, sizeof big);
    big[0] = 0x99;
    big[1] = 0x01;
    big[2] = 0x00; /* [256 zeros] */
    assert_int_equal(dec_bin(f, big, 3 + 256, NULL), RELAIS_OK);
    assert_int_equal(f->doc.count, 257);
    cap = f->doc.cap;
    assert_true(cap >= 257 && cap <= 3 + 256);

    assert_int_equal(dec(f, "820102", NULL), RELAIS_OK);
    assert_int_equal(f->doc.count, 3);
    assert_int_equal(f->doc.cap, cap); /* capacity kept */
    assert_string_equal(diag(f, 0), "[1, 2]");

    expect(f, "9f01", NULL, RELAIS_EPARSE, "end of input");
    assert_int_equal(f->doc.count, 0);
    assert_int_equal(relais_cbor_diag(&f->doc, 0, f->diag, sizeof f->diag), -1);

    assert_int_equal(dec(f, "7f6161ff", NULL), RELAIS_OK);
    assert_int_equal(f->doc.strbuf_len, 1);
    assert_string_equal(diag(f, 0), "\"a\"");
    /* a longer input needs a larger string buffer */
    assert_int_equal(dec(f, "7f6161 6162 6163 6164 6165 6166ff", NULL), RELAIS_OK);
    assert_int_equal(f->doc.strbuf_len, 6);
    assert_string_equal(diag(f, 0), "\"abcdef\"");
    assert_int_equal(dec(f, "5f4101ff", NULL), RELAIS_OK);
    assert_int_equal(f->doc.strbuf_len, 1);
    assert_string_equal(diag(f, 0), "h'01'");
    assert_int_equal(dec(f, "00", NULL), RELAIS_OK);
    assert_int_equal(f->doc.count, 1);
    assert_int_equal(f->doc.strbuf_len, 0);
}

static void test_diag(void **state)
{
    struct fixture *f = *state;
    char small[8];

    assert_int_equal(dec(f, "86 01 a1616142 0102 c1fb41d452d9ec200000 f0 f97c00 f7", NULL),
                     RELAIS_OK);
    assert_string_equal(diag(f, 0),
                        "[1, {\"a\": h'0102'}, 1(1363896240.5), simple(16), Infinity, undefined]");
    assert_int_equal(f->doc.count, 10);
    assert_string_equal(diag(f, 3), "\"a\"");
    assert_string_equal(diag(f, 5), "1(1363896240.5)");
    assert_int_equal(relais_cbor_diag(&f->doc, 10, f->diag, sizeof f->diag), -1);
    assert_int_equal(relais_cbor_diag(&f->doc, 0, small, sizeof small), -1);
    assert_int_equal(relais_cbor_diag(&f->doc, 0, small, 0), -1);

    /* exact fit: length + NUL */
    assert_int_equal(dec(f, "83010203", NULL), RELAIS_OK);
    assert_int_equal(relais_cbor_diag(&f->doc, 0, small, sizeof small), -1);
    assert_int_equal(relais_cbor_diag(&f->doc, 0, f->diag, 9), -1);
    assert_int_equal(relais_cbor_diag(&f->doc, 0, f->diag, 10), 9);
    assert_string_equal(f->diag, "[1, 2, 3]");

    assert_int_equal(dec(f, "66 22 5c 0a 01 1f 7f", NULL), RELAIS_OK);
    assert_string_equal(diag(f, 0), "\"\\\"\\\\\\n\\u0001\\u001f\x7f\"");

    static const struct {
        const char *hex, *want;
    } floats[] = {
        {"f90000", "0.0"},
        {"f98000", "-0.0"},
        {"f93e00", "1.5"},
        {"f97bff", "65504.0"},
        {"fa47c35000", "100000.0"},
        {"fa7f7fffff", "3.4028234663852886e+38"},
        {"fb7e37e43c8800759c", "1.0e+300"},
        {"f90400", "6.103515625e-05"},
        {"fbc010666666666666", "-4.1"},
        {"f9fc00", "-Infinity"},
        {"fa7fc00000", "NaN"},
        {"fb4340000000000000", "9007199254740992.0"},
        {"fb3ee4f8b588e368f1", "1.0e-05"},
        {"c11a514b67b0", "1(1363896240)"},
        {"c074323031332d30332d32315432303a30343a30305a", "0(\"2013-03-21T20:04:00Z\")"},
        {"c249010000000000000000", "2(h'010000000000000000')"},
        {"3903e7", "-1000"},
        {"1bffffffffffffffff", "18446744073709551615"},
        {"a26161016162820203", "{\"a\": 1, \"b\": [2, 3]}"},
    };
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
        assert_int_equal(dec(f, floats[i].hex, NULL), RELAIS_OK);
        assert_string_equal(diag(f, 0), floats[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_truncation_at_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_invalid_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_initial_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misplaced_breaks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_declared_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tree_nested_indefinite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tree_indefinite_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diag, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
