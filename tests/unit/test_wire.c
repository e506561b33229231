/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the wire contract (firmware/wire/wire.c, DESIGN.md section 3):
 * ids, seq parsing, MQTT topics (parse and format), CoAP paths, the ack body
 * (format and strict parse) and the metric table.
 *
 * Inputs to the parsers are copied into exactly-sized heap buffers without a
 * NUL so that ASan catches any read past the given length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relais/wire.h"

/* ---- helpers ---- */

/* An exactly-sized copy of s (no NUL): free it with free(). */
static char *exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, s, len);
    return p;
}

static bool id_valid(const char *s)
{
    size_t len = strlen(s);
    char *p = exact(s, len);
    bool ok = relais_wire_id_valid(p, len);
    free(p);
    return ok;
}

static int seq_parse(const char *s, uint64_t *out)
{
    size_t len = strlen(s);
    char *p = exact(s, len);
    int rc = relais_wire_seq_parse(p, len, out);
    free(p);
    return rc;
}

static int up_parse(const char *topic, char device[RELAIS_WIRE_ID_MAX + 1], uint64_t *seq)
{
    size_t len = strlen(topic);
    char *p = exact(topic, len);
    int rc = relais_wire_topic_up_parse(p, len, device, seq);
    free(p);
    return rc;
}

static int ack_parse(const char *body, struct relais_wire_ack *out)
{
    size_t len = strlen(body);
    char *p = exact(body, len);
    int rc = relais_wire_ack_parse(p, len, out);
    free(p);
    return rc;
}

static const char id32[] = "abcdefghijklmnopqrstuvwxyz012345";
static const char id33[] = "abcdefghijklmnopqrstuvwxyz0123456";

/* ---- ids ---- */

static void test_id_valid(void **state)
{
    (void)state;
    static const char *const good[] = {"a", "0", "z9", "gw-1", "a-", "a--b", "0-0", "dev-42", id32};
    static const char *const bad[] = {"",    "-",  "-a", "A",  "aB",       "Gw-1", "a_b", "a.b",
                                      "a b", " a", "a/", "a+", "\xc3\xa9", "a\t",  id33};

    assert_int_equal(strlen(id32), 32);
    assert_int_equal(strlen(id33), 33);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(id_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (id_valid(bad[i])) fail_msg("'%s' was accepted as an id", bad[i]);
    }
    /* the length is what counts, not the NUL */
    assert_true(relais_wire_id_valid("abc-", 3));
    assert_false(relais_wire_id_valid("a\0b", 3));
    assert_true(relais_wire_id_valid(id33, 32));
    assert_false(relais_wire_id_valid("abc", 0));
}

/* ---- seq ---- */

