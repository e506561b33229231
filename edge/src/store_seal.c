/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Patient data at rest (DESIGN 5): sealed with AES-256-GCM under the store
 * key, a fresh random nonce per record, the row's key columns as associated
 * data, so that a sealed value moved to another row or altered by one byte
 * fails its check.  What is sealed: every reading's metric, unit and value;
 * pack bodies; rejected inputs' bodies and details; alert evidence and alert
 * event details; dose events' kinds; care plan bodies; the engine's state;
 * dead letters' bodies; the devices' DTLS keys and record-signing keys.
 * What stays clear: keys, times, states, counts, the
 * outbox lane of a reading and a keyed tag of its metric (so that the SQL can
 * group and filter without the key).
 *
 * The store key file holds 64 hex digits (32 bytes) and nothing else; the
 * sealing key, the index key (metric tags, pack body hashes) and the key id
 * kept in the store are derived from it by HMAC-SHA256 with fixed labels.
 */
#include "store_internal.h"
#include "relais/error.h"
#include "relais/fhir.h"
#include "relais/fsutil.h"
#include "relais/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- keys ---- */

static void derive(const uint8_t master[RELAIS_STORE_KEY_LEN], const char *label,
                   uint8_t out[RELAIS_SHA256_LEN])
{
    relais_hmac_sha256(master, RELAIS_STORE_KEY_LEN, label, strlen(label), out);
}

void store__keys_derive(const uint8_t master[RELAIS_STORE_KEY_LEN], struct store_keys *k)
{
    uint8_t id[RELAIS_SHA256_LEN];
    derive(master, "relais/store/seal/v1", k->seal);
    derive(master, "relais/store/index/v1", k->index);
    derive(master, "relais/store/key-id/v1", id);
    memcpy(k->id, id, sizeof k->id);
    relais_zeroize(id, sizeof id);
    k->set = true;
}

int relais_store_key_read(const char *path, uint8_t key[RELAIS_STORE_KEY_LEN])
{
    int rc = relais_secret_check(path);
    if (rc) return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        log_error("store", "cannot open the store key %s: %s", path, strerror(errno));
        return RELAIS_EIO;
    }
    char buf[2 * RELAIS_STORE_KEY_LEN + 3];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        log_error("store", "cannot read the store key %s: %s", path, strerror(errno));
        return RELAIS_EIO;
    }
    size_t len = (size_t)n;
    if (len > 0 && buf[len - 1] == '\n') len--;
    buf[len] = '\0';
    rc = len == 2 * RELAIS_STORE_KEY_LEN && relais_unhex(buf, key, RELAIS_STORE_KEY_LEN) == 0
             ? RELAIS_OK
             : RELAIS_EPARSE;
    relais_zeroize(buf, sizeof buf);
    if (rc) log_error("store", "%s is not a store key (64 hex digits)", path);
    return rc;
}

int relais_store_key_write(const char *path, const uint8_t key[RELAIS_STORE_KEY_LEN])
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        log_error("store", "cannot create the store key %s: %s", path, strerror(errno));
        return errno == EEXIST ? RELAIS_EEXIST : RELAIS_EIO;
    }
    char buf[2 * RELAIS_STORE_KEY_LEN + 2];
    relais_hex(key, RELAIS_STORE_KEY_LEN, buf);
    buf[2 * RELAIS_STORE_KEY_LEN] = '\n';
    size_t len = 2 * RELAIS_STORE_KEY_LEN + 1;
    int rc = write(fd, buf, len) == (ssize_t)len && fsync(fd) == 0 ? RELAIS_OK : RELAIS_EIO;
    relais_zeroize(buf, sizeof buf);
    if (close(fd) != 0) rc = RELAIS_EIO;
    if (rc) {
        log_error("store", "cannot write the store key %s: %s", path, strerror(errno));
        unlink(path);
    }
    return rc;
}

int relais_store_key_generate(const char *path)
{
    uint8_t key[RELAIS_STORE_KEY_LEN];
    int rc = relais_random_bytes(key, sizeof key);
    if (!rc) rc = relais_store_key_write(path, key);
    relais_zeroize(key, sizeof key);
    return rc;
}

/* ---- associated data ---- */

static void aad_put(struct store_aad *a, const void *p, size_t n)
{
    if (a->n + n > sizeof a->b) {
        a->overflow = true;
        return;
    }
    memcpy(a->b + a->n, p, n);
    a->n += n;
}

static void aad_u64(struct store_aad *a, char tag, uint64_t v)
{
    uint8_t b[9];
    b[0] = (uint8_t)tag;
    for (int i = 0; i < 8; i++)
        b[1 + i] = (uint8_t)(v >> (56 - 8 * i));
    aad_put(a, b, sizeof b);
}

void store__aad_init(struct store_aad *a, const char *table)
{
    a->n = 0;
    a->overflow = false;
    store__aad_str(a, table);
}

void store__aad_int(struct store_aad *a, int64_t v)
{
    aad_u64(a, 'i', (uint64_t)v);
}

void store__aad_real(struct store_aad *a, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    aad_u64(a, 'f', u);
}

void store__aad_str(struct store_aad *a, const char *s)
{
    if (!s) {
        aad_put(a, "n", 1);
        return;
    }
    size_t n = strlen(s);
    uint8_t h[3] = {'s', (uint8_t)(n >> 8), (uint8_t)n};
    if (n > 0xffff) {
        a->overflow = true;
        return;
    }
    aad_put(a, h, sizeof h);
    aad_put(a, s, n);
}

