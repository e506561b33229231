/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML CBOR front end (RFC 8428 section 6): relais/cbor.h checks
 * well-formedness into a bounded tree, then the tree is walked into
 * struct senml__record.  Known fields use the integer labels of RFC 8428
 * table 6; text keys are extension fields (ignored, or rejected when they end
 * in '_'); other integer labels are ignored.
 */
#include "senml_internal.h"
#include "relais/cbor.h"
#include "relais/error.h"

#include <stdio.h>
#include <string.h>

static int label_field(int64_t label)
{
    switch (label) {
    case RELAIS_SENML_BVER: return SENML_F_BVER;
    case RELAIS_SENML_BN: return SENML_F_BN;
    case RELAIS_SENML_BT: return SENML_F_BT;
    case RELAIS_SENML_BU: return SENML_F_BU;
    case RELAIS_SENML_BV: return SENML_F_BV;
    case RELAIS_SENML_BS: return SENML_F_BS;
    case RELAIS_SENML_N: return SENML_F_N;
    case RELAIS_SENML_U: return SENML_F_U;
    case RELAIS_SENML_V: return SENML_F_V;
    case RELAIS_SENML_VS: return SENML_F_VS;
    case RELAIS_SENML_VB: return SENML_F_VB;
    case RELAIS_SENML_S: return SENML_F_S;
    case RELAIS_SENML_T: return SENML_F_T;
    case RELAIS_SENML_UT: return SENML_F_UT;
    case RELAIS_SENML_VD: return SENML_F_VD;
    default: return SENML_F_UNKNOWN;
    }
}

static int item_number(const struct relais_cbor_item *it, double *out)
{
    switch (it->type) {
    case RELAIS_CBOR_UINT: *out = (double)it->v.u; return 0;
    case RELAIS_CBOR_NEGINT: *out = -1.0 - (double)it->v.u; return 0;
    case RELAIS_CBOR_FLOAT: *out = it->v.f; return 0;
    default: return -1;
    }
}

/* Two map keys are the same when type and value (or bytes) are equal. */
static bool same_key(const struct relais_cbor_item *a, const struct relais_cbor_item *b)
{
    if (a->type != b->type) return false;
    if (a->type == RELAIS_CBOR_TEXT || a->type == RELAIS_CBOR_BYTES)
        return a->v.str.len == b->v.str.len &&
               memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len) == 0;
    if (a->type == RELAIS_CBOR_FLOAT) return a->v.f == b->v.f;
    return a->v.u == b->v.u;
}

#define MAX_FIELDS 64

static bool is_scalar(const struct relais_cbor_item *it)
{
    return it->type != RELAIS_CBOR_ARRAY && it->type != RELAIS_CBOR_MAP &&
           it->type != RELAIS_CBOR_TAG;
}

