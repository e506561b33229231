/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded generic CBOR decoder (RFC 8949) on top of libcbor's streaming decoder.
 *
 * cbor_stream_decode() reads one data item head per call and reports it through
 * a callback into d->ev; everything else is checked here: breaks only close
 * indefinite arrays/maps/strings (never a map in value position), chunks of an
 * indefinite string are definite strings of the same major type, text is
 * UTF-8, exactly one top-level item fills the input.  libcbor 0.8 rejects
 * some well-formed heads (simple values 0..19 e0..f3, simple(32..255) f8 xx,
 * tags 6..20 c6..d4), so read_head() decodes those itself.
 *
 * Invariants:
 * - items is a pre-order array; while a container is open (on the stack) its
 *   `next` holds the index of its parent (PARENT_NONE at top level) and, for arrays
 *   and maps, v.u counts the children seen so far.  Both get their final
 *   values when it closes, so the stack costs no memory of its own.
 * - Nothing is allocated from a declared length: every item takes at least one
 *   input byte, so items never outgrow min(max_items, len), a declared count
 *   larger than the remaining input is rejected at once, and strbuf (the
 *   concatenated chunks of indefinite strings) is allocated once with
 *   capacity len, so pointers into it stay valid.
 * - Depth counts open arrays, maps and tags, the top-level item being depth 1:
 *   with max_depth 1, [1] is accepted and [[]] is not.
 */
#include "relais/cbor.h"

#include <cbor.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relais/error.h"

#define NONE              SIZE_MAX
#define PARENT_NONE       UINT32_MAX /* `next` of an open top-level container */
#define DEFAULT_MAX_ITEMS 65536
#define DEFAULT_MAX_DEPTH 32
#define DEFAULT_MAX_STR   65536
#define DIAG_MAX_DEPTH    1024 /* recursion bound of relais_cbor_diag() */

struct cbor_dec {
    struct relais_cbor_doc *doc;
    const uint8_t *buf;
    size_t len;
    size_t pos; /* offset of the head being processed */
    size_t max_items, max_string;
    unsigned max_depth, depth;
    size_t top;                 /* innermost open array, map or tag, or NONE */
    size_t chunked;             /* indefinite-length string being assembled, or NONE */
    bool done;                  /* the top-level item is complete */
    struct relais_cbor_item ev; /* the head just read */
    size_t ev_size;             /* definite array/map: declared count */
    bool ev_break;
    struct relais_cbor_error *err;
};

static int fail(struct cbor_dec *d, int rc, size_t offset, const char *message)
{
    if (d->err) {
        d->err->offset = offset;
        d->err->message = message;
    }
    return rc;
}

/* libcbor callbacks: each records the head it decoded into d->ev. */
static struct cbor_dec *ev(void *ctx, enum relais_cbor_type type)
{
    struct cbor_dec *d = ctx;

    d->ev.type = (uint8_t)type;
    return d;
}

#define CB0(name, type, stmt)                                                                      \
    static void name(void *ctx)                                                                    \
    {                                                                                              \
        struct cbor_dec *d = ev(ctx, type);                                                        \
        stmt;                                                                                      \
    }
#define CB1(name, T, type, stmt)                                                                   \
    static void name(void *ctx, T v)                                                               \
    {                                                                                              \
        struct cbor_dec *d = ev(ctx, type);                                                        \
        stmt;                                                                                      \
    }