/* ---- scratch buffers ---- */

static uint8_t *scratch(struct relais_store *st, size_t len)
{
    struct store_buf *b = &st->scratch[st->scratch_next];
    st->scratch_next = (st->scratch_next + 1) % STORE_SCRATCH_N;
    if (b->cap < len) {
        size_t cap = len < 256 ? 256 : len;
        uint8_t *p = realloc(b->p, cap);
        if (!p) return NULL;
        b->p = p;
        b->cap = cap;
    }
    return b->p;
}

void store__scratch_wipe_last(struct relais_store *st)
{
    struct store_buf *b = &st->scratch[(st->scratch_next + STORE_SCRATCH_N - 1) % STORE_SCRATCH_N];
    if (b->p) relais_zeroize(b->p, b->cap);
}

void store__scratch_free(struct relais_store *st)
{
    for (int i = 0; i < STORE_SCRATCH_N; i++) {
        if (st->scratch[i].p) relais_zeroize(st->scratch[i].p, st->scratch[i].cap);
        free(st->scratch[i].p);
        st->scratch[i].p = NULL;
        st->scratch[i].cap = 0;
    }
}

/* ---- sealing ---- */

/* Seals under k: the store's key through its set-up context, another one
 * (a rotation's next key) set up for the call. */
static int seal_with(struct relais_store *st, const struct store_keys *k, const struct store_aad *a,
                     const void *pt, size_t len, uint8_t *out)
{
    if (!k->set) {
        log_error("store", "no store key: patient data cannot be sealed");
        return RELAIS_EPERM;
    }
    if (a->overflow) return RELAIS_ETOOBIG;
    if (k == &st->key) return relais_aead_seal(&st->aead, a->b, a->n, pt, len, out);
    return relais_seal(k->seal, a->b, a->n, pt, len, out);
}

int store__keys_use(struct relais_store *st, const struct store_keys *k)
{
    relais_aead_free(&st->aead);
    st->key = *k;
    return relais_aead_init(&st->aead, st->key.seal);
}

int store__seal_bind(struct relais_store *st, sqlite3_stmt *s, int col, const struct store_aad *a,
                     const void *pt, size_t len)
{
    uint8_t *out = scratch(st, len + RELAIS_SEAL_OVERHEAD);
    if (!out) return RELAIS_ENOMEM;
    int rc = seal_with(st, &st->key, a, pt, len, out);
    if (rc) return rc;
    sqlite3_bind_blob(s, col, out, (int)(len + RELAIS_SEAL_OVERHEAD), SQLITE_TRANSIENT);
    return RELAIS_OK;
}

int store__seal_bind_text(struct relais_store *st, sqlite3_stmt *s, int col,
                          const struct store_aad *a, const char *text)
{
    if (!text) {
        sqlite3_bind_null(s, col);
        return RELAIS_OK;
    }
    return store__seal_bind(st, s, col, a, text, strlen(text));
}

void store__tampered(struct relais_store *st, const struct store_aad *a, const char *what)
{
    st->tampered++;
    /* the row's key, readable: the associated data without its tags */
    char where[160];
    size_t w = 0;
    for (size_t i = 0; i < a->n && w + 24 < sizeof where;) {
        char tag = (char)a->b[i];
        if (tag == 's' && i + 3 <= a->n) {
            size_t n = ((size_t)a->b[i + 1] << 8) | a->b[i + 2];
            if (i + 3 + n > a->n) break;
            w += (size_t)snprintf(where + w, sizeof where - w, "%s%.*s", i ? " " : "",
                                  (int)(n > 48 ? 48 : n), (const char *)a->b + i + 3);
            i += 3 + n;
        } else if ((tag == 'i' || tag == 'f') && i + 9 <= a->n) {
            uint64_t u = 0;
            for (int k = 0; k < 8; k++)
                u = u << 8 | a->b[i + 1 + k];
            if (tag == 'i') {
                w += (size_t)snprintf(where + w, sizeof where - w, " %lld", (long long)u);
            } else {
                double d;
                memcpy(&d, &u, sizeof d);
                w += (size_t)snprintf(where + w, sizeof where - w, " %.17g", d);
            }
            i += 9;
        } else if (tag == 'n') {
            w += (size_t)snprintf(where + w, sizeof where - w, " null");
            i++;
        } else {
            break;
        }
        if (w >= sizeof where) w = sizeof where - 1;
    }
    where[w] = '\0';
    log_error("store",
              "sealed %s of row (%s) failed its check: altered or not sealed with this "
              "key; not used",
              what, where);
    if (st->tamper_n < STORE_TAMPER_MAX) {
        snprintf(st->tamper[st->tamper_n], sizeof st->tamper[0], "%s of (%s)", what, where);
        st->tamper_n++;
    } else {
        st->tamper_lost++;
    }
}

int store__unseal_col(struct relais_store *st, sqlite3_stmt *s, int col, const struct store_aad *a,
                      const char *what, const uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!st->key.set) {
        log_error("store", "no store key: the sealed %s cannot be read", what);
        return RELAIS_EPERM;
    }
    const uint8_t *in = sqlite3_column_blob(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    int type = sqlite3_column_type(s, col);
    uint8_t *pt = scratch(st, n + 1);
    if (!pt) return RELAIS_ENOMEM;
    if (type != SQLITE_BLOB || a->overflow ||
        relais_aead_open(&st->aead, a->b, a->n, in, n, pt) != RELAIS_OK) {
        store__tampered(st, a, what);
        return RELAIS_ECORRUPT;
    }
    n -= RELAIS_SEAL_OVERHEAD;
    pt[n] = '\0'; /* texts: NUL-terminated in place */
    *out = pt;
    *len = n;
    return RELAIS_OK;
}

