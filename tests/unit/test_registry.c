/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the device registry (edge/src/registry.c over
 * edge/src/store_devices.c): kinds and patient pseudonyms, add (a fresh
 * 32-character base64url key, the row and its audit record), refusals
 * (EINVAL, EEXIST, EBUSY) that write nothing, lookups, remove (key erased,
 * audited, the removed callback once), re-adding a removed device, counts,
 * reload after another connection wrote, and close/reopen of the store.
 *
 * Every test works in its own mkdtemp directory under $TMPDIR (or /tmp) and
 * removes it.  What the registry wrote is read back through a separate SQLite
 * connection, i.e. as committed on disk.
 *
 * One test fails until a bug of the store is fixed (see its comment): a
 * registry whose store connection has not itself written the newest audit
 * row cannot add or remove any more.
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
#include "relais/log.h"
#include "relais/registry.h"
#include "relais/store.h"

#define T0_MS   1795000000000LL
#define DB_NAME "relais.db"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- fixture: a temp dir, a store and its registry ---- */

struct fixture {
    char dir[256];
    char path[320];
    struct relais_store *st;
    struct relais_registry *reg;
    /* a second connection and registry (reload tests), closed by teardown */
    struct relais_store *st2;
    struct relais_registry *reg2;
    sqlite3 *raw; /* a plain SQLite connection, closed by teardown */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");

    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "%s/relais-test-registry-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, DB_NAME);
    relais_log_set_level(RELAIS_LOG_ERROR);
    if (relais_store_open(&f->st, f->path, test_store_opts()) != RELAIS_OK ||
        relais_registry_create(&f->reg, f->st) != RELAIS_OK) {
        relais_store_close(f->st);
        rmdir(f->dir);
        free(f);
        return -1;
    }
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

