/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the outbox in the store (edge/src/store_outbox.c, schema 5)
 * and of the rows that relais_store_put_pack (store.c) and
 * relais_store_slot_put (store_care.c) write into it:
 *
 *   - off by default: nothing written; on: one row per lane of a pack
 *     (dose -> adherence, battery -> device, lid -> none, others -> vitals),
 *     none for a lid-only pack or a duplicate, one for the same
 *     (kind, ref, key, lane) added twice, ids never reused;
 *   - scan: by lane and id, after_id exclusive, upto_id inclusive, limit,
 *     stopped by the callback;
 *   - done: rows deleted, packs.forwarded_ms when the pack's last row goes,
 *     alert_events.forwarded_ms, twice is harmless, inside an open
 *     transaction it joins it;
 *   - failed counts attempts; dead moves the row to dead_letters, counts the
 *     drop and audits it; stats;
 *   - pack_load gives back what was put; a missed dose slot is one
 *     adherence row; device_last.
 *
 * Every test works in its own mkdtemp directory; what the API does not show
 * is read through a second, read-only SQLite connection to the file (which
 * sees only what was committed).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include "test_store_key.h"
#include "store_internal.h"
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/fhir.h"
#include "relais/log.h"
#include "relais/outbox.h"
#include "relais/senml.h"
#include "relais/store.h"
#include "relais/store_care.h"

#define DEV_A  "dev-a"
#define DEV_B  "dev-b"
#define T0_MS  1795000000000LL
#define NOW_S  1795000000.0
#define NULL_V INT64_MIN /* q_int of an SQL NULL */

/* vitals, a dose, a battery level and the lid: three lanes */
#define PACK_MIXED                                                                                 \
    "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37.2,\"t\":1794999000},"                                 \
    "{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":82,\"t\":1794999060.5},"                               \
    "{\"n\":\"dose\",\"vs\":\"am\",\"t\":1794999120},"                                             \
    "{\"n\":\"lid\",\"vb\":true,\"t\":1794999100},"                                                \
    "{\"n\":\"battery\",\"u\":\"%EL\",\"v\":81}]"
#define PACK_LID     "[{\"n\":\"lid\",\"vb\":true},{\"n\":\"lid\",\"vb\":false,\"t\":-40}]"
#define PACK_HR      "[{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":70}]"
#define PACK_BATTERY "[{\"n\":\"battery\",\"u\":\"%%EL\",\"v\":%d}]" /* a format */