int store__unseal_text(struct relais_store *st, sqlite3_stmt *s, int col, const struct store_aad *a,
                       const char *what, const char **out)
{
    *out = NULL;
    if (sqlite3_column_type(s, col) == SQLITE_NULL) return RELAIS_OK;
    const uint8_t *p;
    size_t n;
    int rc = store__unseal_col(st, s, col, a, what, &p, &n);
    if (rc) return rc;
    if (memchr(p, '\0', n)) {
        store__tampered(st, a, what);
        return RELAIS_ECORRUPT;
    }
    *out = (const char *)p;
    return RELAIS_OK;
}

void store__reject_aad(struct store_aad *a, const char *column, int64_t at_ms, int transport,
                       const char *device, bool has_seq, uint64_t seq)
{
    store__aad_init(a, column);
    store__aad_int(a, at_ms);
    store__aad_int(a, transport);
    store__aad_str(a, device);
    if (has_seq)
        store__aad_int(a, (int64_t)seq);
    else
        store__aad_str(a, NULL);
}

void store__event_aad(struct store_aad *a, const char *alert, int64_t at_ms, const char *event)
{
    store__aad_init(a, "alert_events.detail");
    store__aad_str(a, alert);
    store__aad_int(a, at_ms);
    store__aad_str(a, event);
}

/* ---- metric tags ---- */

void store__metric_tag(const struct store_keys *k, const char *metric, uint8_t out[STORE_MTAG_LEN])
{
    uint8_t h[RELAIS_SHA256_LEN];
    relais_hmac_sha256(k->index, sizeof k->index, metric, strlen(metric), h);
    memcpy(out, h, STORE_MTAG_LEN);
}

void store__body_hash(const struct store_keys *k, const uint8_t *body, size_t len,
                      uint8_t out[RELAIS_SHA256_LEN])
{
    relais_hmac_sha256(k->index, sizeof k->index, body, len, out);
}

int store__evictable(const char *metric)
{
    return strcmp(metric, "dose") != 0 && strcmp(metric, "lid") != 0 &&
           strncmp(metric, "pro_", 4) != 0;
}

/* ---- one reading's sealed record ----
 *
 * kind (1) | flags (1: has sum, 2: has update time) | metric NUL-terminated
 * (u16 length with its NUL) | unit likewise | value by kind: f64 (number),
 * u32 length + bytes + NUL (string, data), u8 (bool), nothing (sum only) |
 * f64 sum | f64 update time.  Integers big-endian; f64 as their bits.
 */

static void put_u(uint8_t **p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        *(*p)++ = (uint8_t)(v >> (8 * i));
}

static void put_f64(uint8_t **p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    put_u(p, u, 8);
}

static void put_str(uint8_t **p, const char *s, size_t n, int lenbytes)
{
    put_u(p, n + 1, lenbytes);
    memcpy(*p, s, n);
    *p += n;
    *(*p)++ = 0;
}

size_t store__reading_encode(const struct relais_reading *r, uint8_t *out, size_t cap)
{
    size_t need =
        2 + 2 + strlen(r->metric) + 1 + 2 + strlen(r->unit) + 1 + 4 + r->len + 1 + 8 + 8 + 8;
    if (!out) return need;
    if (cap < need) return 0;
    uint8_t *p = out;
    *p++ = (uint8_t)r->kind;
    *p++ = (uint8_t)((r->has_sum ? 1 : 0) | (r->has_update_time ? 2 : 0));
    put_str(&p, r->metric, strlen(r->metric), 2);
    put_str(&p, r->unit, strlen(r->unit), 2);
    switch (r->kind) {
    case RELAIS_READING_NUMBER: put_f64(&p, r->value); break;
    case RELAIS_READING_STRING: put_str(&p, r->str, r->len, 4); break;
    case RELAIS_READING_DATA: put_str(&p, (const char *)r->data, r->len, 4); break;
    case RELAIS_READING_BOOL: *p++ = r->boolean ? 1 : 0; break;
    case RELAIS_READING_SUM_ONLY: break;
    }
    if (r->has_sum) put_f64(&p, r->sum);
    if (r->has_update_time) put_f64(&p, r->update_time);
    return (size_t)(p - out);
}

static int get_u(const uint8_t **p, const uint8_t *end, int bytes, uint64_t *v)
{
    if (end - *p < bytes) return -1;
    *v = 0;
    for (int i = 0; i < bytes; i++)
        *v = *v << 8 | *(*p)++;
    return 0;
}

static int get_f64(const uint8_t **p, const uint8_t *end, double *d)
{
    uint64_t u;
    if (get_u(p, end, 8, &u)) return -1;
    memcpy(d, &u, sizeof *d);
    return 0;
}

static int get_str(const uint8_t **p, const uint8_t *end, int lenbytes, const char **s, size_t *len)
{
    uint64_t n;
    if (get_u(p, end, lenbytes, &n) || n < 1 || (uint64_t)(end - *p) < n || (*p)[n - 1] != 0)
        return -1;
    *s = (const char *)*p;
    *len = (size_t)n - 1;
    *p += n;
    return 0;
}