static void test_seq_parse(void **state)
{
    (void)state;
    uint64_t v = 99;

    assert_int_equal(seq_parse("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(seq_parse("1", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(seq_parse("1234567890", &v), 0);
    assert_int_equal(v, 1234567890);
    /* 2^53 - 1 is the largest seq; 2^53 is not exact in every JSON consumer */
    assert_int_equal(seq_parse("9007199254740991", &v), 0);
    assert_int_equal(v, RELAIS_WIRE_SEQ_MAX);
    assert_int_equal(v, (1ULL << 53) - 1);
    assert_int_equal(seq_parse("9007199254740992", &v), -1);
    assert_int_equal(seq_parse("9999999999999999", &v), -1);
    /* 17 digits, with or without a value that would fit */
    assert_int_equal(seq_parse("10000000000000000", &v), -1);
    assert_int_equal(seq_parse("00000000000000001", &v), -1);
    assert_int_equal(seq_parse("18446744073709551616", &v), -1);
    /* leading zeros, signs, spaces, other characters */
    static const char *const bad[] = {"",    "00", "01", "007", "+1",  "-1",  "-0",  " 1", "1 ",
                                      "1 2", "1a", "a1", "0x1", "1.0", "1e3", "\t1", "١"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (seq_parse(bad[i], &v) != -1) fail_msg("'%s' was accepted as a seq", bad[i]);
    }
    /* the length bounds the parse */
    assert_int_equal(relais_wire_seq_parse("123", 2, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(relais_wire_seq_parse("5", 0, &v), -1);
}

/* ---- topics ---- */

static void test_topic_up_parse_valid(void **state)
{
    (void)state;
    char dev[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq = 0;

    assert_int_equal(up_parse("relais/dev/dev-1/up/42", dev, &seq), 0);
    assert_string_equal(dev, "dev-1");
    assert_int_equal(seq, 42);

    assert_int_equal(up_parse("relais/dev/0/up/0", dev, &seq), 0);
    assert_string_equal(dev, "0");
    assert_int_equal(seq, 0);

    assert_int_equal(
        up_parse("relais/dev/abcdefghijklmnopqrstuvwxyz012345/up/9007199254740991", dev, &seq), 0);
    assert_string_equal(dev, id32);
    assert_int_equal(seq, RELAIS_WIRE_SEQ_MAX);

    /* the length bounds the parse */
    assert_int_equal(relais_wire_topic_up_parse("relais/dev/d/up/123/x", 19, dev, &seq), 0);
    assert_string_equal(dev, "d");
    assert_int_equal(seq, 123);
}

static void test_topic_up_parse_invalid(void **state)
{
    (void)state;
    char dev[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq;
    static const char *const bad[] = {
        /* wrong prefix */
        "",
        "relais",
        "relais/dev",
        "relais/dev/",
        "relais/dav/d/up/1",
        "Relais/dev/d/up/1",
        "/relais/dev/d/up/1",
        "relais//dev/d/up/1",
        "relais/devd/up/1",
        "x/relais/dev/d/up/1",
        /* bad id */
        "relais/dev//up/1",
        "relais/dev/D/up/1",
        "relais/dev/-d/up/1",
        "relais/dev/d_1/up/1",
        "relais/dev/+/up/1",
        "relais/dev/#",
        "relais/dev/abcdefghijklmnopqrstuvwxyz0123456/up/1",
        /* missing or bad seq */
        "relais/dev/d",
        "relais/dev/d/",
        "relais/dev/d/up",
        "relais/dev/d/up/",
        "relais/dev/d/up/+",
        "relais/dev/d/up/01",
        "relais/dev/d/up/-1",
        "relais/dev/d/up/ 1",
        "relais/dev/d/up/9007199254740992",
        /* extra or missing levels */
        "relais/dev/d/up/1/",
        "relais/dev/d/up/1/x",
        "relais/dev/d/x/up/1",
        "relais/dev/d/up//1",
        "relais/dev/d/1",
        /* not "up" */
        "relais/dev/d/ack/1",
        "relais/dev/d/cmd",
        "relais/dev/d/Up/1",
        "relais/dev/d/upx/1",
        "relais/dev/d/u/1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (up_parse(bad[i], dev, &seq) != -1) fail_msg("'%s' was accepted as an up topic", bad[i]);
    }
    /* the filter relaisd subscribes to is not a topic */
    assert_int_equal(up_parse(RELAIS_WIRE_TOPIC_UP_FILTER, dev, &seq), -1);
}

static void test_topic_format(void **state)
{
    (void)state;
    char buf[RELAIS_WIRE_TOPIC_MAX];

    assert_int_equal(relais_wire_topic_up(buf, sizeof buf, "d1", 5), 18);
    assert_string_equal(buf, "relais/dev/d1/up/5");
    assert_int_equal(relais_wire_topic_ack(buf, sizeof buf, "d1", 0), 19);
    assert_string_equal(buf, "relais/dev/d1/ack/0");
    assert_int_equal(relais_wire_topic_cmd(buf, sizeof buf, "pillbox-7"), 24);
    assert_string_equal(buf, "relais/dev/pillbox-7/cmd");
    assert_int_equal(relais_wire_topic_ack(buf, sizeof buf, "dev-1", 1234567890123ULL),
                     (int)strlen("relais/dev/dev-1/ack/1234567890123"));
    assert_string_equal(buf, "relais/dev/dev-1/ack/1234567890123");

    /* the longest topic relais writes fits RELAIS_WIRE_TOPIC_MAX */
    int n = relais_wire_topic_ack(buf, sizeof buf, id32, UINT64_MAX);
    assert_string_equal(buf,
                        "relais/dev/abcdefghijklmnopqrstuvwxyz012345/ack/18446744073709551615");
    assert_int_equal(n, (int)strlen(buf));
    assert_true(n < RELAIS_WIRE_TOPIC_MAX);

    /* round trip with the parser */
    char dev[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq;
    n = relais_wire_topic_up(buf, sizeof buf, id32, RELAIS_WIRE_SEQ_MAX);
    assert_true(n > 0);
    assert_int_equal(relais_wire_topic_up_parse(buf, (size_t)n, dev, &seq), 0);
    assert_string_equal(dev, id32);
    assert_int_equal(seq, RELAIS_WIRE_SEQ_MAX);
}

static void test_topic_format_too_small(void **state)
{
    (void)state;
    char buf[64];

    /* "relais/dev/d1/up/5" is 18 bytes: 19 with the NUL */
    for (size_t cap = 1; cap <= 18; cap++) {
        memset(buf, 'X', sizeof buf);
        assert_int_equal(relais_wire_topic_up(buf, cap, "d1", 5), -1);
        assert_string_equal(buf, "");
        /* nothing is written past the capacity */
        for (size_t i = cap; i < sizeof buf; i++)
            assert_int_equal(buf[i], 'X');
    }
    memset(buf, 'X', sizeof buf);
    assert_int_equal(relais_wire_topic_up(buf, 19, "d1", 5), 18);
    assert_string_equal(buf, "relais/dev/d1/up/5");
    assert_int_equal(buf[19], 'X');

    memset(buf, 'X', sizeof buf);
    assert_int_equal(relais_wire_topic_ack(buf, 19, "d1", 5), -1);
    assert_string_equal(buf, "");
    assert_int_equal(relais_wire_topic_cmd(buf, 17, "d1"), -1);
    assert_string_equal(buf, "");
    assert_int_equal(relais_wire_topic_cmd(buf, 18, "d1"), 17);

    /* capacity 0: nothing written at all */
    memset(buf, 'X', sizeof buf);
    assert_int_equal(relais_wire_topic_up(buf, 0, "d1", 5), -1);
    assert_int_equal(buf[0], 'X');
}

static void test_topic_format_bad_device(void **state)
{
    (void)state;
    char buf[RELAIS_WIRE_TOPIC_MAX];
    static const char *const bad[] = {"", "D1", "-d", "d/1", "+", "#", id33};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(buf, 'X', sizeof buf);
        assert_int_equal(relais_wire_topic_up(buf, sizeof buf, bad[i], 1), -1);
        assert_string_equal(buf, "");
        memset(buf, 'X', sizeof buf);
        assert_int_equal(relais_wire_topic_ack(buf, sizeof buf, bad[i], 1), -1);
        assert_string_equal(buf, "");
        memset(buf, 'X', sizeof buf);
        assert_int_equal(relais_wire_topic_cmd(buf, sizeof buf, bad[i]), -1);
        assert_string_equal(buf, "");
    }
}

/* ---- CoAP paths ---- */

/* Splits "a/b/c" into exact copies of its segments (freed by segs_free). */
struct segs {
    const char *seg[8];
    size_t len[8];
    char *copy[8];
    size_t n;
};

static void segs_split(struct segs *g, const char *path)
{
    const char *p = path;
    g->n = 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        assert_true(g->n < 8);
        g->copy[g->n] = exact(p, len);
        g->seg[g->n] = g->copy[g->n];
        g->len[g->n] = len;
        g->n++;
        if (!slash) break;
        p = slash + 1;
    }
}

static void segs_free(struct segs *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->copy[i]);
}

static int path_parse(const char *path, char device[RELAIS_WIRE_ID_MAX + 1], uint64_t *seq)
{
    struct segs g;
    segs_split(&g, path);
    int rc = relais_wire_path_up_parse(g.seg, g.len, g.n, device, seq);
    segs_free(&g);
    return rc;
}

/* dev/{device}/cmd: the command resource a CoAP device polls. */
static int cmd_path_parse(const char *path, char device[RELAIS_WIRE_ID_MAX + 1])
{
    struct segs g;
    segs_split(&g, path);
    int rc = relais_wire_path_cmd_parse(g.seg, g.len, g.n, device);
    segs_free(&g);
    return rc;
}

static void test_cmd_path_parse(void **state)
{
    (void)state;
    char dev[RELAIS_WIRE_ID_MAX + 1];
    assert_int_equal(cmd_path_parse("dev/pillbox-1/cmd", dev), 0);
    assert_string_equal(dev, "pillbox-1");
    static const char *const bad[] = {"dev/pillbox-1",     "dev/pillbox-1/cmd/1", "dev//cmd",
                                      "dev/PILL/cmd",      "dev/pillbox-1/cmds",  "dev/p/up",
                                      "Dev/pillbox-1/cmd", "x/pillbox-1/cmd",     "dev/p/Cmd"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cmd_path_parse(bad[i], dev) == 0) fail_msg("'%s' parsed as a command path", bad[i]);
}

static int cmd_parse(const char *body, struct relais_wire_cmd *c)
{
    /* an exact copy: the parser must not read past len */
    char *copy = exact(body, strlen(body));
    int rc = relais_wire_cmd_parse(copy, strlen(body), c);
    free(copy);
    return rc;
}

static void test_cmd_parse(void **state)
{
    (void)state;
    struct relais_wire_cmd c;
    assert_int_equal(cmd_parse("{\"cmd\":\"remind\",\"slot\":\"2026-11-22T08:00/am\"}", &c), 0);
    assert_int_equal(c.kind, RELAIS_WIRE_CMD_REMIND);
    assert_string_equal(c.slot, "2026-11-22T08:00/am");
    assert_int_equal(c.id, 0);
    assert_int_equal(cmd_parse(" { \"id\" : 17 , \"cmd\":\"call15\",\"alert\":\"gw-3\" } ", &c), 0);
    assert_int_equal(c.kind, RELAIS_WIRE_CMD_CALL15);
    assert_int_equal(c.id, 17);
    assert_string_equal(c.alert, "gw-3");
    assert_int_equal(cmd_parse("{\"cmd\":\"call15\"}", &c), 0);
    assert_string_equal(c.alert, "");
    assert_int_equal(cmd_parse("{\"cmd\":\"time\",\"t\":1795388400}", &c), 0);
    assert_int_equal(c.kind, RELAIS_WIRE_CMD_TIME);
    assert_int_equal(c.t_ms, 1795388400000u);
    assert_int_equal(cmd_parse("{\"cmd\":\"time\",\"t\":1795388400.25}", &c), 0);
    assert_int_equal(c.t_ms, 1795388400250u);
    assert_int_equal(cmd_parse("{\"cmd\":\"time\",\"t\":1795388400.1239}", &c), 0);
    assert_int_equal(c.t_ms, 1795388400123u);
    /* unknown commands parse (the device ignores them), unknown members are skipped */
    assert_int_equal(cmd_parse("{\"cmd\":\"reboot\",\"x\":true,\"y\":null}", &c), 0);
    assert_int_equal(c.kind, RELAIS_WIRE_CMD_OTHER);

    char long_slot[200];
    snprintf(long_slot, sizeof long_slot, "{\"cmd\":\"remind\",\"slot\":\"%065d\"}", 0);
    const char *const bad[] = {
        "",
        "{}",
        "[]",
        "{\"slot\":\"a\"}",               /* no cmd */
        "{\"cmd\":\"time\"}",             /* no t */
        "{\"cmd\":\"time\",\"t\":0}",     /* not a time */
        "{\"cmd\":\"time\",\"t\":1.8e9}", /* an exponent */
        "{\"cmd\":\"time\",\"t\":1795388400.}",
        "{\"cmd\":\"time\",\"t\":-5}",
        "{\"cmd\":\"time\",\"t\":1795388400x}",
        "{\"cmd\":\"time\",\"t\":\"1795388400\"}",
        "{\"cmd\":\"remind\"}", /* no slot */
        "{\"cmd\":\"remind\",\"slot\":\"\"}",
        "{\"cmd\":\"remind\",\"slot\":{\"a\":1}}",
        "{\"cmd\":\"remind\",\"slot\":\"am\"", /* truncated */
        "{\"cmd\":\"remind\",\"slot\":\"am\"} x",
        "{\"cmd\":call15}",
        "{\"id\":-1,\"cmd\":\"call15\"}",
        "{\"cmd\":\"call15\",\"nested\":{\"a\":1}}",
        long_slot, /* 65 bytes: too long */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cmd_parse(bad[i], &c) == 0) fail_msg("'%s' parsed", bad[i]);
    assert_int_equal(relais_wire_cmd_parse(NULL, 0, &c), -1);
    /* every truncation of a good body is refused */
    static const char good[] = "{\"id\":3,\"cmd\":\"remind\",\"slot\":\"2026-11-22T08:00/am\"}";
    for (size_t n = 0; n + 1 < sizeof good; n++) {
        char *copy = exact(good, n);
        if (relais_wire_cmd_parse(copy, n, &c) == 0) fail_msg("a cut at %zu parsed", n);
        free(copy);
    }
}

static void test_path_parse(void **state)
{
    (void)state;
    char dev[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq = 0;

    assert_int_equal(path_parse("dev/pillbox-7/up/12", dev, &seq), 0);
    assert_string_equal(dev, "pillbox-7");
    assert_int_equal(seq, 12);
    assert_int_equal(path_parse("dev/abcdefghijklmnopqrstuvwxyz012345/up/0", dev, &seq), 0);
    assert_string_equal(dev, id32);
    assert_int_equal(seq, 0);

    static const char *const bad[] = {
        "dev",
        "dev/d",
        "dev/d/up",
        "dev/d/up/1/x",
        "dev/d/up/",
        "Dev/d/up/1",
        "devs/d/up/1",
        "de/d/up/1",
        "/d/up/1",
        "dev//up/1",
        "dev/D/up/1",
        "dev/-d/up/1",
        "dev/abcdefghijklmnopqrstuvwxyz0123456/up/1",
        "dev/d/ack/1",
        "dev/d/u/1",
        "dev/d/upp/1",
        "dev/d/UP/1",
        "dev/d/up/01",
        "dev/d/up/+1",
        "dev/d/up/9007199254740992",
        "dev/d/up/1a",
        ".well-known/core",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (path_parse(bad[i], dev, &seq) != -1)
            fail_msg("'%s' was accepted as an up path", bad[i]);
    }
    /* no segments at all */
    assert_int_equal(relais_wire_path_up_parse(NULL, NULL, 0, dev, &seq), -1);
}

/* ---- ack format ---- */

static struct relais_wire_ack make_ack(uint64_t seq, enum relais_wire_ack_status st,
                                       uint32_t records, uint32_t retry_s, const char *error)
{
    struct relais_wire_ack a;

    memset(&a, 0, sizeof a);
    a.seq = seq;
    a.status = st;
    a.records = records;
    a.retry_s = retry_s;
    size_t n = strlen(error);
    assert_true(n < sizeof a.error);
    memcpy(a.error, error, n + 1);
    return a;
}

static void expect_format(const struct relais_wire_ack *a, const char *want)
{
    char buf[RELAIS_WIRE_ACK_MAX];
    int n = relais_wire_ack_format(buf, sizeof buf, a);

    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));
}

static void test_ack_status_names(void **state)
{
    (void)state;
    assert_string_equal(relais_wire_ack_status_name(RELAIS_WIRE_ACK_STORED), "stored");
    assert_string_equal(relais_wire_ack_status_name(RELAIS_WIRE_ACK_DUPLICATE), "duplicate");
    assert_string_equal(relais_wire_ack_status_name(RELAIS_WIRE_ACK_REJECTED), "rejected");
    assert_string_equal(relais_wire_ack_status_name(RELAIS_WIRE_ACK_BUSY), "busy");
    assert_string_equal(relais_wire_ack_status_name((enum relais_wire_ack_status)4), "?");
    assert_string_equal(relais_wire_ack_status_name((enum relais_wire_ack_status)(0 - 1)), "?");
}

static void test_ack_format_each_status(void **state)
{
    (void)state;
    struct relais_wire_ack a;

    a = make_ack(1, RELAIS_WIRE_ACK_STORED, 3, 0, "");
    expect_format(&a, "{\"seq\":1,\"status\":\"stored\",\"records\":3}");
    /* error and retry_s are not written for stored and duplicate */
    a = make_ack(1, RELAIS_WIRE_ACK_STORED, 3, 30, "ignored");
    expect_format(&a, "{\"seq\":1,\"status\":\"stored\",\"records\":3}");
    a = make_ack(9007199254740991ULL, RELAIS_WIRE_ACK_DUPLICATE, 0, 30, "ignored");
    expect_format(&a, "{\"seq\":9007199254740991,\"status\":\"duplicate\",\"records\":0}");

    a = make_ack(2, RELAIS_WIRE_ACK_REJECTED, 0, 0, "unit: 'F' for temp");
    expect_format(&a, "{\"seq\":2,\"status\":\"rejected\",\"records\":0,"
                      "\"error\":\"unit: 'F' for temp\"}");
    /* retry_s only for busy */
    a = make_ack(2, RELAIS_WIRE_ACK_REJECTED, 0, 5, "bad");
    expect_format(&a, "{\"seq\":2,\"status\":\"rejected\",\"records\":0,\"error\":\"bad\"}");
    a = make_ack(2, RELAIS_WIRE_ACK_REJECTED, 0, 0, "");
    expect_format(&a, "{\"seq\":2,\"status\":\"rejected\",\"records\":0}");

    a = make_ack(3, RELAIS_WIRE_ACK_BUSY, 0, 30, "quota");
    expect_format(&a, "{\"seq\":3,\"status\":\"busy\",\"records\":0,\"error\":\"quota\","
                      "\"retry_s\":30}");
    a = make_ack(3, RELAIS_WIRE_ACK_BUSY, 0, 4294967295u, "");
    expect_format(&a, "{\"seq\":3,\"status\":\"busy\",\"records\":0,\"retry_s\":4294967295}");
    a = make_ack(3, RELAIS_WIRE_ACK_BUSY, 7, 0, "");
    expect_format(&a, "{\"seq\":3,\"status\":\"busy\",\"records\":7}");

    a = make_ack(0, RELAIS_WIRE_ACK_STORED, 4294967295u, 0, "");
    expect_format(&a, "{\"seq\":0,\"status\":\"stored\",\"records\":4294967295}");
}

static void test_ack_format_bad_status(void **state)
{
    (void)state;
    char buf[RELAIS_WIRE_ACK_MAX];
    struct relais_wire_ack a = make_ack(1, RELAIS_WIRE_ACK_STORED, 1, 0, "");

    a.status = (enum relais_wire_ack_status)4;
    memset(buf, 'X', sizeof buf);
    assert_int_equal(relais_wire_ack_format(buf, sizeof buf, &a), -1);
    assert_string_equal(buf, "");
}

static void test_ack_format_escaping(void **state)
{
    (void)state;
    struct relais_wire_ack a;

    a = make_ack(4, RELAIS_WIRE_ACK_REJECTED, 0, 0, "say \"hi\" \\o/");
    expect_format(&a, "{\"seq\":4,\"status\":\"rejected\",\"records\":0,"
                      "\"error\":\"say \\\"hi\\\" \\\\o/\"}");

    /* control characters as \u00XX; DEL is legal JSON and stays */
    a = make_ack(4, RELAIS_WIRE_ACK_REJECTED, 0, 0, "a\nb\tc\x01\x1f\x7f");
    expect_format(&a, "{\"seq\":4,\"status\":\"rejected\",\"records\":0,"
                      "\"error\":\"a\\u000ab\\u0009c\\u0001\\u001f\x7f\"}");

    /* bytes >= 0x80 (here UTF-8 "é" and a stray 0xff) become '?' */
    a = make_ack(4, RELAIS_WIRE_ACK_BUSY, 0, 0, "caf\xc3\xa9 \xff");
    expect_format(&a, "{\"seq\":4,\"status\":\"busy\",\"records\":0,\"error\":\"caf?? ?\"}");
}

static void test_ack_format_error_truncated(void **state)
{
    (void)state;
    char buf[RELAIS_WIRE_ACK_MAX];
    struct relais_wire_ack a = make_ack(5, RELAIS_WIRE_ACK_REJECTED, 0, 0, "");

    /* an error that fills the whole field, without a NUL: 200 bytes go out */
    memset(a.error, 'x', sizeof a.error);
    int n = relais_wire_ack_format(buf, sizeof buf, &a);
    assert_true(n > 0);
    const char *e = strstr(buf, "\"error\":\"");
    assert_non_null(e);
    e += strlen("\"error\":\"");
    assert_int_equal(strspn(e, "x"), RELAIS_WIRE_ACK_ERROR_MAX);
    assert_string_equal(e + RELAIS_WIRE_ACK_ERROR_MAX, "\"}");

    /* a 200-byte error of quotes still fits RELAIS_WIRE_ACK_MAX */
    memset(a.error, '"', RELAIS_WIRE_ACK_ERROR_MAX);
    a.error[RELAIS_WIRE_ACK_ERROR_MAX] = '\0';
    n = relais_wire_ack_format(buf, sizeof buf, &a);
    assert_true(n > 0);
    struct relais_wire_ack back;
    assert_int_equal(relais_wire_ack_parse(buf, (size_t)n, &back), 0);
    assert_string_equal(back.error, a.error);
}

static void test_ack_format_too_small(void **state)
{
    (void)state;
    char buf[128];
    struct relais_wire_ack a = make_ack(3, RELAIS_WIRE_ACK_BUSY, 0, 30, "quota");
    const char *want = "{\"seq\":3,\"status\":\"busy\",\"records\":0,\"error\":\"quota\","
                       "\"retry_s\":30}";
    size_t len = strlen(want);

    for (size_t cap = 1; cap <= len; cap++) {
        memset(buf, 'X', sizeof buf);
        assert_int_equal(relais_wire_ack_format(buf, cap, &a), -1);
        assert_string_equal(buf, "");
        for (size_t i = cap; i < sizeof buf; i++)
            assert_int_equal(buf[i], 'X');
    }
    assert_int_equal(relais_wire_ack_format(buf, len + 1, &a), (int)len);
    assert_string_equal(buf, want);
}

/* BUG (see the report): RELAIS_WIRE_ACK_MAX is documented as the size of an
 * ack buffer (mqtt_ingest.c formats into char body[RELAIS_WIRE_ACK_MAX]) but
 * a rejected or busy ack whose 200-byte error is made of control characters
 * (6 bytes each once escaped) needs more than 64 bytes beside the error. */
static void test_ack_max_fits_worst_case(void **state)
{
    (void)state;
    char buf[RELAIS_WIRE_ACK_MAX];
    struct relais_wire_ack a;

    a = make_ack(RELAIS_WIRE_SEQ_MAX, RELAIS_WIRE_ACK_BUSY, UINT32_MAX, UINT32_MAX, "");
    memset(a.error, '\x01', RELAIS_WIRE_ACK_ERROR_MAX);
    a.error[RELAIS_WIRE_ACK_ERROR_MAX] = '\0';
    assert_true(relais_wire_ack_format(buf, sizeof buf, &a) > 0);

    a = make_ack(1234567890, RELAIS_WIRE_ACK_REJECTED, 1024, 0, "");
    memset(a.error, '\x01', RELAIS_WIRE_ACK_ERROR_MAX);
    a.error[RELAIS_WIRE_ACK_ERROR_MAX] = '\0';
    assert_true(relais_wire_ack_format(buf, sizeof buf, &a) > 0);
}

/* ---- ack parse ---- */

static void test_ack_round_trip(void **state)
{
    (void)state;
    char buf[RELAIS_WIRE_ACK_MAX];
    struct relais_wire_ack in[] = {
        make_ack(0, RELAIS_WIRE_ACK_STORED, 0, 0, ""),
        make_ack(1, RELAIS_WIRE_ACK_STORED, 1024, 0, ""),
        make_ack(RELAIS_WIRE_SEQ_MAX, RELAIS_WIRE_ACK_DUPLICATE, 12, 0, ""),
        make_ack(77, RELAIS_WIRE_ACK_REJECTED, 0, 0, "senml: unknown field 'x_'"),
        make_ack(78, RELAIS_WIRE_ACK_REJECTED, 0, 0, "quote \" backslash \\ slash / DEL \x7f"),
        make_ack(79, RELAIS_WIRE_ACK_REJECTED, 0, 0, ""),
        make_ack(80, RELAIS_WIRE_ACK_BUSY, 0, 30, "quota reached"),
        make_ack(81, RELAIS_WIRE_ACK_BUSY, 3, UINT32_MAX, ""),
        make_ack(82, RELAIS_WIRE_ACK_BUSY, 0, 0, ""),
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        struct relais_wire_ack out;
        int n = relais_wire_ack_format(buf, sizeof buf, &in[i]);
        assert_true(n > 0);
        char *p = exact(buf, (size_t)n);
        assert_int_equal(relais_wire_ack_parse(p, (size_t)n, &out), 0);
        free(p);
        assert_int_equal(out.seq, in[i].seq);
        assert_int_equal(out.status, in[i].status);
        assert_int_equal(out.records, in[i].records);
        assert_int_equal(out.retry_s, in[i].retry_s);
        assert_string_equal(out.error, in[i].error);
    }
}

/* BUG (see the report): the formatter writes a control character of the error
 * as \u00XX, and the parser turns every \u00XX below 0x20 into '?' (its
 * comment says only escapes outside ASCII are replaced), so "line 1\nline 2"
 * reaches the device as "line 1?line 2". */
static void test_ack_round_trip_control_chars(void **state)
{
    (void)state;
    char buf[RELAIS_WIRE_ACK_MAX];
    struct relais_wire_ack in = make_ack(78, RELAIS_WIRE_ACK_REJECTED, 0, 0,
                                         "a\tb\nc\x01"
                                         "d");
    struct relais_wire_ack out;

    int n = relais_wire_ack_format(buf, sizeof buf, &in);
    assert_true(n > 0);
    assert_int_equal(relais_wire_ack_parse(buf, (size_t)n, &out), 0);
    assert_string_equal(out.error, in.error);
}

static void test_ack_parse_lenient_where_documented(void **state)
{
    (void)state;
    struct relais_wire_ack a;

    /* unknown scalar members of every kind are ignored */
    assert_int_equal(ack_parse("{\"seq\":5,\"x\":\"y\",\"status\":\"stored\",\"n\":-1.5e3,"
                               "\"t\":true,\"f\":false,\"z\":null,\"s\":\"a\\\"}\","
                               "\"a_very_long_unknown_member_name\":1}",
                               &a),
                     0);
    assert_int_equal(a.seq, 5);
    assert_int_equal(a.status, RELAIS_WIRE_ACK_STORED);

    /* whitespace anywhere between tokens */
    assert_int_equal(ack_parse(" \r\n\t{ \"seq\" :\n7 ,\t\"status\"\r: \"busy\" , \"retry_s\" : 9 ,"
                               " \"records\":2 } \n",
                               &a),
                     0);
    assert_int_equal(a.seq, 7);
    assert_int_equal(a.status, RELAIS_WIRE_ACK_BUSY);
    assert_int_equal(a.retry_s, 9);
    assert_int_equal(a.records, 2);

    /* members in any order; records optional */
    assert_int_equal(ack_parse("{\"status\":\"duplicate\",\"seq\":0}", &a), 0);
    assert_int_equal(a.seq, 0);
    assert_int_equal(a.status, RELAIS_WIRE_ACK_DUPLICATE);
    assert_int_equal(a.records, 0);

    /* escapes in the error: \uXXXX outside printable ASCII becomes '?' */
    assert_int_equal(ack_parse("{\"seq\":1,\"status\":\"rejected\","
                               "\"error\":\"a\\\"b\\\\c\\/\\u0041\\u00e9\\uFFFD\\n\\t\\r\\b\\f\"}",
                               &a),
                     0);
    assert_string_equal(a.error, "a\"b\\c/A??\n\t\r\b\f");

    /* an over-long error is truncated to the field */
    char body[600];
    int n = snprintf(body, sizeof body, "{\"seq\":1,\"status\":\"rejected\",\"error\":\"");
    memset(body + n, 'e', 300);
    snprintf(body + n + 300, sizeof body - (size_t)n - 300, "\"}");
    assert_int_equal(ack_parse(body, &a), 0);
    assert_int_equal(strlen(a.error), RELAIS_WIRE_ACK_ERROR_MAX);
}

static void test_ack_parse_rejects(void **state)
{
    (void)state;
    struct relais_wire_ack a;
    static const char *const bad[] = {
        "",
        " ",
        "{}",
        "[]",
        "{",
        "null",
        "{\"seq\":1}",
        "{\"status\":\"stored\"}",
        "{\"records\":1,\"retry_s\":2}",
        /* nested values */
        "{\"seq\":1,\"status\":\"stored\",\"x\":{}}",
        "{\"seq\":1,\"status\":\"stored\",\"x\":{\"a\":1}}",
        "{\"seq\":1,\"status\":\"stored\",\"x\":[]}",
        "{\"seq\":1,\"status\":\"stored\",\"x\":[1,2]}",
        "{\"seq\":[1],\"status\":\"stored\"}",
        "{\"seq\":1,\"status\":{\"v\":\"stored\"}}",
        /* trailing garbage */
        "{\"seq\":1,\"status\":\"stored\"}x",
        "{\"seq\":1,\"status\":\"stored\"},",
        "{\"seq\":1,\"status\":\"stored\"}{}",
        "{\"seq\":1,\"status\":\"stored\"} }",
        /* syntax */
        "{\"seq\":1,\"status\":\"stored\",}",
        "{,\"seq\":1,\"status\":\"stored\"}",
        "{\"seq\":1 \"status\":\"stored\"}",
        "{\"seq\" 1,\"status\":\"stored\"}",
        "{seq:1,\"status\":\"stored\"}",
        "{'seq':1,\"status\":\"stored\"}",
        "{\"seq\":1,\"status\":\"stored\"",
        "{\"seq\":1,\"status\":\"stored",
        "{\"seq\":1,\"status\":\"stored\",\"x\":}",
        /* bad seq */
        "{\"seq\":-1,\"status\":\"stored\"}",
        "{\"seq\":+1,\"status\":\"stored\"}",
        "{\"seq\":01,\"status\":\"stored\"}",
        "{\"seq\":1.0,\"status\":\"stored\"}",
        "{\"seq\":1e3,\"status\":\"stored\"}",
        "{\"seq\":\"1\",\"status\":\"stored\"}",
        "{\"seq\":9007199254740992,\"status\":\"stored\"}",
        "{\"seq\":99999999999999999999999,\"status\":\"stored\"}",
        "{\"seq\":true,\"status\":\"stored\"}",
        /* bad status */
        "{\"seq\":1,\"status\":\"STORED\"}",
        "{\"seq\":1,\"status\":\"store\"}",
        "{\"seq\":1,\"status\":\"storedstoredstored\"}",
        "{\"seq\":1,\"status\":0}",
        "{\"seq\":1,\"status\":\"\"}",
        /* bad records, retry_s, error */
        "{\"seq\":1,\"status\":\"stored\",\"records\":4294967296}",
        "{\"seq\":1,\"status\":\"stored\",\"records\":-1}",
        "{\"seq\":1,\"status\":\"busy\",\"retry_s\":4294967296}",
        "{\"seq\":1,\"status\":\"busy\",\"retry_s\":\"30\"}",
        "{\"seq\":1,\"status\":\"rejected\",\"error\":1}",
        "{\"seq\":1,\"status\":\"rejected\",\"error\":\"a\\x\"}",
        "{\"seq\":1,\"status\":\"rejected\",\"error\":\"a\\u00g1\"}",
        "{\"seq\":1,\"status\":\"rejected\",\"error\":\"a\\u00\"}",
        "{\"seq\":1,\"status\":\"rejected\",\"error\":\"a\nb\"}",
        "{\"seq\":1,\"status\":\"rejected\",\"error\":\"a\\",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ack_parse(bad[i], &a) != -1) fail_msg("'%s' was accepted as an ack", bad[i]);
    }
    /* an embedded NUL is not the end of the body */
    static const char nul[] = "{\"seq\":1,\"status\":\"stored\"}\0";
    char *p = exact(nul, sizeof nul - 1);
    assert_int_equal(relais_wire_ack_parse(p, sizeof nul - 1, &a), -1);
    free(p);
}

static void test_ack_parse_every_truncation(void **state)
{
    (void)state;
    const char *body = "{\"seq\":12,\"status\":\"busy\",\"records\":3,\"error\":\"q\\u0041\","
                       "\"retry_s\":30}";
    size_t len = strlen(body);
    struct relais_wire_ack a;

    for (size_t n = 0; n < len; n++) {
        char *p = exact(body, n);
        if (relais_wire_ack_parse(p, n, &a) != -1)
            fail_msg("a prefix of %zu bytes was accepted", n);
        free(p);
    }
    assert_int_equal(ack_parse(body, &a), 0);
    assert_string_equal(a.error, "qA");
}

/* ---- metrics ---- */

static void test_metric_table(void **state)
{
    (void)state;
    static const char *const names[] = {
        "temp",    "spo2",        "hr",       "bp_sys",        "bp_dia",        "weight",
        "resp",    "steps",       "dose",     "lid",           "pro_diarrhoea", "pro_nausea",
        "pro_hfs", "pro_fatigue", "pro_pain", "pro_mucositis", "battery",
    };
    size_t count = 0;

    while (relais_wire_metric_at(count))
        count++;
    assert_int_equal(count, sizeof names / sizeof names[0]);
    assert_null(relais_wire_metric_at(count));
    assert_null(relais_wire_metric_at(SIZE_MAX));

    for (size_t i = 0; i < count; i++) {
        const struct relais_wire_metric *m = relais_wire_metric_at(i);
        assert_string_equal(m->name, names[i]);
        /* lookups find the same entry, from an exactly-sized name */
        char *p = exact(m->name, strlen(m->name));
        assert_ptr_equal(relais_wire_metric_find(p, strlen(m->name)), m);
        free(p);
        assert_true(m->min <= m->max);
        assert_non_null(m->units);
        if (m->units[0].unit) assert_true(m->units[0].scale == 1.0); /* canonical first */
        for (size_t j = i + 1; j < count; j++)
            assert_string_not_equal(m->name, relais_wire_metric_at(j)->name);
    }

    const struct relais_wire_metric *m;
    m = relais_wire_metric_find("temp", 4);
    assert_non_null(m);
    assert_int_equal(m->kind, RELAIS_WIRE_NUMBER);
    assert_string_equal(m->units[0].unit, "Cel");
    assert_null(m->units[1].unit);

    m = relais_wire_metric_find("hr", 2);
    assert_string_equal(m->units[0].unit, "beat/min");
    assert_string_equal(m->units[1].unit, "1/min");
    assert_true(m->units[1].scale == 1.0);
    assert_null(m->units[2].unit);

    m = relais_wire_metric_find("bp_dia", 6);
    assert_string_equal(m->units[0].unit, "mmHg");
    assert_string_equal(m->units[1].unit, "Pa");
    double mmhg = 13332.2387415 * m->units[1].scale;
    assert_true(mmhg > 99.999999 && mmhg < 100.000001);

    m = relais_wire_metric_find("dose", 4);
    assert_int_equal(m->kind, RELAIS_WIRE_STRING);
    assert_null(m->units[0].unit);
    m = relais_wire_metric_find("lid", 3);
    assert_int_equal(m->kind, RELAIS_WIRE_BOOL);
    assert_null(m->units[0].unit);

    m = relais_wire_metric_find("pro_pain", 8);
    assert_true(m->integer);
    assert_true(m->min == 0.0 && m->max == 4.0);
    assert_null(m->units[0].unit);
    m = relais_wire_metric_find("steps", 5);
    assert_true(m->integer);
    assert_string_equal(m->units[0].unit, "count");
    m = relais_wire_metric_find("battery", 7);
    assert_string_equal(m->units[0].unit, "%EL");
    m = relais_wire_metric_find("spo2", 4);
    assert_false(m->integer);
    assert_string_equal(m->units[0].unit, "%");

    /* the length is what counts */
    assert_ptr_equal(relais_wire_metric_find("tempx", 4), relais_wire_metric_find("temp", 4));
    assert_null(relais_wire_metric_find("temp", 3));
    assert_null(relais_wire_metric_find("", 0));
    assert_null(relais_wire_metric_find("TEMP", 4));
    assert_null(relais_wire_metric_find("pro_", 4));
    assert_null(relais_wire_metric_find("pro_cough", 9));
    assert_null(relais_wire_metric_find("glucose", 7));
}

/* ---- the ack in CBOR ---- */

/* Parses an exactly-sized copy of b[0..n) so that ASan sees any over-read. */
static int cbor_ack_parse(const uint8_t *b, size_t n, struct relais_wire_ack *out)
{
    uint8_t *p = (uint8_t *)exact((const char *)b, n);
    int rc = relais_wire_ack_parse_cbor(p, n, out);
    free(p);
    return rc;
}

/* Formats a into buf (RELAIS_WIRE_ACK_MAX) and returns the length (> 0). */
static size_t cbor_ack_format(const struct relais_wire_ack *a, uint8_t *buf)
{
    int n = relais_wire_ack_format_cbor(buf, RELAIS_WIRE_ACK_MAX, a);
    assert_true(n > 0);
    return (size_t)n;
}

static bool has_bytes(const uint8_t *hay, size_t n, const char *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return true;
    return false;
}

static void expect_same_ack(const struct relais_wire_ack *x, const struct relais_wire_ack *y)
{
    assert_int_equal(x->seq, y->seq);
    assert_int_equal(x->status, y->status);
    assert_int_equal(x->records, y->records);
    assert_int_equal(x->retry_s, y->retry_s);
    assert_string_equal(x->error, y->error);
}

/* Every status, with and without an error and a retry time, and seq/records
 * on every CBOR head size: the CBOR ack carries what the JSON ack carries. */
static void test_ack_cbor_round_trip_every_status(void **state)
{
    (void)state;
    static const uint64_t seqs[] = {0,     23,    24,          255,         256,
                                    65535, 65536, 4294967295u, 4294967296u, RELAIS_WIRE_SEQ_MAX};
    static const uint32_t retries[] = {0, 1, 30, 65536, UINT32_MAX};
    static const char *const errors[] = {"", "e", "quota reached", "a\tb\n\"c\\"};
    uint8_t cb[RELAIS_WIRE_ACK_MAX];
    char js[RELAIS_WIRE_ACK_MAX];
    size_t cases = 0;

    for (unsigned st = RELAIS_WIRE_ACK_STORED; st <= RELAIS_WIRE_ACK_BUSY; st++)
        for (size_t si = 0; si < sizeof seqs / sizeof seqs[0]; si++)
            for (size_t ri = 0; ri < sizeof retries / sizeof retries[0]; ri++)
                for (size_t ei = 0; ei < sizeof errors / sizeof errors[0]; ei++) {
                    struct relais_wire_ack in =
                        make_ack(seqs[si], (enum relais_wire_ack_status)st,
                                 (uint32_t)(seqs[si] & 0xffffffffu), retries[ri], errors[ei]);
                    struct relais_wire_ack out, want;
                    bool with_error =
                        (st == RELAIS_WIRE_ACK_REJECTED || st == RELAIS_WIRE_ACK_BUSY) &&
                        errors[ei][0];
                    bool with_retry = st == RELAIS_WIRE_ACK_BUSY && retries[ri];

                    size_t n = cbor_ack_format(&in, cb);
                    assert_int_equal(cb[0], 0xa0 | (3 + with_error + with_retry));
                    /* the keys with their heads: 0x65 is 'e', 0x67 is 'g' */
                    assert_int_equal(has_bytes(cb, n, "eerror", 6), with_error);
                    assert_int_equal(has_bytes(cb, n, "gretry_s", 8), with_retry);
                    assert_int_equal(cbor_ack_parse(cb, n, &out), 0);

                    want = in;
                    if (!with_error) want.error[0] = '\0';
                    if (!with_retry) want.retry_s = 0;
                    expect_same_ack(&out, &want);

                    /* the JSON form has the same members */
                    int jn = relais_wire_ack_format(js, sizeof js, &in);
                    assert_true(jn > 0);
                    assert_int_equal(strstr(js, "\"error\":") != NULL, with_error);
                    assert_int_equal(strstr(js, "\"retry_s\":") != NULL, with_retry);
                    struct relais_wire_ack from_json;
                    assert_int_equal(relais_wire_ack_parse(js, (size_t)jn, &from_json), 0);
                    expect_same_ack(&out, &from_json);
                    cases++;
                }
    assert_int_equal(cases, 4 * 10 * 5 * 4);
}

static void test_ack_cbor_error_high_bytes(void **state)
{
    (void)state;
    uint8_t cb[RELAIS_WIRE_ACK_MAX];
    struct relais_wire_ack out;
    struct relais_wire_ack a = make_ack(4, RELAIS_WIRE_ACK_BUSY, 0, 0, "caf\xc3\xa9 \xff\x80 ok");

    size_t n = cbor_ack_format(&a, cb);
    /* the error goes out as an 11-byte text string of ASCII */
    /* (0x65 is 'e', 0x6b is 'k') */
    assert_true(has_bytes(cb, n, "eerrorkcaf?? ?? ok", 18));
    for (size_t i = 1; i < n; i++) /* only the map head is >= 0x80 */
        assert_true(cb[i] < 0x80);
    assert_int_equal(cbor_ack_parse(cb, n, &out), 0);
    assert_string_equal(out.error, "caf?? ?? ok");
}

static void test_ack_cbor_error_truncated(void **state)
{
    (void)state;
    uint8_t cb[RELAIS_WIRE_ACK_MAX];
    struct relais_wire_ack out;
    struct relais_wire_ack a = make_ack(5, RELAIS_WIRE_ACK_REJECTED, 0, 0, "");

    /* an error filling the whole field without a NUL: 200 bytes go out */
    memset(a.error, 'x', sizeof a.error);
    size_t n = cbor_ack_format(&a, cb);
    static const uint8_t tail[] = {0x65, 'e', 'r', 'r', 'o', 'r', 0x78, 0xc8};
    assert_true(n > sizeof tail + RELAIS_WIRE_ACK_ERROR_MAX);
    assert_memory_equal(cb + n - RELAIS_WIRE_ACK_ERROR_MAX - sizeof tail, tail, sizeof tail);
    for (size_t i = n - RELAIS_WIRE_ACK_ERROR_MAX; i < n; i++)
        assert_int_equal(cb[i], 'x');
    assert_int_equal(cbor_ack_parse(cb, n, &out), 0);
    assert_int_equal(strlen(out.error), RELAIS_WIRE_ACK_ERROR_MAX);

    /* 201 bytes of error text from a peer are cut to the field on parse */
    uint8_t big[300];
    size_t off = 0;
    static const uint8_t head[] = {0xa3, 0x63, 's',  'e',  'q', 0x01, 0x66, 's', 't',  'a',
                                   't',  'u',  's',  0x68, 'r', 'e',  'j',  'e', 'c',  't',
                                   'e',  'd',  0x65, 'e',  'r', 'r',  'o',  'r', 0x78, 201};
    memcpy(big, head, sizeof head);
    off = sizeof head;
    memset(big + off, 'y', 201);
    off += 201;
    assert_int_equal(cbor_ack_parse(big, off, &out), 0);
    assert_int_equal(strlen(out.error), RELAIS_WIRE_ACK_ERROR_MAX);
}

static void test_ack_cbor_exact_bytes(void **state)
{
    (void)state;
    uint8_t cb[RELAIS_WIRE_ACK_MAX];
    struct relais_wire_ack a;

    /* {"seq":5,"status":"stored","records":2} */
    static const uint8_t stored[] = {0xa3, 0x63, 's', 'e',  'q', 0x05, 0x66, 's', 't', 'a',
                                     't',  'u',  's', 0x66, 's', 't',  'o',  'r', 'e', 'd',
                                     0x67, 'r',  'e', 'c',  'o', 'r',  'd',  's', 0x02};
    a = make_ack(5, RELAIS_WIRE_ACK_STORED, 2, 30, "ignored");
    assert_int_equal(relais_wire_ack_format_cbor(cb, sizeof cb, &a), (int)sizeof stored);
    assert_memory_equal(cb, stored, sizeof stored);

    /* {"seq":300,"status":"busy","records":0,"error":"quota","retry_s":30} */
    static const uint8_t busy[] = {0xa5, 0x63, 's',  'e', 'q',  0x19, 0x01, 0x2c, 0x66, 's',  't',
                                   'a',  't',  'u',  's', 0x64, 'b',  'u',  's',  'y',  0x67, 'r',
                                   'e',  'c',  'o',  'r', 'd',  's',  0x00, 0x65, 'e',  'r',  'r',
                                   'o',  'r',  0x65, 'q', 'u',  'o',  't',  'a',  0x67, 'r',  'e',
                                   't',  'r',  'y',  '_', 's',  0x18, 0x1e};
    a = make_ack(300, RELAIS_WIRE_ACK_BUSY, 0, 30, "quota");
    assert_int_equal(relais_wire_ack_format_cbor(cb, sizeof cb, &a), (int)sizeof busy);
    assert_memory_equal(cb, busy, sizeof busy);

    /* and the hand-written bytes parse back */
    struct relais_wire_ack out;
    assert_int_equal(cbor_ack_parse(busy, sizeof busy, &out), 0);
    expect_same_ack(&out, &a);
}

static void test_ack_cbor_too_small(void **state)
{
    (void)state;
    uint8_t buf[128];
    struct relais_wire_ack a = make_ack(3, RELAIS_WIRE_ACK_BUSY, 0, 30, "quota");
    int len = relais_wire_ack_format_cbor(buf, sizeof buf, &a);

    assert_true(len > 0);
    /* it must fit in cap - 1 bytes: cap == len is one byte too small */
    for (size_t cap = 0; cap <= (size_t)len; cap++) {
        memset(buf, 0xee, sizeof buf);
        assert_int_equal(relais_wire_ack_format_cbor(buf, cap, &a), -1);
        for (size_t i = cap; i < sizeof buf; i++)
            assert_int_equal(buf[i], 0xee);
    }
    assert_int_equal(relais_wire_ack_format_cbor(buf, (size_t)len + 1, &a), len);

    /* RELAIS_WIRE_ACK_MAX is enough for the largest ack */
    uint8_t big[RELAIS_WIRE_ACK_MAX];
    a = make_ack(RELAIS_WIRE_SEQ_MAX, RELAIS_WIRE_ACK_BUSY, UINT32_MAX, UINT32_MAX, "");
    memset(a.error, '\x01', sizeof a.error);
    assert_true(relais_wire_ack_format_cbor(big, sizeof big, &a) > 0);

    /* a bad status is refused */
    a.status = (enum relais_wire_ack_status)4;
    assert_int_equal(relais_wire_ack_format_cbor(big, sizeof big, &a), -1);
}

struct cbor_case {
    const char *what;
    const uint8_t *b;
    size_t n;
};

#define CBOR_CASE(what, ...)                                                                       \
    {                                                                                              \
        what, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})               \
    }

