/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML JSON front end (RFC 8428 section 5): jansson parses strictly
 * (duplicate keys rejected, any top-level value accepted so that "not an
 * array" is told apart from "not JSON"), then the tree is walked into
 * struct senml__record.  The SenML shape is an array of objects whose members
 * are scalars; anything nested deeper is rejected.
 */
#include "senml_internal.h"
#include "relais/error.h"

#include <jansson.h>
#include <string.h>

static int json_number(const json_t *v, double *out)
{
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = json_real_value(v);
        return 0;
    }
    return -1;
}

static int read_record(struct senml__ctx *c, json_t *obj, struct senml__record *r)
{
    const char *key;
    json_t *val;
    memset(r, 0, sizeof *r);
    if (!json_is_object(obj))
        return senml__fail(c, RELAIS_REJECT_NOT_SENML, "a record must be an object");
    if (json_object_size(obj) > 64)
        return senml__fail(c, RELAIS_REJECT_NOT_SENML, "more than 64 fields in a record");
    json_object_foreach(obj, key, val)
    {
        int f;
        size_t klen = strlen(key);
        int rc = senml__key(c, key, klen, &f);
        if (rc) return rc;
        if (json_is_object(val) || json_is_array(val))
            return senml__fail(c, RELAIS_REJECT_NOT_SENML,
                               "'%.40s' holds an %s: nesting beyond the SenML shape", key,
                               json_is_object(val) ? "object" : "array");
        if (f == SENML_F_UNKNOWN) {
            if (json_is_string(val) &&
                senml__check_string(c, key, json_string_value(val), json_string_length(val)))
                return RELAIS_EPARSE;
            continue;
        }
        switch (senml__field_type[f]) {
        case 's':
        case 'd':
            if (!json_is_string(val))
                return senml__fail(c, RELAIS_REJECT_NOT_SENML, "'%s' must be a string", key);
            r->str[f].p = json_string_value(val);
            r->str[f].len = json_string_length(val);
            if (senml__check_string(c, key, r->str[f].p, r->str[f].len)) return RELAIS_EPARSE;
            break;
        case 'n':
            if (json_number(val, &r->num[f]) != 0)
                return senml__fail(c, RELAIS_REJECT_NOT_SENML, "'%s' must be a number", key);
            if (senml__check_number(c, key, r->num[f])) return RELAIS_EPARSE;
            break;
        case 'b':
            if (!json_is_boolean(val))
                return senml__fail(c, RELAIS_REJECT_NOT_SENML, "'%s' must be true or false", key);
            r->vb = json_is_true(val);
            break;
        }
        r->present |= 1u << f;
    }
    return RELAIS_OK;
}

int senml__decode_json(struct senml__ctx *c, const uint8_t *body, size_t len)
{
    json_error_t jerr;
    int rc = RELAIS_EPARSE;
    /* integers as reals: a SenML number is a double, and a uint64 that jansson
     * cannot hold as json_int_t is still a number (as in CBOR) */
    json_t *root = json_loadb(
        (const char *)body, len,
        JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root) {
        enum json_error_code code = json_error_code(&jerr);
        enum relais_reject_reason why = RELAIS_REJECT_JSON;
        if (code == json_error_out_of_memory) return RELAIS_ENOMEM;
        if (code == json_error_duplicate_key)
            why = RELAIS_REJECT_DUPLICATE_KEY;
        else if (code == json_error_null_byte_in_key)
            why = RELAIS_REJECT_NOT_SENML; /* well-formed JSON, not a SenML key */
        else if (code == json_error_numeric_overflow)
            why = RELAIS_REJECT_NOT_FINITE; /* e.g. 1e400 */
        return senml__fail(c, why, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    }
    if (!json_is_array(root)) {
        senml__fail(c, RELAIS_REJECT_NOT_SENML, "the pack is not an array of records");
        goto out;
    }
    size_t n = json_array_size(root);
    if (n == 0) {
        senml__fail(c, RELAIS_REJECT_EMPTY, "the pack has no records");
        goto out;
    }
    if (n > RELAIS_SENML_MAX_RECORDS) {
        senml__fail(c, RELAIS_REJECT_TOO_MANY_RECORDS, "%zu records, more than %d", n,
                    RELAIS_SENML_MAX_RECORDS);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct senml__record r;
        c->record = (int)i;
        rc = read_record(c, json_array_get(root, i), &r);
        if (rc == RELAIS_OK) rc = senml__record_add(c, &r);
        if (rc) goto out;
    }
    rc = RELAIS_OK;
out:
    json_decref(root);
    return rc;
}