int store__reading_decode(const uint8_t *in, size_t len, struct store_reading_clear *out)
{
    const uint8_t *p = in, *end = in + len;
    memset(out, 0, sizeof *out);
    if (len < 2) return -1;
    uint8_t kind = *p++, flags = *p++;
    size_t n;
    if (kind > RELAIS_READING_SUM_ONLY || (flags & ~3u) || get_str(&p, end, 2, &out->metric, &n) ||
        get_str(&p, end, 2, &out->unit, &n))
        return -1;
    out->kind = (enum relais_reading_kind)kind;
    uint64_t b;
    switch (out->kind) {
    case RELAIS_READING_NUMBER:
        if (get_f64(&p, end, &out->value)) return -1;
        break;
    case RELAIS_READING_STRING:
        if (get_str(&p, end, 4, &out->str, &out->len)) return -1;
        break;
    case RELAIS_READING_DATA:
        if (get_str(&p, end, 4, &out->str, &out->len)) return -1;
        out->data = (const uint8_t *)out->str;
        out->str = NULL;
        break;
    case RELAIS_READING_BOOL:
        if (get_u(&p, end, 1, &b) || b > 1) return -1;
        out->boolean = b != 0;
        break;
    case RELAIS_READING_SUM_ONLY: break;
    }
    out->has_sum = flags & 1;
    if (out->has_sum && get_f64(&p, end, &out->sum)) return -1;
    out->has_update_time = (flags & 2) != 0;
    if (out->has_update_time && get_f64(&p, end, &out->update_time)) return -1;
    return p == end ? 0 : -1;
}

void store__reading_aad(struct store_aad *a, int64_t pack_id, int idx, double t, int t_src)
{
    store__aad_init(a, "readings");
    store__aad_int(a, pack_id);
    store__aad_int(a, idx);
    store__aad_real(a, t);
    store__aad_int(a, t_src);
}

int store__reading_unseal(struct relais_store *st, sqlite3_stmt *s, int col_sealed, int64_t pack_id,
                          int idx, double t, int t_src, int lane, int evictable,
                          const uint8_t *mtag, size_t mtag_len, struct store_reading_clear *out)
{
    struct store_aad a;
    store__reading_aad(&a, pack_id, idx, t, t_src);
    const uint8_t *p;
    size_t n;
    int rc = store__unseal_col(st, s, col_sealed, &a, "reading", &p, &n);
    if (rc) return rc;
    uint8_t tag[STORE_MTAG_LEN];
    if (store__reading_decode(p, n, out) == 0) {
        /* the clear columns must say what the sealed record says */
        store__metric_tag(&st->key, out->metric, tag);
        if (lane == relais_fhir_lane_of(out->metric) &&
            evictable == store__evictable(out->metric) && mtag_len == STORE_MTAG_LEN &&
            memcmp(mtag, tag, STORE_MTAG_LEN) == 0)
            return RELAIS_OK;
    }
    store__tampered(st, &a, "reading");
    return RELAIS_ECORRUPT;
}

/* ---- the tamper reports ---- */

uint64_t relais_store_tampered(const struct relais_store *st)
{
    return st->tampered;
}

int relais_store_tamper_flush(struct relais_store *st, int64_t now_ms)
{
    if (!st->tamper_n && !st->tamper_lost) return RELAIS_OK;
    int rc = RELAIS_OK;
    for (size_t i = 0; i < st->tamper_n && !rc; i++)
        rc = relais_store_audit(st, now_ms, "store.tampered", "store", st->tamper[i]);
    if (!rc && st->tamper_lost) {
        char detail[96];
        snprintf(detail, sizeof detail, "%llu more sealed records failed their check",
                 (unsigned long long)st->tamper_lost);
        rc = relais_store_audit(st, now_ms, "store.tampered", "store", detail);
    }
    if (!rc) {
        st->tamper_n = 0;
        st->tamper_lost = 0;
    }
    return rc;
}

/* ---- SQL functions: the migration that seals an older store, and key
 * rotation, run as SQL over whole tables ---- */

static void fn_aad(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    struct store_aad a;
    a.n = 0;
    a.overflow = false;
    for (int i = 0; i < argc; i++) {
        switch (sqlite3_value_type(argv[i])) {
        case SQLITE_INTEGER: store__aad_int(&a, sqlite3_value_int64(argv[i])); break;
        case SQLITE_FLOAT: store__aad_real(&a, sqlite3_value_double(argv[i])); break;
        case SQLITE_NULL: store__aad_str(&a, NULL); break;
        default: store__aad_str(&a, (const char *)sqlite3_value_text(argv[i])); break;
        }
    }
    if (a.overflow) {
        sqlite3_result_error(cx, "associated data too long", -1);
        return;
    }
    sqlite3_result_blob(cx, a.b, (int)a.n, SQLITE_TRANSIENT);
}

static int aad_arg(sqlite3_value *v, struct store_aad *a)
{
    int n = sqlite3_value_bytes(v);
    if (sqlite3_value_type(v) != SQLITE_BLOB || n <= 0 || (size_t)n > sizeof a->b) return -1;
    memcpy(a->b, sqlite3_value_blob(v), (size_t)n);
    a->n = (size_t)n;
    a->overflow = false;
    return 0;
}

