/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the store's housekeeping (edge/src/store_evict.c): retention
 * prunes only acknowledged vitals (or every pack's without a hospital link)
 * and keeps dose records and the packs row (a resend is still a duplicate);
 * over the quota acknowledged vitals go first, then the others are
 * downsampled (one per device, metric and step) and evicted oldest first;
 * the outbox rows of emptied lanes go; alerts, doses, care plans and the
 * audit trail are untouched; drops are counted by reason; nothing_left when
 * only clinical records remain; the work of one call is bounded.
 *
 * Every test works in its own mkdtemp directory; the store's private header
 * gives st->db for the checks and for setting forwarded_ms.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include "test_store_key.h"
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "relais/error.h"
#include "relais/log.h"
#include "relais/outbox.h"
#include "relais/senml.h"
#include "relais/store.h"
#include "relais/store_evict.h"
#include "store_internal.h"

#define DEV_A  "dev-a"
#define DEV_B  "dev-b"
#define DEV_C  "dev-c"
#define T0_MS  1795000000000LL
#define NOW_S  1795000000.0
#define DAY_MS 86400000LL
#define STEP_S 900 /* 15 min */

struct fixture {
    char dir[256];
    char path[320];
    struct relais_pack pack;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");

    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "%s/relais-test-evict-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/relais.db", f->dir);
    relais_pack_init(&f->pack);
    relais_log_set_level(RELAIS_LOG_ERROR);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;

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

static struct relais_store *open_store(struct fixture *f)
{
    struct relais_store *st = NULL;

    assert_int_equal(relais_store_open(&st, f->path, test_store_opts()), RELAIS_OK);
    return st;
}

/* Puts a JSON pack received at received_ms (inside the open transaction). */
static enum relais_store_put put(struct fixture *f, struct relais_store *st, const char *device,
                                 uint64_t seq, const char *json, int64_t received_ms)
{
    struct relais_senml_error err;
    enum relais_store_put res = (enum relais_store_put) - 1;

    if (relais_senml_decode(&f->pack, RELAIS_SENML_JSON, (const uint8_t *)json, strlen(json),
                            device, NOW_S, &err))
        fail_msg("decode: %s: %s", relais_reject_reason_name(err.reason), err.detail);
    snprintf(f->pack.device, sizeof f->pack.device, "%s", device);
    f->pack.seq = seq;
    assert_int_equal(relais_store_put_pack(st, &f->pack, (const uint8_t *)json, strlen(json),
                                           RELAIS_TRANSPORT_MQTT, received_ms, &res),
                     RELAIS_OK);
    return res;
}

/* A pack of n hr readings one minute apart from t0 (seconds). */
static const char *hr_pack(char *buf, size_t cap, double t0, int n)
{
    size_t w = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && w < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w,
                              "%s{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":%d,\"t\":%.0f}",
                              i ? "," : "", 60 + i, t0 + 60.0 * i);
    if (w < cap) snprintf(buf + w, cap - w, "]");
    return buf;
}

__attribute__((format(printf, 2, 3))) static int64_t q_int(struct relais_store *st, const char *fmt,
                                                           ...)
{
    char sql[1024];
    sqlite3_stmt *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(st->db));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

__attribute__((format(printf, 2, 3))) static void exec_sql(struct relais_store *st, const char *fmt,
                                                           ...)
{
    char sql[1024];
    char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
}

static int64_t pack_id(struct relais_store *st, const char *device, uint64_t seq)
{
    return q_int(st, "SELECT id FROM packs WHERE device = '%s' AND seq = %llu", device,
                 (unsigned long long)seq);
}

static void add_outbox(struct relais_store *st, int64_t pack, int lane)
{
    exec_sql(st, "INSERT INTO outbox(lane, kind, ref, created_ms) VALUES(%d, 1, %lld, 0)", lane,
             (long long)pack);
}

static int64_t outbox_rows(struct relais_store *st, int64_t pack, int lane)
{
    return q_int(st, "SELECT count(*) FROM outbox WHERE kind = 1 AND ref = %lld AND lane = %d",
                 (long long)pack, lane);
}

struct drop_sum {
    uint64_t pruned_retention, pruned_quota, downsampled, evicted, other;
};