struct fixture {
    char dir[256];
    char path[320];
    struct relais_pack pack;
    struct relais_store *st;
    sqlite3 *ro; /* read-only connection to the same file */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");

    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "%s/relais-test-outbox-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/relais.db", f->dir);
    relais_pack_init(&f->pack);
    relais_log_set_level(RELAIS_LOG_ERROR);
    if (relais_store_open(&f->st, f->path, test_store_opts()) != RELAIS_OK ||
        sqlite3_open_v2(f->path, &f->ro, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        relais_store_close(f->st);
        sqlite3_close(f->ro);
        relais_pack_cleanup(&f->pack);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d;
    struct dirent *e;

    sqlite3_close(f->ro);
    relais_store_close(f->st);
    d = opendir(f->dir);
    while (d && (e = readdir(d))) {
        char p[600];

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(f->dir);
    relais_pack_cleanup(&f->pack);
    free(f);
    return 0;
}

/* ---- helpers ---- */

/* The first column of the first row of a query on the read-only connection;
 * NULL_V for an SQL NULL or no row. */
__attribute__((format(printf, 2, 3))) static int64_t q_int(struct fixture *f, const char *fmt, ...)
{
    char sql[1024];
    sqlite3_stmt *s = NULL;
    va_list ap;
    int64_t v = NULL_V;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (sqlite3_prepare_v2(f->ro, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(f->ro));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail_msg("%s: %s", sql, sqlite3_errmsg(f->ro));
    sqlite3_finalize(s);
    return v;
}

/* The text of the first column of the first row into out ("" for NULL). */
__attribute__((format(printf, 4, 5))) static const char *q_text(struct fixture *f, char *out,
                                                                size_t cap, const char *fmt, ...)
{
    char sql[1024];
    sqlite3_stmt *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (sqlite3_prepare_v2(f->ro, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(f->ro));
    out[0] = '\0';
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
}

static int64_t outbox_rows(struct fixture *f)
{
    return q_int(f, "SELECT count(*) FROM outbox");
}

static int64_t pack_fwd(struct fixture *f, int64_t pack)
{
    return q_int(f, "SELECT forwarded_ms FROM packs WHERE id = %lld", (long long)pack);
}

static int64_t event_fwd(struct fixture *f, int64_t event)
{
    return q_int(f, "SELECT forwarded_ms FROM alert_events WHERE id = %lld", (long long)event);
}

/* Decodes json into f->pack and puts it (inside the open transaction). */
static enum relais_store_put put_in_txn(struct fixture *f, const char *device, uint64_t seq,
                                        const char *json, int64_t received_ms)
{
    struct relais_senml_error err;
    enum relais_store_put res = (enum relais_store_put) - 1;

    if (relais_senml_decode(&f->pack, RELAIS_SENML_JSON, (const uint8_t *)json, strlen(json),
                            device, NOW_S, &err))
        fail_msg("decode: %s: %s", relais_reject_reason_name(err.reason), err.detail);
    snprintf(f->pack.device, sizeof f->pack.device, "%s", device);
    f->pack.seq = seq;
    assert_int_equal(relais_store_put_pack(f->st, &f->pack, (const uint8_t *)json, strlen(json),
                                           RELAIS_TRANSPORT_MQTT, received_ms, &res),
                     RELAIS_OK);
    return res;
}

/* One put in its own transaction. */
static enum relais_store_put put(struct fixture *f, const char *device, uint64_t seq,
                                 const char *json, int64_t received_ms)
{
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    enum relais_store_put res = put_in_txn(f, device, seq, json, received_ms);
    assert_int_equal(relais_store_commit(f->st), RELAIS_OK);
    return res;
}

static int64_t last_pack_id(struct fixture *f)
{
    return q_int(f, "SELECT max(id) FROM packs");
}

/* The id of the outbox row (kind, ref, lane); fails when there is none. */
static int64_t row_id(struct fixture *f, int kind, int64_t ref, int lane)
{
    int64_t id = q_int(f, "SELECT id FROM outbox WHERE kind = %d AND ref = %lld AND lane = %d",
                       kind, (long long)ref, lane);
    if (id == NULL_V)
        fail_msg("no outbox row kind %d ref %lld lane %d", kind, (long long)ref, lane);
    return id;
}

static void add(struct fixture *f, int lane, enum relais_outbox_kind kind, int64_t ref,
                const char *key, int64_t created_ms)
{
    assert_int_equal(relais_store_outbox_add(f->st, lane, kind, ref, key, created_ms), RELAIS_OK);
}

/* A scan's rows, copied. */
#define SCAN_MAX 32
struct scan {
    size_t n;
    size_t stop_after; /* 0: never stop */
    int stop_with;
    struct relais_outbox_row rows[SCAN_MAX];
    char keys[SCAN_MAX][96];
};

static int scan_cb(const struct relais_outbox_row *r, void *ud)
{
    struct scan *s = ud;

    if (s->n == SCAN_MAX) return RELAIS_EINTERNAL;
    s->rows[s->n] = *r;
    snprintf(s->keys[s->n], sizeof s->keys[s->n], "%s", r->key ? r->key : "(null)");
    s->rows[s->n].key = s->keys[s->n];
    s->n++;
    return s->stop_after && s->n == s->stop_after ? s->stop_with : 0;
}

static struct scan *scan(struct fixture *f, int lane, int64_t after, int64_t upto, int limit)
{
    static struct scan s;

    memset(&s, 0, sizeof s);
    assert_int_equal(relais_store_outbox_scan(f->st, lane, after, upto, limit, scan_cb, &s),
                     RELAIS_OK);
    return &s;
}

static void insert_alert(struct fixture *f, const char *id, int64_t at_ms)
{
    struct relais_alert a;

    memset(&a, 0, sizeof a);
    snprintf(a.id, sizeof a.id, "%s", id);
    snprintf(a.patient, sizeof a.patient, "p1");
    snprintf(a.rule, sizeof a.rule, "fever");
    a.priority = 2;
    snprintf(a.team, sizeof a.team, "oncology");
    snprintf(a.state, sizeof a.state, "raised");
    a.open = true;
    a.raised_ms = at_ms;
    a.since_ms = at_ms;
    a.plan_version = 1;
    snprintf(a.evidence, sizeof a.evidence, "{}");
    assert_int_equal(relais_store_alert_insert(f->st, &a), RELAIS_OK);
}

static void add_event(struct fixture *f, const char *alert, const char *event, int64_t at_ms)
{
    const struct relais_alert_event e = {
        .alert = alert,
        .at_ms = at_ms,
        .event = event,
        .team = "oncology",
        .priority = 2,
        .detail = "temp 39.1",
        .notify = true,
    };
    assert_int_equal(relais_store_alert_event_add(f->st, &e), RELAIS_OK);
}

/* ---- on and off ---- */

static void test_off_by_default(void **state)
{
    struct fixture *f = *state;

    assert_false(relais_store_outbox_enabled(f->st));
    assert_int_equal(put(f, DEV_A, 1, PACK_MIXED, T0_MS), RELAIS_PUT_STORED);
    assert_int_equal(outbox_rows(f), 0);
    /* an explicit add is ignored too */
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    add(f, RELAIS_LANE_ALERT, RELAIS_OUTBOX_ALERT, 1, "", T0_MS);
    assert_int_equal(relais_store_commit(f->st), RELAIS_OK);
    assert_int_equal(outbox_rows(f), 0);
    int64_t max = -1;
    assert_int_equal(relais_store_outbox_max_id(f->st, &max), RELAIS_OK);
    assert_int_equal(max, 0);
    /* and back off after on */
    relais_store_outbox_enable(f->st, true);
    assert_true(relais_store_outbox_enabled(f->st));
    relais_store_outbox_enable(f->st, false);
    assert_int_equal(put(f, DEV_A, 2, PACK_HR, T0_MS + 1), RELAIS_PUT_STORED);
    assert_int_equal(outbox_rows(f), 0);
}

static void test_pack_rows_per_lane(void **state)
{
    struct fixture *f = *state;

    relais_store_outbox_enable(f->st, true);
    assert_int_equal(relais_fhir_lane_of("dose"), RELAIS_LANE_ADHERENCE);
    assert_int_equal(relais_fhir_lane_of("battery"), RELAIS_LANE_DEVICE);
    assert_int_equal(relais_fhir_lane_of("lid"), -1);
    assert_int_equal(relais_fhir_lane_of("temp"), RELAIS_LANE_VITALS);

    assert_int_equal(put(f, DEV_A, 1, PACK_MIXED, T0_MS), RELAIS_PUT_STORED);
    int64_t pack = last_pack_id(f);
    assert_int_equal(outbox_rows(f), 3);
    /* one row per lane, none in the alert lane; two vitals make one row */
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE lane = 0"), 0);
    for (int lane = RELAIS_LANE_ADHERENCE; lane <= RELAIS_LANE_VITALS; lane++) {
        assert_int_equal(q_int(f,
                               "SELECT count(*) FROM outbox WHERE lane = %d AND kind = %d AND"
                               " ref = %lld AND key = 'unbound' AND created_ms = %lld AND"
                               " attempts = 0",
                               lane, RELAIS_OUTBOX_PACK, (long long)pack, (long long)T0_MS),
                         1);
    }
    assert_int_equal(q_int(f, "SELECT forwarded_ms FROM packs WHERE id = %lld", (long long)pack),
                     NULL_V);

    /* a lid-only pack: stored, nothing to forward */
    assert_int_equal(put(f, DEV_A, 2, PACK_LID, T0_MS + 1000), RELAIS_PUT_STORED);
    assert_int_equal(outbox_rows(f), 3);

    /* a duplicate writes nothing */
    assert_int_equal(put(f, DEV_A, 1, PACK_MIXED, T0_MS + 2000), RELAIS_PUT_DUPLICATE);
    assert_int_equal(outbox_rows(f), 3);

    /* a reused seq with another body is a new pack: its own rows */
    assert_int_equal(put(f, DEV_A, 1, PACK_HR, T0_MS + 3000), RELAIS_PUT_FLAGGED);
    assert_int_equal(outbox_rows(f), 4);
    assert_int_equal(
        q_int(f, "SELECT lane FROM outbox WHERE ref = %lld", (long long)last_pack_id(f)),
        RELAIS_LANE_VITALS);

    /* a pack rolled back leaves no row */
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    put_in_txn(f, DEV_B, 1, PACK_MIXED, T0_MS + 4000);
    relais_store_rollback(f->st);
    assert_int_equal(outbox_rows(f), 4);
}

/* A pack's rows name the patient its device was bound to when it arrived:
 * a backlog sent after a new plan still goes under that patient. */
static void test_rows_keep_the_patient_at_arrival(void **state)
{
    struct fixture *f = *state;
    char text[64];

    relais_store_outbox_enable(f->st, true);
    const char *devs[] = {DEV_A};
    assert_int_equal(relais_store_outbox_bind(f->st, "p-one", devs, 1), RELAIS_OK);
    assert_string_equal(relais_store_outbox_patient(f->st, DEV_A), "p-one");
    assert_string_equal(relais_store_outbox_patient(f->st, DEV_B), "unbound");
    assert_int_equal(put(f, DEV_A, 1, PACK_HR, T0_MS), RELAIS_PUT_STORED);
    int64_t first = last_pack_id(f);
    assert_int_equal(put(f, DEV_B, 1, PACK_HR, T0_MS), RELAIS_PUT_STORED);
    int64_t other = last_pack_id(f);
    /* a new plan: another patient on the same device */
    assert_int_equal(relais_store_outbox_bind(f->st, "p-two", devs, 1), RELAIS_OK);
    assert_int_equal(put(f, DEV_A, 2, PACK_HR, T0_MS + 1000), RELAIS_PUT_STORED);
    int64_t second = last_pack_id(f);
    assert_string_equal(
        q_text(f, text, sizeof text, "SELECT key FROM outbox WHERE ref = %lld", (long long)first),
        "p-one");
    assert_string_equal(
        q_text(f, text, sizeof text, "SELECT key FROM outbox WHERE ref = %lld", (long long)other),
        "unbound");
    assert_string_equal(
        q_text(f, text, sizeof text, "SELECT key FROM outbox WHERE ref = %lld", (long long)second),
        "p-two");
    /* no plan: every device unbound */
    assert_int_equal(relais_store_outbox_bind(f->st, NULL, NULL, 0), RELAIS_OK);
    assert_string_equal(relais_store_outbox_patient(f->st, DEV_A), "unbound");
}

static void test_add_unique_and_ids(void **state)
{
    struct fixture *f = *state;
    int64_t max = -1;

    relais_store_outbox_enable(f->st, true);
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    add(f, RELAIS_LANE_DEVICE, RELAIS_OUTBOX_DEVICE, 0, DEV_A, T0_MS);
    add(f, RELAIS_LANE_DEVICE, RELAIS_OUTBOX_DEVICE, 0, DEV_A, T0_MS + 5); /* the same */
    add(f, RELAIS_LANE_DEVICE, RELAIS_OUTBOX_DEVICE, 0, DEV_B, T0_MS);     /* another key */
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 7, NULL, T0_MS);        /* NULL key is "" */
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 7, "", T0_MS);
    add(f, RELAIS_LANE_DEVICE, RELAIS_OUTBOX_PACK, 7, "", T0_MS); /* another lane */
    add(f, RELAIS_LANE_ALERT, RELAIS_OUTBOX_ALERT, 7, "", T0_MS); /* another kind */
    assert_int_equal(relais_store_commit(f->st), RELAIS_OK);
    assert_int_equal(outbox_rows(f), 5);
    assert_int_equal(q_int(f, "SELECT created_ms FROM outbox WHERE key = '%s'", DEV_A), T0_MS);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE kind = 1 AND key = ''"), 2);
    /* ids grow (an ignored add may use one up: they are not contiguous) */
    int64_t top = q_int(f, "SELECT max(id) FROM outbox");
    assert_int_equal(relais_store_outbox_max_id(f->st, &max), RELAIS_OK);
    assert_int_equal(max, top);
    assert_true(top >= 5);

    /* without a transaction, add is its own */
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 8, "", T0_MS);
    assert_int_equal(outbox_rows(f), 6);
    int64_t eight = row_id(f, RELAIS_OUTBOX_PACK, 8, RELAIS_LANE_VITALS);
    assert_true(eight > top);
    assert_int_equal(relais_store_outbox_max_id(f->st, &max), RELAIS_OK);
    assert_int_equal(max, eight);

    /* the highest row done: max_id is the highest row left, and the next
     * row does not take the freed id */
    assert_int_equal(relais_store_outbox_done(f->st, &eight, 1, T0_MS), RELAIS_OK);
    assert_int_equal(relais_store_outbox_max_id(f->st, &max), RELAIS_OK);
    assert_int_equal(max, top);
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 9, "", T0_MS);
    int64_t nine = row_id(f, RELAIS_OUTBOX_PACK, 9, RELAIS_LANE_VITALS);
    assert_true(nine > eight);
    assert_int_equal(relais_store_outbox_max_id(f->st, &max), RELAIS_OK);
    assert_int_equal(max, nine);

    /* every row done: empty (max_id 0), and the ids go on growing */
    struct scan *all;
    for (int lane = 0; lane < RELAIS_OUTBOX_LANES; lane++) {
        all = scan(f, lane, 0, INT64_MAX, -1);
        int64_t ids[SCAN_MAX];
        for (size_t i = 0; i < all->n; i++)
            ids[i] = all->rows[i].id;
        assert_int_equal(relais_store_outbox_done(f->st, ids, all->n, T0_MS), RELAIS_OK);
    }
    assert_int_equal(outbox_rows(f), 0);
    assert_int_equal(relais_store_outbox_max_id(f->st, &max), RELAIS_OK);
    assert_int_equal(max, 0);
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 10, "", T0_MS);
    int64_t ten = row_id(f, RELAIS_OUTBOX_PACK, 10, RELAIS_LANE_VITALS);
    assert_true(ten > nine);
    assert_int_equal(relais_store_outbox_max_id(f->st, &max), RELAIS_OK);
    assert_int_equal(max, ten);
    /* and across a reopen */
    assert_int_equal(relais_store_outbox_done(f->st, &ten, 1, T0_MS), RELAIS_OK);
    relais_store_close(f->st);
    f->st = NULL;
    assert_int_equal(relais_store_open(&f->st, f->path, test_store_opts()), RELAIS_OK);
    relais_store_outbox_enable(f->st, true);
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 11, "", T0_MS);
    assert_int_equal(relais_store_outbox_max_id(f->st, &max), RELAIS_OK);
    assert_true(max > ten);
    assert_int_equal(max, row_id(f, RELAIS_OUTBOX_PACK, 11, RELAIS_LANE_VITALS));
}

