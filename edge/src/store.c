/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store: opening (pragmas, quick_check, moving a corrupt file aside),
 * schema migrations, transactions and the write path of ingest (packs,
 * readings, rejects, audit).  Statements are prepared once with
 * SQLITE_PREPARE_PERSISTENT and reset after each use.
 *
 * Invariant: outside a transaction audit_pend_* equals audit_*; a rollback
 * restores the pending chain head from the committed one.
 */
#include "store_internal.h"
#include "relais/fhir.h"
#include "relais/outbox.h"
#include "relais/error.h"
#include "relais/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- schema ---- */

static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* 1: the pack log, readings, rejected inputs, the audit trail */
    "CREATE TABLE packs("
    "  id INTEGER PRIMARY KEY,"
    "  device TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  body_hash BLOB NOT NULL,"
    "  body BLOB NOT NULL,"
    "  format INTEGER NOT NULL,"
    "  transport INTEGER NOT NULL,"
    "  received_ms INTEGER NOT NULL,"
    "  records INTEGER NOT NULL,"
    "  flags INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX packs_dedup ON packs(device, seq, body_hash);"
    "CREATE TABLE readings("
    "  pack_id INTEGER NOT NULL REFERENCES packs(id),"
    "  idx INTEGER NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  unit TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  v REAL, vs TEXT, vb INTEGER, vd BLOB, sum REAL,"
    "  t REAL NOT NULL,"
    "  t_src INTEGER NOT NULL,"
    "  ut REAL,"
    "  PRIMARY KEY(pack_id, idx)) WITHOUT ROWID;"
    "CREATE TABLE rejects("
    "  id INTEGER PRIMARY KEY,"
    "  at_ms INTEGER NOT NULL,"
    "  transport INTEGER NOT NULL,"
    "  device TEXT,"
    "  seq INTEGER,"
    "  reason TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  body_len INTEGER NOT NULL,"
    "  body BLOB);"
    "CREATE TABLE audit("
    "  id INTEGER PRIMARY KEY,"
    "  at_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  prev_hash BLOB NOT NULL,"
    "  hash BLOB NOT NULL);",
    /* 2: the device registry; packs by arrival (retention, last seen) */
    "CREATE TABLE devices("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  patient TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  revoked_ms INTEGER);"
    "CREATE INDEX packs_received ON packs(received_ms);",
    /* 3: each device's DTLS pre-shared key (CoAP ingest) */
    "ALTER TABLE devices ADD COLUMN psk BLOB;",
    /* 4: care plans, alerts and their history, dose slots and events, device
     *    commands, the rules engine's own state */
    "CREATE TABLE careplans("
    "  version INTEGER PRIMARY KEY,"
    "  patient TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  applied_ms INTEGER NOT NULL);"
    "CREATE TABLE alerts("
    "  num INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  patient TEXT NOT NULL,"
    "  rule TEXT NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  team TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  open INTEGER NOT NULL,"
    "  raised_ms INTEGER NOT NULL,"
    "  since_ms INTEGER NOT NULL,"
    "  notified_ms INTEGER,"
    "  acked_ms INTEGER,"
    "  acked_by TEXT,"
    "  closed_ms INTEGER,"
    "  closed_by TEXT,"
    "  level INTEGER NOT NULL DEFAULT 0,"
    "  renotified INTEGER NOT NULL DEFAULT 0,"
    "  next_ms INTEGER,"
    "  plan_version INTEGER,"
    "  evidence TEXT NOT NULL);"
    "CREATE UNIQUE INDEX alerts_one_open ON alerts(patient, rule) WHERE open = 1;"
    "CREATE INDEX alerts_next ON alerts(next_ms) WHERE next_ms IS NOT NULL;"
    "CREATE TABLE alert_events("
    "  id INTEGER PRIMARY KEY,"
    "  alert TEXT NOT NULL REFERENCES alerts(id),"
    "  at_ms INTEGER NOT NULL,"
    "  event TEXT NOT NULL,"
    "  team TEXT NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  by TEXT,"
    "  detail TEXT NOT NULL,"
    "  notify INTEGER NOT NULL,"
    "  delivered_ms INTEGER);"
    "CREATE INDEX alert_events_alert ON alert_events(alert);"
    "CREATE INDEX alert_events_undelivered ON alert_events(id)"
    "  WHERE notify = 1 AND delivered_ms IS NULL;"
    "CREATE TABLE dose_slots("
    "  patient TEXT NOT NULL,"
    "  slot_key TEXT NOT NULL,"
    "  slot TEXT NOT NULL,"
    "  local_date TEXT NOT NULL,"
    "  cycle INTEGER NOT NULL,"
    "  day INTEGER NOT NULL,"
    "  on_day INTEGER NOT NULL,"
    "  due_ms INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER NOT NULL,"
    "  status TEXT NOT NULL,"
    "  reminded_ms INTEGER,"
    "  doses INTEGER NOT NULL DEFAULT 0,"
    "  first_dose_ms INTEGER,"
    "  PRIMARY KEY(patient, slot_key));"
    "CREATE TABLE dose_events("
    "  id INTEGER PRIMARY KEY,"
    "  patient TEXT NOT NULL,"
    "  device TEXT NOT NULL,"
    "  pack_id INTEGER NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  t_ms INTEGER NOT NULL,"
    "  local_date TEXT NOT NULL,"
    "  slot_key TEXT,"
    "  kind TEXT NOT NULL,"
    "  UNIQUE(pack_id, idx));"
    "CREATE INDEX dose_events_patient ON dose_events(patient, t_ms);"
    "CREATE TABLE commands("
    "  id INTEGER PRIMARY KEY,"
    "  device TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  sent_ms INTEGER);"
    "CREATE INDEX commands_pending ON commands(id) WHERE state = 'pending';"
    "CREATE TABLE engine_kv(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    /* 5: forwarding to the hospital: the outbox (one row per pack and lane,
     *    alert event, missed dose or device status), what the hospital
     *    broker refused (dead letters), when each pack and alert event was
     *    acknowledged by the hospital broker (PUBACK) */
    "CREATE TABLE outbox("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT," /* never reused: the forwarder's cursors */
    "  lane INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  ref INTEGER NOT NULL,"
    "  key TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_ms INTEGER);"
    "CREATE UNIQUE INDEX outbox_item ON outbox(kind, ref, key, lane);"
    "CREATE INDEX outbox_lane ON outbox(lane, id);"
    "CREATE TABLE dead_letters("
    "  id INTEGER PRIMARY KEY,"
    "  lane INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  ref INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  dead_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  topic TEXT,"
    "  body BLOB);"
    "ALTER TABLE packs ADD COLUMN forwarded_ms INTEGER;"
    "ALTER TABLE alert_events ADD COLUMN forwarded_ms INTEGER;"
    "CREATE TABLE drops(reason TEXT PRIMARY KEY, count INTEGER NOT NULL);"
    "CREATE INDEX packs_device_id ON packs(device, id);", /* a device's newest pack */
    /* 6: signed dose records: the pack's verified signature (HMAC-SHA256,
     *    kept for later proof) and each pill box's record-signing key */
    ("ALTER TABLE packs ADD COLUMN sig BLOB;"
     "ALTER TABLE devices ADD COLUMN record_key BLOB;"),
    /* 7: patient data sealed at rest (store_seal.c): the readings' table
     *    rebuilt, the other sealed columns sealed in place */
    store__seal_migration,
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_DEDUP] = "SELECT body_hash FROM packs WHERE device = ?1 AND seq = ?2",
    [ST_PACK_INSERT] = "INSERT INTO packs(device, seq, body_hash, body, format, transport,"
                       " received_ms, records, flags, sig)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_READING_INSERT] = "INSERT INTO readings(pack_id, idx, lane, evictable, mtag, t, t_src,"
                          " sealed) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_REJECT_INSERT] = "INSERT INTO rejects(at_ms, transport, device, seq, reason, detail,"
                         " body_len, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_AUDIT_INSERT] = "INSERT INTO audit(id, at_ms, kind, subject, detail, prev_hash, hash)"
                        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_MAX_SEQ] = "SELECT max(seq) FROM packs WHERE device = ?1",
    [ST_PAGE_COUNT] = "PRAGMA page_count",
    [ST_FREELIST_COUNT] = "PRAGMA freelist_count",
};