CB1(on_uint8, uint8_t, RELAIS_CBOR_UINT, d->ev.v.u = v)
CB1(on_uint16, uint16_t, RELAIS_CBOR_UINT, d->ev.v.u = v)
CB1(on_uint32, uint32_t, RELAIS_CBOR_UINT, d->ev.v.u = v)
CB1(on_uint64, uint64_t, RELAIS_CBOR_UINT, d->ev.v.u = v)
CB1(on_negint8, uint8_t, RELAIS_CBOR_NEGINT, d->ev.v.u = v)
CB1(on_negint16, uint16_t, RELAIS_CBOR_NEGINT, d->ev.v.u = v)
CB1(on_negint32, uint32_t, RELAIS_CBOR_NEGINT, d->ev.v.u = v)
CB1(on_negint64, uint64_t, RELAIS_CBOR_NEGINT, d->ev.v.u = v)
CB1(on_tag, uint64_t, RELAIS_CBOR_TAG, d->ev.v.u = v)
CB0(on_bytes_start, RELAIS_CBOR_BYTES, d->ev.indefinite = 1)
CB0(on_text_start, RELAIS_CBOR_TEXT, d->ev.indefinite = 1)
CB1(on_array, size_t, RELAIS_CBOR_ARRAY, d->ev_size = v)
CB1(on_map, size_t, RELAIS_CBOR_MAP, d->ev_size = v)
CB0(on_indef_array, RELAIS_CBOR_ARRAY, d->ev.indefinite = 1)
CB0(on_indef_map, RELAIS_CBOR_MAP, d->ev.indefinite = 1)
CB1(on_float2, float, RELAIS_CBOR_FLOAT, (d->ev.v.f = v, d->ev.float_size = 2))
CB1(on_float4, float, RELAIS_CBOR_FLOAT, (d->ev.v.f = v, d->ev.float_size = 4))
CB1(on_float8, double, RELAIS_CBOR_FLOAT, (d->ev.v.f = v, d->ev.float_size = 8))
CB1(on_bool, bool, RELAIS_CBOR_SIMPLE,
    d->ev.v.u = v ? RELAIS_CBOR_SIMPLE_TRUE : RELAIS_CBOR_SIMPLE_FALSE)
CB0(on_null, RELAIS_CBOR_SIMPLE, d->ev.v.u = RELAIS_CBOR_SIMPLE_NULL)
CB0(on_undefined, RELAIS_CBOR_SIMPLE, d->ev.v.u = RELAIS_CBOR_SIMPLE_UNDEFINED)
CB0(on_break, RELAIS_CBOR_SIMPLE, d->ev_break = true)

static void str_item(void *ctx, enum relais_cbor_type type, cbor_data ptr, size_t len)
{
    struct cbor_dec *d = ev(ctx, type);

    d->ev.v.str.ptr = ptr;
    d->ev.v.str.len = len;
}

static void on_bytes(void *ctx, cbor_data ptr, size_t len)
{
    str_item(ctx, RELAIS_CBOR_BYTES, ptr, len);
}

static void on_text(void *ctx, cbor_data ptr, size_t len)
{
    str_item(ctx, RELAIS_CBOR_TEXT, ptr, len);
}

static const struct cbor_callbacks callbacks = {
    .uint8 = on_uint8,
    .uint16 = on_uint16,
    .uint32 = on_uint32,
    .uint64 = on_uint64,
    .negint8 = on_negint8,
    .negint16 = on_negint16,
    .negint32 = on_negint32,
    .negint64 = on_negint64,
    .byte_string = on_bytes,
    .byte_string_start = on_bytes_start,
    .string = on_text,
    .string_start = on_text_start,
    .array_start = on_array,
    .indef_array_start = on_indef_array,
    .map_start = on_map,
    .indef_map_start = on_indef_map,
    .tag = on_tag,
    .float2 = on_float2,
    .float4 = on_float4,
    .float8 = on_float8,
    .boolean = on_bool,
    .null = on_null,
    .undefined = on_undefined,
    .indef_break = on_break,
};

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        size_t need;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1fu, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            need = 2, cp = c & 0x0fu, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < need) return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += need + 1;
    }
    return true;
}