/* ---- scan ---- */

static void test_scan(void **state)
{
    struct fixture *f = *state;
    struct scan *s;

    relais_store_outbox_enable(f->st, true);
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    /* ids 1..8: vitals at 1, 3, 4, 6, 8; alerts at 2, 7; device at 5 */
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 101, "", T0_MS + 1);
    add(f, RELAIS_LANE_ALERT, RELAIS_OUTBOX_ALERT, 201, "", T0_MS + 2);
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 103, "", T0_MS + 3);
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 104, "", T0_MS + 4);
    add(f, RELAIS_LANE_DEVICE, RELAIS_OUTBOX_DEVICE, 0, DEV_A, T0_MS + 5);
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 106, "", T0_MS + 6);
    add(f, RELAIS_LANE_ALERT, RELAIS_OUTBOX_ALERT, 207, "", T0_MS + 7);
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 108, "", T0_MS + 8);
    assert_int_equal(relais_store_commit(f->st), RELAIS_OK);

    /* a whole lane, by id, with every field */
    s = scan(f, RELAIS_LANE_VITALS, 0, INT64_MAX, 100);
    assert_int_equal(s->n, 5);
    const int64_t vitals[] = {1, 3, 4, 6, 8};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(s->rows[i].id, vitals[i]);
        assert_int_equal(s->rows[i].lane, RELAIS_LANE_VITALS);
        assert_int_equal(s->rows[i].kind, RELAIS_OUTBOX_PACK);
        assert_int_equal(s->rows[i].ref, 100 + vitals[i]);
        assert_string_equal(s->rows[i].key, "");
        assert_int_equal(s->rows[i].created_ms, T0_MS + vitals[i]);
        assert_int_equal(s->rows[i].attempts, 0);
    }
    s = scan(f, RELAIS_LANE_DEVICE, 0, INT64_MAX, 100);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->rows[0].id, 5);
    assert_int_equal(s->rows[0].kind, RELAIS_OUTBOX_DEVICE);
    assert_string_equal(s->rows[0].key, DEV_A);
    s = scan(f, RELAIS_LANE_ALERT, 0, INT64_MAX, 100);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->rows[0].id, 2);
    assert_int_equal(s->rows[1].id, 7);
    assert_int_equal(scan(f, RELAIS_LANE_ADHERENCE, 0, INT64_MAX, 100)->n, 0);

    /* after_id is exclusive, upto_id inclusive */
    s = scan(f, RELAIS_LANE_VITALS, 3, 6, 100);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->rows[0].id, 4);
    assert_int_equal(s->rows[1].id, 6);
    s = scan(f, RELAIS_LANE_VITALS, 2, 5, 100);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->rows[0].id, 3);
    assert_int_equal(s->rows[1].id, 4);
    assert_int_equal(scan(f, RELAIS_LANE_VITALS, 8, INT64_MAX, 100)->n, 0);
    assert_int_equal(scan(f, RELAIS_LANE_VITALS, 4, 4, 100)->n, 0);
    assert_int_equal(scan(f, RELAIS_LANE_VITALS, 6, 3, 100)->n, 0);

    /* limit: the first rows; 0 none; negative, no limit */
    s = scan(f, RELAIS_LANE_VITALS, 1, INT64_MAX, 2);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->rows[0].id, 3);
    assert_int_equal(s->rows[1].id, 4);
    assert_int_equal(scan(f, RELAIS_LANE_VITALS, 0, INT64_MAX, 0)->n, 0);
    assert_int_equal(scan(f, RELAIS_LANE_VITALS, 0, INT64_MAX, -1)->n, 5);

    /* the callback stops the walk: its value is returned */
    struct scan st = {.stop_after = 2, .stop_with = 1};
    assert_int_equal(
        relais_store_outbox_scan(f->st, RELAIS_LANE_VITALS, 0, INT64_MAX, 100, scan_cb, &st), 1);
    assert_int_equal(st.n, 2);
    struct scan se = {.stop_after = 1, .stop_with = RELAIS_EBUSY};
    assert_int_equal(
        relais_store_outbox_scan(f->st, RELAIS_LANE_VITALS, 0, INT64_MAX, 100, scan_cb, &se),
        RELAIS_EBUSY);
    assert_int_equal(se.n, 1);
    /* the statement was reset: the next scan and a write work */
    assert_int_equal(scan(f, RELAIS_LANE_VITALS, 0, INT64_MAX, 100)->n, 5);
    int64_t one = 1;
    assert_int_equal(relais_store_outbox_done(f->st, &one, 1, T0_MS), RELAIS_OK);
    assert_int_equal(scan(f, RELAIS_LANE_VITALS, 0, INT64_MAX, 100)->n, 4);
}

