/* SPDX-License-Identifier: Apache-2.0 */
/* Verification of the hash-chained audit trail (relais/audit.h). */
#include "relais/audit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "relais/error.h"
#include "store_internal.h"

struct arow {
    int64_t id;
    uint8_t prev[RELAIS_SHA256_LEN];
    uint8_t hash[RELAIS_SHA256_LEN];
    bool content_ok; /* its hash matches its content under its id */
    bool shifted;    /* ... under id - 1 or id + 1: renumbered or swapped */
    bool involved;   /* already part of a finding */
};

const char *relais_audit_problem_name(enum relais_audit_problem p)
{
    switch (p) {
    case RELAIS_AUDIT_MODIFIED: return "modified";
    case RELAIS_AUDIT_DELETED: return "deleted";
    case RELAIS_AUDIT_INSERTED: return "inserted";
    case RELAIS_AUDIT_REORDERED: return "reordered";
    case RELAIS_AUDIT_BROKEN: return "broken";
    }
    return "?";
}

static void add(struct relais_audit_report *r, enum relais_audit_problem p, int64_t id,
                int64_t id_to)
{
    if (r->nfindings == RELAIS_AUDIT_MAX_FINDINGS) {
        r->more++;
        return;
    }
    r->findings[r->nfindings++] = (struct relais_audit_finding){p, id, id_to};
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

static bool col_hash(sqlite3_stmt *s, int i, uint8_t out[RELAIS_SHA256_LEN])
{
    memset(out, 0, RELAIS_SHA256_LEN);
    if (sqlite3_column_bytes(s, i) != RELAIS_SHA256_LEN) return false;
    memcpy(out, sqlite3_column_blob(s, i), RELAIS_SHA256_LEN);
    return true;
}

/* Reads every row, checking each one's hash against its content. */
static int load(struct relais_store *st, struct arow **rows, size_t *n)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        st->db, "SELECT id, at_ms, kind, subject, detail, prev_hash, hash FROM audit ORDER BY id",
        -1, &s, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "audit verify");
    size_t cap = 0;
    *rows = NULL;
    *n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            struct arow *nr = realloc(*rows, ncap * sizeof **rows);
            if (!nr) {
                sqlite3_finalize(s);
                return RELAIS_ENOMEM;
            }
            *rows = nr;
            cap = ncap;
        }
        struct arow *a = &(*rows)[(*n)++];
        memset(a, 0, sizeof *a);
        a->id = sqlite3_column_int64(s, 0);
        int64_t at = sqlite3_column_int64(s, 1);
        const char *kind = col_text(s, 2), *subject = col_text(s, 3), *detail = col_text(s, 4);
        bool prev_ok = col_hash(s, 5, a->prev);
        bool hash_ok = col_hash(s, 6, a->hash);
        bool well_formed = prev_ok && hash_ok;
        uint8_t h[RELAIS_SHA256_LEN];
        store__audit_hash(a->prev, a->id, at, kind, subject, detail, h);
        a->content_ok = well_formed && memcmp(h, a->hash, sizeof h) == 0;
        if (!a->content_ok && well_formed) {
            for (int d = -1; d <= 1 && !a->shifted; d += 2) {
                store__audit_hash(a->prev, a->id + d, at, kind, subject, detail, h);
                a->shifted = memcmp(h, a->hash, sizeof h) == 0;
            }
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store__error(st->db, rc, "audit verify");
    return RELAIS_OK;
}

/* The row after position i whose hash is h, or -1. */
static ptrdiff_t later_with_hash(const struct arow *rows, size_t n, size_t i, const uint8_t *h)
{
    for (size_t j = i + 1; j < n; j++)
        if (memcmp(rows[j].hash, h, RELAIS_SHA256_LEN) == 0) return (ptrdiff_t)j;
    return -1;
}

/* Row i follows a row reported reordered, and links to another row of
 * that reorder: the swap explains its link. */
