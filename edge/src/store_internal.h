/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by store.c and store_query.c (and the store's unit test). */
#ifndef RELAIS_STORE_INTERNAL_H
#define RELAIS_STORE_INTERNAL_H

#include "relais/crypto.h"
#include "relais/store.h"

#include <sqlite3.h>

#define STORE_SCHEMA_VERSION 6

enum store_stmt {
    ST_BEGIN = 0,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_DEDUP,
    ST_PACK_INSERT,
    ST_READING_INSERT,
    ST_REJECT_INSERT,
    ST_AUDIT_INSERT,
    ST_MAX_SEQ,
    ST_PAGE_COUNT,
    ST_FREELIST_COUNT,
    ST_COUNT
};

/* Highest seq stored per device: a seq above it cannot be a duplicate nor a
 * reuse, so the dedup lookup is skipped (devices count upwards, so that is
 * nearly every pack).  It may run ahead of the database after a rollback,
 * which only costs lookups; the unique index stays the guard. */
struct store_seq_entry {
    char device[RELAIS_WIRE_ID_MAX + 1];
    uint64_t max_seq;
    bool any; /* the device has packs */
};

#define STORE_SEQ_CACHE_MAX 4096

/* Statements of the less busy paths (care plan, alerts, doses, commands):
 * each prepared on first use and kept until the store closes. */
#define STORE_LAZY_MAX 80 /* store_care.c 0..39, outbox 40..49 and 64..79, evict 50..63 */

struct relais_store {
    sqlite3 *db;
    struct store_seq_entry *seq_cache;
    size_t seq_cache_len, seq_cache_cap;
    char *path;
    bool readonly;
    bool in_txn;
    sqlite3_stmt *stmt[ST_COUNT];
    sqlite3_stmt *lazy[STORE_LAZY_MAX];
    const char *lazy_sql[STORE_LAZY_MAX]; /* the text each slot was prepared from */
    uint64_t quota;
    bool over_quota;
    bool unevictable;   /* housekeeping found nothing left to remove */
    uint64_t last_size; /* at the last quota check */
    bool outbox_on;     /* write outbox rows (relais/outbox.h) */
    /* the active care plan's devices and patient: a pack's outbox rows carry
     * the patient its device was bound to when it arrived */
    char (*bound)[RELAIS_WIRE_ID_MAX + 1];
    size_t nbound;
    char bound_patient[RELAIS_PATIENT_MAX + 1];
    int page_size;
    /* audit chain: last committed row, and the last row of the open txn */
    int64_t audit_id;
    uint8_t audit_hash[RELAIS_SHA256_LEN];
    int64_t audit_pend_id;
    uint8_t audit_pend_hash[RELAIS_SHA256_LEN];
};

/* Logs the SQLite error of db for what, returns the relais error for rc. */
int store__error(sqlite3 *db, int rc, const char *what);
/* The statement of slot `slot` (a store_care.c enum), prepared from sql on
 * first use, reset and unbound; NULL (logged) when it cannot be prepared. */
sqlite3_stmt *store__lazy(struct relais_store *st, int slot, const char *sql);
/* Steps a statement without rows to its end, then resets it. */
int store__step_done(struct relais_store *st, sqlite3_stmt *s, const char *what);
/* The transaction is open and SQLite has not rolled it back (see store.c). */
int store__txn_alive(struct relais_store *st);
/* Checks the size against the quota again (relais_store_over_quota), e.g.
 * after the store was thinned (store_evict.c). */
int store__refresh_quota(struct relais_store *st);

/* Applies migrations up to target (tests build old schemas with it). */
int store__migrate(sqlite3 *db, int target);
int store__schema_version(sqlite3 *db, int *version);
/* The audit row hash: SHA-256 over prev || id || at || kind || subject || detail. */
void store__audit_hash(const uint8_t prev[RELAIS_SHA256_LEN], int64_t id, int64_t at_ms,
                       const char *kind, const char *subject, const char *detail,
                       uint8_t out[RELAIS_SHA256_LEN]);

#endif