/* ---- done ---- */

static void test_done_pack(void **state)
{
    struct fixture *f = *state;
    const int64_t at = T0_MS + 60000;

    relais_store_outbox_enable(f->st, true);
    assert_int_equal(put(f, DEV_A, 1, PACK_MIXED, T0_MS), RELAIS_PUT_STORED);
    int64_t pack = last_pack_id(f);
    assert_int_equal(put(f, DEV_A, 2, PACK_HR, T0_MS + 1), RELAIS_PUT_STORED);
    int64_t other = last_pack_id(f);
    int64_t vit = row_id(f, RELAIS_OUTBOX_PACK, pack, RELAIS_LANE_VITALS);
    int64_t adh = row_id(f, RELAIS_OUTBOX_PACK, pack, RELAIS_LANE_ADHERENCE);
    int64_t dev = row_id(f, RELAIS_OUTBOX_PACK, pack, RELAIS_LANE_DEVICE);

    /* nothing to do */
    assert_int_equal(relais_store_outbox_done(f->st, NULL, 0, at), RELAIS_OK);
    assert_int_equal(outbox_rows(f), 4);

    /* the pack is forwarded when its last row, in any lane, is done */
    assert_int_equal(relais_store_outbox_done(f->st, &vit, 1, at), RELAIS_OK);
    assert_int_equal(outbox_rows(f), 3);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE id = %lld", (long long)vit), 0);
    assert_int_equal(pack_fwd(f, pack), NULL_V);
    assert_int_equal(relais_store_outbox_done(f->st, &dev, 1, at + 1), RELAIS_OK);
    assert_int_equal(pack_fwd(f, pack), NULL_V);
    assert_int_equal(relais_store_outbox_done(f->st, &adh, 1, at + 2), RELAIS_OK);
    assert_int_equal(pack_fwd(f, pack), at + 2);
    assert_int_equal(pack_fwd(f, other), NULL_V);
    assert_int_equal(outbox_rows(f), 1);

    /* done twice (and an id that never was) is harmless: forwarded_ms stays */
    int64_t again[] = {adh, vit, 9999};
    assert_int_equal(relais_store_outbox_done(f->st, again, 3, at + 100), RELAIS_OK);
    assert_int_equal(pack_fwd(f, pack), at + 2);
    assert_int_equal(outbox_rows(f), 1);

    /* several rows of several packs in one call */
    assert_int_equal(put(f, DEV_B, 1, PACK_MIXED, T0_MS + 2), RELAIS_PUT_STORED);
    int64_t third = last_pack_id(f);
    int64_t many[] = {row_id(f, RELAIS_OUTBOX_PACK, other, RELAIS_LANE_VITALS),
                      row_id(f, RELAIS_OUTBOX_PACK, third, RELAIS_LANE_VITALS),
                      row_id(f, RELAIS_OUTBOX_PACK, third, RELAIS_LANE_DEVICE)};
    assert_int_equal(relais_store_outbox_done(f->st, many, 3, at + 200), RELAIS_OK);
    assert_int_equal(pack_fwd(f, other), at + 200);
    assert_int_equal(pack_fwd(f, third), NULL_V); /* adherence left */
    assert_int_equal(outbox_rows(f), 1);
}

struct event_copy {
    int calls;
    char event[16];
};

static int event_cb(const struct relais_alert_event *ev, void *ud)
{
    struct event_copy *c = ud;

    c->calls++;
    snprintf(c->event, sizeof c->event, "%s", ev->event);
    assert_string_equal(ev->alert, "gw-1");
    assert_int_equal(ev->at_ms, T0_MS + 1000);
    return 0;
}