static bool explained_by_reorder(const struct arow *rows, size_t i)
{
    if (i == 0 || !rows[i - 1].involved) return false;
    for (size_t k = 0; k < i; k++)
        if (rows[k].involved && memcmp(rows[k].hash, rows[i].prev, RELAIS_SHA256_LEN) == 0)
            return true;
    return false;
}

int relais_audit_verify(struct relais_store *st, struct relais_audit_report *out)
{
    memset(out, 0, sizeof *out);
    struct arow *rows = NULL;
    size_t n = 0;
    int rc = load(st, &rows, &n);
    if (rc) {
        free(rows);
        return rc;
    }
    out->rows = n;
    if (n == 0) {
        free(rows);
        return RELAIS_OK;
    }
    out->first_id = rows[0].id;
    out->last_id = rows[n - 1].id;
    memcpy(out->head, rows[n - 1].hash, RELAIS_SHA256_LEN);
    static const uint8_t zero[RELAIS_SHA256_LEN];
    if (rows[0].id > 1) {
        add(out, RELAIS_AUDIT_DELETED, 1, rows[0].id - 1);
        rows[0].involved = true;
    }
    for (size_t i = 0; i < n; i++) {
        struct arow *a = &rows[i];
        const uint8_t *want = i ? rows[i - 1].hash : zero;
        bool linked = memcmp(a->prev, want, RELAIS_SHA256_LEN) == 0;
        if (i && a->id > rows[i - 1].id + 1) {
            add(out, RELAIS_AUDIT_DELETED, rows[i - 1].id + 1, a->id - 1);
            a->involved = true; /* its broken link is the gap's */
        } else if (!linked && !a->involved && out->nfindings == RELAIS_AUDIT_MAX_FINDINGS) {
            add(out, RELAIS_AUDIT_BROKEN, a->id, a->id); /* counted only: no search */
        } else if (!linked && !a->involved) {
            ptrdiff_t j = later_with_hash(rows, n, i, a->prev);
            if (j < 0 && explained_by_reorder(rows, i)) {
                a->involved = true; /* the row after a swap links to its true predecessor */
            } else if (j >= 0) {
                /* it follows a row that comes after it */
                add(out, RELAIS_AUDIT_REORDERED, a->id, a->id);
                a->involved = rows[j].involved = true;
                if ((size_t)j == i + 1) rows[i + 1].involved = true;
            } else if (i >= 2 && memcmp(a->prev, rows[i - 2].hash, RELAIS_SHA256_LEN) == 0) {
                add(out, RELAIS_AUDIT_INSERTED, rows[i - 1].id, rows[i - 1].id);
                rows[i - 1].involved = a->involved = true;
            } else {
                add(out, RELAIS_AUDIT_BROKEN, a->id, a->id);
                a->involved = true;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct arow *a = &rows[i];
        /* a row renumbered (after an insertion) or swapped matches its hash
         * under its neighbour's id: the links' findings say what happened */
        if (!a->content_ok && !a->shifted) {
            bool inserted = false;
            for (size_t k = 0; k < out->nfindings; k++)
                inserted |= out->findings[k].problem == RELAIS_AUDIT_INSERTED &&
                            out->findings[k].id == a->id;
            if (!inserted) add(out, RELAIS_AUDIT_MODIFIED, a->id, a->id);
        }
    }
    free(rows);
    return RELAIS_OK;
}

int relais_audit_row_hash(struct relais_store *st, int64_t id, uint8_t out[RELAIS_SHA256_LEN])
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT hash FROM audit WHERE id = ?1", -1, &s, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "audit row");
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    int ret = RELAIS_ENOTFOUND;
    if (rc == SQLITE_ROW)
        ret = col_hash(s, 0, out) ? RELAIS_OK : RELAIS_ECORRUPT;
    else if (rc != SQLITE_DONE)
        ret = store__error(st->db, rc, "audit row");
    sqlite3_finalize(s);
    return ret;
}
