/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit trail's verifier (relais/audit.h, edge/src/store_audit.c): a
 * trail of 20 rows written by the store, then tampered with by hand through
 * SQLite as an attacker with the file would, and verified read-only:
 * intact; a row modified; a row deleted; the first rows deleted; a row
 * inserted in the middle (later rows renumbered, the forged row's hash
 * computed as relaisd would); two rows swapped; a link altered; a hash
 * blob of the wrong size; an empty trail.
 */
#include "test_store_key.h"
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

#include "relais/audit.h"
#include "relais/error.h"
#include "relais/store.h"
#include "store_internal.h"

#define ROWS 20

static char dir[64], path[128];

static void exec(const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/relais-audit-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/relais.db", dir);
    struct relais_store *st;
    if (relais_store_open(&st, path, test_store_opts()) != RELAIS_OK) return -1;
    /* the store may have audited its own creation: count from there */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    for (int i = 0; i < ROWS; i++) {
        char detail[32];
        snprintf(detail, sizeof detail, "event %d", i);
        assert_int_equal(relais_store_audit(st, 1795388400000 + i * 1000, "test.event",
                                            i % 2 ? "vitals-1" : "pillbox-1", detail),
                         RELAIS_OK);
    }
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    relais_store_close(st);
    /* a trail of exactly 1..ROWS */
    exec("DELETE FROM audit WHERE kind != 'test.event'");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT min(id) FROM audit", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t first = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    if (first != 1)
        fail_msg("the store wrote %lld audit rows before the test's", (long long)first - 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[160];
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    unlink(path);
    rmdir(dir);
    return 0;
}

static struct relais_audit_report verify(void)
{
    struct relais_store *st;
    const struct relais_store_opts ro = {.readonly = true};
    assert_int_equal(relais_store_open(&st, path, &ro), RELAIS_OK);
    struct relais_audit_report r;
    assert_int_equal(relais_audit_verify(st, &r), RELAIS_OK);
    relais_store_close(st);
    return r;
}

/* The report is exactly these findings ("problem id[-id_to]", in order). */
static void expect(const struct relais_audit_report *r, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    char got[512] = "", want[512] = "";
    for (size_t i = 0; i < r->nfindings; i++) {
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s %lld-%lld; ",
                 relais_audit_problem_name(r->findings[i].problem), (long long)r->findings[i].id,
                 (long long)r->findings[i].id_to);
    }
    for (size_t i = 0; i < n; i++) {
        const char *w = va_arg(ap, const char *);
        size_t l = strlen(want);
        snprintf(want + l, sizeof want - l, "%s; ", w);
    }
    va_end(ap);
    if (strcmp(got, want) != 0) fail_msg("findings: got '%s', want '%s'", got, want);
}

static void test_intact(void **state)
{
    (void)state;
    struct relais_audit_report r = verify();
    assert_int_equal(r.rows, ROWS);
    assert_int_equal(r.first_id, 1);
    assert_int_equal(r.last_id, ROWS);
    expect(&r, 0);
    /* the head is the last row's hash */
    static const uint8_t zero[RELAIS_SHA256_LEN];
    assert_memory_not_equal(r.head, zero, sizeof zero);
}

static void test_modified(void **state)
{
    (void)state;
    exec("UPDATE audit SET detail = 'nothing happened' WHERE id = 7");
    struct relais_audit_report r = verify();
    expect(&r, 1, "modified 7-7");
    exec("UPDATE audit SET at_ms = at_ms + 1 WHERE id = 12");
    r = verify();
    expect(&r, 2, "modified 7-7", "modified 12-12");
}

static void test_deleted(void **state)
{
    (void)state;
    exec("DELETE FROM audit WHERE id = 7");
    struct relais_audit_report r = verify();
    assert_int_equal(r.rows, ROWS - 1);
    expect(&r, 1, "deleted 7-7");
    exec("DELETE FROM audit WHERE id IN (12, 13, 14)");
    r = verify();
    expect(&r, 2, "deleted 7-7", "deleted 12-14");
}

static void test_deleted_first(void **state)
{
    (void)state;
    exec("DELETE FROM audit WHERE id <= 2");
    struct relais_audit_report r = verify();
    expect(&r, 1, "deleted 1-2");
}

/* A forged row 8 between 7 and the old 8 (now 9, and so on): its hash
 * computed as relaisd would, so only the links tell. */
static void test_inserted(void **state)
{
    (void)state;
    exec("UPDATE audit SET id = id + 1000 WHERE id > 7;"
         "UPDATE audit SET id = id - 999 WHERE id > 1000;");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash FROM audit WHERE id = 7", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    uint8_t prev[RELAIS_SHA256_LEN], h[RELAIS_SHA256_LEN];
    memcpy(prev, sqlite3_column_blob(s, 0), sizeof prev);
    sqlite3_finalize(s);
    store__audit_hash(prev, 8, 1795388406500, "alert.acknowledged", "gw-1", "by nobody", h);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO audit(id, at_ms, kind, subject, detail,"
                                        " prev_hash, hash) VALUES (8, 1795388406500,"
                                        " 'alert.acknowledged', 'gw-1', 'by nobody', ?, ?)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(s, 1, prev, sizeof prev, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, h, sizeof h, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(db);
    struct relais_audit_report r = verify();
    assert_int_equal(r.rows, ROWS + 1);
    expect(&r, 1, "inserted 8-8");
}

static void test_reordered(void **state)
{
    (void)state;
    exec("UPDATE audit SET id = 1000 WHERE id = 7;"
         "UPDATE audit SET id = 7 WHERE id = 8;"
         "UPDATE audit SET id = 8 WHERE id = 1000;");
    struct relais_audit_report r = verify();
    expect(&r, 1, "reordered 7-7");
}

static void test_broken_link(void **state)
{
    (void)state;
    exec("UPDATE audit SET prev_hash = zeroblob(32) WHERE id = 9");
    struct relais_audit_report r = verify();
    /* the link is wrong, and the row's hash covered it */
    expect(&r, 2, "broken 9-9", "modified 9-9");
}

static void test_bad_blob(void **state)
{
    (void)state;
    exec("UPDATE audit SET hash = x'00' WHERE id = 4");
    struct relais_audit_report r = verify();
    /* row 4's hash is gone: row 4 no longer matches, row 5 links to nothing */
    expect(&r, 2, "broken 5-5", "modified 4-4");
}

static void test_empty(void **state)
{
    (void)state;
    exec("DELETE FROM audit");
    struct relais_audit_report r = verify();
    assert_int_equal(r.rows, 0);
    expect(&r, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inserted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reordered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