static void test_done_alert(void **state)
{
    struct fixture *f = *state;

    relais_store_outbox_enable(f->st, true);
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    insert_alert(f, "gw-1", T0_MS);
    add_event(f, "gw-1", "raised", T0_MS);
    add_event(f, "gw-1", "escalated", T0_MS + 1000);
    assert_int_equal(relais_store_commit(f->st), RELAIS_OK);
    int64_t ev1 = q_int(f, "SELECT id FROM alert_events WHERE event = 'raised'");
    int64_t ev2 = q_int(f, "SELECT id FROM alert_events WHERE event = 'escalated'");
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    add(f, RELAIS_LANE_ALERT, RELAIS_OUTBOX_ALERT, ev1, "", T0_MS);
    add(f, RELAIS_LANE_ALERT, RELAIS_OUTBOX_ALERT, ev2, "", T0_MS + 1000);
    assert_int_equal(relais_store_commit(f->st), RELAIS_OK);
    int64_t r1 = row_id(f, RELAIS_OUTBOX_ALERT, ev1, RELAIS_LANE_ALERT);

    assert_int_equal(relais_store_outbox_done(f->st, &r1, 1, T0_MS + 5000), RELAIS_OK);
    assert_int_equal(event_fwd(f, ev1), T0_MS + 5000);
    assert_int_equal(event_fwd(f, ev2), NULL_V);
    assert_int_equal(outbox_rows(f), 1);
    /* an alert row does not touch the pack with the same number */
    assert_int_equal(q_int(f, "SELECT count(*) FROM packs WHERE forwarded_ms IS NOT NULL"), 0);
    /* twice: the first time stays */
    assert_int_equal(relais_store_outbox_done(f->st, &r1, 1, T0_MS + 9000), RELAIS_OK);
    assert_int_equal(event_fwd(f, ev1), T0_MS + 5000);

    /* the event, as the forwarder renders it; RELAIS_ENOTFOUND when absent */
    struct event_copy got = {0, ""};
    assert_int_equal(relais_store_alert_event_load(f->st, ev2, event_cb, &got), RELAIS_OK);
    assert_int_equal(got.calls, 1);
    assert_string_equal(got.event, "escalated");
    assert_int_equal(relais_store_alert_event_load(f->st, 424242, event_cb, &got),
                     RELAIS_ENOTFOUND);
    assert_int_equal(got.calls, 1);
}

static void test_done_joins_transaction(void **state)
{
    struct fixture *f = *state;

    relais_store_outbox_enable(f->st, true);
    assert_int_equal(put(f, DEV_A, 1, PACK_HR, T0_MS), RELAIS_PUT_STORED);
    int64_t pack = last_pack_id(f);
    int64_t id = row_id(f, RELAIS_OUTBOX_PACK, pack, RELAIS_LANE_VITALS);

    /* inside a transaction that is rolled back: nothing happened */
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    assert_int_equal(relais_store_outbox_done(f->st, &id, 1, T0_MS + 10), RELAIS_OK);
    assert_true(relais_store_in_transaction(f->st)); /* not committed by done */
    assert_int_equal(outbox_rows(f), 1);             /* the other connection sees no change */
    relais_store_rollback(f->st);
    assert_int_equal(outbox_rows(f), 1);
    assert_int_equal(pack_fwd(f, pack), NULL_V);

    /* with a put in the same transaction: both at the commit */
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    put_in_txn(f, DEV_A, 2, PACK_HR, T0_MS + 20);
    assert_int_equal(relais_store_outbox_done(f->st, &id, 1, T0_MS + 30), RELAIS_OK);
    assert_true(relais_store_in_transaction(f->st));
    assert_int_equal(pack_fwd(f, pack), NULL_V);
    assert_int_equal(relais_store_commit(f->st), RELAIS_OK);
    assert_int_equal(pack_fwd(f, pack), T0_MS + 30);
    assert_int_equal(outbox_rows(f), 1); /* the new pack's row */
    assert_int_equal(q_int(f, "SELECT ref FROM outbox"), pack + 1);

    /* failed and dead join it too */
    int64_t id2 = row_id(f, RELAIS_OUTBOX_PACK, pack + 1, RELAIS_LANE_VITALS);
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    assert_int_equal(relais_store_outbox_failed(f->st, &id2, 1, T0_MS + 40), RELAIS_OK);
    assert_int_equal(relais_store_outbox_dead(f->st, id2, "test", NULL, NULL, 0, T0_MS + 50),
                     RELAIS_OK);
    assert_true(relais_store_in_transaction(f->st));
    relais_store_rollback(f->st);
    assert_int_equal(outbox_rows(f), 1);
    assert_int_equal(q_int(f, "SELECT attempts FROM outbox WHERE id = %lld", (long long)id2), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM dead_letters"), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM drops"), 0);
}

/* ---- failed, dead, stats ---- */

struct drops {
    uint64_t dead_letter;
    int others;
};

static int drop_cb(const char *reason, uint64_t n, void *ud)
{
    struct drops *d = ud;

    if (strcmp(reason, "dead_letter") == 0)
        d->dead_letter = n;
    else
        d->others++;
    return 0;
}