/* "seq":1 and "status":"stored" as CBOR key/value bytes */
#define K_SEQ    0x63, 's', 'e', 'q'
#define K_STATUS 0x66, 's', 't', 'a', 't', 'u', 's'
#define V_STORED 0x66, 's', 't', 'o', 'r', 'e', 'd'

static void test_ack_cbor_parse_rejects(void **state)
{
    (void)state;
    const struct cbor_case bad[] = {
        CBOR_CASE("an array", 0x82, K_SEQ, 0x01),
        CBOR_CASE("an integer", 0x01),
        CBOR_CASE("a text", 0x63, 'a', 'c', 'k'),
        CBOR_CASE("null", 0xf6),
        CBOR_CASE("an empty map", 0xa0),
        CBOR_CASE("an indefinite map", 0xbf, K_SEQ, 0x01, K_STATUS, V_STORED, 0xff),
        CBOR_CASE("a reserved head", 0xbc, K_SEQ, 0x01, K_STATUS, V_STORED),
        CBOR_CASE("an integer key", 0xa3, 0x00, 0x01, K_SEQ, 0x01, K_STATUS, V_STORED),
        CBOR_CASE("a byte-string key", 0xa2, 0x43, 's', 'e', 'q', 0x01, K_STATUS, V_STORED),
        CBOR_CASE("an indefinite text key", 0xa2, 0x7f, 0x63, 's', 'e', 'q', 0xff, 0x01, K_STATUS,
                  V_STORED),
        CBOR_CASE("no seq", 0xa1, K_STATUS, V_STORED),
        CBOR_CASE("no status", 0xa1, K_SEQ, 0x01),
        CBOR_CASE("seq as text only", 0xa2, K_SEQ, 0x61, '1', K_STATUS, V_STORED),
        CBOR_CASE("status STORED", 0xa2, K_SEQ, 0x01, K_STATUS, 0x66, 'S', 'T', 'O', 'R', 'E', 'D'),
        CBOR_CASE("status store", 0xa2, K_SEQ, 0x01, K_STATUS, 0x65, 's', 't', 'o', 'r', 'e'),
        CBOR_CASE("status empty", 0xa2, K_SEQ, 0x01, K_STATUS, 0x60),
        CBOR_CASE("status storedx", 0xa2, K_SEQ, 0x01, K_STATUS, 0x67, 's', 't', 'o', 'r', 'e', 'd',
                  'x'),
        CBOR_CASE("status as integer", 0xa2, K_SEQ, 0x01, K_STATUS, 0x00),
        CBOR_CASE("trailing byte", 0xa2, K_SEQ, 0x01, K_STATUS, V_STORED, 0x00),
        CBOR_CASE("a second map", 0xa2, K_SEQ, 0x01, K_STATUS, V_STORED, 0xa0),
        CBOR_CASE("seq 2^53", 0xa2, K_SEQ, 0x1b, 0x00, 0x20, 0, 0, 0, 0, 0, 0, K_STATUS, V_STORED),
        CBOR_CASE("seq 2^64-1", 0xa2, K_SEQ, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                  K_STATUS, V_STORED),
        CBOR_CASE("seq negative", 0xa2, K_SEQ, 0x20, K_STATUS, V_STORED),
        CBOR_CASE("seq a float", 0xa2, K_SEQ, 0xf9, 0x3c, 0x00, K_STATUS, V_STORED),
        CBOR_CASE("seq true", 0xa2, K_SEQ, 0xf5, K_STATUS, V_STORED),
        CBOR_CASE("seq tagged", 0xa2, K_SEQ, 0xc1, 0x01, K_STATUS, V_STORED),
        CBOR_CASE("records 2^32", 0xa3, K_SEQ, 0x01, K_STATUS, V_STORED, 0x67, 'r', 'e', 'c', 'o',
                  'r', 'd', 's', 0x1b, 0, 0, 0, 1, 0, 0, 0, 0),
        CBOR_CASE("retry_s 2^32", 0xa3, K_SEQ, 0x01, K_STATUS, 0x64, 'b', 'u', 's', 'y', 0x67, 'r',
                  'e', 't', 'r', 'y', '_', 's', 0x1b, 0, 0, 0, 1, 0, 0, 0, 0),
        CBOR_CASE("error an integer", 0xa3, K_SEQ, 0x01, K_STATUS, V_STORED, 0x65, 'e', 'r', 'r',
                  'o', 'r', 0x01),
        CBOR_CASE("unknown member a map", 0xa3, K_SEQ, 0x01, K_STATUS, V_STORED, 0x61, 'x', 0xa0),
        CBOR_CASE("unknown member an array", 0xa3, K_SEQ, 0x01, K_STATUS, V_STORED, 0x61, 'x',
                  0x80),
        CBOR_CASE("unknown member null", 0xa3, K_SEQ, 0x01, K_STATUS, V_STORED, 0x61, 'x', 0xf6),
        CBOR_CASE("one pair missing", 0xa3, K_SEQ, 0x01, K_STATUS, V_STORED),
        CBOR_CASE("key longer than the input", 0xa2, K_SEQ, 0x01, 0x78, 0xff, 's'),
    };
    struct relais_wire_ack a;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cbor_ack_parse(bad[i].b, bad[i].n, &a) != -1)
            fail_msg("CBOR ack with %s was accepted", bad[i].what);
    }
    /* no input at all */
    assert_int_equal(relais_wire_ack_parse_cbor((const uint8_t *)"", 0, &a), -1);
    /* the largest seq is fine */
    static const uint8_t max[] = {0xa2, K_SEQ, 0x1b, 0x00, 0x1f,     0xff,    0xff,
                                  0xff, 0xff,  0xff, 0xff, K_STATUS, V_STORED};
    assert_int_equal(cbor_ack_parse(max, sizeof max, &a), 0);
    assert_int_equal(a.seq, RELAIS_WIRE_SEQ_MAX);
}

