/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of ingest (edge/src/ingest.c): group commit and the durability
 * contract (DESIGN.md 3.5) on a real store in a temp dir and a loop on a fake
 * clock (commit_window_ms 5, commit_max_packs 4).
 *
 * The reply callback checks, for every stored, duplicate or rejected ack,
 * that what it acknowledges is already visible to a second, independent
 * read-only SQLite connection, i.e. committed; it records the ack.  Then:
 * flush on the 4th pack, on the window (next submit or the loop's timer), at
 * the end of a loop turn, on set_opts and on destroy; every status with its
 * "reason: detail"; busy on quota, on a locked store and when the COMMIT
 * fails (a commit hook refuses it); exact counters; unroutable inputs counted
 * and audited without an ack.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include "test_store_key.h"
#include "store_internal.h"
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
#include "relais/ingest.h"
#include "relais/log.h"
#include "relais/loop.h"
#include "relais/store.h"
#include "store_internal.h" /* st->db, for a commit hook that fails the COMMIT */

#define DEV_A     "dev-a"
#define DEV_B     "dev-b"
#define WALL0_MS  1795000000000LL
#define WINDOW_MS 5
#define MAX_PACKS 4
#define RETRY_S   30
#define MAX_SENT  64

struct reply {
    char device[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq;
    enum relais_wire_ack_status status;
    uint32_t records, retry_s;
    char error[RELAIS_WIRE_ACK_ERROR_MAX + 1];
    uint32_t sent; /* index of the submit it answers (its token) */
};

struct sent {
    char device[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq;
    uint8_t *body;
    size_t len;
};

struct fixture {
    char dir[256], path[320];
    uint64_t mono_ms;
    struct relais_clock clock;
    struct relais_loop *loop;
    struct relais_store *store;
    struct relais_ingest *ing;
    sqlite3 *reader; /* independent read-only connection */
    struct sent sent[MAX_SENT];
    size_t nsent;
    struct reply replies[MAX_SENT];
    size_t nreplies;
};

static uint64_t fake_mono_ms(void *ctx)
{
    return ((struct fixture *)ctx)->mono_ms;
}

static int64_t fake_wall_ms(void *ctx)
{
    return WALL0_MS + (int64_t)((struct fixture *)ctx)->mono_ms;
}

static const struct relais_ingest_opts default_opts = {
    .commit_window_ms = WINDOW_MS,
    .commit_max_packs = MAX_PACKS,
    .busy_retry_s = RETRY_S,
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");

    if (!f) return -1;
    relais_log_set_level(RELAIS_LOG_ERROR);
    snprintf(f->dir, sizeof f->dir, "%s/relais-test-ingest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) goto fail;
    snprintf(f->path, sizeof f->path, "%s/relais.db", f->dir);
    f->mono_ms = 1000;
    f->clock.mono_ms_cb = fake_mono_ms;
    f->clock.wall_ms_cb = fake_wall_ms;
    f->clock.ctx = f;
    if (relais_loop_create(&f->loop, &f->clock) != RELAIS_OK) goto fail;
    if (relais_store_open(&f->store, f->path, test_store_opts()) != RELAIS_OK) goto fail;
    if (relais_ingest_create(&f->ing, f->loop, f->store, &default_opts) != RELAIS_OK) goto fail;
    if (sqlite3_open_v2(f->path, &f->reader, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) goto fail;
    *state = f;
    return 0;
fail:
    fprintf(stderr, "setup failed\n");
    return -1;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d) return;
    while ((e = readdir(d))) {
        char p[600];

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    relais_ingest_destroy(f->ing);
    relais_store_close(f->store);
    relais_loop_destroy(f->loop);
    sqlite3_close(f->reader);
    for (size_t i = 0; i < f->nsent; i++)
        free(f->sent[i].body);
    remove_dir(f->dir);
    free(f);
    return 0;
}

/* ---- the reader: what is committed ---- */

static int64_t count_where(struct fixture *f, const char *sql, const char *device, uint64_t seq,
                           const uint8_t *body, size_t len)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(f->reader, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(f->reader));
    if (device) sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
    if (body)
        sqlite3_bind_blob(s, 3, body, (int)len, SQLITE_STATIC);
    else
        sqlite3_bind_int64(s, 3, (sqlite3_int64)len);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) fail_msg("%s: %s", sql, sqlite3_errmsg(f->reader));
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* bodies are sealed: a pack is found by its keyed body hash */
static int64_t committed_pack(struct fixture *f, const struct sent *in)
{
    struct store_keys k;
    uint8_t hash[RELAIS_SHA256_LEN];
    store__keys_derive(test_store_key(), &k);
    store__body_hash(&k, in->body, in->len, hash);
    return count_where(f,
                       "SELECT count(*) FROM packs WHERE device = ?1 AND seq = ?2"
                       " AND body_hash = ?3",
                       in->device, in->seq, hash, sizeof hash);
}

static int64_t committed_reject(struct fixture *f, const struct sent *in)
{
    return count_where(f,
                       "SELECT count(*) FROM rejects WHERE device = ?1 AND seq = ?2"
                       " AND body_len = ?3",
                       in->device, in->seq, NULL, in->len);
}

static int64_t reader_int(struct fixture *f, const char *sql)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(f->reader, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(f->reader));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* ---- submit and replies ---- */

static void reply_cb(void *ud, const char *device, const struct relais_wire_ack *ack,
                     const void *token, size_t token_len)
{
    struct fixture *f = ud;
    uint32_t idx;

    assert_int_equal(token_len, sizeof idx);
    memcpy(&idx, token, sizeof idx);
    assert_true(idx < f->nsent);
    const struct sent *in = &f->sent[idx];
    assert_string_equal(device, in->device);
    assert_int_equal(ack->seq, in->seq);
    /* acked only after the commit: nothing open, and visible to another connection */
    assert_false(relais_store_in_transaction(f->store));
    switch (ack->status) {
    case RELAIS_WIRE_ACK_STORED:
    case RELAIS_WIRE_ACK_DUPLICATE:
        if (committed_pack(f, in) != 1)
            fail_msg("%s/%llu acked %s but not committed", device, (unsigned long long)ack->seq,
                     relais_wire_ack_status_name(ack->status));
        break;
    case RELAIS_WIRE_ACK_REJECTED:
        if (committed_reject(f, in) < 1)
            fail_msg("%s/%llu acked rejected but its record is not committed", device,
                     (unsigned long long)ack->seq);
        break;
    case RELAIS_WIRE_ACK_BUSY: break;
    }
    assert_true(f->nreplies < MAX_SENT);
    struct reply *r = &f->replies[f->nreplies++];
    snprintf(r->device, sizeof r->device, "%s", device);
    r->seq = ack->seq;
    r->status = ack->status;
    r->records = ack->records;
    r->retry_s = ack->retry_s;
    snprintf(r->error, sizeof r->error, "%s", ack->error);
    r->sent = idx;
}

/* Submits body as device/seq (format told by the first byte); returns its index. */
static uint32_t submit_bytes(struct fixture *f, const char *device, uint64_t seq, const void *body,
                             size_t len)
{
    assert_true(f->nsent < MAX_SENT);
    uint32_t idx = (uint32_t)f->nsent;
    struct sent *s = &f->sent[f->nsent++];

    snprintf(s->device, sizeof s->device, "%s", device);
    s->seq = seq;
    s->body = malloc(len ? len : 1);
    assert_non_null(s->body);
    if (len) memcpy(s->body, body, len);
    s->len = len;
    struct relais_ingest_input in = {
        .transport = RELAIS_TRANSPORT_MQTT,
        .device = device,
        .seq = seq,
        .body = s->body,
        .len = len,
        .format = -1,
        .reply_cb = reply_cb,
        .reply_ud = f,
        .token = &idx,
        .token_len = sizeof idx,
    };
    assert_int_equal(relais_ingest_submit(f->ing, &in), RELAIS_OK);
    return idx;
}

static uint32_t submit(struct fixture *f, const char *device, uint64_t seq, const char *json)
{
    return submit_bytes(f, device, seq, json, strlen(json));
}

/* A valid pack of n temperature readings, different for each v. */
static const char *temps(char *buf, size_t cap, int n, int v)
{
    size_t w = (size_t)snprintf(buf, cap, "[");

    for (int i = 0; i < n; i++)
        w += (size_t)snprintf(buf + w, cap - w,
                              "%s{\"n\":\"temp\",\"u\":\"Cel\",\"v\":%d.%d,\"t\":%d}", i ? "," : "",
                              36 + v % 3, i, 1795000000 + i);
    snprintf(buf + w, cap - w, "]");
    return buf;
}

static const struct reply *reply_for(struct fixture *f, uint32_t sent)
{
    for (size_t i = 0; i < f->nreplies; i++)
        if (f->replies[i].sent == sent) return &f->replies[i];
    fail_msg("no reply for submit %u", sent);
    static const struct reply none; /* not reached: fail_msg() jumps out */
    return &none;
}

static const struct relais_ingest_counters *counters(struct fixture *f)
{
    return relais_ingest_get_counters(f->ing);
}

static void turn(struct fixture *f)
{
    assert_int_equal(relais_loop_run_once(f->loop, 0), RELAIS_OK);
}

/* ---- group commit ---- */

static void test_no_ack_before_commit_and_max_packs(void **state)
{
    struct fixture *f = *state;
    char b[256];

    submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    submit(f, DEV_A, 2, temps(b, sizeof b, 2, 2));
    submit(f, DEV_B, 1, temps(b, sizeof b, 3, 3));
    assert_int_equal(f->nreplies, 0);
    assert_int_equal(relais_ingest_pending(f->ing), 3);
    assert_true(relais_store_in_transaction(f->store));
    assert_int_equal(reader_int(f, "SELECT count(*) FROM packs"), 0); /* not committed yet */
    assert_int_equal(counters(f)->received, 3);
    assert_int_equal(counters(f)->stored, 0); /* counters move with the batch's fate */
    assert_int_equal(counters(f)->acks_sent, 0);

    submit(f, DEV_B, 2, temps(b, sizeof b, 1, 4)); /* the 4th: flushed now */
    assert_int_equal(f->nreplies, 4);
    assert_int_equal(relais_ingest_pending(f->ing), 0);
    assert_false(relais_store_in_transaction(f->store));
    for (uint32_t i = 0; i < 4; i++) {
        const struct reply *r = reply_for(f, i);
        assert_int_equal(r->status, RELAIS_WIRE_ACK_STORED);
        assert_string_equal(r->error, "");
        assert_int_equal(r->retry_s, 0);
    }
    assert_int_equal(reply_for(f, 1)->records, 2);
    assert_int_equal(reply_for(f, 2)->records, 3);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM packs"), 4);

    const struct relais_ingest_counters *c = counters(f);
    assert_int_equal(c->received, 4);
    assert_int_equal(c->stored, 4);
    assert_int_equal(c->readings, 7);
    assert_int_equal(c->commits, 1);
    assert_int_equal(c->commit_failures, 0);
    assert_int_equal(c->batch_max, 4);
    assert_int_equal(c->acks_sent, 4);
    assert_int_equal(c->duplicate + c->flagged + c->rejected + c->busy + c->unroutable, 0);
}

static void test_commit_window(void **state)
{
    struct fixture *f = *state;
    char b[256];

    submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    f->mono_ms += WINDOW_MS - 1;
    submit(f, DEV_A, 2, temps(b, sizeof b, 1, 2)); /* 4 ms: same batch */
    assert_int_equal(f->nreplies, 0);
    assert_int_equal(relais_ingest_pending(f->ing), 2);
    f->mono_ms += 1;
    submit(f, DEV_A, 3, temps(b, sizeof b, 1, 3)); /* 5 ms after the first: it flushes first */
    assert_int_equal(f->nreplies, 2);
    assert_int_equal(f->replies[0].seq, 1);
    assert_int_equal(f->replies[1].seq, 2);
    assert_int_equal(relais_ingest_pending(f->ing), 1);
    assert_int_equal(counters(f)->commits, 1);
    /* the window of the new batch starts at its first pack */
    f->mono_ms += WINDOW_MS - 1;
    submit(f, DEV_A, 4, temps(b, sizeof b, 1, 4));
    assert_int_equal(f->nreplies, 2);
    f->mono_ms += WINDOW_MS;
    submit(f, DEV_A, 5, temps(b, sizeof b, 1, 5));
    assert_int_equal(f->nreplies, 4);
    assert_int_equal(relais_ingest_pending(f->ing), 1);
    assert_int_equal(counters(f)->commits, 2);
    assert_int_equal(counters(f)->batch_max, 2);
    assert_int_equal(counters(f)->stored, 4);
}

static void test_window_timer_and_end_of_turn_hook(void **state)
{
    struct fixture *f = *state;
    char b[256];

    /* the end-of-turn hook flushes whatever the turn gathered */
    submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    submit(f, DEV_B, 1, temps(b, sizeof b, 1, 2));
    assert_int_equal(f->nreplies, 0);
    turn(f);
    assert_int_equal(f->nreplies, 2);
    assert_int_equal(counters(f)->commits, 1);
    assert_int_equal(counters(f)->batch_max, 2);
    /* a turn with nothing pending commits nothing */
    turn(f);
    assert_int_equal(counters(f)->commits, 1);
    /* the window timer is due after 5 ms: the turn that runs it flushes */
    submit(f, DEV_A, 2, temps(b, sizeof b, 1, 3));
    f->mono_ms += WINDOW_MS;
    turn(f);
    assert_int_equal(f->nreplies, 3);
    assert_int_equal(relais_ingest_pending(f->ing), 0);
    assert_int_equal(counters(f)->commits, 2);
    turn(f); /* the cancelled timer does not fire again */
    assert_int_equal(counters(f)->commits, 2);
    assert_int_equal(counters(f)->acks_sent, 3);
}

/* ---- statuses ---- */

static void expect_rejected(struct fixture *f, uint32_t idx, const char *reason, const char *detail)
{
    const struct reply *r = reply_for(f, idx);
    size_t l = strlen(reason);

    assert_int_equal(r->status, RELAIS_WIRE_ACK_REJECTED);
    assert_int_equal(r->records, 0);
    if (strncmp(r->error, reason, l) != 0 || strncmp(r->error + l, ": ", 2) != 0 ||
        !r->error[l + 2])
        fail_msg("error '%s' is not '%s: <detail>'", r->error, reason);
    if (detail && !strstr(r->error, detail))
        fail_msg("error '%s' does not say '%s'", r->error, detail);
}

static void test_statuses_and_counters(void **state)
{
    struct fixture *f = *state;
    char b[256];
    static const uint8_t bad_cbor[] = {0x81, 0xa1, 0x00}; /* a map cut short */
    size_t big_len = RELAIS_SENML_MAX_BYTES + 1;
    char *big = malloc(big_len);

    assert_non_null(big);
    memset(big, ' ', big_len);
    big[0] = '[';
    uint32_t stored = submit(f, DEV_A, 1, temps(b, sizeof b, 2, 1));
    turn(f);
    uint32_t dup = submit(f, DEV_A, 1, temps(b, sizeof b, 2, 1));
    uint32_t flagged = submit(f, DEV_A, 1, temps(b, sizeof b, 2, 2));
    uint32_t json = submit(f, DEV_A, 2, "[{\"n\":\"temp\",");
    uint32_t cbor = submit_bytes(f, DEV_A, 3, bad_cbor, sizeof bad_cbor); /* flushes 4 */
    uint32_t fmt = submit(f, DEV_A, 4, "{\"n\":\"temp\"}");
    uint32_t large = submit_bytes(f, DEV_B, 5, big, big_len);
    uint32_t unit = submit(f, DEV_B, 6, "[{\"n\":\"temp\",\"u\":\"F\",\"v\":98.6}]");
    uint32_t dup2 = submit(f, DEV_A, 1, temps(b, sizeof b, 2, 2)); /* the flagged one again */
    free(big);
    assert_int_equal(f->nreplies, 9);

    assert_int_equal(reply_for(f, stored)->status, RELAIS_WIRE_ACK_STORED);
    assert_int_equal(reply_for(f, stored)->records, 2);
    assert_int_equal(reply_for(f, dup)->status, RELAIS_WIRE_ACK_DUPLICATE);
    assert_int_equal(reply_for(f, dup)->records, 2);
    assert_string_equal(reply_for(f, dup)->error, "");
    assert_int_equal(reply_for(f, flagged)->status, RELAIS_WIRE_ACK_STORED); /* stored, flagged */
    assert_int_equal(reply_for(f, flagged)->records, 2);
    assert_int_equal(reply_for(f, dup2)->status, RELAIS_WIRE_ACK_DUPLICATE);
    expect_rejected(f, json, "malformed_json", NULL);
    expect_rejected(f, cbor, "malformed_cbor", NULL);
    expect_rejected(f, fmt, "unknown_format", "first byte 0x7b");
    expect_rejected(f, large, "too_large", "pack of 65537 bytes exceeds 65536");
    expect_rejected(f, unit, "bad_unit", NULL);

    const struct relais_ingest_counters *c = counters(f);
    assert_int_equal(c->received, 9);
    assert_int_equal(c->stored, 2);
    assert_int_equal(c->flagged, 1);
    assert_int_equal(c->duplicate, 2);
    assert_int_equal(c->rejected, 5);
    assert_int_equal(c->rejected_by[RELAIS_REJECT_JSON], 1);
    assert_int_equal(c->rejected_by[RELAIS_REJECT_CBOR], 1);
    assert_int_equal(c->rejected_by[RELAIS_REJECT_FORMAT], 1);
    assert_int_equal(c->rejected_by[RELAIS_REJECT_TOO_LARGE], 1);
    assert_int_equal(c->rejected_by[RELAIS_REJECT_UNIT], 1);
    uint64_t by = 0;
    for (int i = 0; i < RELAIS_REJECT_COUNT; i++)
        by += c->rejected_by[i];
    assert_int_equal(by, 5);
    assert_int_equal(c->busy, 0);
    assert_int_equal(c->unroutable, 0);
    assert_int_equal(c->readings, 4);
    assert_int_equal(c->commits, 3);
    assert_int_equal(c->commit_failures, 0);
    assert_int_equal(c->batch_max, 4);
    assert_int_equal(c->acks_sent, 9);

    /* what the store holds */
    assert_int_equal(reader_int(f, "SELECT count(*) FROM packs"), 2);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM packs WHERE flags & 1"), 1);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM rejects"), 5);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM rejects WHERE reason = 'too_large'"
                                   " AND body IS NULL AND body_len = 65537"),
                     1);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM audit WHERE kind = 'input.rejected'"), 5);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM audit WHERE kind = 'input.seq_reused'"),
                     1);
}

