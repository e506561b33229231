/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the store (edge/src/store.c, store_query.c): file mode and
 * pragmas, schema version and forward migration from a version-1 database,
 * a newer schema refused, corrupt files moved aside, dedup on (device, seq)
 * in one transaction and across close/reopen (the max-seq cache), rollback,
 * the hash-chained audit trail, quota and size, read-only opens, the walks
 * and their filters, rejected inputs, and readings of every kind round-trip
 * from real SenML (JSON and CBOR).
 *
 * Every test works in its own mkdtemp directory under $TMPDIR (or /tmp) and
 * removes it.  The store's private header is used to reach st->db and the
 * audit hash function.
 *
 * Two tests fail until bugs of the corrupt-store path are fixed: a second
 * corruption found in the same second replaces the first copy, and the WAL
 * of a corrupt store is checkpointed into it and deleted before the move.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include "test_store_key.h"
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/senml.h"
#include "relais/store.h"
#include "store_internal.h"

#define DEV_A   "dev-a"
#define DEV_B   "dev-b"
#define T0_MS   1795000000000LL
#define NOW_S   1795000000.0
#define DB_NAME "relais.db"

/* ---- fixture: a temp dir and the store's path in it ---- */

struct fixture {
    char dir[256];
    char path[320];
    struct relais_pack pack;
    void *owned[32]; /* freed by teardown, so that a failed assertion leaks nothing */
    size_t nowned;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");

    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "%s/relais-test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, DB_NAME);
    relais_pack_init(&f->pack);
    relais_log_set_level(RELAIS_LOG_ERROR);
    *state = f;
    return 0;
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

    relais_pack_cleanup(&f->pack);
    for (size_t i = 0; i < f->nowned; i++)
        free(f->owned[i]);
    remove_dir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---- */

/* Zeroed memory owned by f (freed by teardown). */
static void *own(struct fixture *f, void *p)
{
    assert_non_null(p);
    assert_true(f->nowned < sizeof f->owned / sizeof f->owned[0]);
    f->owned[f->nowned++] = p;
    return p;
}

static void *zalloc(struct fixture *f, size_t size)
{
    return own(f, calloc(1, size));
}

static struct relais_store *open_store(struct fixture *f, bool readonly)
{
    struct relais_store *st = NULL;
    struct relais_store_opts o = {.readonly = readonly, .key = test_store_key()};

    assert_int_equal(relais_store_open(&st, f->path, &o), RELAIS_OK);
    assert_non_null(st);
    return st;
}

/* Decodes JSON SenML published by device into f->pack, as seq. */
static const struct relais_pack *decode_fmt(struct fixture *f, enum relais_senml_format fmt,
                                            const char *device, uint64_t seq, const void *body,
                                            size_t len)
{
    struct relais_senml_error err;
    int rc = relais_senml_decode(&f->pack, fmt, body, len, device, NOW_S, &err);

    if (rc != RELAIS_OK)
        fail_msg("decode: %s: %s", relais_reject_reason_name(err.reason), err.detail);
    snprintf(f->pack.device, sizeof f->pack.device, "%s", device);
    f->pack.seq = seq;
    return &f->pack;
}

static const struct relais_pack *decode(struct fixture *f, const char *device, uint64_t seq,
                                        const char *json)
{
    return decode_fmt(f, RELAIS_SENML_JSON, device, seq, json, strlen(json));
}

/* Puts a JSON pack (inside the open transaction) and returns the put result. */
static enum relais_store_put put_json(struct fixture *f, struct relais_store *st,
                                      const char *device, uint64_t seq, const char *json)
{
    enum relais_store_put res = (enum relais_store_put) - 1;

    decode(f, device, seq, json);
    assert_int_equal(relais_store_put_pack(st, &f->pack, (const uint8_t *)json, strlen(json),
                                           RELAIS_TRANSPORT_MQTT, T0_MS + (int64_t)seq, &res),
                     RELAIS_OK);
    return res;
}

/* Same, in its own committed transaction. */
static enum relais_store_put put_commit(struct fixture *f, struct relais_store *st,
                                        const char *device, uint64_t seq, const char *json)
{
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    enum relais_store_put res = put_json(f, st, device, seq, json);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_false(relais_store_in_transaction(st));
    return res;
}

static struct relais_store_totals totals(struct relais_store *st)
{
    struct relais_store_totals t;

    assert_int_equal(relais_store_totals(st, &t), RELAIS_OK);
    return t;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The text of the first column of the first row, owned by f. */
static char *query_text(struct fixture *f, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(s, 0);
    char *v = strdup(t ? (const char *)t : "(null)");
    sqlite3_finalize(s);
    return own(f, v);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* Walks the audit table: ids 1..n without a gap, each prev_hash the previous
 * row's hash (32 zero bytes first), each hash recomputed.  Returns n. */
static int64_t verify_audit_chain(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    uint8_t prev[RELAIS_SHA256_LEN] = {0};
    int64_t n = 0;

    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id, at_ms, kind, subject, detail, prev_hash, hash"
                                        " FROM audit ORDER BY id",
                                        -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        uint8_t h[RELAIS_SHA256_LEN];
        int64_t id = sqlite3_column_int64(s, 0);

        if (id != n + 1) fail_msg("audit id %lld follows %lld", (long long)id, (long long)n);
        n = id;
        assert_int_equal(sqlite3_column_bytes(s, 5), RELAIS_SHA256_LEN);
        assert_int_equal(sqlite3_column_bytes(s, 6), RELAIS_SHA256_LEN);
        if (memcmp(sqlite3_column_blob(s, 5), prev, RELAIS_SHA256_LEN) != 0)
            fail_msg("audit row %lld: prev_hash is not the previous row's hash", (long long)id);
        store__audit_hash(
            prev, id, sqlite3_column_int64(s, 1), (const char *)sqlite3_column_text(s, 2),
            (const char *)sqlite3_column_text(s, 3), (const char *)sqlite3_column_text(s, 4), h);
        if (memcmp(sqlite3_column_blob(s, 6), h, RELAIS_SHA256_LEN) != 0)
            fail_msg("audit row %lld: hash does not match its content", (long long)id);
        memcpy(prev, h, sizeof prev);
    }
    sqlite3_finalize(s);
    return n;
}

static int64_t audit_count(sqlite3 *db, const char *kind)
{
    char sql[160];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE kind = '%s'", kind);
    return query_int(db, sql);
}

static bool file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static unsigned file_mode(const char *p)
{
    struct stat sb;

    if (stat(p, &sb) != 0) fail_msg("stat %s failed", p);
    return (unsigned)(sb.st_mode & 0777);
}

/* Names of the files moved aside ("<db>.corrupt-<time>", not -wal/-shm). */
static size_t corrupt_files(struct fixture *f, char names[][64], size_t max)
{
    DIR *d = opendir(f->dir);
    struct dirent *e;
    size_t n = 0;
    const char *prefix = DB_NAME ".corrupt-";

    assert_non_null(d);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);

        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        if (l > 4 &&
            (strcmp(e->d_name + l - 4, "-wal") == 0 || strcmp(e->d_name + l - 4, "-shm") == 0))
            continue;
        assert_true(l < 64);
        if (n < max) memcpy(names[n], e->d_name, l + 1);
        n++;
    }
    closedir(d);
    return n;
}

