/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by store.c and store_query.c (and the store's unit test). */
#ifndef RELAIS_STORE_INTERNAL_H
#define RELAIS_STORE_INTERNAL_H

#include "relais/crypto.h"
#include "relais/store.h"

#include <sqlite3.h>

#define STORE_SCHEMA_VERSION 7

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

/* The keys derived from the store key (store_seal.c). */
#define STORE_KEY_ID_LEN 8
#define STORE_MTAG_LEN   8
struct store_keys {
    uint8_t seal[RELAIS_SHA256_LEN];  /* AES-256-GCM */
    uint8_t index[RELAIS_SHA256_LEN]; /* HMAC: metric tags, pack body hashes */
    uint8_t id[STORE_KEY_ID_LEN];     /* kept in the store: which key sealed it */
    bool set;
};

/* Associated data of a sealed value: the table and column, then the row's
 * key columns, each typed and length-prefixed (relais_aad() in SQL builds
 * the same bytes). */
struct store_aad {
    uint8_t b[640];
    size_t n;
    bool overflow;
};

struct store_buf {
    uint8_t *p;
    size_t cap;
};
#define STORE_SCRATCH_N  4 /* unsealed values stay valid for 3 more unseals */
#define STORE_TAMPER_MAX 16

/* A reading's sealed part, opened: the strings point into a scratch buffer. */
struct store_reading_clear {
    const char *metric, *unit;
    enum relais_reading_kind kind;
    double value;
    const char *str;
    const uint8_t *data;
    size_t len;
    bool boolean;
    bool has_sum, has_update_time;
    double sum, update_time;
};

struct relais_store {
    sqlite3 *db;
    struct store_keys key, next; /* next: during a key rotation */
    struct relais_aead aead;     /* key.seal set up (store__keys_use) */
    bool sealed;                 /* the store says which key sealed it */
    struct store_buf scratch[STORE_SCRATCH_N];
    int scratch_next;
    uint64_t tampered;                  /* sealed values that failed their check */
    char tamper[STORE_TAMPER_MAX][224]; /* not yet audited */
    size_t tamper_n;
    uint64_t tamper_lost;
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

/* ---- sealing (store_seal.c) ---- */
void store__keys_derive(const uint8_t master[RELAIS_STORE_KEY_LEN], struct store_keys *k);
/* Makes k the store's key and sets up its AES-GCM context. */
int store__keys_use(struct relais_store *st, const struct store_keys *k);
int store__seal_functions(struct relais_store *st);
int store__key_check(struct relais_store *st);
extern const char store__seal_migration[];
void store__scratch_free(struct relais_store *st);
/* Wipes the scratch buffer the last unseal used (a key was opened in it). */
void store__scratch_wipe_last(struct relais_store *st);
void store__aad_init(struct store_aad *a, const char *table_column);
void store__aad_int(struct store_aad *a, int64_t v);
void store__aad_real(struct store_aad *a, double v);
void store__aad_str(struct store_aad *a, const char *s); /* NULL: a null */
/* Binds the sealed value (a copy) to column col of s. */
int store__seal_bind(struct relais_store *st, sqlite3_stmt *s, int col, const struct store_aad *a,
                     const void *pt, size_t len);
int store__seal_bind_text(struct relais_store *st, sqlite3_stmt *s, int col,
                          const struct store_aad *a, const char *text); /* NULL binds NULL */
/* Opens column col of the current row: RELAIS_ECORRUPT (reported: counted,
 * logged, audited later) when it fails its check, RELAIS_EPERM without key. */
int store__unseal_col(struct relais_store *st, sqlite3_stmt *s, int col, const struct store_aad *a,
                      const char *what, const uint8_t **out, size_t *len);
int store__unseal_text(struct relais_store *st, sqlite3_stmt *s, int col, const struct store_aad *a,
                       const char *what, const char **out); /* NULL column: *out NULL */
void store__reject_aad(struct store_aad *a, const char *column, int64_t at_ms, int transport,
                       const char *device, bool has_seq, uint64_t seq);
void store__event_aad(struct store_aad *a, const char *alert, int64_t at_ms, const char *event);
void store__tampered(struct relais_store *st, const struct store_aad *a, const char *what);
void store__metric_tag(const struct store_keys *k, const char *metric, uint8_t out[STORE_MTAG_LEN]);
void store__body_hash(const struct store_keys *k, const uint8_t *body, size_t len,
                      uint8_t out[RELAIS_SHA256_LEN]);
int store__evictable(const char *metric);
size_t store__reading_encode(const struct relais_reading *r, uint8_t *out, size_t cap);
int store__reading_decode(const uint8_t *in, size_t len, struct store_reading_clear *out);
void store__reading_aad(struct store_aad *a, int64_t pack_id, int idx, double t, int t_src);
int store__reading_unseal(struct relais_store *st, sqlite3_stmt *s, int col_sealed, int64_t pack_id,
                          int idx, double t, int t_src, int lane, int evictable,
                          const uint8_t *mtag, size_t mtag_len, struct store_reading_clear *out);

#endif