    if (f->raw) sqlite3_close_v2(f->raw);
    relais_registry_destroy(f->reg2);
    relais_store_close(f->st2);
    relais_registry_destroy(f->reg);
    relais_store_close(f->st);
    remove_dir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---- */

/* A plain connection to the store's file (opened once per test). */
static sqlite3 *raw_db(struct fixture *f)
{
    if (!f->raw) {
        assert_int_equal(sqlite3_open_v2(f->path, &f->raw, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        sqlite3_busy_timeout(f->raw, 1000);
    }
    return f->raw;
}

static int64_t query_int(struct fixture *f, const char *sql)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw_db(f), sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The devices row of id as committed: columns that are NULL say so. */
struct row {
    bool found;
    char kind[64];
    char patient[64];
    bool patient_null;
    int64_t created_ms;
    int64_t revoked_ms;
    bool revoked_null;
    uint8_t psk[64];
    int psk_len;
    bool psk_null;
};

static struct row device_row(struct fixture *f, const char *id)
{
    struct row r;
    sqlite3_stmt *s = NULL;

    memset(&r, 0, sizeof r);
    assert_int_equal(sqlite3_prepare_v2(raw_db(f),
                                        "SELECT kind, patient, created_ms, revoked_ms, psk"
                                        " FROM devices WHERE id = ?1",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r.found = true;
        snprintf(r.kind, sizeof r.kind, "%s", (const char *)sqlite3_column_text(s, 0));
        r.patient_null = sqlite3_column_type(s, 1) == SQLITE_NULL;
        if (!r.patient_null)
            snprintf(r.patient, sizeof r.patient, "%s", (const char *)sqlite3_column_text(s, 1));
        r.created_ms = sqlite3_column_int64(s, 2);
        r.revoked_null = sqlite3_column_type(s, 3) == SQLITE_NULL;
        r.revoked_ms = sqlite3_column_int64(s, 3);
        r.psk_null = sqlite3_column_type(s, 4) == SQLITE_NULL;
        /* the key is sealed (store_seal.c): opened with the test's store key */
        int sealed = sqlite3_column_bytes(s, 4);
        if (sealed > RELAIS_SEAL_OVERHEAD && sealed <= (int)sizeof r.psk + RELAIS_SEAL_OVERHEAD) {
            struct store_keys k;
            struct store_aad a;
            store__keys_derive(test_store_key(), &k);
            store__aad_init(&a, "devices.psk");
            store__aad_str(&a, id);
            assert_int_equal(
                relais_unseal(k.seal, a.b, a.n, sqlite3_column_blob(s, 4), (size_t)sealed, r.psk),
                RELAIS_OK);
            r.psk_len = sealed - RELAIS_SEAL_OVERHEAD;
        }
    } else {
        assert_int_equal(rc, SQLITE_DONE);
    }
    sqlite3_finalize(s);
    return r;
}

/* The audit rows of kind for subject; the last one's detail goes to detail. */
static int64_t audit_rows(struct fixture *f, const char *kind, const char *subject, char *detail,
                          size_t cap)
{
    sqlite3_stmt *s = NULL;
    int64_t n = 0;

    assert_int_equal(sqlite3_prepare_v2(raw_db(f),
                                        "SELECT detail FROM audit WHERE kind = ?1 AND subject = ?2"
                                        " ORDER BY id",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, subject, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (detail) snprintf(detail, cap, "%s", (const char *)sqlite3_column_text(s, 0));
        n++;
    }
    sqlite3_finalize(s);
    return n;
}

static int64_t table_rows(struct fixture *f, const char *table)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return query_int(f, sql);
}

static void expect_key_alphabet(const uint8_t *psk)
{
    for (size_t i = 0; i < RELAIS_PSK_LEN; i++) {
        if (psk[i] == '\0' || !strchr(b64url, psk[i]))
            fail_msg("key byte %zu is 0x%02x, not base64url", i, psk[i]);
    }
}

static const struct relais_device *active(struct fixture *f, const char *id)
{
    return relais_registry_active(f->reg, id, strlen(id));
}

/* What the removed callback saw. */
struct removed_log {
    int calls;
    char last[64];
};

static void on_removed(void *ud, const char *id)
{
    struct removed_log *log = ud;
    log->calls++;
    snprintf(log->last, sizeof log->last, "%s", id);
}

/* ---- kinds and patients ---- */

static void test_kind_valid(void **state)
{
    (void)state;
    static const char *const good[] = {"pillbox",  "vitals",  "tablet", "thermometer",
                                       "oximeter", "bp-cuff", "scale"};
    static const char *const bad[] = {"",         "unknown",   "Pillbox",  "PILLBOX", "Scale",
                                      "pillbox ", " pillbox",  "pill",     "scales",  "bp_cuff",
                                      "bpcuff",   "bp-cuff\n", "tablet\t", "vital"};

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!relais_device_kind_valid(good[i])) fail_msg("kind '%s' refused", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (relais_device_kind_valid(bad[i])) fail_msg("kind '%s' accepted", bad[i]);
    }
}

static void test_patient_valid(void **state)
{
    (void)state;
    static const char *const good[] = {
        "",     "p", "P-1", "pat_42",    "a.b.c",
        "0123", "-", "_.-", "ABCxyz019", "abcdefghijklmnopqrstuvwxyz012345"}; /* 32 */
    static const char *const bad[] = {"abcdefghijklmnopqrstuvwxyz0123456",    /* 33 */
                                      "a b",
                                      " a",
                                      "a/b",
                                      "a:b",
                                      "a+b",
                                      "a@b",
                                      "a,b",
                                      "a\tb",
                                      "a\nb",
                                      "caf\xc3\xa9",
                                      "a\"b",
                                      "a'b",
                                      "a;b",
                                      "a%b",
                                      "a\\b"};

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!relais_patient_valid(good[i])) fail_msg("patient '%s' refused", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (relais_patient_valid(bad[i])) fail_msg("patient '%s' accepted", bad[i]);
    }
}

/* ---- add ---- */

static void test_add(void **state)
{
    struct fixture *f = *state;
    struct relais_device d, e;
    char detail[256];

    memset(&d, 0, sizeof d);
    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "pat-7", T0_MS, &d),
                     RELAIS_OK);
    assert_string_equal(d.id, "box-1");
    assert_string_equal(d.kind, "pillbox");
    assert_string_equal(d.patient, "pat-7");
    assert_true(d.has_psk);
    assert_int_equal(d.created_ms, T0_MS);
    assert_int_equal(d.revoked_ms, 0);
    expect_key_alphabet(d.psk);

