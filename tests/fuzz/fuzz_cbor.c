/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the CBOR decoder: decodes arbitrary bytes with the
 * default limits, then again into the same doc with tight limits (the reuse
 * and RELAIS_ETOOBIG paths), and on success checks the tree's invariants and
 * writes it in diagnostic notation, into a large and a tiny buffer.
 * Seeds: tests/fuzz/corpus/cbor/ (RFC 8949 Appendix A examples and Appendix F
 * malformed items).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relais/cbor.h"
#include "relais/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each item's subtree ends after it and within its parent's, and strings lie
 * in the input or the doc's string buffer; on failure, abort. */
static void check_tree(const struct relais_cbor_doc *doc, const uint8_t *data, size_t size)
{
    if (doc->count == 0 || doc->count > size || doc->items[0].next != doc->count) abort();
    for (size_t i = 0; i < doc->count; i++) {
        const struct relais_cbor_item *it = &doc->items[i];
        size_t child = i + 1, n = 0;

        if (it->next <= i || it->next > doc->count) abort();
        if (it->type == RELAIS_CBOR_BYTES || it->type == RELAIS_CBOR_TEXT) {
            const uint8_t *base = it->indefinite ? doc->strbuf : data;
            size_t len = it->indefinite ? doc->strbuf_len : size;

            if (it->v.str.len && (it->v.str.ptr < base || it->v.str.len > len ||
                                  (size_t)(it->v.str.ptr - base) > len - it->v.str.len)) {
                abort();
            }
        }
        if (it->type == RELAIS_CBOR_ARRAY) n = it->count;
        if (it->type == RELAIS_CBOR_MAP) n = 2 * (size_t)it->count;
        if (it->type == RELAIS_CBOR_TAG) n = 1;
        for (size_t k = 0; k < n; k++) {
            if (child >= it->next) abort();
            child = doc->items[child].next;
        }
        if (n && child != it->next) abort();
        if (!n && it->next != i + 1) abort();
    }
}

static void decode(struct relais_cbor_doc *doc, const uint8_t *data, size_t size,
                   const struct relais_cbor_limits *lim)
{
    static char out[1 << 16];
    char tiny[16];
    struct relais_cbor_error err;
    int rc = relais_cbor_decode(doc, data, size, lim, &err);
    int n;

    if (rc != RELAIS_OK) {
        if (rc != RELAIS_EPARSE && rc != RELAIS_ETOOBIG && rc != RELAIS_ENOMEM) abort();
        if (!err.message || err.offset > size || doc->count != 0) abort();
        return;
    }
    check_tree(doc, data, size);
    n = relais_cbor_diag(doc, 0, out, sizeof out);
    if (n >= 0 && strlen(out) != (size_t)n) abort();
    n = relais_cbor_diag(doc, 0, tiny, sizeof tiny);
    if (n >= (int)sizeof tiny || strlen(tiny) >= sizeof tiny) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct relais_cbor_limits tight = {
        .max_items = 16, .max_depth = 4, .max_string = 8};
    struct relais_cbor_doc doc;

    relais_cbor_doc_init(&doc);
    decode(&doc, data, size, NULL);
    decode(&doc, data, size, &tight);
    relais_cbor_doc_cleanup(&doc);
    return 0;
}
