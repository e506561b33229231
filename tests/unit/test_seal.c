/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encryption at rest (store_seal.c): a copy of the database file shows no
 * reading value, metric, unit, pack body, alert evidence or dose kind; a
 * one-byte change to a sealed record is reported (counted, audited) and
 * never passed on as data; a record moved to another row fails its check;
 * the key file's mode and the store's key id are enforced; key rotation
 * re-seals every row without losing one; a clear schema-6 store is sealed
 * by the migration.
 */
/* memmem, mkdtemp: _GNU_SOURCE is defined by the build */
#include "test_store_key.h"
#include "store_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relais/error.h"
#include "relais/log.h"
#include "relais/senml.h"
#include "relais/store_care.h"
#include "relais/store_devices.h"

struct fixture {
    char dir[256], path[300], key[300];
    struct relais_pack pack;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "%s/relais-test-seal-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/relais.db", f->dir);
    snprintf(f->key, sizeof f->key, "%s/store.key", f->dir);
    relais_pack_init(&f->pack);
    relais_log_set_level(RELAIS_LOG_ERROR);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    relais_pack_cleanup(&f->pack);
    DIR *d = opendir(f->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[600];
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(f->dir);
    free(f);
    return 0;
}

#define T0 1794000000.0

/* Values that appear nowhere else: found in the file only if not sealed. */
static const char PACK[] = "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":1794000000,"
                           "\"n\":\"temp\",\"u\":\"Cel\",\"v\":38.77},"
                           "{\"n\":\"spo2\",\"u\":\"%\",\"v\":91.25},"
                           "{\"n\":\"pro_nausea\",\"v\":3},"
                           "{\"n\":\"dose\",\"vs\":\"evening-capecitabine\"}]";

static void put(struct fixture *f, struct relais_store *st, uint64_t seq, const char *json)
{
    struct relais_senml_error err;
    enum relais_store_put res;
    assert_int_equal(relais_senml_decode(&f->pack, RELAIS_SENML_JSON, (const uint8_t *)json,
                                         strlen(json), "vitals-1", T0, &err),
                     RELAIS_OK);
    snprintf(f->pack.device, sizeof f->pack.device, "vitals-1");
    f->pack.seq = seq;
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_put_pack(st, &f->pack, (const uint8_t *)json, strlen(json),
                                           RELAIS_TRANSPORT_MQTT, (int64_t)T0 * 1000, &res),
                     RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
}

static void care_rows(struct relais_store *st)
{
    struct relais_alert a;
    memset(&a, 0, sizeof a);
    snprintf(a.id, sizeof a.id, "gw-1-1");
    snprintf(a.patient, sizeof a.patient, "p-1");
    snprintf(a.rule, sizeof a.rule, "fever");
    snprintf(a.team, sizeof a.team, "had");
    snprintf(a.state, sizeof a.state, "raised");
    snprintf(a.evidence, sizeof a.evidence, "{\"temperature\":39.44}");
    a.open = true;
    a.raised_ms = 1;
    const struct relais_alert_event ev = {.alert = "gw-1-1",
                                          .at_ms = 1,
                                          .event = "raised",
                                          .team = "had",
                                          .detail = "temperature 39.44 >= 38.3",
                                          .notify = true};
    const struct relais_dose_event de = {.patient = "p-1",
                                         .device = "pillbox-1",
                                         .pack_id = 1,
                                         .idx = 3,
                                         .t_ms = 1,
                                         .date = "2026-11-23",
                                         .kind = "doubled-dose-kind"};
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_alert_insert(st, &a), RELAIS_OK);
    assert_int_equal(relais_store_alert_event_add(st, &ev), RELAIS_OK);
    assert_int_equal(relais_store_dose_event_add(st, &de), RELAIS_OK);
    assert_int_equal(relais_store_plan_put(st, 1, "p-1", "{\"drug\":\"capecitabine\"}", "test", 1),
                     RELAIS_OK);
    assert_int_equal(relais_store_kv_set(st, "engine", "{\"weight\":[[1,71.35]]}"), RELAIS_OK);
    struct relais_slot_row sl;
    memset(&sl, 0, sizeof sl);
    snprintf(sl.patient, sizeof sl.patient, "p-1");
    snprintf(sl.key, sizeof sl.key, "2026-11-23T08:00/am");
    snprintf(sl.slot, sizeof sl.slot, "am");
    snprintf(sl.date, sizeof sl.date, "2026-11-23");
    snprintf(sl.status, sizeof sl.status, "late");
    sl.doses = 2;
    sl.first_dose_ms = 1794000123456;
    assert_int_equal(relais_store_slot_put(st, &sl), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
}