/* The whole file, owned by f. */
static uint8_t *read_file(struct fixture *f, const char *p, size_t *len)
{
    FILE *fp = fopen(p, "rb");
    uint8_t *buf;
    long sz;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    sz = ftell(fp);
    assert_true(sz >= 0);
    rewind(fp);
    buf = own(f, malloc((size_t)sz + 1));
    assert_int_equal(fread(buf, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    *len = (size_t)sz;
    return buf;
}

static void write_file(const char *p, const uint8_t *buf, size_t len)
{
    FILE *fp = fopen(p, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Deterministic "random" bytes. */
static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)(x >> 24);
    }
}

static char *json_temp(char *buf, size_t cap, double v)
{
    snprintf(buf, cap, "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":%.1f,\"t\":1795000000}]", v);
    return buf;
}

/* ---- opening ---- */

static void test_open_creates_0600_with_wal_and_shm(void **state)
{
    struct fixture *f = *state;
    char p[400];
    mode_t old = umask(022);
    struct relais_store *st = open_store(f, false);

    umask(old);
    assert_string_equal(relais_store_path(st), f->path);
    assert_int_equal(file_mode(f->path), 0600);
    put_commit(f, st, DEV_A, 1, "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37}]");
    snprintf(p, sizeof p, "%s-wal", f->path);
    assert_true(file_exists(p));
    assert_int_equal(file_mode(p), 0600);
    snprintf(p, sizeof p, "%s-shm", f->path);
    assert_true(file_exists(p));
    assert_int_equal(file_mode(p), 0600);
    relais_store_close(st);
    assert_int_equal(file_mode(f->path), 0600);
    relais_store_close(NULL);
}

static void test_pragmas(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    char *mode = query_text(f, st->db, "PRAGMA journal_mode");

    assert_string_equal(mode, "wal");
    assert_int_equal(query_int(st->db, "PRAGMA synchronous"), 2);
    assert_int_equal(query_int(st->db, "PRAGMA foreign_keys"), 1);
    /* the foreign key is enforced: a reading of no pack is refused */
    assert_int_not_equal(sqlite3_exec(st->db,
                                      "INSERT INTO readings(pack_id, idx, metric, unit, kind, t,"
                                      " t_src) VALUES(999, 0, 'temp', 'Cel', 0, 1, 0)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    relais_store_close(st);
}

static void test_schema_version(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    int v = -1;

    assert_int_equal(totals(st).schema_version, STORE_SCHEMA_VERSION);
    assert_int_equal(store__schema_version(st->db, &v), RELAIS_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    assert_int_equal(query_int(st->db, "SELECT count(*) FROM schema_version"), 1);
    relais_store_close(st);
    /* reopening does not migrate again */
    st = open_store(f, false);
    assert_int_equal(totals(st).schema_version, STORE_SCHEMA_VERSION);
    assert_int_equal(query_int(st->db, "SELECT count(*) FROM schema_version"), 1);
    relais_store_close(st);
}

static void test_forward_migration_from_v1(void **state)
{
    struct fixture *f = *state;
    const char *body = "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37.5,\"t\":1795000000}]";
    uint8_t hash[RELAIS_SHA256_LEN];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int v = -1;

    assert_int_equal(
        sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    assert_int_equal(store__migrate(db, 1), RELAIS_OK);
    assert_int_equal(store__schema_version(db, &v), RELAIS_OK);
    assert_int_equal(v, 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'devices'"), 0);
    relais_sha256(body, strlen(body), hash);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "INSERT INTO packs(id, device, seq, body_hash, body, format,"
                           " transport, received_ms, records, flags)"
                           " VALUES(1, 'dev-a', 7, ?1, ?2, 0, 0, 1795000000000, 1, 0)",
                           -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_blob(s, 1, hash, sizeof hash, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, body, (int)strlen(body), SQLITE_STATIC);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    exec_sql(db, "INSERT INTO readings(pack_id, idx, metric, unit, kind, v, t, t_src)"
                 " VALUES(1, 0, 'temp', 'Cel', 0, 37.5, 1795000000, 0)");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    struct relais_store *st = open_store(f, false);
    struct relais_store_totals t = totals(st);
    assert_int_equal(t.schema_version, STORE_SCHEMA_VERSION);
    assert_int_equal(t.packs, 1);
    assert_int_equal(t.readings, 1);
    assert_int_equal(query_int(st->db, "SELECT count(*) FROM sqlite_master WHERE name = 'devices'"),
                     1);
    assert_int_equal(
        query_int(st->db, "SELECT count(*) FROM sqlite_master WHERE name = 'packs_received'"), 1);
    assert_int_equal(query_int(st->db, "SELECT seq FROM packs WHERE device = 'dev-a'"), 7);
    /* the migrated row takes part in dedup: same body duplicate, another flagged */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(put_json(f, st, DEV_A, 7, body), RELAIS_PUT_DUPLICATE);
    assert_int_equal(put_json(f, st, DEV_A, 7, "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":38}]"),
                     RELAIS_PUT_FLAGGED);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    relais_store_close(st);
}

static void test_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    struct relais_store_opts ro = {.readonly = true};
    char sql[96], names[4][64];
    sqlite3 *db = NULL;

    put_commit(f, st, DEV_A, 1, "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37}]");
    relais_store_close(st);
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d", STORE_SCHEMA_VERSION + 1);
    exec_sql(db, sql);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    st = NULL;
    assert_int_equal(relais_store_open(&st, f->path, test_store_opts()), RELAIS_EVERSION);
    assert_null(st);
    assert_int_equal(relais_store_open(&st, f->path, &ro), RELAIS_EVERSION);
    assert_null(st);
    /* refused, not mistaken for corruption: nothing moved aside, data intact */
    assert_int_equal(corrupt_files(f, names, 4), 0);
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(query_int(db, "SELECT count(*) FROM packs"), 1);
    assert_int_equal(query_int(db, "SELECT version FROM schema_version"), STORE_SCHEMA_VERSION + 1);
    sqlite3_close(db);
}

/* Checks that exactly one file was moved aside, holding `want`, and that
 * the fresh store has only the store.corrupt audit row. */
static void check_moved_aside(struct fixture *f, struct relais_store *st, const uint8_t *want,
                              size_t want_len, time_t before)
{
    char names[4][64], p[400];
    size_t len;
    long long stamp = 0;

    assert_int_equal(corrupt_files(f, names, 4), 1);
    assert_int_equal(sscanf(names[0], DB_NAME ".corrupt-%lld", &stamp), 1);
    assert_true(stamp >= (long long)before && stamp <= (long long)time(NULL));
    snprintf(p, sizeof p, "%s/%s", f->dir, names[0]);
    uint8_t *got = read_file(f, p, &len);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, len);

    struct relais_store_totals t = totals(st);
    assert_int_equal(t.schema_version, STORE_SCHEMA_VERSION);
    assert_int_equal(t.packs, 0);
    assert_int_equal(t.audit, 1);
    assert_int_equal(audit_count(st->db, "store.corrupt"), 1);
    char *subject = query_text(f, st->db, "SELECT subject FROM audit WHERE kind = 'store.corrupt'");
    assert_string_equal(subject, f->path);
    assert_int_equal(verify_audit_chain(st->db), 1);
}

static void test_corrupt_random_bytes_moved_aside(void **state)
{
    struct fixture *f = *state;
    uint8_t junk[3 * 4096];
    time_t before = time(NULL);

    fill_random(junk, sizeof junk, 42);
    write_file(f->path, junk, sizeof junk);
    struct relais_store *st = open_store(f, false);
    check_moved_aside(f, st, junk, sizeof junk, before);
    /* the fresh store works */
    assert_int_equal(put_commit(f, st, DEV_A, 1, "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37}]"),
                     RELAIS_PUT_STORED);
    relais_store_close(st);
    assert_int_equal(file_mode(f->path), 0600);
}

static void test_corrupt_page_moved_aside(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    char body[128];
    size_t len;

    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    for (uint64_t seq = 1; seq <= 300; seq++)
        put_json(f, st, DEV_A, seq, json_temp(body, sizeof body, 30.0 + (double)seq / 100.0));
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    int page = (int)query_int(st->db, "PRAGMA page_size");
    int root = (int)query_int(st->db, "SELECT rootpage FROM sqlite_master WHERE name = 'packs'");
    relais_store_close(st); /* checkpointed: everything is in the main file */

    uint8_t *img = read_file(f, f->path, &len);
    assert_true(len >= (size_t)page * (size_t)(root + 1));
    memset(img + (size_t)page * (size_t)(root - 1), 0xa5, (size_t)page);
    write_file(f->path, img, len);
    time_t before = time(NULL);
    st = open_store(f, false);
    check_moved_aside(f, st, img, len, before);
    relais_store_close(st);
}

/*
 * FAILS (bug): the name moved aside to is "<path>.corrupt-<unix seconds>",
 * and rename(2) replaces an existing file: a second corruption found in the
 * same second (a restart loop) overwrites the first copy, i.e. deletes it.
 */
static void test_corrupt_twice_in_one_second_keeps_both(void **state)
{
    struct fixture *f = *state;
    uint8_t junk1[4096], junk2[4096];
    char names[4][64];
    struct relais_store *st;

    fill_random(junk1, sizeof junk1, 1);
    fill_random(junk2, sizeof junk2, 2);
    /* start right after a second boundary, so that both opens fall in it */
    time_t t = time(NULL);
    while (time(NULL) == t)
        usleep(1000);
    write_file(f->path, junk1, sizeof junk1);
    st = open_store(f, false);
    relais_store_close(st);
    write_file(f->path, junk2, sizeof junk2);
    st = open_store(f, false);
    relais_store_close(st);
    assert_int_equal(corrupt_files(f, names, 4), 2);
}

/*
 * FAILS (bug): a corrupt store whose -wal still holds committed transactions
 * (what a power cut leaves) is checkpointed by sqlite3_close_v2() of the
 * quick_check connection before it is moved aside: the WAL is written into
 * the corrupt file and deleted, so what is kept is not what was found.
 */
static void test_corrupt_with_wal_moved_aside_untouched(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    char body[128], wal[400], aside[400], names[4][64];
    size_t db_len, wal_len, len;
    sqlite3 *db = NULL;

    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    for (uint64_t seq = 1; seq <= 300; seq++)
        put_json(f, st, DEV_A, seq, json_temp(body, sizeof body, 30.0 + (double)seq / 100.0));
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    int page = (int)query_int(st->db, "PRAGMA page_size");
    int root = (int)query_int(st->db, "SELECT rootpage FROM sqlite_master WHERE name = 'packs'");
    relais_store_close(st);
    /* a committed transaction left in the WAL, as after a crash */
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL), SQLITE_OK);
    exec_sql(db, "INSERT INTO audit VALUES(1, 1, 'k', 's', 'd', zeroblob(32), zeroblob(32))");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    uint8_t *wal_img = read_file(f, wal, &wal_len);
    assert_true(wal_len > 32);
    /* and the packs table's root page overwritten in the main file */
    uint8_t *img = read_file(f, f->path, &db_len);
    memset(img + (size_t)page * (size_t)(root - 1), 0xa5, (size_t)page);
    write_file(f->path, img, db_len);

    st = open_store(f, false);
    relais_store_close(st);
    assert_int_equal(corrupt_files(f, names, 4), 1);
    snprintf(aside, sizeof aside, "%s/%s", f->dir, names[0]);
    uint8_t *got = read_file(f, aside, &len);
    assert_int_equal(len, db_len);
    assert_memory_equal(got, img, len);
    snprintf(aside, sizeof aside, "%s/%s-wal", f->dir, names[0]);
    assert_true(file_exists(aside));
    got = read_file(f, aside, &len);
    assert_int_equal(len, wal_len);
    assert_memory_equal(got, wal_img, len);
}

/* ---- dedup ---- */

static void test_dedup_in_one_store(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    const char *b1 = "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37.1,\"t\":1795000000}]";
    const char *b2 = "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":39.9,\"t\":1795000000}]";

    assert_int_equal(put_commit(f, st, DEV_A, 5, b1), RELAIS_PUT_STORED);
    struct relais_store_totals t0 = totals(st);
    int changes = sqlite3_total_changes(st->db);

    /* same body: duplicate, nothing written */
    assert_int_equal(put_commit(f, st, DEV_A, 5, b1), RELAIS_PUT_DUPLICATE);
    assert_int_equal(sqlite3_total_changes(st->db), changes);
    struct relais_store_totals t1 = totals(st);
    assert_memory_equal(&t0, &t1, sizeof t0);

    /* another body: stored and flagged, audited */
    assert_int_equal(put_commit(f, st, DEV_A, 5, b2), RELAIS_PUT_FLAGGED);
    t1 = totals(st);
    assert_int_equal(t1.packs, 2);
    assert_int_equal(t1.flagged, 1);
    assert_int_equal(t1.readings, 2);
    assert_int_equal(query_int(st->db, "SELECT flags FROM packs WHERE id = 2") &
                         RELAIS_PACK_FLAG_SEQ_REUSED,
                     RELAIS_PACK_FLAG_SEQ_REUSED);
    assert_int_equal(query_int(st->db, "SELECT flags FROM packs WHERE id = 1"), 0);
    assert_int_equal(audit_count(st->db, "input.seq_reused"), 1);
    char *subj = query_text(f, st->db, "SELECT subject FROM audit WHERE kind = 'input.seq_reused'");
    assert_string_equal(subj, DEV_A);
    /* each body again: duplicates of their own row */
    assert_int_equal(put_commit(f, st, DEV_A, 5, b2), RELAIS_PUT_DUPLICATE);
    assert_int_equal(put_commit(f, st, DEV_A, 5, b1), RELAIS_PUT_DUPLICATE);
    /* same seq on another device: a pack of its own */
    assert_int_equal(put_commit(f, st, DEV_B, 5, b1), RELAIS_PUT_STORED);

    /* within one transaction too */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(put_json(f, st, DEV_B, 6, b1), RELAIS_PUT_STORED);
    assert_int_equal(put_json(f, st, DEV_B, 6, b1), RELAIS_PUT_DUPLICATE);
    assert_int_equal(put_json(f, st, DEV_B, 6, b2), RELAIS_PUT_FLAGGED);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    t1 = totals(st);
    assert_int_equal(t1.packs, 5);
    assert_int_equal(t1.flagged, 2);
    assert_int_equal(verify_audit_chain(st->db), 2);

    /* a put needs a transaction */
    enum relais_store_put res;
    decode(f, DEV_A, 99, b1);
    assert_int_equal(relais_store_put_pack(st, &f->pack, (const uint8_t *)b1, strlen(b1),
                                           RELAIS_TRANSPORT_MQTT, T0_MS, &res),
                     RELAIS_EINVAL);
    relais_store_close(st);
}

static void test_dedup_after_reopen(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    char b[8][128];
    const uint64_t far = RELAIS_WIRE_SEQ_MAX; /* the largest seq of the contract */

    for (int i = 0; i < 8; i++)
        json_temp(b[i], sizeof b[i], 36.0 + i);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(put_json(f, st, DEV_A, 5, b[0]), RELAIS_PUT_STORED);
    assert_int_equal(put_json(f, st, DEV_A, 6, b[1]), RELAIS_PUT_STORED);
    assert_int_equal(put_json(f, st, DEV_A, 7, b[2]), RELAIS_PUT_STORED);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    relais_store_close(st);

    st = open_store(f, false); /* the max-seq cache starts empty: loaded from the db */
    assert_int_equal(put_commit(f, st, DEV_A, 7, b[2]), RELAIS_PUT_DUPLICATE); /* the max */
    assert_int_equal(put_commit(f, st, DEV_A, 5, b[0]), RELAIS_PUT_DUPLICATE); /* below it */
    relais_store_close(st);

    st = open_store(f, false);
    assert_int_equal(put_commit(f, st, DEV_A, 5, b[3]), RELAIS_PUT_FLAGGED); /* below the max */
    relais_store_close(st);
    st = open_store(f, false);
    assert_int_equal(put_commit(f, st, DEV_A, 7, b[4]), RELAIS_PUT_FLAGGED); /* the max */
    assert_int_equal(put_commit(f, st, DEV_B, 6, b[1]), RELAIS_PUT_STORED);  /* other device */
    assert_int_equal(put_commit(f, st, DEV_A, 8, b[5]), RELAIS_PUT_STORED);  /* above */
    /* far above the max, then below the new max but never seen */
    assert_int_equal(put_commit(f, st, DEV_A, far, b[6]), RELAIS_PUT_STORED);
    assert_int_equal(put_commit(f, st, DEV_A, far, b[6]), RELAIS_PUT_DUPLICATE);
    assert_int_equal(put_commit(f, st, DEV_A, 9, b[7]), RELAIS_PUT_STORED);
    relais_store_close(st);

    st = open_store(f, false);
    assert_int_equal(put_commit(f, st, DEV_A, far, b[6]), RELAIS_PUT_DUPLICATE);
    assert_int_equal(put_commit(f, st, DEV_A, far, b[7]), RELAIS_PUT_FLAGGED);
    assert_int_equal(put_commit(f, st, DEV_A, 9, b[7]), RELAIS_PUT_DUPLICATE);
    assert_int_equal(put_commit(f, st, DEV_A, 10, b[7]), RELAIS_PUT_STORED);
    assert_int_equal(put_commit(f, st, DEV_B, 6, b[1]), RELAIS_PUT_DUPLICATE);
    struct relais_store_totals t = totals(st);
    assert_int_equal(t.packs, 11);
    assert_int_equal(t.flagged, 3);
    assert_int_equal(audit_count(st->db, "input.seq_reused"), 3);
    assert_int_equal(query_int(st->db, "SELECT count(*) FROM packs WHERE seq = 9007199254740991"),
                     2);
    assert_int_equal(verify_audit_chain(st->db), 3);
    relais_store_close(st);
}

static void test_rollback_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    const char *b1 = "[{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":61}]";
    const char *b2 = "[{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":62}]";
    struct relais_reject_record rej = {.device = DEV_A,
                                       .has_seq = true,
                                       .seq = 3,
                                       .at_ms = T0_MS,
                                       .reason = "bad_unit",
                                       .detail = "x",
                                       .body = (const uint8_t *)"[]",
                                       .len = 2};

    assert_int_equal(put_commit(f, st, DEV_A, 1, b1), RELAIS_PUT_STORED);
    struct relais_store_totals t0 = totals(st);

    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_true(relais_store_in_transaction(st));
    assert_int_equal(relais_store_begin(st), RELAIS_OK); /* nested begin: no-op */
    assert_int_equal(put_json(f, st, DEV_A, 2, b1), RELAIS_PUT_STORED);
    assert_int_equal(put_json(f, st, DEV_A, 1, b2), RELAIS_PUT_FLAGGED);
    assert_int_equal(put_json(f, st, DEV_B, 2, b1), RELAIS_PUT_STORED);
    assert_int_equal(relais_store_put_reject(st, &rej), RELAIS_OK);
    assert_int_equal(relais_store_audit(st, T0_MS, "test.event", "s", "d"), RELAIS_OK);
    relais_store_rollback(st);
    assert_false(relais_store_in_transaction(st));
    relais_store_rollback(st); /* no transaction: no-op */
    struct relais_store_totals t1 = totals(st);
    assert_memory_equal(&t0, &t1, sizeof t0);

    /* the same packs again: stored, not duplicate, and not flagged */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(put_json(f, st, DEV_A, 2, b1), RELAIS_PUT_STORED);
    assert_int_equal(put_json(f, st, DEV_B, 2, b1), RELAIS_PUT_STORED);
    assert_int_equal(put_json(f, st, DEV_A, 1, b1), RELAIS_PUT_DUPLICATE);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK); /* no transaction: no-op */
    t1 = totals(st);
    assert_int_equal(t1.packs, 3);
    assert_int_equal(t1.flagged, 0);
    assert_int_equal(t1.rejects, 0);
    assert_int_equal(t1.audit, 0);
    relais_store_close(st);

    /* close rolls back an open transaction */
    st = open_store(f, false);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(put_json(f, st, DEV_A, 3, b1), RELAIS_PUT_STORED);
    relais_store_close(st);
    st = open_store(f, false);
    assert_int_equal(totals(st).packs, 3);
    relais_store_close(st);
}