/* Reads the head at d->pos into d->ev; *hlen is its size including string data. */
static int read_head(struct cbor_dec *d, size_t *hlen)
{
    const uint8_t *p = d->buf + d->pos;
    size_t avail = d->len - d->pos;
    struct cbor_decoder_result r;

    memset(&d->ev, 0, sizeof d->ev);
    d->ev_size = 0;
    d->ev_break = false;
    *hlen = 1;
    if (p[0] >= 0xe0 && p[0] <= 0xf3) { /* simple(0..19): libcbor 0.8 rejects them */
        d->ev.type = RELAIS_CBOR_SIMPLE;
        d->ev.v.u = p[0] - 0xe0u;
        return RELAIS_OK;
    }
    if (p[0] >= 0xc6 && p[0] <= 0xd4) { /* tags 6..20: likewise */
        d->ev.type = RELAIS_CBOR_TAG;
        d->ev.v.u = p[0] - 0xc0u;
        return RELAIS_OK;
    }
    if (p[0] == 0xf8) { /* simple(32..255) */
        if (avail < 2) return fail(d, RELAIS_EPARSE, d->pos, "truncated data item");
        if (p[1] < 0x20) {
            return fail(d, RELAIS_EPARSE, d->pos, "reserved two-byte encoding of simple value");
        }
        d->ev.type = RELAIS_CBOR_SIMPLE;
        d->ev.v.u = p[1];
        *hlen = 2;
        return RELAIS_OK;
    }
    r = cbor_stream_decode(p, avail, &callbacks, d);
    if (r.status == CBOR_DECODER_NEDATA) {
        return fail(d, RELAIS_EPARSE, d->pos, "truncated data item");
    }
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || r.read > avail) {
        return fail(d, RELAIS_EPARSE, d->pos, "reserved or malformed initial byte");
    }
    /* Defensive: a definite string must lie inside this head. */
    if ((d->ev.type == RELAIS_CBOR_BYTES || d->ev.type == RELAIS_CBOR_TEXT) && !d->ev.indefinite &&
        (d->ev.v.str.ptr < p || d->ev.v.str.len > (size_t)(p + r.read - d->ev.v.str.ptr))) {
        return fail(d, RELAIS_EINTERNAL, d->pos, "string outside its data item");
    }
    *hlen = r.read;
    return RELAIS_OK;
}

/* Appends d->ev to the items, growing the array by doubling within limits. */
static int add_item(struct cbor_dec *d, size_t *idx)
{
    struct relais_cbor_doc *doc = d->doc;

    if (doc->count >= d->max_items) {
        return fail(d, RELAIS_ETOOBIG, d->pos, "too many data items");
    }
    if (doc->count == doc->cap) {
        /* count < max_items and count <= pos < len, so the new cap > count */
        size_t cap = doc->cap ? doc->cap * 2 : 16;
        size_t bound = d->max_items < d->len ? d->max_items : d->len;
        struct relais_cbor_item *items;

        if (cap > bound) cap = bound;
        if (cap > SIZE_MAX / sizeof *items) return fail(d, RELAIS_ENOMEM, d->pos, "out of memory");
        items = realloc(doc->items, cap * sizeof *items);
        if (!items) return fail(d, RELAIS_ENOMEM, d->pos, "out of memory");
        doc->items = items;
        doc->cap = cap;
    }
    *idx = doc->count++;
    doc->items[*idx] = d->ev;
    return RELAIS_OK;
}

/* Closes the innermost open container p: its parent becomes the innermost. */
static void pop(struct cbor_dec *d, const struct relais_cbor_item *p)
{
    d->top = p->next == PARENT_NONE ? NONE : p->next;
    d->depth--;
}

/* Item idx and its subtree are complete: record where it ends and count it in
 * its parent, closing every container this completes. */
static void finish(struct cbor_dec *d, size_t idx)
{
    struct relais_cbor_item *items = d->doc->items;

    for (;;) {
        struct relais_cbor_item *p;

        items[idx].next = (uint32_t)d->doc->count;
        if (d->top == NONE) {
            d->done = true;
            return;
        }
        p = &items[d->top];
        if (p->type != RELAIS_CBOR_TAG) { /* a tag closes with its only child */
            uint64_t want = (uint64_t)p->count * (p->type == RELAIS_CBOR_MAP ? 2 : 1);

            p->v.u++;
            if (p->indefinite || p->v.u < want) return;
            p->v.u = 0;
        }
        idx = d->top;
        pop(d, p);
    }
}

static int on_break_head(struct cbor_dec *d)
{
    struct relais_cbor_item *p;
    size_t idx = d->top;

    if (idx == NONE) {
        return fail(d, RELAIS_EPARSE, d->pos, "break outside an indefinite-length item");
    }
    p = &d->doc->items[idx];
    if (p->type == RELAIS_CBOR_TAG) return fail(d, RELAIS_EPARSE, d->pos, "break in a tag");
    if (!p->indefinite) {
        return fail(d, RELAIS_EPARSE, d->pos, "break in a definite-length array or map");
    }
    if (p->type == RELAIS_CBOR_MAP && (p->v.u & 1)) {
        return fail(d, RELAIS_EPARSE, d->pos, "break in a map value position");
    }
    /* v.u <= count of items <= max_items <= UINT32_MAX */
    p->count = (uint32_t)(p->type == RELAIS_CBOR_MAP ? p->v.u / 2 : p->v.u);
    p->v.u = 0;
    pop(d, p);
    finish(d, idx);
    return RELAIS_OK;
}