const char *relais_transport_name(enum relais_transport t)
{
    return t == RELAIS_TRANSPORT_COAP ? "coap" : "mqtt";
}

int store__error(sqlite3 *db, int rc, const char *what)
{
    log_error("store", "%s: %s (%d)", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return RELAIS_EBUSY;
    case SQLITE_NOMEM: return RELAIS_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return RELAIS_ECORRUPT;
    case SQLITE_FULL: return RELAIS_EBUSY;
    default: return RELAIS_ESTORE;
    }
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store", "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return rc == SQLITE_BUSY ? RELAIS_EBUSY : RELAIS_ESTORE;
    }
    return RELAIS_OK;
}

int store__schema_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *s = NULL;
    *version = 0;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                " AND name = 'schema_version'",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) return store__error(db, rc, "schema probe");
    rc = sqlite3_step(s);
    int exists = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return store__error(db, rc, "schema probe");
    if (!exists) return RELAIS_OK;
    rc = sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &s, NULL);
    if (rc != SQLITE_OK) return store__error(db, rc, "schema version");
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? RELAIS_OK
                                                 : store__error(db, rc, "schema version");
}

int store__migrate(sqlite3 *db, int target)
{
    int version;
    int rc = store__schema_version(db, &version);
    if (rc) return rc;
    if (version > STORE_SCHEMA_VERSION) {
        log_error("store", "schema version %d is newer than this relais (%d): refusing to open",
                  version, STORE_SCHEMA_VERSION);
        return RELAIS_EVERSION;
    }
    for (int v = version + 1; v <= target; v++) {
        char sql[96];
        if ((rc = exec(db, "BEGIN IMMEDIATE"))) return rc;
        rc = exec(db, migrations[v - 1]);
        if (!rc && v == 1)
            rc = exec(db, "CREATE TABLE schema_version(version INTEGER NOT NULL);"
                          "INSERT INTO schema_version VALUES(0)");
        snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d", v);
        if (!rc) rc = exec(db, sql);
        if (!rc) rc = exec(db, "COMMIT");
        if (rc) {
            if (!sqlite3_get_autocommit(db)) exec(db, "ROLLBACK");
            log_error("store", "migration to schema version %d failed", v);
            return rc;
        }
        log_info("store", "schema migrated to version %d", v);
    }
    return RELAIS_OK;
}