static void test_busy_over_quota(void **state)
{
    struct fixture *f = *state;
    char b[256];

    relais_store_set_quota(f->store, 1);
    assert_true(relais_store_over_quota(f->store));
    uint32_t busy = submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    uint32_t bad = submit(f, DEV_A, 2, "{\"n\":\"temp\"}");
    /* a pack that decoding refuses is rejected for good, quota or not (ingest.h) */
    uint32_t bad2 = submit(f, DEV_A, 3, "[{\"n\":\"temp\",\"u\":\"F\",\"v\":98.6}]");
    turn(f);
    assert_int_equal(f->nreplies, 3);
    expect_rejected(f, bad2, "bad_unit", NULL);
    const struct reply *r = reply_for(f, busy);
    assert_int_equal(r->status, RELAIS_WIRE_ACK_BUSY);
    assert_int_equal(r->retry_s, RETRY_S);
    assert_int_equal(r->records, 0);
    assert_true(strncmp(r->error, "store_full: ", 12) == 0);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM packs"), 0);
    /* over quota a rejection is still recorded, without its body */
    expect_rejected(f, bad, "unknown_format", NULL);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM rejects WHERE body IS NULL"
                                   " AND body_len = 12"),
                     1);
    assert_int_equal(counters(f)->busy, 1);
    assert_int_equal(counters(f)->rejected, 2);
    assert_int_equal(counters(f)->stored, 0);

    /* room again: the resend is stored */
    relais_store_set_quota(f->store, 0);
    uint32_t again = submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    turn(f);
    assert_int_equal(reply_for(f, again)->status, RELAIS_WIRE_ACK_STORED);
    assert_int_equal(counters(f)->stored, 1);
    assert_int_equal(counters(f)->acks_sent, 4);
    assert_int_equal(counters(f)->received, 4);
}