    /* the committed row holds the same key, as a 32-byte blob */
    struct row r = device_row(f, "box-1");
    assert_true(r.found);
    assert_string_equal(r.kind, "pillbox");
    assert_string_equal(r.patient, "pat-7");
    assert_int_equal(r.created_ms, T0_MS);
    assert_true(r.revoked_null);
    assert_false(r.psk_null);
    assert_int_equal(r.psk_len, RELAIS_PSK_LEN);
    assert_memory_equal(r.psk, d.psk, RELAIS_PSK_LEN);

    /* and so does the registry's copy */
    const struct relais_device *a = active(f, "box-1");
    assert_non_null(a);
    assert_memory_equal(a->psk, d.psk, RELAIS_PSK_LEN);

    /* audited with kind and patient */
    assert_int_equal(audit_rows(f, "device.added", "box-1", detail, sizeof detail), 1);
    assert_non_null(strstr(detail, "pillbox"));
    assert_non_null(strstr(detail, "pat-7"));
    /* the key itself is never in the audit trail */
    char key[RELAIS_PSK_LEN + 1];
    memcpy(key, d.psk, RELAIS_PSK_LEN);
    key[RELAIS_PSK_LEN] = '\0';
    assert_null(strstr(detail, key));

    /* a second device gets another key; no patient (NULL) is stored as NULL */
    memset(&e, 0, sizeof e);
    assert_int_equal(relais_registry_add(f->reg, "thermo-2", "thermometer", NULL, T0_MS + 1, &e),
                     RELAIS_OK);
    expect_key_alphabet(e.psk);
    assert_memory_not_equal(d.psk, e.psk, RELAIS_PSK_LEN);
    assert_string_equal(e.patient, "");
    r = device_row(f, "thermo-2");
    assert_true(r.found);
    assert_true(r.patient_null);
    assert_int_equal(audit_rows(f, "device.added", "thermo-2", detail, sizeof detail), 1);
    assert_non_null(strstr(detail, "thermometer"));
    assert_null(strstr(detail, "patient"));

    /* out may be NULL */
    assert_int_equal(relais_registry_add(f->reg, "scale-3", "scale", "", T0_MS + 2, NULL),
                     RELAIS_OK);
    assert_non_null(active(f, "scale-3"));
    assert_int_equal(relais_registry_count(f->reg, false), 3);
}

/* Keys of many devices: all distinct and together they use the whole
 * alphabet (a key drawn from a smaller set would show here). */
static void test_add_keys_random(void **state)
{
    struct fixture *f = *state;
    enum { N = 48 };
    uint8_t keys[N][RELAIS_PSK_LEN];
    bool seen[256] = {false};

    for (int i = 0; i < N; i++) {
        char id[16];
        struct relais_device d;
        snprintf(id, sizeof id, "dev-%d", i);
        assert_int_equal(relais_registry_add(f->reg, id, "vitals", "", T0_MS + i, &d), RELAIS_OK);
        expect_key_alphabet(d.psk);
        memcpy(keys[i], d.psk, RELAIS_PSK_LEN);
        for (size_t j = 0; j < RELAIS_PSK_LEN; j++)
            seen[d.psk[j]] = true;
        for (int k = 0; k < i; k++)
            assert_memory_not_equal(keys[k], keys[i], RELAIS_PSK_LEN);
    }
    for (size_t i = 0; b64url[i]; i++) {
        if (!seen[(uint8_t)b64url[i]]) fail_msg("'%c' never appeared in %d keys", b64url[i], N);
    }
}