/* ---- opening ---- */

static void store_free(struct relais_store *st)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (int i = 0; i < STORE_LAZY_MAX; i++)
        sqlite3_finalize(st->lazy[i]);
    if (st->db) sqlite3_close_v2(st->db);
    free(st->seq_cache);
    free(st->bound);
    free(st->path);
    store__scratch_free(st);
    relais_aead_free(&st->aead);
    relais_zeroize(&st->key, sizeof st->key);
    free(st);
}

static int open_db(const char *path, bool readonly, sqlite3 **out)
{
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (!readonly) {
        /* create it 0600 ourselves: SQLite's -wal and -shm follow its mode */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            log_error("store", "cannot open %s: %s", path, strerror(errno));
            return RELAIS_EIO;
        }
        close(fd);
    }
    int rc = sqlite3_open_v2(path, out, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int err = store__error(*out, rc, path);
        sqlite3_close_v2(*out);
        *out = NULL;
        return err;
    }
    sqlite3_extended_result_codes(*out, 1);
    return RELAIS_OK;
}

/* PRAGMA quick_check on a fresh connection: RELAIS_OK, RELAIS_ECORRUPT, or
 * another error (I/O) that must not be mistaken for corruption. */
static int quick_check(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        int err = store__error(db, rc, "quick_check");
        return err;
    }
    rc = sqlite3_step(s);
    int result = RELAIS_OK;
    if (rc == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(s, 0);
        if (!r || strcmp(r, "ok") != 0) {
            log_error("store", "quick_check: %s", r ? r : "(null)");
            result = RELAIS_ECORRUPT;
        }
    } else {
        result = store__error(db, rc, "quick_check");
    }
    sqlite3_finalize(s);
    return result;
}

static int move_aside(const char *path, char *moved_to, size_t cap)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char stamp[48], from[4096], to[4096];
    long long now = (long long)time(NULL);
    /* never replace an earlier copy (a second corruption in the same second):
     * the main file is renamed without replacing, under the first free name */
    for (int n = 1;; n++) {
        if (n == 1)
            snprintf(stamp, sizeof stamp, ".corrupt-%lld", now);
        else
            snprintf(stamp, sizeof stamp, ".corrupt-%lld-%d", now, n);
        snprintf(from, sizeof from, "%s", path);
        snprintf(to, sizeof to, "%s%s", path, stamp);
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) break;
        if (errno != EEXIST || n == 1000) {
            log_error("store", "cannot move %s aside: %s", from, strerror(errno));
            return RELAIS_EIO;
        }
    }
    for (int i = 1; i < 3; i++) {
        snprintf(from, sizeof from, "%s%s", path, suffix[i]);
        snprintf(to, sizeof to, "%s%s%s", path, stamp, suffix[i]);
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0 && errno != ENOENT) {
            log_error("store", "cannot move %s aside: %s", from, strerror(errno));
            return RELAIS_EIO;
        }
    }
    snprintf(moved_to, cap, "%s%s", path, stamp);
    log_error("store", "corrupt store moved aside to %s%s; a fresh store is created", path, stamp);
    return RELAIS_OK;
}