static int drop_cb(const char *reason, uint64_t n, void *ud)
{
    struct drop_sum *d = ud;

    if (strcmp(reason, "pruned_retention") == 0)
        d->pruned_retention = n;
    else if (strcmp(reason, "pruned_quota") == 0)
        d->pruned_quota = n;
    else if (strcmp(reason, "downsampled_quota") == 0)
        d->downsampled = n;
    else if (strcmp(reason, "evicted_quota") == 0)
        d->evicted = n;
    else
        d->other += n;
    return 0;
}

static struct drop_sum drops(struct relais_store *st)
{
    struct drop_sum d = {0};

    assert_int_equal(relais_store_foreach_drop(st, drop_cb, &d), RELAIS_OK);
    return d;
}

static struct relais_housekeep_result housekeep(struct relais_store *st,
                                                const struct relais_housekeep_opts *o)
{
    struct relais_housekeep_result r;

    assert_int_equal(relais_store_housekeep(st, o, &r), RELAIS_OK);
    assert_false(relais_store_in_transaction(st));
    return r;
}

/* Rows of the tables housekeeping must never touch, and of the audit trail. */
struct kept {
    int64_t alerts, alert_events, dose_events, dose_slots, careplans, devices, rejects, audit,
        clinical;
};

static struct kept kept(struct relais_store *st)
{
    struct kept k = {
        .alerts = q_int(st, "SELECT count(*) FROM alerts"),
        .alert_events = q_int(st, "SELECT count(*) FROM alert_events"),
        .dose_events = q_int(st, "SELECT count(*) FROM dose_events"),
        .dose_slots = q_int(st, "SELECT count(*) FROM dose_slots"),
        .careplans = q_int(st, "SELECT count(*) FROM careplans"),
        .devices = q_int(st, "SELECT count(*) FROM devices"),
        .rejects = q_int(st, "SELECT count(*) FROM rejects"),
        .audit = q_int(st, "SELECT count(*) FROM audit"),
        .clinical = q_int(st, "SELECT count(*) FROM readings WHERE evictable = 0"),
    };
    return k;
}

/* An alert with an event, a dose slot and event, a care plan, a device, a
 * reject: what must survive every round. */
static void add_care_rows(struct relais_store *st)
{
    exec_sql(st, "INSERT INTO careplans VALUES(1, 'p1', '{}', 'test', 0);"
                 "INSERT INTO alerts(id, patient, rule, priority, team, state, open, raised_ms,"
                 " since_ms, evidence) VALUES('a-1', 'p1', 'fever', 1, 'nurse', 'raised', 1, 0, 0,"
                 " '{}');"
                 "INSERT INTO alert_events(alert, at_ms, event, team, priority, detail, notify)"
                 " VALUES('a-1', 0, 'raised', 'nurse', 1, '', 1);"
                 "INSERT INTO dose_slots(patient, slot_key, slot, local_date, cycle, day, on_day,"
                 " due_ms, start_ms, end_ms, status) VALUES('p1', 'k', 'am', '2026-11-22', 1, 1,"
                 " 1, 0, 0, 0, 'taken');"
                 "INSERT INTO dose_events(patient, device, pack_id, idx, t_ms, local_date, kind)"
                 " VALUES('p1', 'dev-c', 1, 0, 0, '2026-11-22', 'taken');"
                 "INSERT INTO devices(id, kind, created_ms) VALUES('dev-c', 'pillbox', 0);"
                 "INSERT INTO rejects(at_ms, transport, reason, detail, body_len)"
                 " VALUES(0, 0, 'r', 'd', 0)");
}

static void assert_kept(const struct kept *a, const struct kept *b)
{
    assert_int_equal(a->alerts, b->alerts);
    assert_int_equal(a->alert_events, b->alert_events);
    assert_int_equal(a->dose_events, b->dose_events);
    assert_int_equal(a->dose_slots, b->dose_slots);
    assert_int_equal(a->careplans, b->careplans);
    assert_int_equal(a->devices, b->devices);
    assert_int_equal(a->rejects, b->rejects);
    assert_int_equal(a->clinical, b->clinical);
}

static const char *const TEMP_HR = "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37.1,\"t\":1794000000},"
                                   "{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":70,\"t\":1794000000}]";
static const char *const TEMP_DOSE = "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37.2,\"t\":1794000060},"
                                     "{\"n\":\"dose\",\"vs\":\"2026-11-22T08:00/am\","
                                     "\"t\":1794000060},"
                                     "{\"n\":\"pro_nausea\",\"v\":1,\"t\":1794000060}]";