static void test_add_active_exists(void **state)
{
    struct fixture *f = *state;
    struct relais_device d, again;

    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "pat-7", T0_MS, &d),
                     RELAIS_OK);
    int64_t audits = table_rows(f, "audit");
    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "pat-7", T0_MS + 5, &again),
                     RELAIS_EEXIST);
    assert_int_equal(relais_registry_add(f->reg, "box-1", "scale", "", T0_MS + 6, NULL),
                     RELAIS_EEXIST);
    /* nothing changed: the same key, the same row, no audit */
    struct row r = device_row(f, "box-1");
    assert_memory_equal(r.psk, d.psk, RELAIS_PSK_LEN);
    assert_string_equal(r.kind, "pillbox");
    assert_int_equal(r.created_ms, T0_MS);
    assert_int_equal(table_rows(f, "audit"), audits);
    assert_memory_equal(active(f, "box-1")->psk, d.psk, RELAIS_PSK_LEN);
    assert_false(relais_store_in_transaction(f->st));
}

static void test_add_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *const bad_ids[] = {
        "",      "Box-1", "-box", "box_1",     "box 1",
        "box/1", "box.1", "BOX",  "b\xc3\xa9", "abcdefghijklmnopqrstuvwxyz0123456"}; /* 33 */
    static const char *const bad_kinds[] = {"", "toaster", "Scale", "pillbox "};
    static const char *const bad_patients[] = {"a b", "abcdefghijklmnopqrstuvwxyz0123456", "pat:1",
                                               "caf\xc3\xa9"};
    struct relais_device d;

    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        if (relais_registry_add(f->reg, bad_ids[i], "pillbox", "", T0_MS, &d) != RELAIS_EINVAL)
            fail_msg("id '%s' not refused", bad_ids[i]);
    }
    for (size_t i = 0; i < sizeof bad_kinds / sizeof bad_kinds[0]; i++) {
        if (relais_registry_add(f->reg, "box-1", bad_kinds[i], "", T0_MS, &d) != RELAIS_EINVAL)
            fail_msg("kind '%s' not refused", bad_kinds[i]);
    }
    for (size_t i = 0; i < sizeof bad_patients / sizeof bad_patients[0]; i++) {
        if (relais_registry_add(f->reg, "box-1", "pillbox", bad_patients[i], T0_MS, &d) !=
            RELAIS_EINVAL)
            fail_msg("patient '%s' not refused", bad_patients[i]);
    }
    /* nothing written anywhere */
    assert_int_equal(table_rows(f, "devices"), 0);
    assert_int_equal(table_rows(f, "audit"), 0);
    assert_int_equal(relais_registry_count(f->reg, false), 0);
    assert_null(active(f, "box-1"));
    assert_false(relais_store_in_transaction(f->st));

    /* the longest id and patient are fine */
    assert_int_equal(relais_registry_add(f->reg, "abcdefghijklmnopqrstuvwxyz012345", "tablet",
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_012", T0_MS, &d),
                     RELAIS_OK);
    assert_string_equal(d.patient, "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_012");
}

/* ---- lookups ---- */

static void test_active(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "", T0_MS, NULL), RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "box-10", "pillbox", "", T0_MS, NULL), RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "gone", "scale", "", T0_MS, NULL), RELAIS_OK);
    assert_int_equal(relais_registry_remove(f->reg, "gone", T0_MS + 1), RELAIS_OK);

    const struct relais_device *d = active(f, "box-1");
    assert_non_null(d);
    assert_string_equal(d->id, "box-1");
    d = active(f, "box-10");
    assert_non_null(d);
    assert_string_equal(d->id, "box-10");

    /* the length is what counts: no NUL needed, no prefix match */
    static const char buf[] = {'b', 'o', 'x', '-', '1', '0', 'x'};
    d = relais_registry_active(f->reg, buf, 5);
    assert_non_null(d);
    assert_string_equal(d->id, "box-1");
    d = relais_registry_active(f->reg, buf, 6);
    assert_non_null(d);
    assert_string_equal(d->id, "box-10");
    assert_null(relais_registry_active(f->reg, buf, 4));
    assert_null(relais_registry_active(f->reg, buf, 7));
    assert_null(relais_registry_active(f->reg, "", 0));

    assert_null(active(f, "unknown"));
    assert_null(active(f, "BOX-1"));
    assert_null(active(f, "gone"));
}