static int pragmas(struct relais_store *st)
{
    int rc;
    if ((rc = exec(st->db, "PRAGMA busy_timeout = 100"))) return rc;
    if (st->readonly) return RELAIS_OK;
    /* journal_mode answers with the mode in force: check it is WAL */
    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    bool wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(s);
    if (!wal) {
        log_error("store", "cannot put %s in WAL mode", st->path);
        return RELAIS_ESTORE;
    }
    /* secure_delete: a deleted or re-sealed record leaves no clear copy in
     * the file's free pages */
    if ((rc = exec(st->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                           " PRAGMA journal_size_limit = 67108864; PRAGMA secure_delete = ON")))
        return rc;
    return RELAIS_OK;
}

static int load_audit_head(struct relais_store *st)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", -1,
                                &s, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "audit head");
    memset(st->audit_hash, 0, sizeof st->audit_hash);
    st->audit_id = 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        st->audit_id = sqlite3_column_int64(s, 0);
        if (sqlite3_column_bytes(s, 1) == RELAIS_SHA256_LEN)
            memcpy(st->audit_hash, sqlite3_column_blob(s, 1), RELAIS_SHA256_LEN);
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store__error(st->db, rc, "audit head");
    st->audit_pend_id = st->audit_id;
    memcpy(st->audit_pend_hash, st->audit_hash, RELAIS_SHA256_LEN);
    return RELAIS_OK;
}

static int refresh_quota(struct relais_store *st);
static int load_audit_head(struct relais_store *st);

static int open_once(struct relais_store *st)
{
    int rc = open_db(st->path, st->readonly, &st->db);
    if (rc) return rc;
    if (!st->readonly && (rc = quick_check(st->db))) return rc;
    if ((rc = pragmas(st))) return rc;
    if ((rc = store__seal_functions(st))) return rc;
    if (st->readonly) {
        int v;
        if ((rc = store__schema_version(st->db, &v))) return rc;
        if (v > STORE_SCHEMA_VERSION) return RELAIS_EVERSION;
        return v >= 7 ? store__key_check(st) : RELAIS_OK;
    }
    int version;
    if ((rc = store__schema_version(st->db, &version))) return rc;
    if (version < 7 && !st->key.set) {
        log_error("store", "no store key: relaisd does not keep patient data in clear");
        return RELAIS_EPERM;
    }
    if (version >= 7 && (rc = store__key_check(st))) return rc; /* before touching it */
    if ((rc = store__migrate(st->db, STORE_SCHEMA_VERSION))) return rc;
    if ((rc = store__key_check(st))) return rc;
    for (int i = 0; i < ST_COUNT; i++) {
        int src = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                     &st->stmt[i], NULL);
        if (src != SQLITE_OK) return store__error(st->db, src, stmt_sql[i]);
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "PRAGMA page_size", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        st->page_size = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if ((rc = load_audit_head(st))) return rc;
    return refresh_quota(st);
}

int relais_store_open(struct relais_store **out, const char *path,
                      const struct relais_store_opts *opts)
{
    struct relais_store *st = calloc(1, sizeof *st);
    if (!st) return RELAIS_ENOMEM;
    st->path = strdup(path);
    if (!st->path) {
        free(st);
        return RELAIS_ENOMEM;
    }
    st->readonly = opts && opts->readonly;
    st->quota = opts ? opts->quota_bytes : 0;
    if (opts && opts->key) {
        struct store_keys k;
        store__keys_derive(opts->key, &k);
        int krc = store__keys_use(st, &k);
        relais_zeroize(&k, sizeof k);
        if (krc) {
            store_free(st);
            return krc;
        }
    }
    int rc = open_once(st);
    if (rc == RELAIS_ECORRUPT && !st->readonly) {
        for (int i = 0; i < ST_COUNT; i++) {
            sqlite3_finalize(st->stmt[i]);
            st->stmt[i] = NULL;
        }
        /* keep the WAL as found: no checkpoint into the corrupt file */
        sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        sqlite3_close_v2(st->db);
        st->db = NULL;
        char moved_to[4200] = "";
        rc = move_aside(path, moved_to, sizeof moved_to);
        if (rc == RELAIS_OK) rc = open_once(st);
        if (rc == RELAIS_OK) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
            rc = relais_store_begin(st);
            if (!rc) {
                char detail[4300];
                snprintf(detail, sizeof detail, "quick_check failed; the file was moved to %s",
                         moved_to);
                rc = relais_store_audit(st, now, "store.corrupt", path, detail);
            }
            if (!rc) rc = relais_store_commit(st);
        }
    }
    if (rc) {
        store_free(st);
        return rc;
    }
    *out = st;
    return RELAIS_OK;
}