/* ---- audit ---- */

static void test_audit_chain(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);

    assert_int_equal(verify_audit_chain(st->db), 0);
    assert_int_equal(relais_store_audit(st, T0_MS, "k", "s", "d"), RELAIS_EINVAL); /* no txn */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_audit(st, T0_MS, "test.a", "subject one", "detail one"),
                     RELAIS_OK);
    assert_int_equal(relais_store_audit(st, T0_MS + 1, "test.b", "", ""), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_int_equal(verify_audit_chain(st->db), 2);
    char *prev = query_text(f, st->db, "SELECT hex(prev_hash) FROM audit WHERE id = 1");
    assert_string_equal(prev, "0000000000000000000000000000000000000000000000000000000000000000");

    /* rolled-back rows leave no gap */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_audit(st, T0_MS + 2, "test.gone", "x", "y"), RELAIS_OK);
    assert_int_equal(relais_store_audit(st, T0_MS + 3, "test.gone", "x", "z"), RELAIS_OK);
    relais_store_rollback(st);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_audit(st, T0_MS + 4, "test.c", "s", "d"), RELAIS_OK);
    put_json(f, st, DEV_A, 1, "[{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":61}]");
    put_json(f, st, DEV_A, 1, "[{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":62}]"); /* seq_reused */
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_int_equal(verify_audit_chain(st->db), 4);
    assert_int_equal(audit_count(st->db, "test.gone"), 0);
    relais_store_close(st);

    /* the chain continues across close and reopen */
    st = open_store(f, false);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_audit(st, T0_MS + 5, "test.d", "s", "d"), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_audit(st, T0_MS + 6, "test.gone", "s", "d"), RELAIS_OK);
    relais_store_rollback(st);
    relais_store_close(st);
    st = open_store(f, false);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_audit(st, T0_MS + 7, "test.e", "s", "d"), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_int_equal(verify_audit_chain(st->db), 6);
    assert_int_equal(totals(st).audit, 6);
    relais_store_close(st);
}