static void test_busy_when_the_store_is_locked(void **state)
{
    struct fixture *f = *state;
    sqlite3 *other = NULL;
    char b[256];

    /* another writer holds the write lock: BEGIN IMMEDIATE times out */
    assert_int_equal(sqlite3_open_v2(f->path, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    uint32_t busy = submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    turn(f);
    const struct reply *r = reply_for(f, busy);
    assert_int_equal(r->status, RELAIS_WIRE_ACK_BUSY);
    assert_int_equal(r->retry_s, RETRY_S);
    assert_true(strncmp(r->error, "store_unavailable: ", 19) == 0);
    assert_int_equal(counters(f)->busy, 1);
    assert_int_equal(counters(f)->commit_failures, 1);
    assert_false(relais_store_in_transaction(f->store));
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);

    uint32_t again = submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    turn(f);
    assert_int_equal(reply_for(f, again)->status, RELAIS_WIRE_ACK_STORED);
    assert_int_equal(counters(f)->stored, 1);
}

static int refuse_commit(void *ud)
{
    (void)ud;
    return 1; /* the COMMIT becomes a ROLLBACK and fails */
}

static void test_failed_commit_makes_every_ack_busy(void **state)
{
    struct fixture *f = *state;
    char b[256];

    submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    turn(f);
    assert_int_equal(counters(f)->commits, 1);

    sqlite3_commit_hook(f->store->db, refuse_commit, NULL);
    uint32_t s1 = submit(f, DEV_A, 2, temps(b, sizeof b, 2, 2));
    uint32_t dup = submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    uint32_t flag = submit(f, DEV_A, 1, temps(b, sizeof b, 1, 2));
    uint32_t rej = submit(f, DEV_B, 1, "[{\"n\":\"temp\",\"u\":\"F\",\"v\":98.6}]");
    sqlite3_commit_hook(f->store->db, NULL, NULL);
    assert_int_equal(f->nreplies, 5);
    const uint32_t all[] = {s1, dup, flag, rej};
    for (size_t i = 0; i < 4; i++) {
        const struct reply *r = reply_for(f, all[i]);
        assert_int_equal(r->status, RELAIS_WIRE_ACK_BUSY);
        assert_int_equal(r->retry_s, RETRY_S);
        assert_int_equal(r->records, 0);
        assert_true(strncmp(r->error, "store_unavailable: ", 19) == 0);
    }
    assert_false(relais_store_in_transaction(f->store));
    assert_int_equal(reader_int(f, "SELECT count(*) FROM packs"), 1);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM rejects"), 0);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM audit"), 0);
    const struct relais_ingest_counters *c = counters(f);
    assert_int_equal(c->received, 5);
    assert_int_equal(c->stored, 1);
    assert_int_equal(c->busy, 4);
    assert_int_equal(c->duplicate + c->flagged + c->rejected, 0);
    assert_int_equal(c->readings, 1);
    assert_int_equal(c->commits, 1);
    assert_int_equal(c->commit_failures, 1);
    assert_int_equal(c->batch_max, 4);
    assert_int_equal(c->acks_sent, 5);

    /* the resends go through, and the audit chain starts where it was */
    uint32_t r1 = submit(f, DEV_A, 2, temps(b, sizeof b, 2, 2));
    uint32_t r2 = submit(f, DEV_A, 1, temps(b, sizeof b, 1, 2));
    uint32_t r3 = submit(f, DEV_B, 1, "[{\"n\":\"temp\",\"u\":\"F\",\"v\":98.6}]");
    turn(f);
    assert_int_equal(reply_for(f, r1)->status, RELAIS_WIRE_ACK_STORED);
    assert_int_equal(reply_for(f, r2)->status, RELAIS_WIRE_ACK_STORED);
    expect_rejected(f, r3, "bad_unit", NULL);
    assert_int_equal(c->flagged, 1);
    assert_int_equal(c->commit_failures, 1);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM audit"), 2);
    assert_int_equal(reader_int(f, "SELECT min(id) FROM audit"), 1);
}