void relais_store_close(struct relais_store *st)
{
    if (!st) return;
    if (st->in_txn) relais_store_rollback(st);
    if (!st->readonly && st->db) {
        int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) store__error(st->db, rc, "checkpoint at close");
    }
    store_free(st);
}

const char *relais_store_path(const struct relais_store *st)
{
    return st->path;
}

/* ---- transactions ---- */

sqlite3_stmt *store__lazy(struct relais_store *st, int slot, const char *sql)
{
    if (slot < 0 || slot >= STORE_LAZY_MAX) return NULL;
    sqlite3_stmt *s = st->lazy[slot];
    if (!s) {
        int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK) {
            store__error(st->db, rc, "prepare");
            return NULL;
        }
        st->lazy[slot] = s;
        st->lazy_sql[slot] = sql;
    } else if (st->lazy_sql[slot] != sql && strcmp(sqlite3_sql(s), sql) != 0) {
        /* two modules claimed one slot: a programming error, never data */
        log_error("store", "statement slot %d is taken by another statement", slot);
        return NULL;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

int store__step_done(struct relais_store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    int result = rc == SQLITE_DONE || rc == SQLITE_ROW ? RELAIS_OK : store__error(st->db, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return result;
}

static int step_done(struct relais_store *st, enum store_stmt id, const char *what)
{
    sqlite3_stmt *s = st->stmt[id];
    int rc = sqlite3_step(s);
    int result = rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return result;
}

bool relais_store_in_transaction(const struct relais_store *st)
{
    return st->in_txn;
}

int relais_store_begin(struct relais_store *st)
{
    if (st->readonly) return RELAIS_EPERM;
    if (st->in_txn) return RELAIS_OK;
    int rc = step_done(st, ST_BEGIN, "BEGIN");
    if (rc != RELAIS_OK) return rc;
    st->in_txn = true;
    /* another connection (relaisctl) may have appended to the audit trail
     * since: read its head again, now that the write lock is held */
    if ((rc = load_audit_head(st))) relais_store_rollback(st);
    return rc;
}

void relais_store_rollback(struct relais_store *st)
{
    if (!st->in_txn) return;
    /* ROLLBACK may fail when SQLite already rolled back (e.g. after SQLITE_FULL) */
    if (sqlite3_get_autocommit(st->db) == 0) (void)step_done(st, ST_ROLLBACK, "ROLLBACK");
    st->in_txn = false;
    st->audit_pend_id = st->audit_id;
    memcpy(st->audit_pend_hash, st->audit_hash, RELAIS_SHA256_LEN);
}

int relais_store_commit(struct relais_store *st)
{
    if (!st->in_txn) return RELAIS_OK;
    int rc = step_done(st, ST_COMMIT, "COMMIT");
    if (rc != RELAIS_OK) {
        relais_store_rollback(st);
        refresh_quota(st);
        return rc;
    }
    st->in_txn = false;
    st->audit_id = st->audit_pend_id;
    memcpy(st->audit_hash, st->audit_pend_hash, RELAIS_SHA256_LEN);
    refresh_quota(st);
    return RELAIS_OK;
}

/* ---- puts ---- */

/* A statement that fails with an I/O error, SQLITE_FULL or SQLITE_NOMEM may
 * make SQLite roll the whole transaction back by itself: nothing may be
 * written after that, or it would be committed on its own (autocommit). */
int store__txn_alive(struct relais_store *st)
{
    if (!st->in_txn) return RELAIS_EINVAL;
    if (sqlite3_get_autocommit(st->db)) {
        log_error("store", "the transaction was rolled back after an error");
        return RELAIS_ESTORE;
    }
    return RELAIS_OK;
}

static int txn_alive(struct relais_store *st)
{
    return store__txn_alive(st);
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* The device's cache entry, loaded from the database on first use; *out is
 * NULL when the cache is full (then every pack is looked up).  A failed
 * lookup is an error: SQLite may have rolled the transaction back. */
static int seq_entry(struct relais_store *st, const char *device, struct store_seq_entry **out)
{
    *out = NULL;
    for (size_t i = 0; i < st->seq_cache_len; i++)
        if (strcmp(st->seq_cache[i].device, device) == 0) {
            *out = &st->seq_cache[i];
            return RELAIS_OK;
        }
    if (st->seq_cache_len == STORE_SEQ_CACHE_MAX) return RELAIS_OK;
    if (st->seq_cache_len == st->seq_cache_cap) {
        size_t ncap = st->seq_cache_cap ? st->seq_cache_cap * 2 : 16;
        struct store_seq_entry *n = realloc(st->seq_cache, ncap * sizeof *n);
        if (!n) return RELAIS_OK;
        st->seq_cache = n;
        st->seq_cache_cap = ncap;
    }
    sqlite3_stmt *s = st->stmt[ST_MAX_SEQ];
    sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    struct store_seq_entry e = {.any = false};
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        e.any = true;
        e.max_seq = (uint64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW) return store__error(st->db, rc, "max seq lookup");
    snprintf(e.device, sizeof e.device, "%s", device);
    st->seq_cache[st->seq_cache_len] = e;
    *out = &st->seq_cache[st->seq_cache_len++];
    return RELAIS_OK;
}

int relais_store_put_pack(struct relais_store *st, const struct relais_pack *pack,
                          const uint8_t *body, size_t len, enum relais_transport transport,
                          int64_t received_ms, enum relais_store_put *result)
{
    uint8_t hash[RELAIS_SHA256_LEN];
    bool seen = false;
    int rc;

    if ((rc = txn_alive(st))) return rc;
    if (pack->seq > (uint64_t)INT64_MAX) return RELAIS_ERANGE; /* SQLite integers are signed */
    store__body_hash(&st->key, body, len, hash);

    /* dedup on (device, seq): same body -> duplicate; another body -> flagged */
    struct store_seq_entry *se;
    if ((rc = seq_entry(st, pack->device, &se))) return rc;
    bool fresh = se && (!se->any || pack->seq > se->max_seq);
    sqlite3_stmt *s = st->stmt[ST_DEDUP];
    if (!fresh) {
        sqlite3_bind_text(s, 1, pack->device, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)pack->seq);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            seen = true;
            if (sqlite3_column_bytes(s, 0) == RELAIS_SHA256_LEN &&
                memcmp(sqlite3_column_blob(s, 0), hash, RELAIS_SHA256_LEN) == 0) {
                sqlite3_reset(s);
                sqlite3_clear_bindings(s);
                *result = RELAIS_PUT_DUPLICATE;
                return RELAIS_OK;
            }
        }
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        if (rc != SQLITE_DONE) return store__error(st->db, rc, "dedup lookup");
    }

    s = st->stmt[ST_PACK_INSERT];
    sqlite3_bind_text(s, 1, pack->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)pack->seq);
    sqlite3_bind_blob(s, 3, hash, sizeof hash, SQLITE_STATIC);
    struct store_aad a;
    store__aad_init(&a, "packs.body");
    store__aad_str(&a, pack->device);
    store__aad_int(&a, (int64_t)pack->seq);
    store__aad_int(&a, received_ms);
    if ((rc = store__seal_bind(st, s, 4, &a, body, len))) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return rc;
    }
    sqlite3_bind_int(s, 5, pack->format);
    sqlite3_bind_int(s, 6, transport);
    sqlite3_bind_int64(s, 7, received_ms);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)pack->count);
    sqlite3_bind_int(s, 9,
                     (seen ? RELAIS_PACK_FLAG_SEQ_REUSED : 0) |
                         (pack->signed_ok ? RELAIS_PACK_FLAG_SIGNED : 0));
    if (pack->signed_ok) sqlite3_bind_blob(s, 10, pack->sig, RELAIS_PACK_SIG_LEN, SQLITE_STATIC);
    if ((rc = step_done(st, ST_PACK_INSERT, "pack insert"))) return rc;
    sqlite3_int64 pack_id = sqlite3_last_insert_rowid(st->db);
    if (se && (!se->any || pack->seq > se->max_seq)) {
        se->any = true;
        se->max_seq = pack->seq;
    }

    s = st->stmt[ST_READING_INSERT];
    for (size_t i = 0; i < pack->count; i++) {
        const struct relais_reading *r = &pack->readings[i];
        uint8_t clear[1024], tag[STORE_MTAG_LEN];
        uint8_t *pt = clear;
        size_t need = store__reading_encode(r, NULL, 0);
        if (need > sizeof clear && !(pt = malloc(need))) return RELAIS_ENOMEM;
        size_t n = store__reading_encode(r, pt, need);
        store__reading_aad(&a, pack_id, (int)i, r->time, (int)r->time_source);
        rc = store__seal_bind(st, s, 8, &a, pt, n);
        relais_zeroize(pt, n);
        if (pt != clear) free(pt);
        if (rc) {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            return rc;
        }
        store__metric_tag(&st->key, r->metric, tag);
        sqlite3_bind_int64(s, 1, pack_id);
        sqlite3_bind_int(s, 2, (int)i);
        sqlite3_bind_int(s, 3, relais_fhir_lane_of(r->metric));
        sqlite3_bind_int(s, 4, store__evictable(r->metric));
        sqlite3_bind_blob(s, 5, tag, sizeof tag, SQLITE_TRANSIENT);
        sqlite3_bind_double(s, 6, r->time);
        sqlite3_bind_int(s, 7, r->time_source);
        if ((rc = step_done(st, ST_READING_INSERT, "reading insert"))) return rc;
    }
    if (seen) {
        char subject[64], detail[96];
        snprintf(subject, sizeof subject, "%s", pack->device);
        snprintf(detail, sizeof detail, "seq %llu reused with a different body (stored, flagged)",
                 (unsigned long long)pack->seq);
        if ((rc = relais_store_audit(st, received_ms, "input.seq_reused", subject, detail)))
            return rc;
    }
    /* what the hospital must receive, in the same transaction as the pack */
    if (relais_store_outbox_enabled(st)) {
        unsigned lanes = 0;
        for (size_t i = 0; i < pack->count; i++) {
            int lane = relais_fhir_lane_of(pack->readings[i].metric);
            if (lane >= 0) lanes |= 1u << lane;
        }
        for (int lane = 0; lane < RELAIS_LANE_COUNT && !rc; lane++)
            if (lanes & (1u << lane))
                rc = relais_store_outbox_add(st, lane, RELAIS_OUTBOX_PACK, pack_id,
                                             relais_store_outbox_patient(st, pack->device),
                                             received_ms);
        if (rc) return rc;
    }
    *result = seen ? RELAIS_PUT_FLAGGED : RELAIS_PUT_STORED;
    return RELAIS_OK;
}