/* ---- size and quota ---- */

static void test_quota_and_size(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    uint64_t s0 = 0, s1 = 0;
    char body[128];

    assert_false(relais_store_over_quota(st));
    assert_int_equal(relais_store_size(st, &s0), RELAIS_OK);
    assert_true(s0 > 0);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    for (uint64_t seq = 1; seq <= 200; seq++)
        put_json(f, st, DEV_A, seq, json_temp(body, sizeof body, 35.0 + (double)seq / 100.0));
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_int_equal(relais_store_size(st, &s1), RELAIS_OK);
    assert_true(s1 > s0);

    /* a tiny quota: over; a large one: back under */
    relais_store_set_quota(st, 1);
    assert_true(relais_store_over_quota(st));
    relais_store_set_quota(st, UINT64_C(1) << 40);
    assert_false(relais_store_over_quota(st));
    relais_store_set_quota(st, 0); /* no quota */
    assert_false(relais_store_over_quota(st));

    /* a quota just above the current size is crossed by a commit */
    relais_store_set_quota(st, s1 + 1);
    assert_false(relais_store_over_quota(st));
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    for (uint64_t seq = 201; seq <= 400; seq++)
        put_json(f, st, DEV_A, seq, json_temp(body, sizeof body, 35.0 + (double)seq / 100.0));
    assert_false(relais_store_over_quota(st)); /* answered after the commit */
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_true(relais_store_over_quota(st));
    relais_store_close(st);

    /* the quota given at open is checked at open */
    struct relais_store_opts o = {.quota_bytes = 1, .key = test_store_key()};
    st = NULL;
    assert_int_equal(relais_store_open(&st, f->path, &o), RELAIS_OK);
    assert_true(relais_store_over_quota(st));
    relais_store_close(st);
}