static const char *const TEMP_1 = "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37.3,\"t\":1794000120}]";
static const char *const TEMP_2 = "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37.4,\"t\":1794000180}]";
static const char *const DOSE_BATT = "[{\"n\":\"dose\",\"vs\":\"2026-11-22T20:00/pm\","
                                     "\"t\":1794000240},"
                                     "{\"n\":\"battery\",\"u\":\"%EL\",\"v\":80,\"t\":1794000240}]";

/* ---- retention ---- */

static void test_retention_prunes_forwarded_vitals(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f);

    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    put(f, st, DEV_A, 1, TEMP_HR, T0_MS);             /* old, forwarded */
    put(f, st, DEV_A, 2, TEMP_DOSE, T0_MS + 1);       /* old, forwarded, clinical records */
    put(f, st, DEV_A, 3, TEMP_1, T0_MS + 2);          /* old, not forwarded */
    put(f, st, DEV_A, 4, TEMP_2, T0_MS + 9 * DAY_MS); /* young, forwarded */
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    add_care_rows(st);
    int64_t p1 = pack_id(st, DEV_A, 1), p2 = pack_id(st, DEV_A, 2), p3 = pack_id(st, DEV_A, 3),
            p4 = pack_id(st, DEV_A, 4);
    exec_sql(st, "UPDATE packs SET forwarded_ms = %lld WHERE id IN (%lld, %lld, %lld)",
             (long long)T0_MS, (long long)p1, (long long)p2, (long long)p4);
    add_outbox(st, p1, 3); /* stale rows: p1's vitals lane empties; p2 keeps a symptom */
    add_outbox(st, p2, 3);
    add_outbox(st, p2, 1);
    add_outbox(st, p3, 3);
    struct kept k0 = kept(st);

    struct relais_housekeep_opts o = {
        .now_ms = T0_MS + 10 * DAY_MS,
        .retention_ms = 5 * DAY_MS,
        .forwarding = true,
        .downsample_step_ms = STEP_S * 1000,
    };
    struct relais_housekeep_result r = housekeep(st, &o);
    assert_int_equal(r.pruned, 3);
    assert_int_equal(r.pruned_packs, 2);
    assert_int_equal(r.downsampled, 0);
    assert_int_equal(r.evicted, 0);
    assert_int_equal(r.outbox_dropped, 1);
    assert_false(r.over_quota);
    assert_false(r.nothing_left);
    assert_false(r.more);

    /* p1: nothing left, body emptied, flagged; the row stays */
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings WHERE pack_id = %lld", (long long)p1),
                     0);
    assert_int_equal(q_int(st, "SELECT length(body) FROM packs WHERE id = %lld", (long long)p1), 0);
    assert_int_equal(q_int(st, "SELECT flags FROM packs WHERE id = %lld", (long long)p1),
                     RELAIS_PACK_FLAG_PRUNED);
    /* p2: dose and symptom kept with the body */
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings WHERE pack_id = %lld", (long long)p2),
                     2);
    assert_int_equal(q_int(st,
                           "SELECT count(*) FROM readings WHERE pack_id = %lld"
                           " AND mtag = relais_mtag('temp')",
                           (long long)p2),
                     0);
    assert_int_equal(q_int(st, "SELECT length(body) FROM packs WHERE id = %lld", (long long)p2),
                     (int64_t)strlen(TEMP_DOSE) + RELAIS_SEAL_OVERHEAD); /* sealed */
    assert_int_equal(q_int(st, "SELECT flags FROM packs WHERE id = %lld", (long long)p2), 0);
    assert_int_equal(outbox_rows(st, p1, 3), 0);
    assert_int_equal(outbox_rows(st, p2, 3), 1); /* pro_nausea is of the vitals lane */
    assert_int_equal(outbox_rows(st, p2, 1), 1);
    /* p3 (not forwarded) and p4 (young) untouched */
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings WHERE pack_id = %lld", (long long)p3),
                     1);
    assert_int_equal(outbox_rows(st, p3, 3), 1);
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings WHERE pack_id = %lld", (long long)p4),
                     1);

    /* resends are still duplicates */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(put(f, st, DEV_A, 1, TEMP_HR, T0_MS + 10 * DAY_MS), RELAIS_PUT_DUPLICATE);
    assert_int_equal(put(f, st, DEV_A, 2, TEMP_DOSE, T0_MS + 10 * DAY_MS), RELAIS_PUT_DUPLICATE);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    relais_store_close(st);
    st = open_store(f); /* and after a reopen (no seq cache) */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(put(f, st, DEV_A, 1, TEMP_HR, T0_MS + 10 * DAY_MS), RELAIS_PUT_DUPLICATE);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);

    struct kept k1 = kept(st);
    assert_kept(&k0, &k1);
    assert_int_equal(k1.audit, k0.audit + 1);
    assert_int_equal(q_int(st, "SELECT count(*) FROM audit WHERE kind = 'store.evicted'"), 1);
    struct drop_sum d = drops(st);
    assert_int_equal(d.pruned_retention, 3);
    assert_int_equal(d.pruned_quota + d.downsampled + d.evicted + d.other, 0);

    /* a second round finds nothing: no audit record, no count */
    r = housekeep(st, &o);
    assert_int_equal(r.pruned + r.downsampled + r.evicted + r.outbox_dropped, 0);
    assert_int_equal(q_int(st, "SELECT count(*) FROM audit"), k1.audit);
    assert_int_equal(drops(st).pruned_retention, 3);
    relais_store_close(st);
}