static int64_t q_int(struct relais_store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(st->db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The slot care_rows wrote: read back whole, its adherence not in clear. */
static void slot_reads_back(struct relais_store *st)
{
    struct relais_slot_row sl;
    assert_int_equal(relais_store_slot_get(st, "p-1", "2026-11-23T08:00/am", &sl), RELAIS_OK);
    assert_string_equal(sl.status, "late");
    assert_int_equal(sl.doses, 2);
    assert_int_equal(sl.first_dose_ms, 1794000123456);
    assert_int_equal(q_int(st, "SELECT count(*) FROM dose_slots WHERE typeof(status) = 'blob'"
                               " AND doses = 0 AND first_dose_ms IS NULL"),
                     1);
}

/* The bytes of the file and of its WAL. */
static char *file_bytes(const char *path, size_t *len)
{
    char *buf = NULL;
    *len = 0;
    const char *suffix[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        FILE *fp = fopen(p, "rb");
        if (!fp) continue;
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
            buf = realloc(buf, *len + n);
            assert_non_null(buf);
            memcpy(buf + *len, chunk, n);
            *len += n;
        }
        fclose(fp);
    }
    return buf;
}

struct seen {
    int n, temp, tampered;
    double temp_v;
};

static int reading_cb(const struct relais_stored_reading *r, void *ud)
{
    struct seen *s = ud;
    s->n++;
    if (r->tampered) s->tampered++;
    if (!r->tampered && strcmp(r->metric, "temp") == 0) {
        s->temp++;
        s->temp_v = r->value;
    }
    return 0;
}

static struct seen walk(struct relais_store *st, const char *metric)
{
    struct seen s = {0};
    struct relais_store_filter flt = {.metric = metric};
    assert_int_equal(relais_store_foreach_reading(st, &flt, reading_cb, &s), RELAIS_OK);
    return s;
}

/* A pill box with its DTLS key and record key, both made of one repeated
 * byte (easy to look for in the file). */
static void device_rows(struct relais_store *st)
{
    struct relais_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "pillbox-1");
    snprintf(d.kind, sizeof d.kind, "pillbox");
    memset(d.psk, 0xA5, sizeof d.psk);
    d.has_psk = true;
    uint8_t rk[RELAIS_WIRE_RECORD_KEY_LEN];
    memset(rk, 0x5A, sizeof rk);
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_device_put(st, &d), RELAIS_OK);
    assert_int_equal(relais_store_device_record_key_set(st, "pillbox-1", rk), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
}

static void device_keys_read_back(struct relais_store *st)
{
    struct relais_device d;
    uint8_t want[32], rk[RELAIS_WIRE_RECORD_KEY_LEN];
    assert_int_equal(relais_store_device_get(st, "pillbox-1", &d), RELAIS_OK);
    assert_true(d.has_psk);
    memset(want, 0xA5, sizeof want);
    assert_memory_equal(d.psk, want, sizeof want);
    assert_int_equal(relais_store_device_record_key_get(st, "pillbox-1", rk), RELAIS_OK);
    memset(want, 0x5A, sizeof want);
    assert_memory_equal(rk, want, sizeof want);
}