/* ---- read-only ---- */

struct pack_list {
    size_t n;
    int64_t id[64];
    char device[64][40];
    uint64_t seq[64];
    int flags[64];
    int records[64];
    int64_t received_ms[64];
    uint8_t hash[64][RELAIS_SHA256_LEN];
    int stop_after; /* 0: never */
};

static int collect_pack(const struct relais_stored_pack *p, void *ud)
{
    struct pack_list *l = ud;

    assert_true(l->n < 64);
    l->id[l->n] = p->id;
    snprintf(l->device[l->n], sizeof l->device[0], "%s", p->device);
    l->seq[l->n] = p->seq;
    l->flags[l->n] = p->flags;
    l->records[l->n] = p->records;
    l->received_ms[l->n] = p->received_ms;
    memcpy(l->hash[l->n], p->hash, RELAIS_SHA256_LEN);
    l->n++;
    return l->stop_after && (int)l->n == l->stop_after ? 42 : 0;
}

static void test_readonly(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    struct relais_store *ro;
    struct pack_list *a = zalloc(f, sizeof *a), *b = zalloc(f, sizeof *b);
    char body[128];
    uint64_t size = 0;

    assert_non_null(a);
    assert_non_null(b);
    for (uint64_t seq = 1; seq <= 5; seq++)
        put_commit(f, st, seq % 2 ? DEV_A : DEV_B, seq,
                   json_temp(body, sizeof body, 36.0 + (double)seq));

    /* alongside the writer */
    ro = open_store(f, true);
    assert_int_equal(relais_store_begin(ro), RELAIS_EPERM);
    assert_false(relais_store_in_transaction(ro));
    assert_int_equal(relais_store_foreach_pack(st, NULL, collect_pack, a), RELAIS_OK);
    assert_int_equal(relais_store_foreach_pack(ro, NULL, collect_pack, b), RELAIS_OK);
    assert_int_equal(a->n, 5);
    assert_memory_equal(a, b, sizeof *a);
    struct relais_store_totals ta = totals(st), tb = totals(ro);
    assert_memory_equal(&ta, &tb, sizeof ta);
    assert_int_equal(relais_store_size(ro, &size), RELAIS_OK);
    /* the reader sees the writer's later commits */
    put_commit(f, st, DEV_A, 6, json_temp(body, sizeof body, 40.0));
    assert_int_equal(totals(ro).packs, 6);
    relais_store_close(ro);
    relais_store_close(st);

    /* alone, after the writer closed (no -wal, no -shm) */
    memset(b, 0, sizeof *b);
    memset(a, 0, sizeof *a);
    ro = open_store(f, true);
    assert_int_equal(relais_store_begin(ro), RELAIS_EPERM);
    assert_int_equal(relais_store_foreach_pack(ro, NULL, collect_pack, b), RELAIS_OK);
    assert_int_equal(b->n, 6);
    assert_int_equal(totals(ro).packs, 6);
    relais_store_close(ro);
    st = open_store(f, false);
    assert_int_equal(relais_store_foreach_pack(st, NULL, collect_pack, a), RELAIS_OK);
    assert_memory_equal(a, b, sizeof *a);
    relais_store_close(st);

    /* read-only never creates a store */
    char other[400];
    snprintf(other, sizeof other, "%s/none.db", f->dir);
    struct relais_store_opts o = {.readonly = true};
    ro = NULL;
    assert_int_not_equal(relais_store_open(&ro, other, &o), RELAIS_OK);
    assert_null(ro);
    assert_false(file_exists(other));
}

/* ---- walks ---- */

struct reading_list {
    size_t n;
    char device[64][40];
    char metric[64][40];
    uint64_t seq[64];
    int64_t pack_id[64];
    int idx[64];
    double value[64];
    int stop_after;
};

static int collect_reading(const struct relais_stored_reading *r, void *ud)
{
    struct reading_list *l = ud;

    assert_true(l->n < 64);
    snprintf(l->device[l->n], sizeof l->device[0], "%s", r->device);
    snprintf(l->metric[l->n], sizeof l->metric[0], "%s", r->metric);
    l->seq[l->n] = r->seq;
    l->pack_id[l->n] = r->pack_id;
    l->idx[l->n] = r->idx;
    l->value[l->n] = r->value;
    l->n++;
    return l->stop_after && (int)l->n == l->stop_after ? 7 : 0;
}