static void result_sealed(sqlite3_context *cx, struct relais_store *st, const struct store_keys *k,
                          const struct store_aad *a, const void *pt, size_t len)
{
    uint8_t *out = malloc(len + RELAIS_SEAL_OVERHEAD);
    if (!out) {
        sqlite3_result_error_nomem(cx);
        return;
    }
    if (seal_with(st, k, a, pt, len, out)) {
        free(out);
        sqlite3_result_error(cx, "sealing failed", -1);
        return;
    }
    sqlite3_result_blob(cx, out, (int)(len + RELAIS_SEAL_OVERHEAD), free);
}

/* relais_seal(aad, value): a clear text or blob sealed; NULL stays NULL */
static void fn_seal(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct relais_store *st = sqlite3_user_data(cx);
    struct store_aad a;
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(cx);
        return;
    }
    if (aad_arg(argv[0], &a)) {
        sqlite3_result_error(cx, "bad associated data", -1);
        return;
    }
    const void *p = sqlite3_value_type(argv[1]) == SQLITE_BLOB ? sqlite3_value_blob(argv[1])
                                                               : sqlite3_value_text(argv[1]);
    size_t n = (size_t)sqlite3_value_bytes(argv[1]);
    result_sealed(cx, st, &st->key, &a, p ? p : "", n);
}

/* Opens argv[1] under st->key with the associated data argv[0] into a
 * malloc'd buffer (NUL-terminated), or sets the error naming the row. */
static uint8_t *open_arg(sqlite3_context *cx, struct relais_store *st, sqlite3_value **argv,
                         const struct store_keys *k, size_t *len, struct store_aad *a)
{
    if (aad_arg(argv[0], a)) {
        sqlite3_result_error(cx, "bad associated data", -1);
        return NULL;
    }
    const uint8_t *in = sqlite3_value_blob(argv[1]);
    size_t n = (size_t)sqlite3_value_bytes(argv[1]);
    uint8_t *pt = malloc(n + 1);
    if (!pt) {
        sqlite3_result_error_nomem(cx);
        return NULL;
    }
    if (sqlite3_value_type(argv[1]) != SQLITE_BLOB ||
        relais_unseal(k->seal, a->b, a->n, in, n, pt) != RELAIS_OK) {
        free(pt);
        store__tampered(st, a, "record");
        sqlite3_result_error(cx, "a sealed record failed its check (see the log)", -1);
        return NULL;
    }
    n -= RELAIS_SEAL_OVERHEAD;
    pt[n] = 0;
    *len = n;
    return pt;
}

/* Runs use on the clear value of (aad, sealed) = argv[0..1], opened under
 * the current key, then wipes it; NULL stays NULL when null_ok. */
static void with_clear(sqlite3_context *cx, sqlite3_value **argv, bool null_ok,
                       void (*use)(sqlite3_context *cx, struct relais_store *st,
                                   const struct store_aad *a, const uint8_t *pt, size_t n))
{
    struct relais_store *st = sqlite3_user_data(cx);
    if (null_ok && sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(cx);
        return;
    }
    struct store_aad a;
    size_t n;
    uint8_t *pt = open_arg(cx, st, argv, &st->key, &n, &a);
    if (!pt) return;
    use(cx, st, &a, pt, n);
    relais_zeroize(pt, n);
    free(pt);
}

static void reseal_clear(sqlite3_context *cx, struct relais_store *st, const struct store_aad *a,
                         const uint8_t *pt, size_t n)
{
    result_sealed(cx, st, &st->next, a, pt, n);
}

/* relais_reseal(aad, sealed): opened under the current key, sealed under
 * the next one (key rotation); NULL stays NULL */
static void fn_reseal(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    with_clear(cx, argv, true, reseal_clear);
}

static void mtag_clear(sqlite3_context *cx, struct relais_store *st, const struct store_aad *a,
                       const uint8_t *pt, size_t n)
{
    struct store_reading_clear r;
    if (store__reading_decode(pt, n, &r)) {
        store__tampered(st, a, "reading");
        sqlite3_result_error(cx, "a sealed reading does not decode", -1);
        return;
    }
    uint8_t tag[STORE_MTAG_LEN];
    store__metric_tag(&st->key, r.metric, tag);
    sqlite3_result_blob(cx, tag, sizeof tag, SQLITE_TRANSIENT);
}

/* relais_mtag_of(aad, sealed reading): the metric tag (current key) */
static void fn_mtag_of(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    with_clear(cx, argv, false, mtag_clear);
}

static void body_hash_clear(sqlite3_context *cx, struct relais_store *st, const struct store_aad *a,
                            const uint8_t *pt, size_t n)
{
    (void)a;
    uint8_t h[RELAIS_SHA256_LEN];
    store__body_hash(&st->key, pt, n, h);
    sqlite3_result_blob(cx, h, sizeof h, SQLITE_TRANSIENT);
}

/* relais_body_hash_of(aad, sealed body): the keyed hash (current key) */
static void fn_body_hash_of(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    with_clear(cx, argv, false, body_hash_clear);
}

/* relais_body_hash(clear body) */
static void fn_body_hash(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct relais_store *st = sqlite3_user_data(cx);
    uint8_t h[RELAIS_SHA256_LEN];
    const void *p = sqlite3_value_blob(argv[0]);
    store__body_hash(&st->key, p ? p : "", (size_t)sqlite3_value_bytes(argv[0]), h);
    sqlite3_result_blob(cx, h, sizeof h, SQLITE_TRANSIENT);
}