int relais_store_is_duplicate(struct relais_store *st, const char *device, uint64_t seq,
                              const uint8_t *body, size_t len, bool *dup)
{
    uint8_t hash[RELAIS_SHA256_LEN];
    *dup = false;
    if (seq > (uint64_t)INT64_MAX) return RELAIS_ERANGE;
    store__body_hash(&st->key, body, len, hash);
    sqlite3_stmt *s = st->stmt[ST_DEDUP];
    sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (sqlite3_column_bytes(s, 0) == RELAIS_SHA256_LEN &&
            memcmp(sqlite3_column_blob(s, 0), hash, RELAIS_SHA256_LEN) == 0)
            *dup = true;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "dedup lookup");
}

int relais_store_put_reject(struct relais_store *st, const struct relais_reject_record *r)
{
    int rc = txn_alive(st);
    if (rc) return rc;
    sqlite3_stmt *s = st->stmt[ST_REJECT_INSERT];
    sqlite3_bind_int64(s, 1, r->at_ms);
    sqlite3_bind_int(s, 2, r->transport);
    bind_text(s, 3, r->device);
    if (r->has_seq) sqlite3_bind_int64(s, 4, (sqlite3_int64)r->seq);
    sqlite3_bind_text(s, 5, r->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)r->len);
    /* the input may hold patient data, and its detail may quote it */
    struct store_aad a;
    store__reject_aad(&a, "rejects.detail", r->at_ms, r->transport, r->device, r->has_seq, r->seq);
    rc = store__seal_bind_text(st, s, 6, &a, r->detail ? r->detail : "");
    if (!rc && r->body && r->len <= RELAIS_SENML_MAX_BYTES) {
        store__reject_aad(&a, "rejects.body", r->at_ms, r->transport, r->device, r->has_seq,
                          r->seq);
        rc = store__seal_bind(st, s, 8, &a, r->body, r->len);
    }
    if (rc) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return rc;
    }
    rc = step_done(st, ST_REJECT_INSERT, "reject insert");
    if (rc) return rc;
    char subject[64], detail[320];
    if (r->has_seq)
        snprintf(subject, sizeof subject, "%s/%llu", r->device ? r->device : "?",
                 (unsigned long long)r->seq);
    else
        snprintf(subject, sizeof subject, "%s", r->device ? r->device : "?");
    snprintf(detail, sizeof detail, "%s %s: %s", relais_transport_name(r->transport), r->reason,
             r->detail);
    return relais_store_audit(st, r->at_ms, "input.rejected", subject, detail);
}