static void test_failed_and_dead(void **state)
{
    struct fixture *f = *state;
    char text[512];
    static const char body[] = "{\"resourceType\":\"Bundle\"}";
    const char *topic = "relais/gw/gw-1/obs/p1";

    relais_store_outbox_enable(f->st, true);
    assert_int_equal(put(f, DEV_A, 1, PACK_MIXED, T0_MS), RELAIS_PUT_STORED);
    int64_t pack = last_pack_id(f);
    int64_t vit = row_id(f, RELAIS_OUTBOX_PACK, pack, RELAIS_LANE_VITALS);
    int64_t dev = row_id(f, RELAIS_OUTBOX_PACK, pack, RELAIS_LANE_DEVICE);
    int64_t adh = row_id(f, RELAIS_OUTBOX_PACK, pack, RELAIS_LANE_ADHERENCE);

    /* attempts count per row, with the time of the last */
    int64_t both[] = {vit, dev};
    assert_int_equal(relais_store_outbox_failed(f->st, both, 2, T0_MS + 1), RELAIS_OK);
    assert_int_equal(relais_store_outbox_failed(f->st, &vit, 1, T0_MS + 2), RELAIS_OK);
    assert_int_equal(relais_store_outbox_failed(f->st, &vit, 1, T0_MS + 3), RELAIS_OK);
    int64_t gone = 12345;
    assert_int_equal(relais_store_outbox_failed(f->st, &gone, 1, T0_MS + 4), RELAIS_OK);
    assert_int_equal(q_int(f, "SELECT attempts FROM outbox WHERE id = %lld", (long long)vit), 3);
    assert_int_equal(q_int(f, "SELECT last_ms FROM outbox WHERE id = %lld", (long long)vit),
                     T0_MS + 3);
    assert_int_equal(q_int(f, "SELECT attempts FROM outbox WHERE id = %lld", (long long)dev), 1);
    assert_int_equal(q_int(f, "SELECT attempts FROM outbox WHERE id = %lld", (long long)adh), 0);
    struct scan *s = scan(f, RELAIS_LANE_VITALS, 0, INT64_MAX, 10);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->rows[0].attempts, 3);

    /* dead: the row moves with why, the topic and the body */
    int64_t audit_before = q_int(f, "SELECT count(*) FROM audit");
    assert_int_equal(relais_store_outbox_dead(f->st, vit, "no PUBACK after 3 sends", topic, body,
                                              sizeof body - 1, T0_MS + 100),
                     RELAIS_OK);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE id = %lld", (long long)vit), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM dead_letters"), 1);
    assert_int_equal(q_int(f, "SELECT lane FROM dead_letters"), RELAIS_LANE_VITALS);
    assert_int_equal(q_int(f, "SELECT kind FROM dead_letters"), RELAIS_OUTBOX_PACK);
    assert_int_equal(q_int(f, "SELECT ref FROM dead_letters"), pack);
    assert_string_equal(q_text(f, text, sizeof text, "SELECT key FROM dead_letters"), "unbound");
    assert_int_equal(q_int(f, "SELECT created_ms FROM dead_letters"), T0_MS);
    assert_int_equal(q_int(f, "SELECT dead_ms FROM dead_letters"), T0_MS + 100);
    assert_int_equal(q_int(f, "SELECT attempts FROM dead_letters"), 3);
    assert_string_equal(q_text(f, text, sizeof text, "SELECT reason FROM dead_letters"),
                        "no PUBACK after 3 sends");
    assert_string_equal(q_text(f, text, sizeof text, "SELECT topic FROM dead_letters"), topic);
    /* the body is sealed: not in clear, one record's overhead longer */
    assert_int_equal(q_int(f, "SELECT instr(body, CAST('Bundle' AS BLOB)) FROM dead_letters"), 0);
    assert_int_equal(q_int(f, "SELECT length(body) FROM dead_letters"),
                     sizeof body - 1 + RELAIS_SEAL_OVERHEAD);
    /* counted, audited; the pack is not forwarded */
    struct drops d = {0, 0};
    assert_int_equal(relais_store_foreach_drop(f->st, drop_cb, &d), RELAIS_OK);
    assert_int_equal(d.dead_letter, 1);
    assert_int_equal(d.others, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM audit"), audit_before + 1);
    assert_string_equal(
        q_text(f, text, sizeof text, "SELECT kind FROM audit ORDER BY id DESC LIMIT 1"),
        "forward.dead_letter");
    char subject[64];
    snprintf(subject, sizeof subject, "outbox/%lld", (long long)vit);
    assert_string_equal(
        q_text(f, text, sizeof text, "SELECT subject FROM audit ORDER BY id DESC LIMIT 1"),
        subject);
    assert_non_null(
        strstr(q_text(f, text, sizeof text, "SELECT detail FROM audit ORDER BY id DESC LIMIT 1"),
               "no PUBACK after 3 sends"));
    assert_int_equal(q_int(f, "SELECT forwarded_ms FROM packs WHERE id = %lld", (long long)pack),
                     NULL_V);

    /* without topic and body: NULLs (not the previous call's) */
    assert_int_equal(
        relais_store_outbox_dead(f->st, dev, "pack 1 is gone", NULL, NULL, 0, T0_MS + 200),
        RELAIS_OK);
    assert_int_equal(q_int(f, "SELECT count(*) FROM dead_letters"), 2);
    assert_int_equal(q_int(f,
                           "SELECT count(*) FROM dead_letters WHERE dead_ms = %lld"
                           " AND topic IS NULL AND body IS NULL AND attempts = 1",
                           (long long)(T0_MS + 200)),
                     1);
    d.dead_letter = 0;
    assert_int_equal(relais_store_foreach_drop(f->st, drop_cb, &d), RELAIS_OK);
    assert_int_equal(d.dead_letter, 2);

    /* a row that is not there: RELAIS_ENOTFOUND, nothing counted */
    assert_int_equal(relais_store_outbox_dead(f->st, vit, "again", NULL, NULL, 0, T0_MS + 300),
                     RELAIS_ENOTFOUND);
    assert_false(relais_store_in_transaction(f->st));
    assert_int_equal(q_int(f, "SELECT count(*) FROM dead_letters"), 2);
    d.dead_letter = 0;
    assert_int_equal(relais_store_foreach_drop(f->st, drop_cb, &d), RELAIS_OK);
    assert_int_equal(d.dead_letter, 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM audit"), audit_before + 2);

    /* stats count the dead */
    struct relais_outbox_stats st;
    assert_int_equal(relais_store_outbox_stats(f->st, &st), RELAIS_OK);
    assert_int_equal(st.dead, 2);
    assert_int_equal(st.depth[RELAIS_LANE_ADHERENCE], 1);
    assert_int_equal(st.depth[RELAIS_LANE_VITALS], 0);
}

static void test_stats(void **state)
{
    struct fixture *f = *state;
    struct relais_outbox_stats st;

    memset(&st, 0xff, sizeof st);
    assert_int_equal(relais_store_outbox_stats(f->st, &st), RELAIS_OK);
    for (int lane = 0; lane < RELAIS_OUTBOX_LANES; lane++) {
        assert_int_equal(st.depth[lane], 0);
        assert_int_equal(st.oldest_ms[lane], 0);
    }
    assert_int_equal(st.dead, 0);

    relais_store_outbox_enable(f->st, true);
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 1, "", T0_MS + 30);
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 2, "", T0_MS + 10); /* older, added later */
    add(f, RELAIS_LANE_VITALS, RELAIS_OUTBOX_PACK, 3, "", T0_MS + 20);
    add(f, RELAIS_LANE_ALERT, RELAIS_OUTBOX_ALERT, 1, "", T0_MS + 5);
    add(f, RELAIS_LANE_ADHERENCE, RELAIS_OUTBOX_MISSED, T0_MS, "p1|k", T0_MS + 7);
    add(f, RELAIS_LANE_ADHERENCE, RELAIS_OUTBOX_PACK, 1, "", T0_MS + 8);
    assert_int_equal(relais_store_commit(f->st), RELAIS_OK);
    assert_int_equal(relais_store_outbox_stats(f->st, &st), RELAIS_OK);
    assert_int_equal(st.depth[RELAIS_LANE_ALERT], 1);
    assert_int_equal(st.depth[RELAIS_LANE_ADHERENCE], 2);
    assert_int_equal(st.depth[RELAIS_LANE_DEVICE], 0);
    assert_int_equal(st.depth[RELAIS_LANE_VITALS], 3);
    assert_int_equal(st.oldest_ms[RELAIS_LANE_ALERT], T0_MS + 5);
    assert_int_equal(st.oldest_ms[RELAIS_LANE_ADHERENCE], T0_MS + 7);
    assert_int_equal(st.oldest_ms[RELAIS_LANE_DEVICE], 0);
    assert_int_equal(st.oldest_ms[RELAIS_LANE_VITALS], T0_MS + 10);
    assert_int_equal(st.dead, 0);

    /* the oldest goes: the next oldest; a dead letter counts */
    int64_t two = row_id(f, RELAIS_OUTBOX_PACK, 2, RELAIS_LANE_VITALS);
    assert_int_equal(relais_store_outbox_done(f->st, &two, 1, T0_MS + 100), RELAIS_OK);
    int64_t one = row_id(f, RELAIS_OUTBOX_PACK, 1, RELAIS_LANE_VITALS);
    assert_int_equal(relais_store_outbox_dead(f->st, one, "test", NULL, NULL, 0, T0_MS + 100),
                     RELAIS_OK);
    assert_int_equal(relais_store_outbox_stats(f->st, &st), RELAIS_OK);
    assert_int_equal(st.depth[RELAIS_LANE_VITALS], 1);
    assert_int_equal(st.oldest_ms[RELAIS_LANE_VITALS], T0_MS + 20);
    assert_int_equal(st.dead, 1);
}