static void fn_mtag(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct relais_store *st = sqlite3_user_data(cx);
    const char *m = (const char *)sqlite3_value_text(argv[0]);
    uint8_t tag[STORE_MTAG_LEN];
    store__metric_tag(&st->key, m ? m : "", tag);
    sqlite3_result_blob(cx, tag, sizeof tag, SQLITE_TRANSIENT);
}

static void fn_lane(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *m = (const char *)sqlite3_value_text(argv[0]);
    sqlite3_result_int(cx, relais_fhir_lane_of(m ? m : ""));
}

static void fn_evictable(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *m = (const char *)sqlite3_value_text(argv[0]);
    sqlite3_result_int(cx, store__evictable(m ? m : ""));
}

/* relais_seal_reading(pack_id, idx, t, t_src, metric, unit, kind, v, vs, vb,
 * vd, sum, ut): a clear reading row of schema 6 sealed */
static void fn_seal_reading(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct relais_store *st = sqlite3_user_data(cx);
    struct relais_reading r;
    memset(&r, 0, sizeof r);
    const char *metric = (const char *)sqlite3_value_text(argv[4]);
    const char *unit = (const char *)sqlite3_value_text(argv[5]);
    r.metric = metric ? metric : "";
    r.unit = unit ? unit : "";
    r.kind = (enum relais_reading_kind)sqlite3_value_int(argv[6]);
    switch (r.kind) {
    case RELAIS_READING_NUMBER: r.value = sqlite3_value_double(argv[7]); break;
    case RELAIS_READING_STRING:
        r.str = (const char *)sqlite3_value_text(argv[8]);
        r.len = (size_t)sqlite3_value_bytes(argv[8]);
        if (!r.str) r.str = "";
        break;
    case RELAIS_READING_BOOL: r.boolean = sqlite3_value_int(argv[9]) != 0; break;
    case RELAIS_READING_DATA:
        r.data = sqlite3_value_blob(argv[10]);
        r.len = (size_t)sqlite3_value_bytes(argv[10]);
        if (!r.data) r.data = (const uint8_t *)"";
        break;
    case RELAIS_READING_SUM_ONLY: break;
    default: sqlite3_result_error(cx, "unknown reading kind", -1); return;
    }
    r.has_sum = sqlite3_value_type(argv[11]) != SQLITE_NULL;
    r.sum = sqlite3_value_double(argv[11]);
    r.has_update_time = sqlite3_value_type(argv[12]) != SQLITE_NULL;
    r.update_time = sqlite3_value_double(argv[12]);
    size_t need = store__reading_encode(&r, NULL, 0);
    uint8_t *pt = malloc(need);
    if (!pt) {
        sqlite3_result_error_nomem(cx);
        return;
    }
    size_t n = store__reading_encode(&r, pt, need);
    struct store_aad a;
    store__reading_aad(&a, sqlite3_value_int64(argv[0]), sqlite3_value_int(argv[1]),
                       sqlite3_value_double(argv[2]), sqlite3_value_int(argv[3]));
    result_sealed(cx, st, &st->key, &a, pt, n);
    relais_zeroize(pt, n);
    free(pt);
}

int store__seal_functions(struct relais_store *st)
{
    static const struct {
        const char *name;
        int argc;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } fns[] = {
        {"relais_aad", -1, fn_aad},
        {"relais_seal", 2, fn_seal},
        {"relais_reseal", 2, fn_reseal},
        {"relais_mtag_of", 2, fn_mtag_of},
        {"relais_body_hash_of", 2, fn_body_hash_of},
        {"relais_body_hash", 1, fn_body_hash},
        {"relais_mtag", 1, fn_mtag},
        {"relais_lane", 1, fn_lane},
        {"relais_evictable", 1, fn_evictable},
        {"relais_seal_reading", 13, fn_seal_reading},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        int rc = sqlite3_create_function_v2(st->db, fns[i].name, fns[i].argc,
                                            SQLITE_UTF8 | SQLITE_DIRECTONLY, st, fns[i].fn, NULL,
                                            NULL, NULL);
        if (rc != SQLITE_OK) return store__error(st->db, rc, "seal functions");
    }
    return RELAIS_OK;
}

/* ---- migration 7 (schema 6 -> 7): the clear store sealed ---- */