static void test_retention_without_forwarding_prunes_by_age(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f);

    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    put(f, st, DEV_A, 1, TEMP_HR, T0_MS);
    put(f, st, DEV_A, 2, TEMP_DOSE, T0_MS + 1);
    put(f, st, DEV_A, 3, TEMP_1, T0_MS + 9 * DAY_MS);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);

    struct relais_housekeep_opts o = {
        .now_ms = T0_MS + 10 * DAY_MS,
        .retention_ms = 5 * DAY_MS,
        .forwarding = false,
    };
    struct relais_housekeep_result r = housekeep(st, &o);
    assert_int_equal(r.pruned, 3);
    assert_int_equal(r.pruned_packs, 2);
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings"), 3); /* dose, pro_, young temp */
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings WHERE pack_id = %lld",
                           (long long)pack_id(st, DEV_A, 3)),
                     1);

    /* retention 0: nothing is pruned by age */
    o.retention_ms = 0;
    o.now_ms += 100 * DAY_MS;
    r = housekeep(st, &o);
    assert_int_equal(r.pruned, 0);
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings"), 3);
    relais_store_close(st);
}

/* ---- quota ---- */

/* DEV_A: n_fwd forwarded packs of 5 hr readings; DEV_B: n_new packs of 5 hr
 * readings one minute apart from an aligned start (3 packs per 15 min); one
 * DEV_C pack with a dose and a battery reading.  Outbox rows of DEV_B (lane
 * vitals) and DEV_C (adherence, device). */
static void fill(struct fixture *f, struct relais_store *st, int n_fwd, int n_new)
{
    char buf[2048];
    double t0 = (double)((int64_t)(NOW_S - 10 * 86400) / STEP_S * STEP_S);

    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    for (int i = 0; i < n_fwd; i++)
        put(f, st, DEV_A, (uint64_t)i + 1, hr_pack(buf, sizeof buf, t0 - 86400 + 300.0 * i, 5),
            T0_MS - DAY_MS + i);
    for (int i = 0; i < n_new; i++)
        put(f, st, DEV_B, (uint64_t)i + 1, hr_pack(buf, sizeof buf, t0 + 300.0 * i, 5), T0_MS + i);
    put(f, st, DEV_C, 1, DOSE_BATT, T0_MS + n_new);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    exec_sql(st, "UPDATE packs SET forwarded_ms = %lld WHERE device = '" DEV_A "'",
             (long long)T0_MS);
    exec_sql(st, "INSERT INTO outbox(lane, kind, ref, created_ms)"
                 " SELECT 3, 1, id, 0 FROM packs WHERE device = '" DEV_B "'");
    int64_t c = pack_id(st, DEV_C, 1);
    add_outbox(st, c, 1);
    add_outbox(st, c, 2);
    add_care_rows(st);
    assert_int_equal(
        sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL), SQLITE_OK);
}

static uint64_t db_bytes(struct relais_store *st)
{
    return (uint64_t)q_int(st, "SELECT (SELECT page_count FROM pragma_page_count())"
                               " - (SELECT freelist_count FROM pragma_freelist_count())") *
           (uint64_t)q_int(st, "PRAGMA page_size");
}