static void test_foreach_filters(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    struct pack_list *pl = zalloc(f, sizeof *pl);
    struct reading_list *rl = zalloc(f, sizeof *rl);
    char body[160];

    assert_non_null(pl);
    assert_non_null(rl);
    /* packs 1..5: dev-a seq 1..5 (temp, hr); 6..8: dev-b seq 1..3 (temp); 9: dev-a 3 reused */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    for (uint64_t seq = 1; seq <= 5; seq++) {
        snprintf(body, sizeof body,
                 "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":%llu},{\"n\":\"hr\",\"u\":\"beat/min\","
                 "\"v\":%llu}]",
                 (unsigned long long)(35 + seq), (unsigned long long)(60 + seq));
        assert_int_equal(put_json(f, st, DEV_A, seq, body), RELAIS_PUT_STORED);
    }
    for (uint64_t seq = 1; seq <= 3; seq++)
        assert_int_equal(put_json(f, st, DEV_B, seq, json_temp(body, sizeof body, 36.5)),
                         RELAIS_PUT_STORED);
    assert_int_equal(put_json(f, st, DEV_A, 3, json_temp(body, sizeof body, 41.0)),
                     RELAIS_PUT_FLAGGED);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);

    /* packs: all, by device, flagged only, limit, early stop */
    assert_int_equal(relais_store_foreach_pack(st, NULL, collect_pack, pl), RELAIS_OK);
    assert_int_equal(pl->n, 9);
    for (size_t i = 0; i < pl->n; i++)
        assert_int_equal(pl->id[i], (int64_t)i + 1);
    assert_int_equal(pl->records[0], 2);
    assert_int_equal(pl->received_ms[0], T0_MS + 1);
    memset(pl, 0, sizeof *pl);
    struct relais_store_filter fb = {.device = DEV_B};
    assert_int_equal(relais_store_foreach_pack(st, &fb, collect_pack, pl), RELAIS_OK);
    assert_int_equal(pl->n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(pl->device[i], DEV_B);
        assert_int_equal(pl->seq[i], i + 1);
    }
    memset(pl, 0, sizeof *pl);
    struct relais_store_filter ff = {.flagged_only = true};
    assert_int_equal(relais_store_foreach_pack(st, &ff, collect_pack, pl), RELAIS_OK);
    assert_int_equal(pl->n, 1);
    assert_int_equal(pl->id[0], 9);
    assert_int_equal(pl->seq[0], 3);
    assert_int_equal(pl->flags[0] & RELAIS_PACK_FLAG_SEQ_REUSED, RELAIS_PACK_FLAG_SEQ_REUSED);
    memset(pl, 0, sizeof *pl);
    struct relais_store_filter ffb = {.device = DEV_B, .flagged_only = true};
    assert_int_equal(relais_store_foreach_pack(st, &ffb, collect_pack, pl), RELAIS_OK);
    assert_int_equal(pl->n, 0);
    memset(pl, 0, sizeof *pl);
    struct relais_store_filter fl = {.limit = 3};
    assert_int_equal(relais_store_foreach_pack(st, &fl, collect_pack, pl), RELAIS_OK);
    assert_int_equal(pl->n, 3); /* the newest 3, oldest first */
    assert_int_equal(pl->id[0], 7);
    assert_int_equal(pl->id[1], 8);
    assert_int_equal(pl->id[2], 9);
    memset(pl, 0, sizeof *pl);
    struct relais_store_filter fal = {.device = DEV_A, .limit = 2};
    assert_int_equal(relais_store_foreach_pack(st, &fal, collect_pack, pl), RELAIS_OK);
    assert_int_equal(pl->n, 2);
    assert_int_equal(pl->id[0], 5);
    assert_int_equal(pl->id[1], 9);
    memset(pl, 0, sizeof *pl);
    pl->stop_after = 2;
    assert_int_equal(relais_store_foreach_pack(st, NULL, collect_pack, pl), 42);
    assert_int_equal(pl->n, 2);

    /* readings: all, by metric, by device and metric, limit, early stop */
    assert_int_equal(relais_store_foreach_reading(st, NULL, collect_reading, rl), RELAIS_OK);
    assert_int_equal(rl->n, 14);
    for (size_t i = 1; i < rl->n; i++)
        assert_true(rl->pack_id[i] > rl->pack_id[i - 1] ||
                    (rl->pack_id[i] == rl->pack_id[i - 1] && rl->idx[i] == rl->idx[i - 1] + 1));
    memset(rl, 0, sizeof *rl);
    struct relais_store_filter fm = {.metric = "hr"};
    assert_int_equal(relais_store_foreach_reading(st, &fm, collect_reading, rl), RELAIS_OK);
    assert_int_equal(rl->n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(rl->metric[i], "hr");
        assert_true(rl->value[i] == 61.0 + (double)i);
        assert_int_equal(rl->seq[i], i + 1);
        assert_int_equal(rl->idx[i], 1);
    }
    memset(rl, 0, sizeof *rl);
    struct relais_store_filter fdm = {.device = DEV_B, .metric = "temp"};
    assert_int_equal(relais_store_foreach_reading(st, &fdm, collect_reading, rl), RELAIS_OK);
    assert_int_equal(rl->n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(rl->device[i], DEV_B);
    memset(rl, 0, sizeof *rl);
    struct relais_store_filter fdm2 = {.device = DEV_B, .metric = "hr"};
    assert_int_equal(relais_store_foreach_reading(st, &fdm2, collect_reading, rl), RELAIS_OK);
    assert_int_equal(rl->n, 0);
    memset(rl, 0, sizeof *rl);
    struct relais_store_filter frl = {.device = DEV_A, .limit = 3};
    assert_int_equal(relais_store_foreach_reading(st, &frl, collect_reading, rl), RELAIS_OK);
    assert_int_equal(rl->n, 3); /* pack 5 temp, pack 5 hr, pack 9 temp */
    assert_int_equal(rl->pack_id[0], 5);
    assert_int_equal(rl->idx[0], 0);
    assert_int_equal(rl->pack_id[1], 5);
    assert_int_equal(rl->idx[1], 1);
    assert_int_equal(rl->pack_id[2], 9);
    assert_true(rl->value[2] == 41.0);
    memset(rl, 0, sizeof *rl);
    rl->stop_after = 1;
    assert_int_equal(relais_store_foreach_reading(st, &fm, collect_reading, rl), 7);
    assert_int_equal(rl->n, 1);
    /* a filter that matches nothing */
    memset(rl, 0, sizeof *rl);
    struct relais_store_filter fnone = {.device = "dev-zzz"};
    assert_int_equal(relais_store_foreach_reading(st, &fnone, collect_reading, rl), RELAIS_OK);
    assert_int_equal(rl->n, 0);
    relais_store_close(st);
}

/* ---- rejects ---- */

struct reject_list {
    size_t n;
    struct {
        int64_t id, at_ms;
        bool has_device, has_seq;
        char device[40];
        uint64_t seq;
        char reason[40], detail[200];
        size_t len;
        enum relais_transport transport;
    } r[16];
    int stop_after;
};

static int collect_reject(const struct relais_stored_reject *r, void *ud)
{
    struct reject_list *l = ud;

    assert_true(l->n < 16);
    l->r[l->n].id = r->id;
    l->r[l->n].at_ms = r->at_ms;
    l->r[l->n].has_device = r->device != NULL;
    snprintf(l->r[l->n].device, sizeof l->r[0].device, "%s", r->device ? r->device : "");
    l->r[l->n].has_seq = r->has_seq;
    l->r[l->n].seq = r->seq;
    snprintf(l->r[l->n].reason, sizeof l->r[0].reason, "%s", r->reason);
    snprintf(l->r[l->n].detail, sizeof l->r[0].detail, "%s", r->detail);
    l->r[l->n].len = r->len;
    l->r[l->n].transport = r->transport;
    l->n++;
    return l->stop_after && (int)l->n == l->stop_after ? 3 : 0;
}