/* ---- remove ---- */

static void test_remove(void **state)
{
    struct fixture *f = *state;
    struct removed_log log = {0};
    struct relais_device d;
    char detail[256];

    relais_registry_set_removed_cb(f->reg, on_removed, &log);
    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "pat-7", T0_MS, &d),
                     RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "box-2", "scale", "", T0_MS, NULL), RELAIS_OK);

    assert_int_equal(relais_registry_remove(f->reg, "unknown", T0_MS + 1), RELAIS_ENOTFOUND);
    assert_int_equal(relais_registry_remove(f->reg, "", T0_MS + 1), RELAIS_ENOTFOUND);
    assert_int_equal(log.calls, 0);
    assert_int_equal(audit_rows(f, "device.removed", "unknown", NULL, 0), 0);

    assert_int_equal(relais_registry_remove(f->reg, "box-1", T0_MS + 1000), RELAIS_OK);
    assert_int_equal(log.calls, 1);
    assert_string_equal(log.last, "box-1");

    /* the key is erased in the store, the row and its history stay */
    struct row r = device_row(f, "box-1");
    assert_true(r.found);
    assert_true(r.psk_null);
    assert_false(r.revoked_null);
    assert_int_equal(r.revoked_ms, T0_MS + 1000);
    assert_int_equal(r.created_ms, T0_MS);
    assert_string_equal(r.kind, "pillbox");
    assert_string_equal(r.patient, "pat-7");
    assert_int_equal(audit_rows(f, "device.removed", "box-1", detail, sizeof detail), 1);

    /* and in the registry */
    assert_null(active(f, "box-1"));
    struct relais_device got;
    assert_int_equal(relais_store_device_get(f->st, "box-1", &got), RELAIS_OK);
    assert_false(got.has_psk);
    assert_int_equal(got.revoked_ms, T0_MS + 1000);
    static const uint8_t zero[RELAIS_PSK_LEN] = {0};
    assert_memory_equal(got.psk, zero, RELAIS_PSK_LEN);

    /* the other device is untouched */
    assert_non_null(active(f, "box-2"));
    assert_false(device_row(f, "box-2").psk_null);

    /* a second remove finds nothing, writes nothing, calls nobody */
    int64_t audits = table_rows(f, "audit");
    assert_int_equal(relais_registry_remove(f->reg, "box-1", T0_MS + 2000), RELAIS_ENOTFOUND);
    assert_int_equal(log.calls, 1);
    assert_int_equal(table_rows(f, "audit"), audits);
    assert_int_equal(device_row(f, "box-1").revoked_ms, T0_MS + 1000);
    assert_false(relais_store_in_transaction(f->st));

    /* without a callback, remove works all the same */
    relais_registry_set_removed_cb(f->reg, NULL, NULL);
    assert_int_equal(relais_registry_remove(f->reg, "box-2", T0_MS + 3000), RELAIS_OK);
    assert_int_equal(log.calls, 1);
}