/* ---- audit ---- */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void hash_field(struct relais_sha256 *h, const char *s)
{
    uint8_t len[8];
    size_t n = strlen(s);
    put_be64(len, n);
    relais_sha256_update(h, len, sizeof len);
    relais_sha256_update(h, s, n);
}

void store__audit_hash(const uint8_t prev[RELAIS_SHA256_LEN], int64_t id, int64_t at_ms,
                       const char *kind, const char *subject, const char *detail,
                       uint8_t out[RELAIS_SHA256_LEN])
{
    struct relais_sha256 h;
    uint8_t num[8];
    relais_sha256_init(&h);
    relais_sha256_update(&h, prev, RELAIS_SHA256_LEN);
    put_be64(num, (uint64_t)id);
    relais_sha256_update(&h, num, sizeof num);
    put_be64(num, (uint64_t)at_ms);
    relais_sha256_update(&h, num, sizeof num);
    hash_field(&h, kind);
    hash_field(&h, subject);
    hash_field(&h, detail);
    relais_sha256_finish(&h, out);
}

void relais_store_audit_head(const struct relais_store *st, int64_t *id, uint8_t hash[32])
{
    *id = st->audit_id;
    memcpy(hash, st->audit_hash, RELAIS_SHA256_LEN);
}

int relais_store_audit(struct relais_store *st, int64_t at_ms, const char *kind,
                       const char *subject, const char *detail)
{
    int rc = txn_alive(st);
    if (rc) return rc;
    int64_t id = st->audit_pend_id + 1;
    uint8_t hash[RELAIS_SHA256_LEN];
    store__audit_hash(st->audit_pend_hash, id, at_ms, kind, subject, detail, hash);
    sqlite3_stmt *s = st->stmt[ST_AUDIT_INSERT];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, at_ms);
    sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, detail, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 6, st->audit_pend_hash, RELAIS_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(s, 7, hash, RELAIS_SHA256_LEN, SQLITE_STATIC);
    rc = step_done(st, ST_AUDIT_INSERT, "audit insert");
    if (rc) return rc;
    st->audit_pend_id = id;
    memcpy(st->audit_pend_hash, hash, RELAIS_SHA256_LEN);
    return RELAIS_OK;
}