static void test_ack_cbor_parse_every_truncation(void **state)
{
    (void)state;
    uint8_t cb[RELAIS_WIRE_ACK_MAX];
    struct relais_wire_ack a =
        make_ack(RELAIS_WIRE_SEQ_MAX, RELAIS_WIRE_ACK_BUSY, 70000, 4294967295u, "quota reached");
    struct relais_wire_ack out;
    size_t n = cbor_ack_format(&a, cb);

    for (size_t len = 0; len < n; len++) {
        if (cbor_ack_parse(cb, len, &out) != -1)
            fail_msg("a prefix of %zu of %zu bytes was accepted", len, n);
    }
    assert_int_equal(cbor_ack_parse(cb, n, &out), 0);
    expect_same_ack(&out, &a);
}

static void test_ack_cbor_parse_ignores_unknown(void **state)
{
    (void)state;
    struct relais_wire_ack a;
    /* {"v":1,"seq":9,"note":"hi","status":"duplicate","big":2^64-1,"records":4,"t":""} */
    static const uint8_t b[] = {0xa7, 0x61, 'v',  0x01, K_SEQ,    0x09, 0x64, 'n',  'o',  't',
                                'e',  0x62, 'h',  'i',  K_STATUS, 0x69, 'd',  'u',  'p',  'l',
                                'i',  'c',  'a',  't',  'e',      0x63, 'b',  'i',  'g',  0x1b,
                                0xff, 0xff, 0xff, 0xff, 0xff,     0xff, 0xff, 0xff, 0x67, 'r',
                                'e',  'c',  'o',  'r',  'd',      's',  0x04, 0x61, 't',  0x60};

    assert_int_equal(cbor_ack_parse(b, sizeof b, &a), 0);
    assert_int_equal(a.seq, 9);
    assert_int_equal(a.status, RELAIS_WIRE_ACK_DUPLICATE);
    assert_int_equal(a.records, 4);
    assert_int_equal(a.retry_s, 0);
    assert_string_equal(a.error, "");
}