static void test_put_reject(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    struct reject_list *l = zalloc(f, sizeof *l);
    size_t big_len = RELAIS_SENML_MAX_BYTES + 1;
    uint8_t *big = own(f, malloc(big_len));
    const char *small = "[{\"n\":\"temp\",\"u\":\"F\",\"v\":99}]";

    assert_non_null(l);
    assert_non_null(big);
    memset(big, '[', big_len);
    struct relais_reject_record with = {.device = DEV_A,
                                        .has_seq = true,
                                        .seq = 17,
                                        .transport = RELAIS_TRANSPORT_COAP,
                                        .at_ms = T0_MS + 5,
                                        .reason = "bad_unit",
                                        .detail = "record 0: unit 'F'",
                                        .body = (const uint8_t *)small,
                                        .len = strlen(small)};
    struct relais_reject_record without = {.transport = RELAIS_TRANSPORT_MQTT,
                                           .at_ms = T0_MS + 6,
                                           .reason = "bad_topic",
                                           .detail = "'relais/x' is not a topic",
                                           .len = 12};
    struct relais_reject_record large = {.device = DEV_B,
                                         .has_seq = true,
                                         .seq = 0,
                                         .transport = RELAIS_TRANSPORT_MQTT,
                                         .at_ms = T0_MS + 7,
                                         .reason = "too_large",
                                         .detail = "too big",
                                         .body = big,
                                         .len = big_len};
    struct relais_reject_record exact = large;
    exact.len = RELAIS_SENML_MAX_BYTES;
    exact.seq = 1;

    assert_int_equal(relais_store_put_reject(st, &with), RELAIS_EINVAL); /* no txn */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_put_reject(st, &with), RELAIS_OK);
    assert_int_equal(relais_store_put_reject(st, &without), RELAIS_OK);
    assert_int_equal(relais_store_put_reject(st, &large), RELAIS_OK);
    assert_int_equal(relais_store_put_reject(st, &exact), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);

    assert_int_equal(relais_store_foreach_reject(st, NULL, collect_reject, l), RELAIS_OK);
    assert_int_equal(l->n, 4);
    assert_true(l->r[0].has_device);
    assert_string_equal(l->r[0].device, DEV_A);
    assert_true(l->r[0].has_seq);
    assert_int_equal(l->r[0].seq, 17);
    assert_int_equal(l->r[0].at_ms, T0_MS + 5);
    assert_int_equal(l->r[0].transport, RELAIS_TRANSPORT_COAP);
    assert_string_equal(l->r[0].reason, "bad_unit");
    assert_string_equal(l->r[0].detail, "record 0: unit 'F'");
    assert_int_equal(l->r[0].len, strlen(small));
    assert_false(l->r[1].has_device);
    assert_false(l->r[1].has_seq);
    assert_int_equal(l->r[1].len, 12);
    assert_string_equal(l->r[1].reason, "bad_topic");
    assert_true(l->r[2].has_seq); /* seq 0 is a seq */
    assert_int_equal(l->r[2].seq, 0);
    assert_int_equal(l->r[2].len, big_len);

    /* bodies: kept up to 64 KiB, not above, none when not given */
    {
        /* sealed: the clear body is not in the row, opening it gives it back */
        static const char clear[] = "[{\"n\":\"temp\",\"u\":\"F\",\"v\":99}]";
        sqlite3_stmt *q = NULL;
        assert_int_equal(
            sqlite3_prepare_v2(st->db,
                               "SELECT body, at_ms, transport, device, seq FROM rejects"
                               " WHERE id = 1",
                               -1, &q, NULL),
            SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_null(
            memmem(sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0), "temp", 4));
        struct store_aad a;
        store__reject_aad(&a, "rejects.body", sqlite3_column_int64(q, 1), sqlite3_column_int(q, 2),
                          (const char *)sqlite3_column_text(q, 3), true,
                          (uint64_t)sqlite3_column_int64(q, 4));
        const uint8_t *pt;
        size_t n;
        assert_int_equal(store__unseal_col(st, q, 0, &a, "test", &pt, &n), RELAIS_OK);
        assert_int_equal(n, strlen(clear));
        assert_memory_equal(pt, clear, n);
        sqlite3_finalize(q);
    }
    assert_int_equal(
        query_int(st->db, "SELECT count(*) FROM rejects WHERE id = 2 AND body IS NULL"), 1);
    assert_int_equal(query_int(st->db, "SELECT count(*) FROM rejects WHERE id = 3 AND body IS NULL"
                                       " AND body_len = 65537"),
                     1);
    assert_int_equal(query_int(st->db, "SELECT length(body) FROM rejects WHERE id = 4"),
                     65536 + RELAIS_SEAL_OVERHEAD);

    /* audited, subject device/seq or "?" */
    assert_int_equal(audit_count(st->db, "input.rejected"), 4);
    char *s = query_text(f, st->db, "SELECT subject || '|' || detail FROM audit WHERE id = 1");
    assert_string_equal(s, "dev-a/17|coap bad_unit: record 0: unit 'F'");
    s = query_text(f, st->db, "SELECT subject || '|' || detail FROM audit WHERE id = 2");
    assert_string_equal(s, "?|mqtt bad_topic: 'relais/x' is not a topic");
    assert_int_equal(verify_audit_chain(st->db), 4);

    /* filters */
    memset(l, 0, sizeof *l);
    struct relais_store_filter fb = {.device = DEV_B};
    assert_int_equal(relais_store_foreach_reject(st, &fb, collect_reject, l), RELAIS_OK);
    assert_int_equal(l->n, 2);
    memset(l, 0, sizeof *l);
    struct relais_store_filter fl = {.limit = 1};
    assert_int_equal(relais_store_foreach_reject(st, &fl, collect_reject, l), RELAIS_OK);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->r[0].id, 4);
    memset(l, 0, sizeof *l);
    l->stop_after = 1;
    assert_int_equal(relais_store_foreach_reject(st, NULL, collect_reject, l), 3);
    assert_int_equal(l->n, 1);
    assert_int_equal(totals(st).rejects, 4);
    relais_store_close(st);
}

/* ---- readings of every kind ---- */

struct stored_copy {
    size_t n;
    struct {
        int64_t pack_id;
        char device[40];
        uint64_t seq;
        int idx;
        char metric[64], unit[32];
        enum relais_reading_kind kind;
        double value;
        bool has_str;
        char str[300];
        bool boolean;
        uint8_t data[300];
        size_t len;
        bool has_sum;
        double sum, time;
        enum relais_time_source time_source;
        int64_t received_ms;
        int flags;
    } r[16];
};

static int copy_reading(const struct relais_stored_reading *r, void *ud)
{
    struct stored_copy *c = ud;

    assert_true(c->n < 16);
    assert_true(r->len <= sizeof c->r[0].data);
    c->r[c->n].pack_id = r->pack_id;
    snprintf(c->r[c->n].device, sizeof c->r[0].device, "%s", r->device);
    c->r[c->n].seq = r->seq;
    c->r[c->n].idx = r->idx;
    snprintf(c->r[c->n].metric, sizeof c->r[0].metric, "%s", r->metric);
    snprintf(c->r[c->n].unit, sizeof c->r[0].unit, "%s", r->unit);
    c->r[c->n].kind = r->kind;
    c->r[c->n].value = r->value;
    c->r[c->n].has_str = r->str != NULL;
    if (r->str) snprintf(c->r[c->n].str, sizeof c->r[0].str, "%s", r->str);
    c->r[c->n].boolean = r->boolean;
    if (r->kind == RELAIS_READING_DATA && r->len) memcpy(c->r[c->n].data, r->data, r->len);
    c->r[c->n].len = r->len;
    c->r[c->n].has_sum = r->has_sum;
    c->r[c->n].sum = r->sum;
    c->r[c->n].time = r->time;
    c->r[c->n].time_source = r->time_source;
    c->r[c->n].received_ms = r->received_ms;
    c->r[c->n].flags = r->flags;
    c->n++;
    return 0;
}