/* ---- size and quota ---- */

static int64_t pragma_int(struct relais_store *st, enum store_stmt id)
{
    sqlite3_stmt *s = st->stmt[id];
    int64_t v = -1;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return v;
}

int relais_store_size(struct relais_store *st, uint64_t *bytes)
{
    if (st->readonly || !st->stmt[ST_PAGE_COUNT]) {
        struct stat sb;
        *bytes = stat(st->path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        return RELAIS_OK;
    }
    int64_t pages = pragma_int(st, ST_PAGE_COUNT);
    int64_t free_pages = pragma_int(st, ST_FREELIST_COUNT);
    if (pages < 0 || free_pages < 0) return RELAIS_ESTORE;
    uint64_t total = (uint64_t)(pages - free_pages) * (uint64_t)st->page_size;
    char wal[4096];
    struct stat sb;
    snprintf(wal, sizeof wal, "%s-wal", st->path);
    if (stat(wal, &sb) == 0) total += (uint64_t)sb.st_size;
    *bytes = total;
    return RELAIS_OK;
}

static int refresh_quota(struct relais_store *st)
{
    uint64_t size;
    if (st->quota == 0 || relais_store_size(st, &size) != RELAIS_OK) {
        st->over_quota = false;
        return RELAIS_OK;
    }
    st->last_size = size;
    bool over = size >= st->quota;
    if (over != st->over_quota)
        log_warn("store", "store %s its quota (%llu of %llu bytes)",
                 over ? "reached" : "is back under", (unsigned long long)size,
                 (unsigned long long)st->quota);
    st->over_quota = over;
    return RELAIS_OK;
}

int store__refresh_quota(struct relais_store *st)
{
    return refresh_quota(st);
}

void relais_store_set_quota(struct relais_store *st, uint64_t quota_bytes)
{
    st->quota = quota_bytes;
    refresh_quota(st);
}

bool relais_store_over_quota(const struct relais_store *st)
{
    return st->over_quota;
}

void relais_store_set_evictable(struct relais_store *st, bool evictable)
{
    st->unevictable = !evictable;
}

bool relais_store_busy(const struct relais_store *st)
{
    if (!st->over_quota) return false;
    /* over the quota, housekeeping makes room within the next turns: the
     * devices are told busy only when there is nothing left to evict, or
     * when arrivals outrun it by an eighth of the quota */
    return st->unevictable || st->last_size >= st->quota + st->quota / 8;
}