const char store__seal_migration[] =
    "CREATE TABLE store_key(id INTEGER PRIMARY KEY CHECK (id = 1), key_id BLOB NOT NULL,"
    "  since_ms INTEGER NOT NULL);"
    "CREATE TABLE readings_sealed("
    "  pack_id INTEGER NOT NULL REFERENCES packs(id),"
    "  idx INTEGER NOT NULL,"
    "  lane INTEGER NOT NULL,"      /* relais_fhir_lane_of(metric) */
    "  evictable INTEGER NOT NULL," /* not a dose, lid or symptom */
    "  mtag BLOB NOT NULL,"         /* keyed tag of the metric */
    "  t REAL NOT NULL,"
    "  t_src INTEGER NOT NULL,"
    "  sealed BLOB NOT NULL,"
    "  PRIMARY KEY(pack_id, idx)) WITHOUT ROWID;"
    "INSERT INTO readings_sealed SELECT pack_id, idx, relais_lane(metric),"
    "  relais_evictable(metric), relais_mtag(metric), t, t_src,"
    "  relais_seal_reading(pack_id, idx, t, t_src, metric, unit, kind, v, vs, vb, vd, sum, ut)"
    "  FROM readings;"
    "DROP TABLE readings;"
    "ALTER TABLE readings_sealed RENAME TO readings;"
    /* a pack emptied by eviction keeps its clear hash (nothing left to hash) */
    "UPDATE packs SET body_hash = relais_body_hash(body),"
    "  body = relais_seal(relais_aad('packs.body', device, seq, received_ms), body)"
    "  WHERE length(body) > 0;"
    "UPDATE rejects SET"
    "  body = relais_seal(relais_aad('rejects.body', at_ms, transport, device, seq), body),"
    "  detail = relais_seal(relais_aad('rejects.detail', at_ms, transport, device, seq), detail);"
    "UPDATE alerts SET evidence = relais_seal(relais_aad('alerts.evidence', id), evidence);"
    "UPDATE alert_events SET"
    "  detail = relais_seal(relais_aad('alert_events.detail', alert, at_ms, event), detail);"
    "UPDATE dose_events SET kind = relais_seal(relais_aad('dose_events.kind', pack_id, idx), kind);"
    "UPDATE dead_letters SET"
    "  body = relais_seal(relais_aad('dead_letters.body', lane, kind, ref, key), body);"
    "UPDATE careplans SET body = relais_seal(relais_aad('careplans.body', version, patient), body);"
    "UPDATE engine_kv SET value = relais_seal(relais_aad('engine_kv.value', key), value);"
    "UPDATE devices SET psk = relais_seal(relais_aad('devices.psk', id), psk),"
    "  record_key = relais_seal(relais_aad('devices.record_key', id), record_key);"
    "UPDATE dose_slots SET status = relais_seal(relais_aad('dose_slots.status', patient, slot_key),"
    "  status || ' ' || doses || ' ' || coalesce(first_dose_ms, 0)), doses = 0,"
    "  first_dose_ms = NULL;";

/* ---- key rotation ---- */

static const char rotate_sql[] =
    "UPDATE readings SET sealed = relais_reseal(relais_aad('readings', pack_id, idx, t, t_src),"
    "  sealed);"
    "UPDATE packs SET body = relais_reseal(relais_aad('packs.body', device, seq, received_ms),"
    "  body) WHERE length(body) > 0;"
    "UPDATE rejects SET"
    "  body = relais_reseal(relais_aad('rejects.body', at_ms, transport, device, seq), body),"
    "  detail = relais_reseal(relais_aad('rejects.detail', at_ms, transport, device, seq),"
    "  detail);"
    "UPDATE alerts SET evidence = relais_reseal(relais_aad('alerts.evidence', id), evidence);"
    "UPDATE alert_events SET"
    "  detail = relais_reseal(relais_aad('alert_events.detail', alert, at_ms, event), detail);"
    "UPDATE dose_events SET"
    "  kind = relais_reseal(relais_aad('dose_events.kind', pack_id, idx), kind);"
    "UPDATE dead_letters SET"
    "  body = relais_reseal(relais_aad('dead_letters.body', lane, kind, ref, key), body);"
    "UPDATE careplans SET"
    "  body = relais_reseal(relais_aad('careplans.body', version, patient), body);"
    "UPDATE engine_kv SET value = relais_reseal(relais_aad('engine_kv.value', key), value);"
    "UPDATE devices SET psk = relais_reseal(relais_aad('devices.psk', id), psk),"
    "  record_key = relais_reseal(relais_aad('devices.record_key', id), record_key);"
    "UPDATE dose_slots SET"
    "  status = relais_reseal(relais_aad('dose_slots.status', patient, slot_key), status);";

/* after the keys are swapped: what the index key derives */
static const char rotate_index_sql[] =
    "UPDATE readings SET mtag = relais_mtag_of(relais_aad('readings', pack_id, idx, t, t_src),"
    "  sealed);"
    "UPDATE packs SET body_hash = relais_body_hash_of(relais_aad('packs.body', device, seq,"
    "  received_ms), body) WHERE length(body) > 0;";

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void key_id_hex(const uint8_t id[STORE_KEY_ID_LEN], char out[2 * STORE_KEY_ID_LEN + 1])
{
    relais_hex(id, STORE_KEY_ID_LEN, out);
}

int store__key_check(struct relais_store *st)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT key_id FROM store_key WHERE id = 1", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        /* a read-only open of a store older than schema 7: nothing sealed */
        sqlite3_finalize(s);
        return st->readonly ? RELAIS_OK : store__error(st->db, rc, "store key");
    }
    rc = sqlite3_step(s);
    int ret = RELAIS_OK;
    if (rc == SQLITE_ROW) {
        const void *id = sqlite3_column_blob(s, 0);
        int n = sqlite3_column_bytes(s, 0);
        if (st->key.set &&
            (n != STORE_KEY_ID_LEN || memcmp(id, st->key.id, STORE_KEY_ID_LEN) != 0)) {
            char have[2 * STORE_KEY_ID_LEN + 1] = "?", want[2 * STORE_KEY_ID_LEN + 1];
            if (n == STORE_KEY_ID_LEN) key_id_hex(id, have);
            key_id_hex(st->key.id, want);
            log_error("store",
                      "%s is sealed with the store key %s, the key given is %s: refusing it",
                      st->path, have, want);
            ret = RELAIS_EPERM;
        }
        st->sealed = true;
    } else if (rc == SQLITE_DONE) {
        st->sealed = false;
    } else {
        ret = store__error(st->db, rc, "store key");
    }
    sqlite3_finalize(s);
    if (ret || st->sealed || st->readonly) return ret;
    if (!st->key.set) {
        log_error("store", "no store key: relaisd does not keep patient data in clear");
        return RELAIS_EPERM;
    }
    rc = sqlite3_prepare_v2(st->db, "INSERT INTO store_key(id, key_id, since_ms) VALUES(1, ?1, ?2)",
                            -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_blob(s, 1, st->key.id, STORE_KEY_ID_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, wall_ms());
        rc = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store__error(st->db, rc, "store key");
    st->sealed = true;
    return RELAIS_OK;
}