static int read_record(struct senml__ctx *c, const struct relais_cbor_doc *doc, size_t idx,
                       struct senml__record *r)
{
    const struct relais_cbor_item *map = &doc->items[idx];
    memset(r, 0, sizeof *r);
    if (map->type != RELAIS_CBOR_MAP)
        return senml__fail(c, RELAIS_REJECT_NOT_SENML, "a record must be a map");
    if (map->count > MAX_FIELDS)
        return senml__fail(c, RELAIS_REJECT_NOT_SENML, "more than %d fields in a record",
                           MAX_FIELDS);
    size_t keys[MAX_FIELDS];
    size_t k = idx + 1;
    for (uint32_t i = 0; i < map->count; i++) {
        const struct relais_cbor_item *key = &doc->items[k];
        keys[i] = k;
        for (uint32_t j = 0; j < i; j++)
            if (same_key(&doc->items[keys[j]], key))
                return senml__fail(c, RELAIS_REJECT_DUPLICATE_KEY, "a key twice in one record");
        const struct relais_cbor_item *val = &doc->items[key->next];
        size_t after = val->next;
        int f;
        char kname[24];
        if (key->type == RELAIS_CBOR_UINT || key->type == RELAIS_CBOR_NEGINT) {
            if (key->v.u > 1000000)
                f = SENML_F_UNKNOWN;
            else
                f = label_field(key->type == RELAIS_CBOR_UINT ? (int64_t)key->v.u
                                                              : -1 - (int64_t)key->v.u);
            if (f == SENML_F_UNKNOWN)
                snprintf(kname, sizeof kname, "label %s%llu",
                         key->type == RELAIS_CBOR_NEGINT ? "-1-" : "",
                         (unsigned long long)key->v.u);
            else
                snprintf(kname, sizeof kname, "%s", senml__field_name[f]);
        } else if (key->type == RELAIS_CBOR_TEXT) {
            int rc = senml__key(c, (const char *)key->v.str.ptr, key->v.str.len, &f);
            if (rc) return rc;
            /* a text key names an extension field, never a known one */
            f = SENML_F_UNKNOWN;
            snprintf(kname, sizeof kname, "%.*s", (int)(key->v.str.len > 20 ? 20 : key->v.str.len),
                     (const char *)key->v.str.ptr);
        } else {
            return senml__fail(c, RELAIS_REJECT_NOT_SENML,
                               "a record key must be an integer label or a text string");
        }
        if (!is_scalar(val))
            return senml__fail(c, RELAIS_REJECT_NOT_SENML,
                               "'%s' holds a nested item: nesting beyond the SenML shape", kname);
        if (f == SENML_F_UNKNOWN) {
            if (val->type == RELAIS_CBOR_TEXT &&
                senml__check_string(c, kname, (const char *)val->v.str.ptr, val->v.str.len))
                return RELAIS_EPARSE;
            if (val->type == RELAIS_CBOR_BYTES && val->v.str.len > RELAIS_SENML_MAX_STRING)
                return senml__fail(c, RELAIS_REJECT_STRING_TOO_LONG, "'%s' longer than %d bytes",
                                   kname, RELAIS_SENML_MAX_STRING);
            k = after;
            continue;
        }
        switch (senml__field_type[f]) {
        case 's':
            if (val->type != RELAIS_CBOR_TEXT)
                return senml__fail(c, RELAIS_REJECT_NOT_SENML, "'%s' must be a text string", kname);
            r->str[f].p = (const char *)val->v.str.ptr;
            r->str[f].len = val->v.str.len;
            if (senml__check_string(c, kname, r->str[f].p, r->str[f].len)) return RELAIS_EPARSE;
            break;
        case 'd':
            if (val->type != RELAIS_CBOR_BYTES)
                return senml__fail(c, RELAIS_REJECT_NOT_SENML, "'%s' must be a byte string", kname);
            if (val->v.str.len > RELAIS_SENML_MAX_STRING)
                return senml__fail(c, RELAIS_REJECT_STRING_TOO_LONG, "'%s' longer than %d bytes",
                                   kname, RELAIS_SENML_MAX_STRING);
            r->vd = val->v.str.ptr;
            r->vd_len = val->v.str.len;
            break;
        case 'n':
            if (item_number(val, &r->num[f]) != 0)
                return senml__fail(c, RELAIS_REJECT_NOT_SENML, "'%s' must be a number", kname);
            if (senml__check_number(c, kname, r->num[f])) return RELAIS_EPARSE;
            break;
        case 'b':
            if (val->type != RELAIS_CBOR_SIMPLE ||
                (val->v.u != RELAIS_CBOR_SIMPLE_TRUE && val->v.u != RELAIS_CBOR_SIMPLE_FALSE))
                return senml__fail(c, RELAIS_REJECT_NOT_SENML, "'%s' must be true or false", kname);
            r->vb = val->v.u == RELAIS_CBOR_SIMPLE_TRUE;
            break;
        }
        r->present |= 1u << f;
        k = after;
    }
    return RELAIS_OK;
}

int senml__decode_cbor(struct senml__ctx *c, const uint8_t *body, size_t len)
{
    struct relais_cbor_doc doc;
    struct relais_cbor_error cerr;
    /* generous generic limits: the SenML shape is checked on the tree */
    const struct relais_cbor_limits lim = {
        .max_items = len + 1, .max_depth = 16, .max_string = RELAIS_SENML_MAX_BYTES};
    int rc;

    relais_cbor_doc_init(&doc);
    rc = relais_cbor_decode(&doc, body, len, &lim, &cerr);
    if (rc == RELAIS_ENOMEM) goto out;
    if (rc == RELAIS_ETOOBIG) {
        /* well-formed so far, but deeper than any SenML pack */
        rc = senml__fail(c, RELAIS_REJECT_NOT_SENML, "byte %zu: %s: nesting beyond the SenML shape",
                         cerr.offset, cerr.message);
        goto out;
    }
    if (rc != RELAIS_OK) {
        rc = senml__fail(c, RELAIS_REJECT_CBOR, "byte %zu: %s", cerr.offset, cerr.message);
        goto out;
    }
    const struct relais_cbor_item *root = &doc.items[0];
    rc = RELAIS_EPARSE;
    if (root->type != RELAIS_CBOR_ARRAY) {
        senml__fail(c, RELAIS_REJECT_NOT_SENML, "the pack is not an array of records");
        goto out;
    }
    if (root->count == 0) {
        senml__fail(c, RELAIS_REJECT_EMPTY, "the pack has no records");
        goto out;
    }
    if (root->count > RELAIS_SENML_MAX_RECORDS) {
        senml__fail(c, RELAIS_REJECT_TOO_MANY_RECORDS, "%u records, more than %d", root->count,
                    RELAIS_SENML_MAX_RECORDS);
        goto out;
    }
    size_t idx = 1;
    for (uint32_t i = 0; i < root->count; i++) {
        struct senml__record r;
        c->record = (int)i;
        rc = read_record(c, &doc, idx, &r);
        if (rc == RELAIS_OK) rc = senml__record_add(c, &r);
        if (rc) goto out;
        idx = doc.items[idx].next;
    }
    rc = RELAIS_OK;
out:
    relais_cbor_doc_cleanup(&doc);
    return rc;
}