/* A head inside an indefinite-length string: a definite chunk or the break. */
static int on_chunk(struct cbor_dec *d)
{
    struct relais_cbor_doc *doc = d->doc;
    struct relais_cbor_item *s = &doc->items[d->chunked];
    size_t n = d->ev.v.str.len;

    if (d->ev_break) {
        size_t idx = d->chunked;

        d->chunked = NONE;
        finish(d, idx);
        return RELAIS_OK;
    }
    if (d->ev.type != s->type) {
        return fail(d, RELAIS_EPARSE, d->pos, "indefinite-length string chunk of the wrong type");
    }
    if (d->ev.indefinite) {
        return fail(d, RELAIS_EPARSE, d->pos, "indefinite-length string chunk not definite");
    }
    if (n > d->max_string - s->v.str.len) {
        return fail(d, RELAIS_ETOOBIG, d->pos, "string too long");
    }
    if (n > doc->strbuf_cap - doc->strbuf_len) { /* chunks are input bytes: cannot happen */
        return fail(d, RELAIS_EINTERNAL, d->pos, "string buffer overflow");
    }
    if (n) memcpy(doc->strbuf + doc->strbuf_len, d->ev.v.str.ptr, n);
    doc->strbuf_len += n;
    s->v.str.len += n;
    return RELAIS_OK;
}

static int open_chunked(struct cbor_dec *d, size_t idx)
{
    struct relais_cbor_doc *doc = d->doc;

    if (doc->strbuf_cap < d->len) {
        free(doc->strbuf);
        doc->strbuf_cap = 0;
        doc->strbuf = malloc(d->len);
        if (!doc->strbuf) return fail(d, RELAIS_ENOMEM, d->pos, "out of memory");
        doc->strbuf_cap = d->len;
    }
    doc->items[idx].v.str.ptr = doc->strbuf + doc->strbuf_len;
    doc->items[idx].v.str.len = 0;
    d->chunked = idx;
    return RELAIS_OK;
}

/* Checks the head in d->ev (hlen bytes at d->pos) and adds it to the tree. */
static int on_head(struct cbor_dec *d, size_t hlen)
{
    struct relais_cbor_item *e = &d->ev;
    size_t rest = d->len - d->pos - hlen; /* input left after this head */
    bool container = e->type == RELAIS_CBOR_ARRAY || e->type == RELAIS_CBOR_MAP;
    size_t idx;
    int rc;

    if ((e->type == RELAIS_CBOR_BYTES || e->type == RELAIS_CBOR_TEXT) && !e->indefinite) {
        if (e->v.str.len > d->max_string) {
            return fail(d, RELAIS_ETOOBIG, d->pos, "string too long");
        }
        if (e->type == RELAIS_CBOR_TEXT && !utf8_valid(e->v.str.ptr, e->v.str.len)) {
            return fail(d, RELAIS_EPARSE, d->pos, "invalid UTF-8 in text string");
        }
    }
    if (d->chunked != NONE) return on_chunk(d);
    if (d->ev_break) return on_break_head(d);
    if (container && !e->indefinite) {
        /* each item takes at least one byte: check before trusting the count */
        if (d->ev_size > (e->type == RELAIS_CBOR_MAP ? rest / 2 : rest)) {
            return fail(d, RELAIS_EPARSE, d->pos, "declared count exceeds the input");
        }
        if (d->ev_size > d->max_items) {
            return fail(d, RELAIS_ETOOBIG, d->pos, "too many data items");
        }
        e->count = (uint32_t)d->ev_size; /* <= max_items <= UINT32_MAX */
    }
    if (container || e->type == RELAIS_CBOR_TAG) {
        if (d->depth >= d->max_depth) return fail(d, RELAIS_ETOOBIG, d->pos, "nesting too deep");
        e->count = e->type == RELAIS_CBOR_TAG ? 1 : e->count;
    }
    rc = add_item(d, &idx);
    if (rc) return rc;
    if ((e->type == RELAIS_CBOR_BYTES || e->type == RELAIS_CBOR_TEXT) && e->indefinite) {
        return open_chunked(d, idx);
    }
    if ((container || e->type == RELAIS_CBOR_TAG) && (e->indefinite || e->count > 0)) {
        d->doc->items[idx].next = d->top == NONE ? PARENT_NONE : (uint32_t)d->top;
        d->top = idx;
        d->depth++;
        return RELAIS_OK;
    }
    finish(d, idx);
    return RELAIS_OK;
}