/* Puts body as seq and checks that every reading comes back as decoded. */
static void round_trip(struct fixture *f, struct relais_store *st, enum relais_senml_format fmt,
                       uint64_t seq, const void *body, size_t len, size_t want_count)
{
    struct stored_copy *c = zalloc(f, sizeof *c);
    enum relais_store_put res;
    struct relais_store_filter flt = {.device = DEV_A};

    assert_non_null(c);
    decode_fmt(f, fmt, DEV_A, seq, body, len);
    assert_int_equal(f->pack.count, want_count);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(
        relais_store_put_pack(st, &f->pack, body, len, RELAIS_TRANSPORT_COAP, T0_MS + 123, &res),
        RELAIS_OK);
    assert_int_equal(res, RELAIS_PUT_STORED);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    flt.limit = (int64_t)want_count;
    assert_int_equal(relais_store_foreach_reading(st, &flt, copy_reading, c), RELAIS_OK);
    assert_int_equal(c->n, want_count);
    for (size_t i = 0; i < want_count; i++) {
        const struct relais_reading *w = &f->pack.readings[i];

        assert_string_equal(c->r[i].device, DEV_A);
        assert_int_equal(c->r[i].seq, seq);
        assert_int_equal(c->r[i].idx, (int)i);
        assert_string_equal(c->r[i].metric, w->metric);
        assert_string_equal(c->r[i].unit, w->unit);
        assert_int_equal(c->r[i].kind, w->kind);
        switch (w->kind) {
        case RELAIS_READING_NUMBER: assert_true(c->r[i].value == w->value); break;
        case RELAIS_READING_STRING:
            assert_true(c->r[i].has_str);
            assert_int_equal(c->r[i].len, w->len);
            assert_memory_equal(c->r[i].str, w->str, w->len + 1);
            break;
        case RELAIS_READING_BOOL: assert_int_equal(c->r[i].boolean, w->boolean); break;
        case RELAIS_READING_DATA:
            assert_int_equal(c->r[i].len, w->len);
            if (w->len) assert_memory_equal(c->r[i].data, w->data, w->len);
            break;
        case RELAIS_READING_SUM_ONLY: break;
        }
        assert_int_equal(c->r[i].has_sum, w->has_sum);
        if (w->has_sum) assert_true(c->r[i].sum == w->sum);
        assert_true(c->r[i].time == w->time);
        assert_int_equal(c->r[i].time_source, w->time_source);
        assert_int_equal(c->r[i].received_ms, T0_MS + 123);
        assert_int_equal(c->r[i].flags, 0);
    }
    /* the body is kept as received, and the pack's columns */
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(st->db,
                                        "SELECT body, format, transport, records, received_ms"
                                        " FROM packs WHERE device = ?1 AND seq = ?2",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, DEV_A, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    /* sealed: one record's overhead more, and it opens to the body received */
    assert_int_equal(sqlite3_column_bytes(s, 0), (int)(len + RELAIS_SEAL_OVERHEAD));
    struct store_aad a;
    store__aad_init(&a, "packs.body");
    store__aad_str(&a, DEV_A);
    store__aad_int(&a, (int64_t)seq);
    store__aad_int(&a, sqlite3_column_int64(s, 4));
    const uint8_t *clear;
    size_t clear_len;
    assert_int_equal(store__unseal_col(st, s, 0, &a, "test", &clear, &clear_len), RELAIS_OK);
    assert_int_equal(clear_len, len);
    assert_memory_equal(clear, body, len);
    assert_int_equal(sqlite3_column_int(s, 1), fmt);
    assert_int_equal(sqlite3_column_int(s, 2), RELAIS_TRANSPORT_COAP);
    assert_int_equal(sqlite3_column_int(s, 3), (int)want_count);
    sqlite3_finalize(s);
}

static void test_readings_round_trip(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st = open_store(f, false);
    const char *json =
        "[{\"bn\":\"urn:dev:relais:dev-a:\",\"bt\":1795000000,\"n\":\"temp\",\"u\":\"Cel\","
        "\"v\":37.25},"
        "{\"n\":\"dose\",\"vs\":\"2026-11-22T08:00/am\",\"t\":2},"
        "{\"n\":\"lid\",\"vb\":true,\"t\":3},"
        "{\"n\":\"door\",\"vb\":false,\"t\":3},"
        "{\"n\":\"blob\",\"vd\":\"aGVsbG8\",\"t\":4},"
        "{\"n\":\"energy\",\"u\":\"J\",\"s\":12.5,\"t\":5},"
        "{\"n\":\"bp_sys\",\"u\":\"Pa\",\"v\":16000,\"t\":6},"
        "{\"n\":\"note\",\"vs\":\"h\\u00e9llo\",\"t\":-1},"
        "{\"n\":\"empty\",\"vs\":\"\",\"t\":7},"
        "{\"n\":\"nodata\",\"vd\":\"\",\"t\":7},"
        "{\"n\":\"flow\",\"v\":2,\"s\":30,\"t\":8,\"ut\":60}]";
    /* no times at all: the gateway's receive time */
    const char *json2 =
        "[{\"n\":\"spo2\",\"u\":\"%\",\"v\":97},{\"n\":\"steps\",\"u\":\"count\",\"v\":1200}]";
    /* CBOR: [{0:"temp",1:"Cel",2:37, 6:1795000000}, {0:"blob", 8:h'00ff10', 6:1795000001},
     *        {0:"lid", 4:false}, {0:"dose", 3:"am"}] */
    static const uint8_t cbor[] = {
        0x84, 0xa4, 0x00, 0x64, 't',  'e',  'm',  'p',  0x01, 0x63, 'C',  'e',  'l',  0x02, 0x18,
        37,   0x06, 0x1a, 0x6a, 0xfd, 0x86, 0xc0, 0xa3, 0x00, 0x64, 'b',  'l',  'o',  'b',  0x08,
        0x43, 0x00, 0xff, 0x10, 0x06, 0x1a, 0x6a, 0xfd, 0x86, 0xc1, 0xa2, 0x00, 0x63, 'l',  'i',
        'd',  0x04, 0xf4, 0xa2, 0x00, 0x64, 'd',  'o',  's',  'e',  0x03, 0x62, 'a',  'm',
    };

    round_trip(f, st, RELAIS_SENML_JSON, 1, json, strlen(json), 11);
    /* the kinds are all there, and the conversions held */
    const struct relais_reading *r = f->pack.readings;
    assert_int_equal(r[0].kind, RELAIS_READING_NUMBER);
    assert_int_equal(r[0].time_source, RELAIS_TIME_DEVICE);
    assert_int_equal(r[1].kind, RELAIS_READING_STRING);
    assert_int_equal(r[2].kind, RELAIS_READING_BOOL);
    assert_int_equal(r[4].kind, RELAIS_READING_DATA);
    assert_int_equal(r[5].kind, RELAIS_READING_SUM_ONLY);
    assert_string_equal(r[6].unit, "mmHg");
    assert_int_equal(r[8].kind, RELAIS_READING_STRING);
    assert_int_equal(r[8].len, 0);
    assert_int_equal(r[9].kind, RELAIS_READING_DATA);
    assert_int_equal(r[9].len, 0);
    assert_true(r[10].has_sum);
    /* ut is stored (sealed with the rest of the record) */
    assert_true(r[10].has_update_time);
    assert_true(r[10].update_time == 60);

    round_trip(f, st, RELAIS_SENML_JSON, 2, json2, strlen(json2), 2);
    assert_int_equal(f->pack.readings[0].time_source, RELAIS_TIME_GATEWAY);
    round_trip(f, st, RELAIS_SENML_CBOR, 3, cbor, sizeof cbor, 4);
    assert_int_equal(f->pack.readings[1].kind, RELAIS_READING_DATA);
    assert_int_equal(f->pack.readings[1].len, 3);
    assert_int_equal(f->pack.readings[2].kind, RELAIS_READING_BOOL);
    assert_int_equal(totals(st).readings, 17);
    relais_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_0600_with_wal_and_shm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pragmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_migration_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_random_bytes_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_page_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_in_one_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_and_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreach_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_reject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readings_round_trip, setup, teardown),
        /* these two fail: they show bugs described in the report */
        cmocka_unit_test_setup_teardown(test_corrupt_twice_in_one_second_keeps_both, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_with_wal_moved_aside_untouched, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