static void test_readd_removed(void **state)
{
    struct fixture *f = *state;
    struct relais_device first, second;
    char detail[256];

    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "pat-7", T0_MS, &first),
                     RELAIS_OK);
    assert_int_equal(relais_registry_remove(f->reg, "box-1", T0_MS + 1000), RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "box-1", "vitals", "pat-8", T0_MS + 2000, &second),
                     RELAIS_OK);
    expect_key_alphabet(second.psk);
    assert_memory_not_equal(first.psk, second.psk, RELAIS_PSK_LEN);
    assert_int_equal(second.revoked_ms, 0);

    const struct relais_device *a = active(f, "box-1");
    assert_non_null(a);
    assert_memory_equal(a->psk, second.psk, RELAIS_PSK_LEN);
    assert_string_equal(a->kind, "vitals");
    assert_string_equal(a->patient, "pat-8");

    struct row r = device_row(f, "box-1");
    assert_true(r.revoked_null);
    assert_int_equal(r.created_ms, T0_MS + 2000);
    assert_memory_equal(r.psk, second.psk, RELAIS_PSK_LEN);
    assert_int_equal(table_rows(f, "devices"), 1);
    assert_int_equal(audit_rows(f, "device.added", "box-1", detail, sizeof detail), 2);
    assert_non_null(strstr(detail, "vitals"));
    assert_non_null(strstr(detail, "pat-8"));
    assert_int_equal(relais_registry_count(f->reg, true), 1);

    /* and it can be removed again */
    assert_int_equal(relais_registry_remove(f->reg, "box-1", T0_MS + 3000), RELAIS_OK);
    assert_int_equal(audit_rows(f, "device.removed", "box-1", NULL, 0), 2);
}

static void test_count(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(relais_registry_count(f->reg, true), 0);
    assert_int_equal(relais_registry_count(f->reg, false), 0);
    assert_int_equal(relais_registry_add(f->reg, "a", "pillbox", "", T0_MS, NULL), RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "b", "scale", "", T0_MS, NULL), RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "c", "tablet", "", T0_MS, NULL), RELAIS_OK);
    assert_int_equal(relais_registry_count(f->reg, true), 3);
    assert_int_equal(relais_registry_count(f->reg, false), 3);
    assert_int_equal(relais_registry_remove(f->reg, "b", T0_MS + 1), RELAIS_OK);
    assert_int_equal(relais_registry_count(f->reg, true), 2);
    assert_int_equal(relais_registry_count(f->reg, false), 3);
    assert_int_equal(relais_registry_remove(f->reg, "a", T0_MS + 1), RELAIS_OK);
    assert_int_equal(relais_registry_remove(f->reg, "c", T0_MS + 1), RELAIS_OK);
    assert_int_equal(relais_registry_count(f->reg, true), 0);
    assert_int_equal(relais_registry_count(f->reg, false), 3);
    assert_int_equal(relais_registry_add(f->reg, "b", "scale", "", T0_MS + 2, NULL), RELAIS_OK);
    assert_int_equal(relais_registry_count(f->reg, true), 1);
    assert_int_equal(relais_registry_count(f->reg, false), 3);
}

/* ---- reload, concurrency, reopen ---- */

/* Another connection (relaisctl while relaisd is down, a second process)
 * changes the table: the registry sees it after a reload, not before. */