int relais_store_key_id(const struct relais_store *st, char out[2 * STORE_KEY_ID_LEN + 1])
{
    if (!st->key.set) return RELAIS_ENOTFOUND;
    key_id_hex(st->key.id, out);
    return RELAIS_OK;
}

int relais_store_rekey(struct relais_store *st, const uint8_t key[RELAIS_STORE_KEY_LEN],
                       int64_t now_ms)
{
    if (st->readonly || !st->key.set || st->in_txn) return RELAIS_EINVAL;
    struct store_keys old = st->key;
    store__keys_derive(key, &st->next);
    if (memcmp(st->next.id, old.id, STORE_KEY_ID_LEN) == 0) {
        log_error("store", "the new store key is the current one");
        relais_zeroize(&st->next, sizeof st->next);
        return RELAIS_EEXIST;
    }
    int rc = relais_store_begin(st);
    if (rc) return rc;
    char *err = NULL;
    if (sqlite3_exec(st->db, rotate_sql, NULL, NULL, &err) != SQLITE_OK) {
        log_error("store", "key rotation failed: %s", err ? err : "?");
        rc = RELAIS_ECORRUPT;
    }
    sqlite3_free(err);
    err = NULL;
    if (!rc) rc = store__keys_use(st, &st->next);
    if (!rc) {
        if (sqlite3_exec(st->db, rotate_index_sql, NULL, NULL, &err) != SQLITE_OK) {
            log_error("store", "key rotation failed: %s", err ? err : "?");
            rc = RELAIS_ECORRUPT;
        }
        sqlite3_free(err);
    }
    sqlite3_stmt *s = NULL;
    if (!rc) {
        if (sqlite3_prepare_v2(st->db,
                               "UPDATE store_key SET key_id = ?1, since_ms = ?2 WHERE id = 1", -1,
                               &s, NULL) == SQLITE_OK) {
            sqlite3_bind_blob(s, 1, st->key.id, STORE_KEY_ID_LEN, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, now_ms);
            if (sqlite3_step(s) != SQLITE_DONE) rc = store__error(st->db, SQLITE_ERROR, "key id");
        } else {
            rc = store__error(st->db, SQLITE_ERROR, "key id");
        }
        sqlite3_finalize(s);
    }
    if (!rc) {
        char detail[96], a[2 * STORE_KEY_ID_LEN + 1], b[2 * STORE_KEY_ID_LEN + 1];
        key_id_hex(old.id, a);
        key_id_hex(st->key.id, b);
        snprintf(detail, sizeof detail, "the store was re-sealed: key %s replaced by %s", a, b);
        rc = relais_store_audit(st, now_ms, "store.key_rotated", "store", detail);
    }
    if (!rc)
        rc = relais_store_commit(st);
    else
        relais_store_rollback(st);
    if (rc && store__keys_use(st, &old))
        log_error("store", "the store key could not be set up again: reopen the store");
    relais_zeroize(&old, sizeof old);
    relais_zeroize(&st->next, sizeof st->next);
    return rc;
}

int relais_store_open_keyed(struct relais_store **out, const char *path, const char *key_file,
                            bool create_key, const struct relais_store_opts *opts)
{
    struct relais_store_opts o = opts ? *opts : (struct relais_store_opts){0};
    uint8_t key[RELAIS_STORE_KEY_LEN];
    struct stat sb;
    if (create_key && stat(key_file, &sb) != 0 && errno == ENOENT) {
        if (stat(path, &sb) == 0) {
            log_error("store",
                      "the store key %s is missing and %s exists: refusing to open it "
                      "(restore the key file)",
                      key_file, path);
            return RELAIS_EPERM;
        }
        int rc = relais_store_key_generate(key_file);
        if (rc) return rc;
        log_info("store", "a new store key was made: %s", key_file);
    }
    int rc = relais_store_key_read(key_file, key);
    if (rc) return rc;
    o.key = key;
    rc = relais_store_open(out, path, &o);
    if (rc == RELAIS_EPERM) {
        /* a rotation that committed but did not rename its key file */
        char next[4200];
        if (snprintf(next, sizeof next, "%s.new", key_file) < (int)sizeof next &&
            stat(next, &sb) == 0 && relais_store_key_read(next, key) == RELAIS_OK) {
            o.key = key;
            rc = relais_store_open(out, path, &o);
            if (rc == RELAIS_OK) {
                if (!o.readonly && rename(next, key_file) != 0) {
                    log_error("store", "cannot rename %s to %s: %s", next, key_file,
                              strerror(errno));
                } else {
                    log_info("store", "the store is sealed with %s (a key rotation's)%s", next,
                             o.readonly ? "" : ": renamed into place");
                }
            }
        }
    }
    relais_zeroize(key, sizeof key);
    return rc;
}