static void test_copy_reveals_nothing(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st;
    assert_int_equal(relais_store_open(&st, f->path, test_store_opts()), RELAIS_OK);
    put(f, st, 1, PACK);
    care_rows(st);
    device_rows(st);
    device_keys_read_back(st);
    slot_reads_back(st);
    /* through the store, everything reads back */
    struct seen s = walk(st, NULL);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.temp, 1);
    assert_true(s.temp_v == 38.77);
    s = walk(st, "temp"); /* the metric filter compares keyed tags */
    assert_int_equal(s.n, 1);
    struct relais_alert a;
    assert_int_equal(relais_store_alert_get(st, "gw-1-1", &a), RELAIS_OK);
    assert_string_equal(a.evidence, "{\"temperature\":39.44}");
    relais_store_close(st);

    size_t len;
    char *bytes = file_bytes(f->path, &len);
    assert_non_null(bytes);
    const char *secrets[] = {"38.77",
                             "91.25",
                             "\"temp\"",
                             "spo2",
                             "Cel",
                             "pro_nausea",
                             "evening-capecitabine",
                             "39.44",
                             "doubled-dose-kind",
                             "capecitabine",
                             "71.35",
                             "urn:dev:relais"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (memmem(bytes, len, secrets[i], strlen(secrets[i])))
            fail_msg("'%s' is in clear in the database file", secrets[i]);
    /* the device keys (8 bytes of their repeated byte would be there) */
    assert_null(memmem(bytes, len, "\xA5\xA5\xA5\xA5\xA5\xA5\xA5\xA5", 8));
    assert_null(memmem(bytes, len, "\x5A\x5A\x5A\x5A\x5A\x5A\x5A\x5A", 8));
    /* the doubles too (8 bytes, as SQLite would store a REAL) */
    const double values[] = {38.77, 91.25};
    for (size_t i = 0; i < 2; i++) {
        uint8_t be[8];
        uint64_t u;
        memcpy(&u, &values[i], sizeof u);
        for (int k = 0; k < 8; k++)
            be[k] = (uint8_t)(u >> (56 - 8 * k));
        assert_null(memmem(bytes, len, be, sizeof be));
    }
    free(bytes);
}