void relais_cbor_doc_init(struct relais_cbor_doc *doc)
{
    memset(doc, 0, sizeof *doc);
}

void relais_cbor_doc_cleanup(struct relais_cbor_doc *doc)
{
    if (!doc) return;
    free(doc->items);
    free(doc->strbuf);
    memset(doc, 0, sizeof *doc);
}

int relais_cbor_decode(struct relais_cbor_doc *doc, const uint8_t *buf, size_t len,
                       const struct relais_cbor_limits *lim, struct relais_cbor_error *err)
{
    struct cbor_dec d = {
        .doc = doc,
        .buf = buf,
        .len = len,
        .max_items = lim ? lim->max_items : DEFAULT_MAX_ITEMS,
        .max_string = lim ? lim->max_string : DEFAULT_MAX_STR,
        .max_depth = lim ? lim->max_depth : DEFAULT_MAX_DEPTH,
        .top = NONE,
        .chunked = NONE,
        .err = err,
    };
    int rc = RELAIS_EINTERNAL;

    if (err) {
        err->offset = 0;
        err->message = NULL;
    }
    if (!doc || (!buf && len)) return fail(&d, RELAIS_EINVAL, 0, "invalid argument");
    doc->count = 0;
    doc->strbuf_len = 0;
    if (d.max_items > UINT32_MAX - 1) d.max_items = UINT32_MAX - 1; /* indices are uint32_t */
    if (len == 0) {
        rc = fail(&d, RELAIS_EPARSE, 0, "empty input");
        goto out;
    }
    while (!d.done && d.pos < len) {
        size_t hlen;

        rc = read_head(&d, &hlen);
        if (rc) goto out;
        rc = on_head(&d, hlen);
        if (rc) goto out;
        d.pos += hlen;
    }
    if (!d.done) {
        rc = fail(&d, RELAIS_EPARSE, len, "end of input inside an unfinished data item");
    } else if (d.pos != len) {
        rc = fail(&d, RELAIS_EPARSE, d.pos, "trailing bytes after the data item");
    } else {
        rc = RELAIS_OK;
    }
out:
    if (rc) {
        doc->count = 0;
        doc->strbuf_len = 0;
    }
    return rc;
}

/* Diagnostic notation. */
struct diag_out {
    char *p;
    size_t cap, len; /* len < cap always: room for the NUL */
    bool full;
};