/* BUG (see the report): relais/wire.h says unknown keys with an integer value
 * are ignored, but a negative integer (CBOR major type 1) makes the whole ack
 * invalid, so a device rejects a good ack from a newer gateway. */
static void test_ack_cbor_parse_ignores_unknown_negative(void **state)
{
    (void)state;
    struct relais_wire_ack a;
    /* {"seq":9,"status":"stored","offset":-5} */
    static const uint8_t b[] = {0xa3, K_SEQ, 0x09, K_STATUS, V_STORED, 0x66, 'o',
                                'f',  'f',   's',  'e',      't',      0x24};

    assert_int_equal(cbor_ack_parse(b, sizeof b, &a), 0);
    assert_int_equal(a.seq, 9);
}

/* BUG (see the report): a text value for a known number member is skipped as
 * if the member were unknown, so {"records":"3"} or {"retry_s":"30"} parse as
 * 0 where the JSON parser (strict) refuses the same ack. */
static void test_ack_cbor_parse_rejects_text_numbers(void **state)
{
    (void)state;
    struct relais_wire_ack a;
    const struct cbor_case bad[] = {
        CBOR_CASE("records as text", 0xa3, K_SEQ, 0x01, K_STATUS, V_STORED, 0x67, 'r', 'e', 'c',
                  'o', 'r', 'd', 's', 0x61, '3'),
        CBOR_CASE("retry_s as text", 0xa3, K_SEQ, 0x01, K_STATUS, 0x64, 'b', 'u', 's', 'y', 0x67,
                  'r', 'e', 't', 'r', 'y', '_', 's', 0x62, '3', '0'),
        CBOR_CASE("a second seq as text", 0xa3, K_SEQ, 0x01, K_STATUS, V_STORED, K_SEQ, 0x61, '2'),
    };

    assert_int_equal(ack_parse("{\"seq\":1,\"status\":\"busy\",\"retry_s\":\"30\"}", &a), -1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cbor_ack_parse(bad[i].b, bad[i].n, &a) != -1)
            fail_msg("CBOR ack with %s was accepted", bad[i].what);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_seq_parse),
        cmocka_unit_test(test_topic_up_parse_valid),
        cmocka_unit_test(test_topic_up_parse_invalid),
        cmocka_unit_test(test_topic_format),
        cmocka_unit_test(test_topic_format_too_small),
        cmocka_unit_test(test_topic_format_bad_device),
        cmocka_unit_test(test_path_parse),
        cmocka_unit_test(test_cmd_path_parse),
        cmocka_unit_test(test_cmd_parse),
        cmocka_unit_test(test_ack_status_names),
        cmocka_unit_test(test_ack_format_each_status),
        cmocka_unit_test(test_ack_format_bad_status),
        cmocka_unit_test(test_ack_format_escaping),
        cmocka_unit_test(test_ack_format_error_truncated),
        cmocka_unit_test(test_ack_format_too_small),
        cmocka_unit_test(test_ack_round_trip),
        cmocka_unit_test(test_ack_parse_lenient_where_documented),
        cmocka_unit_test(test_ack_parse_rejects),
        cmocka_unit_test(test_ack_parse_every_truncation),
        cmocka_unit_test(test_metric_table),
        /* these two showed bugs that are fixed now: kept as regression tests */
        cmocka_unit_test(test_ack_max_fits_worst_case),
        cmocka_unit_test(test_ack_round_trip_control_chars),
        /* the ack in CBOR */
        cmocka_unit_test(test_ack_cbor_round_trip_every_status),
        cmocka_unit_test(test_ack_cbor_error_high_bytes),
        cmocka_unit_test(test_ack_cbor_error_truncated),
        cmocka_unit_test(test_ack_cbor_exact_bytes),
        cmocka_unit_test(test_ack_cbor_too_small),
        cmocka_unit_test(test_ack_cbor_parse_rejects),
        cmocka_unit_test(test_ack_cbor_parse_every_truncation),
        cmocka_unit_test(test_ack_cbor_parse_ignores_unknown),
        /* these two fail: they show bugs of the CBOR ack parser (see the report) */
        cmocka_unit_test(test_ack_cbor_parse_ignores_unknown_negative),
        cmocka_unit_test(test_ack_cbor_parse_rejects_text_numbers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