static void test_reload(void **state)
{
    struct fixture *f = *state;
    struct relais_device d1, d2;

    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "", T0_MS, &d1), RELAIS_OK);

    assert_int_equal(relais_store_open(&f->st2, f->path, test_store_opts()), RELAIS_OK);
    assert_int_equal(relais_registry_create(&f->reg2, f->st2), RELAIS_OK);
    /* the second registry loaded what the first wrote */
    assert_non_null(relais_registry_active(f->reg2, "box-1", 5));
    assert_memory_equal(relais_registry_active(f->reg2, "box-1", 5)->psk, d1.psk, RELAIS_PSK_LEN);

    assert_int_equal(relais_registry_add(f->reg2, "box-2", "scale", "pat-2", T0_MS + 1, &d2),
                     RELAIS_OK);
    assert_int_equal(relais_registry_remove(f->reg2, "box-1", T0_MS + 2), RELAIS_OK);

    /* not seen before a reload */
    assert_non_null(active(f, "box-1"));
    assert_null(active(f, "box-2"));
    assert_int_equal(relais_registry_count(f->reg, false), 1);

    assert_int_equal(relais_registry_reload(f->reg), RELAIS_OK);
    assert_null(active(f, "box-1"));
    const struct relais_device *a = active(f, "box-2");
    assert_non_null(a);
    assert_memory_equal(a->psk, d2.psk, RELAIS_PSK_LEN);
    assert_string_equal(a->patient, "pat-2");
    assert_int_equal(relais_registry_count(f->reg, false), 2);
    assert_int_equal(relais_registry_count(f->reg, true), 1);

    /* a row written by hand (another tool) with a clear key: the key is not
     * sealed under the store key, so it fails its check and is never used */
    assert_int_equal(sqlite3_exec(raw_db(f),
                                  "INSERT INTO devices(id, kind, patient, created_ms, psk)"
                                  " VALUES('hand-1', 'tablet', NULL, 5,"
                                  " CAST('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef' AS BLOB))",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    uint64_t tampered = relais_store_tampered(f->st);
    assert_int_equal(relais_registry_reload(f->reg), RELAIS_OK);
    a = active(f, "hand-1");
    assert_true(a == NULL || !a->has_psk);
    assert_true(relais_store_tampered(f->st) > tampered);
}

/*
 * BUG (see the report): the store keeps the head of the audit chain (id and
 * hash of the last row) in memory from the time it was opened.  Once another
 * connection has appended to the audit trail (here: a device added by a second
 * registry, as relaisctl does), the first connection's next audit row reuses
 * an id that exists: the INSERT fails on the primary key, the add is rolled
 * back with RELAIS_ESTORE, and every later audited write of that store fails
 * the same way until it is reopened.
 */
static void test_add_after_another_connection_wrote(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "", T0_MS, NULL), RELAIS_OK);
    assert_int_equal(relais_store_open(&f->st2, f->path, test_store_opts()), RELAIS_OK);
    assert_int_equal(relais_registry_create(&f->reg2, f->st2), RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg2, "box-2", "scale", "", T0_MS + 1, NULL),
                     RELAIS_OK);

    assert_int_equal(relais_registry_reload(f->reg), RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "box-3", "tablet", "", T0_MS + 2, NULL),
                     RELAIS_OK);
    assert_int_equal(relais_registry_remove(f->reg, "box-2", T0_MS + 3), RELAIS_OK);
    assert_int_equal(table_rows(f, "audit"), 4);
    /* the chain stays one chain: each row's prev_hash is the previous hash */
    assert_int_equal(query_int(f, "SELECT count(*) FROM audit a JOIN audit b ON b.id = a.id + 1"
                                  " WHERE b.prev_hash <> a.hash"),
                     0);
}

/* No add or remove while a transaction is open on the store (it would be
 * committed with someone else's batch), nor while another connection holds
 * the write lock. */
