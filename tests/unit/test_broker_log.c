/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway broker's refusals from its log (edge/src/broker_log.c): the
 * lines mosquitto 2.0 writes for a wrong or missing password and for failed
 * TLS handshakes, with and without timestamps, attributed to the connection
 * before them; hostile lines (control characters, overlong fields, numbers
 * out of range) bounded; following the file: only what is appended after
 * the open, a partial line completed later, an overlong line skipped, a
 * rotated and a truncated file followed from their start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relais/broker_log.h"
#include "relais/error.h"
#include "relais/log.h"

static bool line(struct relais_broker_log_parser *p, const char *text,
                 struct relais_broker_refusal *r)
{
    return relais_broker_log_line(p, text, strlen(text), r);
}

static void test_refusals(void **state)
{
    (void)state;
    struct relais_broker_log_parser p;
    struct relais_broker_refusal r;
    memset(&p, 0, sizeof p);
    assert_false(line(&p, "1796581647: New connection from 127.0.0.1:34704 on port 40081.", &r));
    assert_true(line(&p, "1796581647: Client <unknown> disconnected, not authorised.", &r));
    assert_string_equal(r.peer, "127.0.0.1:34704");
    assert_string_equal(r.client, "");
    assert_int_equal(r.listener_port, 40081);
    assert_string_equal(r.reason, "not authorised");
    /* without a timestamp, a known client id */
    assert_false(line(&p, "New connection from 192.168.1.20:5000 on port 8883.", &r));
    assert_true(line(&p, "Client vitals-9 disconnected, not authorised.", &r));
    assert_string_equal(r.client, "vitals-9");
    assert_string_equal(r.peer, "192.168.1.20:5000");
    assert_int_equal(r.listener_port, 8883);
    /* TLS: the OpenSSL error, once per connection */
    assert_false(line(&p, "1: New connection from [::1]:4242 on port 8883.", &r));
    assert_true(
        line(&p, "1: OpenSSL Error[0]: error:0A000418:SSL routines::tlsv1 alert unknown ca", &r));
    assert_string_equal(r.reason, "TLS: tlsv1 alert unknown ca");
    assert_string_equal(r.peer, "[::1]:4242");
    assert_false(line(&p, "1: OpenSSL Error[1]: error:0A000418:SSL routines::another", &r));
    assert_false(line(&p, "1: Client <unknown> disconnected: Protocol error.", &r));
    /* the other form, with its own peer */
    assert_false(line(&p, "1: New connection from 10.0.0.2:1 on port 8883.", &r));
    assert_true(line(&p,
                     "1: Client connection from 10.0.0.2 failed: error:0A00010B:SSL "
                     "routines::wrong version number.",
                     &r));
    assert_string_equal(r.peer, "10.0.0.2");
    assert_string_equal(r.reason, "TLS: wrong version number");
    assert_int_equal(r.listener_port, 8883);
    /* what is not a refusal */
    assert_false(line(&p, "1: Client vitals-1 disconnected.", &r));
    assert_false(line(&p, "1: New client connected from 1.2.3.4:5 as x (p2, c1, k60, u'x').", &r));
    assert_false(line(&p, "", &r));
}

static void test_hostile_lines(void **state)
{
    (void)state;
    struct relais_broker_log_parser p;
    struct relais_broker_refusal r;
    memset(&p, 0, sizeof p);
    /* control characters dropped, a huge port ignored */
    assert_false(line(&p, "New connection from 1.2.3.4:\x1b[31m9 on port 99999999999.", &r));
    assert_true(line(&p, "Client \x07x\ty disconnected, not authorised.", &r));
    assert_string_equal(r.peer, "1.2.3.4:[31m9");
    assert_string_equal(r.client, "xy");
    assert_int_equal(r.listener_port, 0);
    /* overlong fields cut to their capacity */
    char big[900];
    memset(big, 'A', sizeof big);
    snprintf(big, sizeof big, "New connection from %0600d on port 1.", 7);
    assert_false(line(&p, big, &r));
    assert_true(line(&p, "Client <unknown> disconnected, not authorised.", &r));
    assert_int_equal(strlen(r.peer), RELAIS_BROKER_PEER_MAX - 1);
    /* a refusal before any connection line */
    memset(&p, 0, sizeof p);
    assert_true(line(&p, "Client <unknown> disconnected, not authorised.", &r));
    assert_string_equal(r.peer, "?");
    assert_int_equal(r.listener_port, 0);
}

struct seen {
    int n;
    char reasons[8][RELAIS_BROKER_REASON_MAX];
};

static void seen_cb(const struct relais_broker_refusal *r, void *ud)
{
    struct seen *s = ud;
    if (s->n < 8) snprintf(s->reasons[s->n], sizeof s->reasons[0], "%s", r->reason);
    s->n++;
}

static void append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_follow(void **state)
{
    (void)state;
    char dir[] = "/tmp/relais-test-brokerlog-XXXXXX", path[64], moved[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/mosquitto.log", dir);
    snprintf(moved, sizeof moved, "%s/mosquitto.log.1", dir);
    static const char refusal[] = "New connection from 1.1.1.1:1 on port 1883.\n"
                                  "Client <unknown> disconnected, not authorised.\n";
    append(path, refusal); /* before the open: not reported */
    struct relais_broker_log *bl;
    assert_int_equal(relais_broker_log_open(&bl, path), RELAIS_OK);
    struct seen s = {0};
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 0);
    append(path, refusal);
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 1);
    /* a line written in two parts */
    append(path, "New connection from 2.2.2.2:2 on port 1883.\nClient <unknown> disconn");
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 0);
    append(path, "ected, not authorised.\n");
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 1);
    /* an overlong line is skipped whole, the next one read */
    char *longline = malloc(5000);
    assert_non_null(longline);
    memset(longline, 'x', 4998);
    memcpy(longline, "Client ", 7);
    memcpy(longline + 4998 - 30, " disconnected, not authorised.", 30);
    longline[4998] = '\n';
    longline[4999] = '\0';
    append(path, longline);
    free(longline);
    append(path, refusal);
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 1);
    /* bounded reads: the rest comes at the next poll */
    append(path, refusal);
    assert_int_equal(relais_broker_log_poll(bl, 10, seen_cb, &s), 0);
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 1);
    /* rotated: the new file from its start */
    assert_int_equal(rename(path, moved), 0);
    append(path, refusal);
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 1);
    /* truncated in place (seen at a poll before it grows back past the
     * offset: mosquitto reopens its log on SIGHUP, logrotate's copytruncate
     * is not its way): from its start */
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 0);
    append(path, refusal);
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 1);
    /* the file gone: nothing, no error; back: read */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 0);
    append(path, refusal);
    assert_int_equal(relais_broker_log_poll(bl, 1 << 20, seen_cb, &s), 1);
    assert_int_equal(s.n, 7);
    relais_broker_log_close(bl);
    unlink(path);
    unlink(moved);
    rmdir(dir);
}

int main(void)
{
    relais_log_set_level(RELAIS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_hostile_lines),
        cmocka_unit_test(test_follow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