/* ---- pack_load ---- */

struct loaded {
    int calls;
    struct fixture *f;
    const uint8_t *body;
    size_t len;
    int64_t received_ms;
    int flags;
};

static int load_cb(const struct relais_stored_pack *p, const struct relais_stored_reading *recs,
                   size_t n, void *ud)
{
    struct loaded *l = ud;
    const struct relais_pack *want = &l->f->pack;
    uint8_t hash[RELAIS_SHA256_LEN];

    l->calls++;
    assert_string_equal(p->device, want->device);
    assert_int_equal(p->seq, want->seq);
    assert_int_equal(p->format, RELAIS_SENML_JSON);
    assert_int_equal(p->transport, RELAIS_TRANSPORT_MQTT);
    assert_int_equal(p->received_ms, l->received_ms);
    assert_int_equal(p->records, (int)want->count);
    assert_int_equal(p->flags, l->flags);
    /* the keyed body hash (bodies are sealed) */
    struct store_keys k;
    store__keys_derive(test_store_key(), &k);
    store__body_hash(&k, l->body, l->len, hash);
    assert_non_null(p->hash);
    assert_memory_equal(p->hash, hash, sizeof hash);
    assert_int_equal(n, want->count);
    for (size_t i = 0; i < n; i++) {
        const struct relais_stored_reading *r = &recs[i];
        const struct relais_reading *w = &want->readings[i];
        assert_int_equal(r->pack_id, p->id);
        assert_string_equal(r->device, want->device);
        assert_int_equal(r->seq, want->seq);
        assert_int_equal(r->idx, (int)i);
        assert_string_equal(r->metric, w->metric);
        assert_string_equal(r->unit, w->unit);
        assert_int_equal(r->kind, w->kind);
        switch (w->kind) {
        case RELAIS_READING_NUMBER: assert_true(r->value == w->value); break;
        case RELAIS_READING_STRING:
            assert_non_null(r->str);
            assert_int_equal(r->len, w->len);
            assert_memory_equal(r->str, w->str, w->len);
            assert_int_equal(r->str[r->len], '\0');
            break;
        case RELAIS_READING_BOOL: assert_int_equal(r->boolean, w->boolean); break;
        case RELAIS_READING_DATA:
            assert_int_equal(r->len, w->len);
            assert_memory_equal(r->data, w->data, w->len);
            break;
        case RELAIS_READING_SUM_ONLY: break;
        }
        if (w->kind != RELAIS_READING_STRING) assert_null(r->str);
        assert_int_equal(r->has_sum, w->has_sum);
        if (w->has_sum) assert_true(r->sum == w->sum);
        assert_true(r->time == w->time);
        assert_int_equal(r->time_source, w->time_source);
        assert_int_equal(r->has_update_time, w->has_update_time);
        if (w->has_update_time) assert_true(r->update_time == w->update_time);
        assert_int_equal(r->received_ms, l->received_ms);
        assert_int_equal(r->flags, l->flags);
    }
    return 0;
}

static int never_cb(const struct relais_stored_pack *p, const struct relais_stored_reading *recs,
                    size_t n, void *ud)
{
    (void)p;
    (void)recs;
    (void)n;
    (void)ud;
    fail_msg("called for a missing pack");
    return 0;
}

static int value_cb(const struct relais_stored_pack *p, const struct relais_stored_reading *recs,
                    size_t n, void *ud)
{
    (void)p;
    (void)recs;
    (void)n;
    return *(int *)ud;
}

static void test_pack_load(void **state)
{
    struct fixture *f = *state;
    static const char mixed[] = PACK_MIXED;
    static const char sums[] =
        "[{\"n\":\"steps\",\"u\":\"count\",\"v\":300,\"s\":1200,\"t\":1794990000,"
        "\"ut\":600},{\"n\":\"pro_nausea\",\"v\":2},"
        "{\"n\":\"x-note\",\"vs\":\"feeling \\\"ok\\\"\"}]";

    /* every kind of record, the dose's string (the slot id) included */
    assert_int_equal(put(f, DEV_A, 41, mixed, T0_MS + 7), RELAIS_PUT_STORED);
    int64_t id = last_pack_id(f);
    struct loaded l = {0, f, (const uint8_t *)mixed, sizeof mixed - 1, T0_MS + 7, 0};
    assert_int_equal(f->pack.readings[2].kind, RELAIS_READING_STRING);
    assert_string_equal(f->pack.readings[2].str, "am");
    assert_int_equal(relais_store_pack_load(f->st, id, load_cb, &l), RELAIS_OK);
    assert_int_equal(l.calls, 1);

    /* a sum with an update time, a gateway-timed record, an unknown metric */
    if (put(f, DEV_A, 42, sums, T0_MS + 8) != RELAIS_PUT_STORED) fail();
    struct loaded l2 = {0, f, (const uint8_t *)sums, sizeof sums - 1, T0_MS + 8, 0};
    assert_int_equal(relais_store_pack_load(f->st, last_pack_id(f), load_cb, &l2), RELAIS_OK);
    assert_int_equal(l2.calls, 1);

    /* a flagged pack says so */
    assert_int_equal(put(f, DEV_A, 41, PACK_HR, T0_MS + 9), RELAIS_PUT_FLAGGED);
    struct loaded l3 = {
        0, f, (const uint8_t *)PACK_HR, strlen(PACK_HR), T0_MS + 9, RELAIS_PACK_FLAG_SEQ_REUSED};
    assert_int_equal(relais_store_pack_load(f->st, last_pack_id(f), load_cb, &l3), RELAIS_OK);
    assert_int_equal(l3.calls, 1);

    /* missing: RELAIS_ENOTFOUND, no call; the callback's value is returned */
    assert_int_equal(relais_store_pack_load(f->st, 999, never_cb, NULL), RELAIS_ENOTFOUND);
    assert_int_equal(relais_store_pack_load(f->st, 0, never_cb, NULL), RELAIS_ENOTFOUND);
    int v = 7;
    assert_int_equal(relais_store_pack_load(f->st, id, value_cb, &v), 7);
    /* and the statements were reset: loading again works */
    l.calls = 0;
    assert_int_equal(put(f, DEV_B, 1, mixed, T0_MS + 7), RELAIS_PUT_STORED);
    assert_int_equal(relais_store_pack_load(f->st, last_pack_id(f), load_cb, &l), RELAIS_OK);
    assert_int_equal(l.calls, 1);
}