static void test_busy(void **state)
{
    struct fixture *f = *state;
    struct removed_log log = {0};

    relais_registry_set_removed_cb(f->reg, on_removed, &log);
    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "", T0_MS, NULL), RELAIS_OK);
    int64_t audits = table_rows(f, "audit");

    /* this store's own transaction */
    assert_int_equal(relais_store_begin(f->st), RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "box-2", "scale", "", T0_MS, NULL), RELAIS_EBUSY);
    assert_int_equal(relais_registry_remove(f->reg, "box-1", T0_MS), RELAIS_EBUSY);
    assert_true(relais_store_in_transaction(f->st)); /* still the caller's */
    relais_store_rollback(f->st);
    assert_int_equal(log.calls, 0);
    assert_null(active(f, "box-2"));
    assert_non_null(active(f, "box-1"));
    assert_false(device_row(f, "box-2").found);
    assert_true(device_row(f, "box-1").revoked_null);
    assert_int_equal(table_rows(f, "audit"), audits);

    /* another connection's write transaction */
    assert_int_equal(sqlite3_exec(raw_db(f), "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(relais_registry_add(f->reg, "box-2", "scale", "", T0_MS, NULL), RELAIS_EBUSY);
    assert_int_equal(relais_registry_remove(f->reg, "box-1", T0_MS), RELAIS_EBUSY);
    assert_false(relais_store_in_transaction(f->st));
    assert_null(active(f, "box-2"));
    assert_non_null(active(f, "box-1"));
    assert_int_equal(log.calls, 0);
    assert_int_equal(sqlite3_exec(raw_db(f), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_false(device_row(f, "box-2").found);
    assert_true(device_row(f, "box-1").revoked_null);
    assert_int_equal(table_rows(f, "audit"), audits);

    /* free again: both work */
    assert_int_equal(relais_registry_add(f->reg, "box-2", "scale", "", T0_MS, NULL), RELAIS_OK);
    assert_int_equal(relais_registry_remove(f->reg, "box-1", T0_MS), RELAIS_OK);
    assert_int_equal(log.calls, 1);
}

static void test_reopen(void **state)
{
    struct fixture *f = *state;
    struct relais_device a, b;

    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "pat-1", T0_MS, &a),
                     RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "box-2", "oximeter", "", T0_MS + 1, &b),
                     RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "box-3", "bp-cuff", "", T0_MS + 2, NULL),
                     RELAIS_OK);
    assert_int_equal(relais_registry_remove(f->reg, "box-3", T0_MS + 3), RELAIS_OK);

    relais_registry_destroy(f->reg);
    f->reg = NULL;
    relais_store_close(f->st);
    f->st = NULL;
    assert_int_equal(relais_store_open(&f->st, f->path, test_store_opts()), RELAIS_OK);
    assert_int_equal(relais_registry_create(&f->reg, f->st), RELAIS_OK);

    assert_int_equal(relais_registry_count(f->reg, false), 3);
    assert_int_equal(relais_registry_count(f->reg, true), 2);
    const struct relais_device *d = active(f, "box-1");
    assert_non_null(d);
    assert_memory_equal(d->psk, a.psk, RELAIS_PSK_LEN);
    assert_string_equal(d->kind, "pillbox");
    assert_string_equal(d->patient, "pat-1");
    assert_int_equal(d->created_ms, T0_MS);
    d = active(f, "box-2");
    assert_non_null(d);
    assert_memory_equal(d->psk, b.psk, RELAIS_PSK_LEN);
    assert_string_equal(d->kind, "oximeter");
    assert_string_equal(d->patient, "");
    assert_null(active(f, "box-3"));

    /* the reopened registry goes on: EEXIST, remove, re-add */
    assert_int_equal(relais_registry_add(f->reg, "box-1", "pillbox", "", T0_MS + 4, NULL),
                     RELAIS_EEXIST);
    assert_int_equal(relais_registry_remove(f->reg, "box-2", T0_MS + 5), RELAIS_OK);
    assert_int_equal(relais_registry_add(f->reg, "box-3", "bp-cuff", "", T0_MS + 6, NULL),
                     RELAIS_OK);
    assert_int_equal(relais_registry_count(f->reg, true), 2);

    /* a read-only store (relaisctl devices) lists the same */
    struct relais_store *ro = NULL;
    struct relais_registry *rreg = NULL;
    struct relais_store_opts opts = {.readonly = true, .key = test_store_key()};
    assert_int_equal(relais_store_open(&ro, f->path, &opts), RELAIS_OK);
    int rc = relais_registry_create(&rreg, ro);
    if (rc == RELAIS_OK) {
        assert_int_equal(relais_registry_count(rreg, false), 3);
        assert_int_equal(relais_registry_count(rreg, true), 2);
        /* and refuses to write */
        assert_int_not_equal(relais_registry_add(rreg, "box-9", "scale", "", T0_MS, NULL),
                             RELAIS_OK);
        relais_registry_destroy(rreg);
    }
    relais_store_close(ro);
    assert_int_equal(rc, RELAIS_OK);
    assert_false(device_row(f, "box-9").found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_valid),
        cmocka_unit_test(test_patient_valid),
        cmocka_unit_test_setup_teardown(test_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_keys_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_active_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readd_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        /* this one fails: it shows a bug of the store (see the report) */
        cmocka_unit_test_setup_teardown(test_add_after_another_connection_wrote, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