/* Flips one bit of byte at (from the end when < 0) of a sealed reading. */
static void flip(struct relais_store *st, int64_t pack_id, int idx, int at)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(st->db, "SELECT sealed FROM readings WHERE pack_id = ?1 AND idx = ?2",
                           -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(s, 1, pack_id);
    sqlite3_bind_int(s, 2, idx);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int n = sqlite3_column_bytes(s, 0);
    uint8_t *b = malloc((size_t)n);
    assert_non_null(b);
    memcpy(b, sqlite3_column_blob(s, 0), (size_t)n);
    sqlite3_finalize(s);
    b[at >= 0 ? at : n + at] ^= 0x01;
    assert_int_equal(sqlite3_prepare_v2(st->db,
                                        "UPDATE readings SET sealed = ?3 WHERE pack_id = ?1"
                                        " AND idx = ?2",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(s, 1, pack_id);
    sqlite3_bind_int(s, 2, idx);
    sqlite3_bind_blob(s, 3, b, n, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    free(b);
}

static void test_one_byte_change_is_reported(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st;
    assert_int_equal(relais_store_open(&st, f->path, test_store_opts()), RELAIS_OK);
    put(f, st, 1, PACK);
    put(f, st, 2,
        "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"n\":\"temp\",\"u\":\"Cel\",\"v\":36.6}]");
    care_rows(st);
    int64_t audits = q_int(st, "SELECT count(*) FROM audit");
    /* one bit of the ciphertext of pack 1's temperature flipped, one of its
     * tag */
    flip(st, 1, 0, 20);
    flip(st, 1, 1, -1);
    /* a sealed value moved to another row: its associated data differ */
    assert_int_equal(sqlite3_exec(st->db,
                                  "UPDATE readings SET sealed = (SELECT sealed FROM readings"
                                  " WHERE pack_id = 1 AND idx = 2) WHERE pack_id = 1 AND idx = 3",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(st->db,
                                  "UPDATE alerts SET evidence = substr(evidence, 1, 30) ||"
                                  " x'00' || substr(evidence, 32)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);

    uint64_t before = relais_store_tampered(st);
    struct seen seen = walk(st, NULL);
    assert_int_equal(seen.n, 5);        /* every row shown ... */
    assert_int_equal(seen.tampered, 3); /* ... three as failed, never as data */
    assert_int_equal(seen.temp, 1);     /* pack 2's temperature only */
    assert_true(seen.temp_v == 36.6);
    assert_int_equal(relais_store_tampered(st) - before, 3);
    struct relais_alert a;
    assert_int_equal(relais_store_alert_get(st, "gw-1-1", &a), RELAIS_OK);
    assert_non_null(strstr(a.evidence, "integrity check"));
    assert_null(strstr(a.evidence, "39.44"));
    assert_int_equal(relais_store_tampered(st) - before, 4);
    /* audited once flushed in a transaction */
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_tamper_flush(st, 5), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    assert_int_equal(q_int(st, "SELECT count(*) FROM audit WHERE kind = 'store.tampered'"), 4);
    assert_int_equal(q_int(st, "SELECT count(*) FROM audit WHERE kind = 'store.tampered'"
                               " AND detail LIKE 'reading of (readings 1 0 %'"),
                     1);
    assert_int_equal(q_int(st, "SELECT count(*) FROM audit"), audits + 4);
    relais_store_close(st);
}

static void test_keys(void **state)
{
    struct fixture *f = *state;
    uint8_t key[RELAIS_STORE_KEY_LEN], other[RELAIS_STORE_KEY_LEN];
    assert_int_equal(relais_store_key_generate(f->key), RELAIS_OK);
    assert_int_equal(relais_store_key_generate(f->key), RELAIS_EEXIST); /* never overwritten */
    struct stat sb;
    assert_int_equal(stat(f->key, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(relais_store_key_read(f->key, key), RELAIS_OK);
    chmod(f->key, 0640);
    assert_int_equal(relais_store_key_read(f->key, key), RELAIS_EPERM);
    chmod(f->key, 0604);
    assert_int_equal(relais_store_key_read(f->key, key), RELAIS_EPERM);
    chmod(f->key, 0600);

    /* a writable open needs a key */
    struct relais_store *st;
    assert_int_equal(relais_store_open(&st, f->path, NULL), RELAIS_EPERM);
    assert_int_equal(relais_store_open_keyed(&st, f->path, f->key, false, NULL), RELAIS_OK);
    put(f, st, 1, PACK);
    char id[17];
    assert_int_equal(relais_store_key_id(st, id), RELAIS_OK);
    relais_store_close(st);
    /* another key is refused before anything is read or written */
    assert_int_equal(relais_random_bytes(other, sizeof other), RELAIS_OK);
    const struct relais_store_opts wrong = {.key = other};
    assert_int_equal(relais_store_open(&st, f->path, &wrong), RELAIS_EPERM);
    const struct relais_store_opts wrong_ro = {.key = other, .readonly = true};
    assert_int_equal(relais_store_open(&st, f->path, &wrong_ro), RELAIS_EPERM);
    /* read-only without key: the clear columns only */
    const struct relais_store_opts ro = {.readonly = true};
    assert_int_equal(relais_store_open(&st, f->path, &ro), RELAIS_OK);
    struct relais_store_filter flt = {0};
    struct seen s = {0};
    assert_int_equal(relais_store_foreach_reading(st, &flt, reading_cb, &s), RELAIS_EPERM);
    relais_store_close(st);
    /* the key file missing beside an existing store: refused, not remade */
    char moved[400];
    snprintf(moved, sizeof moved, "%s.away", f->key);
    assert_int_equal(rename(f->key, moved), 0);
    assert_int_equal(relais_store_open_keyed(&st, f->path, f->key, true, NULL), RELAIS_EPERM);
    assert_int_equal(access(f->key, F_OK), -1);
    assert_int_equal(rename(moved, f->key), 0);
    relais_zeroize(key, sizeof key);
}

static void test_rotate(void **state)
{
    struct fixture *f = *state;
    struct relais_store *st;
    assert_int_equal(relais_store_key_generate(f->key), RELAIS_OK);
    assert_int_equal(relais_store_open_keyed(&st, f->path, f->key, false, NULL), RELAIS_OK);
    for (uint64_t seq = 1; seq <= 50; seq++)
        put(f, st, seq, PACK);
    care_rows(st);
    device_rows(st);
    /* a rejected input: its body and detail are sealed too */
    const struct relais_reject_record rj = {.device = "vitals-1",
                                            .has_seq = true,
                                            .seq = 99,
                                            .at_ms = 7,
                                            .reason = "bad_value",
                                            .detail = "record 0: 99.5",
                                            .body = (const uint8_t *)"x",
                                            .len = 1};
    assert_int_equal(relais_store_begin(st), RELAIS_OK);
    assert_int_equal(relais_store_put_reject(st, &rj), RELAIS_OK);
    assert_int_equal(relais_store_commit(st), RELAIS_OK);
    char old_id[17], new_id[17];
    relais_store_key_id(st, old_id);
    bool dup0 = false;
    assert_int_equal(
        relais_store_is_duplicate(st, "vitals-1", 7, (const uint8_t *)PACK, strlen(PACK), &dup0),
        RELAIS_OK);
    assert_true(dup0);
    uint8_t nk[RELAIS_STORE_KEY_LEN];
    assert_int_equal(relais_random_bytes(nk, sizeof nk), RELAIS_OK);
    assert_int_equal(relais_store_rekey(st, nk, 10), RELAIS_OK);
    relais_store_key_id(st, new_id);
    assert_string_not_equal(old_id, new_id);
    struct seen s = walk(st, "temp");
    assert_int_equal(s.n, 50);
    assert_int_equal(s.tampered, 0);
    s = walk(st, NULL);
    assert_int_equal(s.n, 200);
    /* a resend is still a duplicate (the keyed body hash was recomputed) */
    bool dup = false;
    assert_int_equal(
        relais_store_is_duplicate(st, "vitals-1", 7, (const uint8_t *)PACK, strlen(PACK), &dup),
        RELAIS_OK);
    assert_true(dup);
    assert_int_equal(q_int(st, "SELECT count(*) FROM audit WHERE kind = 'store.key_rotated'"), 1);
    relais_store_close(st);
    /* the old key is refused now, the new one opens it, every row readable */
    assert_int_equal(relais_store_open_keyed(&st, f->path, f->key, false, NULL), RELAIS_EPERM);
    const struct relais_store_opts o = {.key = nk};
    assert_int_equal(relais_store_open(&st, f->path, &o), RELAIS_OK);
    s = walk(st, NULL);
    assert_int_equal(s.n, 200);
    assert_int_equal(s.tampered, 0);
    struct relais_alert a;
    assert_int_equal(relais_store_alert_get(st, "gw-1-1", &a), RELAIS_OK);
    assert_string_equal(a.evidence, "{\"temperature\":39.44}");
    char *kv = NULL;
    assert_int_equal(relais_store_kv_get(st, "engine", &kv), RELAIS_OK);
    assert_string_equal(kv, "{\"weight\":[[1,71.35]]}");
    free(kv);
    device_keys_read_back(st);
    slot_reads_back(st);
    /* a record that fails its check stops a rotation: nothing changes */
    assert_int_equal(sqlite3_exec(st->db,
                                  "UPDATE readings SET sealed = (SELECT sealed FROM readings"
                                  " WHERE pack_id = 2 AND idx = 0) WHERE pack_id = 3 AND idx = 0",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    uint8_t nk2[RELAIS_STORE_KEY_LEN];
    assert_int_equal(relais_random_bytes(nk2, sizeof nk2), RELAIS_OK);
    assert_int_equal(relais_store_rekey(st, nk2, 11), RELAIS_ECORRUPT);
    relais_store_key_id(st, old_id);
    assert_string_equal(old_id, new_id);
    s = walk(st, "temp");
    assert_int_equal(s.n, 50);
    assert_int_equal(s.tampered, 1);
    relais_store_close(st);

    /* a rotation that committed but did not rename its key: taken at open */
    char next[400];
    snprintf(next, sizeof next, "%s.new", f->key);
    assert_int_equal(relais_store_key_write(next, nk), RELAIS_OK);
    assert_int_equal(relais_store_open_keyed(&st, f->path, f->key, false, NULL), RELAIS_OK);
    relais_store_close(st);
    assert_int_equal(access(next, F_OK), -1);
    uint8_t now[RELAIS_STORE_KEY_LEN];
    assert_int_equal(relais_store_key_read(f->key, now), RELAIS_OK);
    assert_memory_equal(now, nk, sizeof nk);
}

#define A5x8   "A5A5A5A5A5A5A5A5"
#define A5x32  A5x8 A5x8 A5x8 A5x8
#define X5Ax8  "5A5A5A5A5A5A5A5A"
#define X5Ax32 X5Ax8 X5Ax8 X5Ax8 X5Ax8

/* A store of schema 6 (values in clear) is sealed by the migration. */
static void test_migration_seals_a_clear_store(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(store__migrate(db, 6), RELAIS_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO packs(id, device, seq, body_hash, body, format, transport,"
                     " received_ms, records) VALUES(1, 'vitals-1', 1, x'00', "
                     " CAST('[{\"n\":\"temp\",\"v\":38.77}]' AS BLOB), 0, 0, 1, 1);"
                     "INSERT INTO readings(pack_id, idx, metric, unit, kind, v, t, t_src)"
                     " VALUES(1, 0, 'temp', 'Cel', 0, 38.77, 1794000000, 0);"
                     "INSERT INTO alerts(num, id, patient, rule, priority, team, state, open,"
                     " raised_ms, since_ms, evidence) VALUES(1, 'gw-1-1', 'p', 'fever', 1, 'had',"
                     " 'raised', 1, 1, 1, '{\"temperature\":38.77}');"
                     "INSERT INTO devices(id, kind, created_ms, psk, record_key) VALUES("
                     " 'pillbox-1', 'pillbox', 1, x'" A5x32 "', x'" X5Ax32 "');"
                     "INSERT INTO dose_slots(patient, slot_key, slot, local_date, cycle, day,"
                     " on_day, due_ms, start_ms, end_ms, status, doses, first_dose_ms) VALUES("
                     " 'p-1', '2026-11-23T08:00/am', 'am', '2026-11-23', 1, 1, 1, 0, 0, 0,"
                     " 'late', 2, 1794000123456);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct relais_store *st;
    assert_int_equal(relais_store_open(&st, f->path, test_store_opts()), RELAIS_OK);
    struct seen s = walk(st, "temp");
    assert_int_equal(s.temp, 1);
    assert_true(s.temp_v == 38.77);
    struct relais_alert a;
    assert_int_equal(relais_store_alert_get(st, "gw-1-1", &a), RELAIS_OK);
    assert_string_equal(a.evidence, "{\"temperature\":38.77}");
    device_keys_read_back(st);
    slot_reads_back(st);
    relais_store_close(st);
    size_t len;
    char *bytes = file_bytes(f->path, &len);
    assert_null(memmem(bytes, len, "38.77", 5)); /* secure_delete: no clear copy left */
    assert_null(memmem(bytes, len, "\xA5\xA5\xA5\xA5\xA5\xA5\xA5\xA5", 8));
    free(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_reveals_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_change_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_seals_a_clear_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