static void put(struct diag_out *o, const char *s, size_t n)
{
    if (o->full || n >= o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(struct diag_out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_u64(struct diag_out *o, uint64_t v)
{
    char b[24];

    snprintf(b, sizeof b, "%" PRIu64, v);
    put_str(o, b);
}

/* Shortest %.Ng that reads back as v; integral values get ".0" (1.0, 1.0e+300).
 * Assumes the C locale's decimal point (relais never calls setlocale). */
static void put_double(struct diag_out *o, double v)
{
    char b[40];
    char *e;

    if (isnan(v) || isinf(v)) {
        put_str(o, isnan(v) ? "NaN" : v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    if (strchr(b, 'e') && v > -1e17 && v < 1e17 && (double)(int64_t)v == v) {
        snprintf(b, sizeof b, "%.17g", v); /* 100000.0, not 1.0e+05 */
    }
    e = strchr(b, 'e');
    if (strchr(b, '.')) {
        put_str(o, b);
    } else if (!e) {
        put_str(o, b);
        put_str(o, ".0");
    } else {
        put(o, b, (size_t)(e - b));
        put_str(o, ".0");
        put_str(o, e);
    }
}

/* A JSON string literal; s is valid UTF-8, written as is. */
static void put_text(struct diag_out *o, const uint8_t *s, size_t n)
{
    static const char ctl[] = "\b\f\n\r\t\"\\", rep[] = "bfnrt\"\\";

    put_str(o, "\"");
    for (size_t i = 0; i < n; i++) {
        const char *q = s[i] ? strchr(ctl, s[i]) : NULL;
        char b[8];

        if (q) {
            b[0] = '\\', b[1] = rep[q - ctl];
            put(o, b, 2);
        } else if (s[i] < 0x20) {
            snprintf(b, sizeof b, "\\u%04x", s[i]);
            put_str(o, b);
        } else {
            put(o, (const char *)s + i, 1);
        }
    }
    put_str(o, "\"");
}

static void diag_item(const struct relais_cbor_doc *doc, size_t idx, struct diag_out *o,
                      unsigned depth)
{
    static const char hex[] = "0123456789abcdef";
    static const char *const simple[] = {"false", "true", "null", "undefined"};
    const struct relais_cbor_item *it = &doc->items[idx];
    size_t child = idx + 1, n;

    if (depth > DIAG_MAX_DEPTH) {
        o->full = true;
        return;
    }
    switch (it->type) {
    case RELAIS_CBOR_UINT: put_u64(o, it->v.u); break;
    case RELAIS_CBOR_NEGINT:
        if (it->v.u == UINT64_MAX) {
            put_str(o, "-18446744073709551616");
        } else {
            put_str(o, "-");
            put_u64(o, it->v.u + 1);
        }
        break;
    case RELAIS_CBOR_BYTES:
        put_str(o, "h'");
        for (size_t i = 0; i < it->v.str.len; i++) {
            char b[2] = {hex[it->v.str.ptr[i] >> 4], hex[it->v.str.ptr[i] & 15]};

            put(o, b, 2);
        }
        put_str(o, "'");
        break;
    case RELAIS_CBOR_TEXT: put_text(o, it->v.str.ptr, it->v.str.len); break;
    case RELAIS_CBOR_ARRAY:
    case RELAIS_CBOR_MAP:
    case RELAIS_CBOR_TAG:
        if (it->type == RELAIS_CBOR_TAG) {
            put_u64(o, it->v.u);
            n = 1;
        } else {
            n = it->type == RELAIS_CBOR_MAP ? 2 * (size_t)it->count : it->count;
        }
        put_str(o, it->type == RELAIS_CBOR_ARRAY ? "[" : it->type == RELAIS_CBOR_MAP ? "{" : "(");
        for (size_t i = 0; i < n && !o->full; i++) {
            if (child >= doc->count) {
                o->full = true;
                break;
            }
            if (i) put_str(o, it->type == RELAIS_CBOR_MAP && (i & 1) ? ": " : ", ");
            diag_item(doc, child, o, depth + 1);
            child = doc->items[child].next;
        }
        put_str(o, it->type == RELAIS_CBOR_ARRAY ? "]" : it->type == RELAIS_CBOR_MAP ? "}" : ")");
        break;
    case RELAIS_CBOR_FLOAT: put_double(o, it->v.f); break;
    case RELAIS_CBOR_SIMPLE:
        if (it->v.u >= RELAIS_CBOR_SIMPLE_FALSE && it->v.u <= RELAIS_CBOR_SIMPLE_UNDEFINED) {
            put_str(o, simple[it->v.u - RELAIS_CBOR_SIMPLE_FALSE]);
        } else {
            put_str(o, "simple(");
            put_u64(o, it->v.u);
            put_str(o, ")");
        }
        break;
    default: o->full = true;
    }
}

int relais_cbor_diag(const struct relais_cbor_doc *doc, size_t idx, char *out, size_t cap)
{
    struct diag_out o = {.p = out, .cap = cap};

    if (!doc || !out || cap == 0) return -1;
    if (idx >= doc->count) {
        out[0] = '\0';
        return -1;
    }
    diag_item(doc, idx, &o, 1);
    out[o.len] = '\0';
    return o.full || o.len > INT_MAX ? -1 : (int)o.len;
}