/* ---- missed dose slots ---- */

static void slot(struct relais_slot_row *r, const char *key, const char *status, int64_t due)
{
    memset(r, 0, sizeof *r);
    snprintf(r->patient, sizeof r->patient, "p1");
    snprintf(r->key, sizeof r->key, "%s", key);
    snprintf(r->slot, sizeof r->slot, "am");
    snprintf(r->date, sizeof r->date, "2026-11-17");
    r->cycle = 1;
    r->day = 3;
    r->on_day = true;
    r->due_ms = due;
    r->start_ms = due - 3600000;
    r->end_ms = due + 3600000;
    snprintf(r->status, sizeof r->status, "%s", status);
}

static void slot_put(struct fixture *f, const struct relais_slot_row *r)
{
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    assert_int_equal(relais_store_slot_put(f->st, r), RELAIS_OK);
    assert_int_equal(relais_store_commit(f->st), RELAIS_OK);
}

static void test_missed_slot(void **state)
{
    struct fixture *f = *state;
    struct relais_slot_row r;
    char text[128];
    const int64_t due = T0_MS + 3600000;

    /* off: nothing */
    slot(&r, "2026-11-17T08:00/am", "missed", due);
    slot_put(f, &r);
    assert_int_equal(outbox_rows(f), 0);

    relais_store_outbox_enable(f->st, true);
    /* pending, then taken: nothing */
    slot(&r, "2026-11-18T08:00/am", "pending", due + 86400000);
    slot_put(f, &r);
    slot(&r, "2026-11-18T08:00/am", "taken", due + 86400000);
    slot_put(f, &r);
    assert_int_equal(outbox_rows(f), 0);

    /* missed: one adherence row */
    slot(&r, "2026-11-19T08:00/am", "pending", due + 2 * 86400000);
    slot_put(f, &r);
    assert_int_equal(outbox_rows(f), 0);
    snprintf(r.status, sizeof r.status, "missed");
    slot_put(f, &r);
    assert_int_equal(outbox_rows(f), 1);
    assert_int_equal(q_int(f, "SELECT lane FROM outbox"), RELAIS_LANE_ADHERENCE);
    assert_int_equal(q_int(f, "SELECT kind FROM outbox"), RELAIS_OUTBOX_MISSED);
    assert_string_equal(q_text(f, text, sizeof text, "SELECT key FROM outbox"),
                        "p1|2026-11-19T08:00/am");
    assert_int_equal(q_int(f, "SELECT ref FROM outbox"), due + 2 * 86400000);
    assert_int_equal(q_int(f, "SELECT created_ms FROM outbox"), r.end_ms);

    /* put again (a reminder time, say): no second row */
    r.reminded_ms = due;
    slot_put(f, &r);
    assert_int_equal(outbox_rows(f), 1);
    struct scan *s = scan(f, RELAIS_LANE_ADHERENCE, 0, INT64_MAX, 10);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->rows[0].kind, RELAIS_OUTBOX_MISSED);
    assert_string_equal(s->rows[0].key, "p1|2026-11-19T08:00/am");

    /* done: no pack nor alert event is touched */
    int64_t id = s->rows[0].id;
    assert_int_equal(relais_store_outbox_done(f->st, &id, 1, T0_MS), RELAIS_OK);
    assert_int_equal(outbox_rows(f), 0);

    /* another patient's same slot is its own row */
    slot(&r, "2026-11-19T08:00/am", "missed", due + 2 * 86400000);
    snprintf(r.patient, sizeof r.patient, "p2");
    slot_put(f, &r);
    assert_string_equal(q_text(f, text, sizeof text, "SELECT key FROM outbox"),
                        "p2|2026-11-19T08:00/am");
}

/* ---- device_last ---- */

static void test_device_last(void **state)
{
    struct fixture *f = *state;
    int64_t seen = -1;
    bool has = true;
    double battery = -1;
    char json[128];

    /* never seen */
    assert_int_equal(relais_store_device_last(f->st, DEV_A, &seen, &has, &battery), RELAIS_OK);
    assert_int_equal(seen, 0);
    assert_false(has);

    /* seen, no battery yet */
    assert_int_equal(put(f, DEV_A, 1, PACK_HR, T0_MS + 1000), RELAIS_PUT_STORED);
    assert_int_equal(relais_store_device_last(f->st, DEV_A, &seen, &has, &battery), RELAIS_OK);
    assert_int_equal(seen, T0_MS + 1000);
    assert_false(has);

    /* a battery level, then a pack without one: the level stays, seen moves */
    snprintf(json, sizeof json, PACK_BATTERY, 80);
    assert_int_equal(put(f, DEV_A, 2, json, T0_MS + 2000), RELAIS_PUT_STORED);
    assert_int_equal(put(f, DEV_A, 3, PACK_HR, T0_MS + 3000), RELAIS_PUT_STORED);
    assert_int_equal(relais_store_device_last(f->st, DEV_A, &seen, &has, &battery), RELAIS_OK);
    assert_int_equal(seen, T0_MS + 3000);
    assert_true(has);
    assert_true(battery == 80.0);

    /* the newest level wins */
    assert_int_equal(put(f, DEV_A, 4, PACK_MIXED, T0_MS + 4000), RELAIS_PUT_STORED);
    snprintf(json, sizeof json, PACK_BATTERY, 75);
    assert_int_equal(put(f, DEV_A, 5, json, T0_MS + 5000), RELAIS_PUT_STORED);
    assert_int_equal(relais_store_device_last(f->st, DEV_A, &seen, &has, &battery), RELAIS_OK);
    assert_int_equal(seen, T0_MS + 5000);
    assert_true(battery == 75.0);

    /* another device is its own */
    snprintf(json, sizeof json, PACK_BATTERY, 33);
    assert_int_equal(put(f, DEV_B, 1, json, T0_MS + 6000), RELAIS_PUT_STORED);
    assert_int_equal(relais_store_device_last(f->st, DEV_B, &seen, &has, &battery), RELAIS_OK);
    assert_int_equal(seen, T0_MS + 6000);
    assert_true(battery == 33.0);
    assert_int_equal(relais_store_device_last(f->st, DEV_A, &seen, &has, &battery), RELAIS_OK);
    assert_int_equal(seen, T0_MS + 5000);
    assert_true(battery == 75.0);
    assert_int_equal(relais_store_device_last(f->st, "dev-none", &seen, &has, &battery), RELAIS_OK);
    assert_int_equal(seen, 0);
    assert_false(has);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_rows_per_lane, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_keep_the_patient_at_arrival, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_unique_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_pack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_joins_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_and_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missed_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_last, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
