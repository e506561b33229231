/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded, generic CBOR (RFC 8949) decoder built on libcbor's streaming
 * decoder (cbor_stream_decode): libcbor reads each data item's head, this
 * module checks well-formedness that libcbor leaves to its caller (breaks,
 * indefinite-string chunks, nesting, trailing bytes, UTF-8), fills the gaps of
 * libcbor 0.8 (simple values 0..19 and 32..255, tags 6..20) and builds a flat
 * tree with hard limits, never allocating what a header merely declares.
 *
 * The tree is a pre-order array: a container's children follow it, and each
 * item records the index just past its subtree, so a walker skips a subtree in
 * O(1).
 */
#ifndef RELAIS_CBOR_H
#define RELAIS_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum relais_cbor_type {
    RELAIS_CBOR_UINT = 0,   /* v.u */
    RELAIS_CBOR_NEGINT = 1, /* the value is -1 - v.u */
    RELAIS_CBOR_BYTES = 2,  /* v.str */
    RELAIS_CBOR_TEXT = 3,   /* v.str, valid UTF-8, not NUL-terminated */
    RELAIS_CBOR_ARRAY = 4,  /* count items follow */
    RELAIS_CBOR_MAP = 5,    /* count pairs (2 * count items: key, value, ...) follow */
    RELAIS_CBOR_TAG = 6,    /* v.u = tag number; exactly one item follows */
    RELAIS_CBOR_FLOAT = 7,  /* v.f; float_size = 2, 4 or 8 */
    RELAIS_CBOR_SIMPLE = 8, /* v.u = simple value: 20 false, 21 true, 22 null, 23 undefined */
};

#define RELAIS_CBOR_SIMPLE_FALSE     20
#define RELAIS_CBOR_SIMPLE_TRUE      21
#define RELAIS_CBOR_SIMPLE_NULL      22
#define RELAIS_CBOR_SIMPLE_UNDEFINED 23

struct relais_cbor_item {
    uint8_t type;       /* enum relais_cbor_type */
    uint8_t indefinite; /* 1 when encoded with indefinite length (strings, arrays, maps) */
    uint8_t float_size; /* FLOAT only: 2, 4 or 8 bytes on the wire */
    uint32_t count;     /* ARRAY: items; MAP: pairs; TAG: 1; others 0 */
    uint32_t next;      /* index of the first item after this item's subtree */
    union {
        uint64_t u;
        double f;
        struct {
            const uint8_t *ptr; /* borrowed: into the input buffer or doc's string buffer */
            size_t len;
        } str;
    } v;
};

struct relais_cbor_limits {
    size_t max_items;   /* data items in the whole document */
    unsigned max_depth; /* nesting of arrays, maps and tags; the top level is depth 1 */
    size_t max_string;  /* bytes in one (possibly chunked) byte or text string */
};

/* A decoded document.  Caller-owned; init before first use, cleanup once.
 * A doc may be reused for several decodes (capacity is kept). */
struct relais_cbor_doc {
    struct relais_cbor_item *items; /* items[0] is the top-level item */
    size_t count;
    size_t cap;
    uint8_t *strbuf; /* concatenated chunks of indefinite-length strings */
    size_t strbuf_len, strbuf_cap;
};

struct relais_cbor_error {
    size_t offset;       /* byte offset in the input where decoding failed */
    const char *message; /* static English text */
};

void relais_cbor_doc_init(struct relais_cbor_doc *doc);
void relais_cbor_doc_cleanup(struct relais_cbor_doc *doc);

/*
 * Decodes exactly one well-formed data item filling buf[0..len).
 * The doc borrows buf: it stays valid while buf does and until the next decode
 * or cleanup.  lim may be NULL (defaults: 65536 items, depth 32, 65536 bytes).
 * Returns RELAIS_OK; RELAIS_EPARSE when the input is not well-formed (truncated,
 * reserved values, misplaced break, wrong chunk type, trailing bytes, invalid
 * UTF-8 in a text string); RELAIS_ETOOBIG when a limit is exceeded;
 * RELAIS_ENOMEM.  err (may be NULL) says where and why.
 */
int relais_cbor_decode(struct relais_cbor_doc *doc, const uint8_t *buf, size_t len,
                       const struct relais_cbor_limits *lim, struct relais_cbor_error *err);

/*
 * Writes item idx and its subtree in RFC 8949 diagnostic notation, e.g.
 * [1, {"a": h'0102'}, 1(1363896240.5), simple(16), Infinity, undefined].
 * Indefinite-length strings are written as their concatenated value.
 * Returns the length written (NUL excluded), or -1 when it did not fit.
 */
int relais_cbor_diag(const struct relais_cbor_doc *doc, size_t idx, char *out, size_t cap);

#endif