/* ---- unroutable ---- */

static void test_unroutable(void **state)
{
    struct fixture *f = *state;
    char b[256];

    /* alone: recorded, committed by the end of the turn, no ack */
    relais_ingest_unroutable(f->ing, RELAIS_TRANSPORT_MQTT, "relais/dev/BAD/up/1", 42);
    assert_int_equal(f->nreplies, 0);
    assert_true(relais_store_in_transaction(f->store));
    assert_int_equal(reader_int(f, "SELECT count(*) FROM rejects"), 0);
    turn(f);
    assert_false(relais_store_in_transaction(f->store));
    assert_int_equal(f->nreplies, 0);
    assert_int_equal(reader_int(f,
                                "SELECT count(*) FROM rejects WHERE device IS NULL AND seq IS NULL"
                                " AND reason = 'bad_topic' AND body_len = 42"),
                     1);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM audit WHERE kind = 'input.rejected'"
                                   " AND detail LIKE 'mqtt bad_topic: %relais/dev/BAD/up/1%'"),
                     1);
    const struct relais_ingest_counters *c = counters(f);
    assert_int_equal(c->received, 1);
    assert_int_equal(c->unroutable, 1);
    assert_int_equal(c->rejected_by[RELAIS_REJECT_TOPIC], 1);
    assert_int_equal(c->rejected, 0);
    assert_int_equal(c->acks_sent, 0);

    /* with a batch open: it commits with the batch */
    submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    relais_ingest_unroutable(f->ing, RELAIS_TRANSPORT_COAP, "dev/x/up", 7);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM rejects"), 1);
    assert_int_equal(relais_ingest_pending(f->ing), 1);
    turn(f);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM rejects"), 2);
    assert_int_equal(f->nreplies, 1);
    assert_int_equal(c->received, 3);
    assert_int_equal(c->unroutable, 2);
    assert_int_equal(c->rejected_by[RELAIS_REJECT_TOPIC], 2);
    assert_int_equal(c->acks_sent, 1);
    assert_int_equal(c->stored, 1);
}