static void test_quota_prunes_forwarded_first(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f);

    fill(f, st, 1000, 300);
    int64_t new_before = q_int(st, "SELECT count(*) FROM readings r JOIN packs p ON p.id ="
                                   " r.pack_id WHERE p.device = '" DEV_B "'");
    uint64_t size = db_bytes(st);
    relais_store_set_quota(st, size - size / 10); /* over */
    assert_true(relais_store_over_quota(st));

    struct relais_housekeep_opts o = {
        .now_ms = T0_MS,
        .retention_ms = 30 * DAY_MS, /* nothing is that old */
        .forwarding = true,
        .downsample_step_ms = STEP_S * 1000,
        .max_rows_per_call = 100000,
        .target_bytes = size - size / 5, /* forwarded vitals are most of it */
    };
    struct relais_housekeep_result r = housekeep(st, &o);
    assert_true(r.pruned > 0);
    assert_true(r.pruned < 5000); /* not all: stopped under the target */
    assert_int_equal(r.downsampled, 0);
    assert_int_equal(r.evicted, 0);
    assert_false(r.more);
    assert_true(db_bytes(st) < o.target_bytes);
    assert_int_equal(drops(st).pruned_quota, r.pruned);
    assert_int_equal(drops(st).pruned_retention, 0);
    /* oldest first: every emptied forwarded pack is older than every other */
    assert_true(q_int(st, "SELECT max(id) FROM packs WHERE device = '" DEV_A "' AND flags & 2") <
                q_int(st, "SELECT min(pack_id) FROM readings r JOIN packs p ON p.id = r.pack_id"
                          " WHERE p.device = '" DEV_A "'"));
    /* what was never forwarded is all there */
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings r JOIN packs p ON p.id = r.pack_id"
                               " WHERE p.device = '" DEV_B "'"),
                     new_before);
    relais_store_close(st);
}

static void test_quota_downsamples_then_evicts_oldest(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f);

    fill(f, st, 0, 2400);
    struct kept k0 = kept(st);
    int64_t buckets = q_int(st,
                            "SELECT count(DISTINCT CAST(t / %d AS INTEGER)) FROM readings"
                            " WHERE mtag = relais_mtag('hr')",
                            STEP_S);
    int64_t hr = q_int(st, "SELECT count(*) FROM readings WHERE mtag = relais_mtag('hr')");
    assert_int_equal(hr, 2400 * 5);
    assert_int_equal(buckets, 800);
    uint64_t size = db_bytes(st);
    relais_store_set_quota(st, size / 3 * 2);

    /* downsampling alone brings the store under two thirds of its size */
    struct relais_housekeep_opts o = {
        .now_ms = T0_MS,
        .forwarding = true,
        .downsample_step_ms = STEP_S * 1000,
        .max_rows_per_call = 100000,
        .target_bytes = size / 3 * 2,
    };
    struct relais_housekeep_result r = housekeep(st, &o);
    assert_int_equal(r.pruned, 0);
    assert_int_equal(r.downsampled, hr - buckets);
    assert_int_equal(r.evicted, 0);
    assert_false(r.over_quota);
    assert_false(r.nothing_left);
    /* one reading per bucket, the first one */
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings WHERE mtag = relais_mtag('hr')"),
                     buckets);
    assert_int_equal(
        q_int(st,
              "SELECT count(*) FROM (SELECT count(*) c FROM readings"
              " WHERE mtag = relais_mtag('hr') GROUP BY CAST(t / %d AS INTEGER)) WHERE c > 1",
              STEP_S),
        0);
    assert_int_equal(q_int(st,
                           "SELECT count(*) FROM readings WHERE mtag = relais_mtag('hr')"
                           " AND CAST(t AS INTEGER) %% %d <> 0",
                           STEP_S),
                     0);
    /* emptied packs lost their body and outbox row; the battery stayed */
    int64_t emptied = q_int(st, "SELECT count(*) FROM packs WHERE device = '" DEV_B "'"
                                " AND flags & 2 AND length(body) = 0");
    assert_int_equal(emptied, 2400 - buckets);
    assert_int_equal(r.outbox_dropped, emptied);
    assert_int_equal(q_int(st, "SELECT count(*) FROM outbox WHERE lane = 3"), buckets);
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings WHERE mtag = relais_mtag('battery')"),
                     1);
    assert_int_equal(drops(st).downsampled, r.downsampled);

    /* now a quota nothing can meet: eviction, oldest first, 100 at a time */
    relais_store_set_quota(st, 1);
    o.target_bytes = 1;
    o.max_rows_per_call = 100;
    int64_t hundredth = q_int(st, "SELECT pack_id FROM readings WHERE mtag = relais_mtag('hr')"
                                  " ORDER BY pack_id, idx LIMIT 1 OFFSET 100");
    r = housekeep(st, &o);
    assert_int_equal(r.evicted, 100);
    assert_int_equal(r.downsampled, 0); /* all done with */
    assert_true(r.more);
    assert_true(r.over_quota);
    assert_false(r.nothing_left);
    assert_int_equal(q_int(st, "SELECT min(pack_id) FROM readings WHERE mtag = relais_mtag('hr')"),
                     hundredth);

    /* until only dose records are left: nothing_left */
    o.max_rows_per_call = 0; /* the default bound */
    int rounds = 0;
    do {
        r = housekeep(st, &o);
        assert_true(++rounds < 10);
    } while (r.more);
    assert_true(r.over_quota);
    assert_true(r.nothing_left);
    assert_int_equal(q_int(st, "SELECT count(*) FROM readings WHERE mtag <> relais_mtag('dose')"),
                     0);
    assert_int_equal(q_int(st, "SELECT count(*) FROM outbox WHERE lane IN (2, 3)"), 0);
    assert_int_equal(outbox_rows(st, pack_id(st, DEV_C, 1), 1), 1);
    struct drop_sum d = drops(st);
    assert_int_equal(d.evicted, buckets + 1);
    assert_int_equal(d.downsampled, hr - buckets);
    struct kept k1 = kept(st);
    assert_kept(&k0, &k1);
    assert_true(k1.audit > k0.audit);
    assert_int_equal(q_int(st, "SELECT count(*) FROM audit WHERE kind <> 'store.evicted'"),
                     k0.audit);

    /* nothing left: a further round removes nothing and says so again */
    r = housekeep(st, &o);
    assert_int_equal(r.evicted + r.downsampled + r.pruned, 0);
    assert_true(r.nothing_left);
    relais_store_close(st);
}

static void test_bounded_work_sets_more(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f);

    fill(f, st, 50, 0); /* 250 forwarded readings, a day old */
    struct relais_housekeep_opts o = {
        .now_ms = T0_MS + DAY_MS,
        .retention_ms = DAY_MS / 2,
        .forwarding = true,
        .max_rows_per_call = 12,
    };
    uint64_t total = 0;
    int calls = 0;
    struct relais_housekeep_result r;
    do {
        r = housekeep(st, &o);
        assert_true(r.pruned <= 12);
        total += r.pruned;
        assert_true(++calls < 100);
    } while (r.more);
    assert_int_equal(total, 250);
    assert_int_equal(calls, 21); /* 20 full rounds, and one that finds the end */
    assert_int_equal(q_int(st, "SELECT count(*) FROM packs WHERE device = '" DEV_A "'"
                               " AND flags & 2 AND length(body) = 0"),
                     50);
    assert_int_equal(drops(st).pruned_retention, 250);
    relais_store_close(st);
}

static void test_drops_add_and_walk(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f);

    assert_int_equal(relais_store_drop_add(st, "dead_letter", 2), RELAIS_OK);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_drop_add(st, "dead_letter", 3), RELAIS_OK);
    assert_int_equal(relais_store_drop_add(st, "evicted_quota", 0), RELAIS_OK);
    assert_int_equal(relais_store_drop_add(st, "evicted_quota", 7), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_int_equal(relais_store_drop_add(st, NULL, 1), RELAIS_EINVAL);
    struct drop_sum d = drops(st);
    assert_int_equal(d.other, 5);
    assert_int_equal(d.evicted, 7);
    assert_int_equal(q_int(st, "SELECT count(*) FROM drops"), 2);

    /* housekeeping inside an open transaction is refused */
    struct relais_housekeep_opts o = {.now_ms = T0_MS};
    struct relais_housekeep_result r;
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_housekeep(st, &o, &r), RELAIS_EINVAL);
    relais_store_rollback(st);
    relais_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retention_prunes_forwarded_vitals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_without_forwarding_prunes_by_age, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_quota_prunes_forwarded_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_downsamples_then_evicts_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_work_sets_more, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drops_add_and_walk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