/* ---- options and destroy ---- */

static void test_set_opts_flushes_pending(void **state)
{
    struct fixture *f = *state;
    struct relais_ingest_opts o = default_opts;
    char b[256];

    submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    submit(f, DEV_A, 2, temps(b, sizeof b, 1, 2));
    o.commit_max_packs = 2;
    assert_int_equal(relais_ingest_set_opts(f->ing, &o), RELAIS_OK);
    assert_int_equal(f->nreplies, 2); /* flushed before the change */
    assert_int_equal(relais_ingest_pending(f->ing), 0);
    submit(f, DEV_A, 3, temps(b, sizeof b, 1, 3));
    assert_int_equal(f->nreplies, 2);
    submit(f, DEV_A, 4, temps(b, sizeof b, 1, 4)); /* the new maximum */
    assert_int_equal(f->nreplies, 4);
    assert_int_equal(counters(f)->commits, 2);
    /* 0 means one pack per commit */
    o.commit_max_packs = 0;
    assert_int_equal(relais_ingest_set_opts(f->ing, &o), RELAIS_OK);
    submit(f, DEV_A, 5, temps(b, sizeof b, 1, 5));
    assert_int_equal(f->nreplies, 5);
    /* a larger maximum */
    o.commit_max_packs = 8;
    assert_int_equal(relais_ingest_set_opts(f->ing, &o), RELAIS_OK);
    for (uint64_t seq = 6; seq < 13; seq++)
        submit(f, DEV_B, seq, temps(b, sizeof b, 1, (int)seq));
    assert_int_equal(f->nreplies, 5);
    submit(f, DEV_B, 13, temps(b, sizeof b, 1, 13));
    assert_int_equal(f->nreplies, 13);
    assert_int_equal(counters(f)->batch_max, 8);
    assert_int_equal(counters(f)->stored, 13);
}

static void test_destroy_flushes(void **state)
{
    struct fixture *f = *state;
    char b[256];

    submit(f, DEV_A, 1, temps(b, sizeof b, 1, 1));
    assert_int_equal(f->nreplies, 0);
    relais_ingest_destroy(f->ing);
    f->ing = NULL;
    assert_int_equal(f->nreplies, 1);
    assert_int_equal(f->replies[0].status, RELAIS_WIRE_ACK_STORED);
    assert_int_equal(reader_int(f, "SELECT count(*) FROM packs"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_ack_before_commit_and_max_packs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_timer_and_end_of_turn_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses_and_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_over_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_when_the_store_is_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_makes_every_ack_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unroutable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_opts_flushes_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_flushes, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
