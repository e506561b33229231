/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data-driven test of the CBOR decoder against the vectors in argv[1]
 * (normally /work/shared/testdata/cbor):
 *
 *   malformed.txt        every non-comment line (hex bytes separated by spaces)
 *                        must be rejected with RELAIS_EPARSE, allocating no
 *                        more than the input could hold;
 *   rfc-appendix-a.json  every entry must decode; "decoded" is compared as a
 *                        value, "diagnostic" with relais_cbor_diag() (with
 *                        indefinite-string notation (_ ...) concatenated).
 *
 * jansson cannot hold integers beyond int64 (18446744073709551615), so the file
 * is loaded with JSON_DECODE_INT_AS_REAL for its structure, and each "decoded"
 * value is taken from the raw file text: a bare integer is compared as an
 * exact decimal string, anything else is parsed on its own with jansson.
 * Every failing case is printed; the exit status is nonzero on any failure or
 * when fewer cases were checked than the files hold.
 *
 * The two files disagree on one input: rfc-appendix-a.json (from RFC 7049)
 * lists f818 as simple(24), but RFC 8949 section 3.3 made two-byte simple
 * values below 32 not well-formed, and malformed.txt (RFC 8949 Appendix F.1)
 * lists "f8 18".  RFC 8949 wins: such entries are listed in not_well_formed[]
 * and must be rejected with RELAIS_EPARSE (they still count as checked).
 */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relais/cbor.h"
#include "relais/error.h"

#define MAX_INPUT 4096
#define DIAG_CAP  8192

/* Appendix A entries that RFC 8949 made not well-formed. */
static const char *const not_well_formed[] = {
    "f818", /* simple(24) in RFC 7049; a reserved two-byte simple value in RFC 8949 */
};

static bool is_not_well_formed(const char *hex)
{
    for (size_t i = 0; i < sizeof not_well_formed / sizeof *not_well_formed; i++) {
        if (strcmp(hex, not_well_formed[i]) == 0) return true;
    }
    return false;
}

static char *read_text(const char *dir, const char *name)
{
    char path[4096];
    FILE *fp;
    char *text = NULL;
    long size;

    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return NULL;
    fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return NULL;
    }
    if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
        text = malloc((size_t)size + 1);
        if (text && fread(text, 1, (size_t)size, fp) == (size_t)size) {
            text[size] = '\0';
        } else {
            free(text);
            text = NULL;
        }
    }
    fclose(fp);
    return text;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses hex digit pairs, optionally separated by single spaces; -1 if malformed. */
static long parse_hex(const char *s, size_t n, uint8_t *out, size_t cap)
{
    size_t len = 0;

    for (size_t i = 0; i < n;) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        if (i + 1 >= n || hexval(s[i]) < 0 || hexval(s[i + 1]) < 0 || len == cap) return -1;
        out[len++] = (uint8_t)(hexval(s[i]) << 4 | hexval(s[i + 1]));
        i += 2;
    }
    return (long)len;
}

/* Decodes into a fresh doc from an exactly-sized copy (so ASan sees over-reads). */
static int decode_copy(struct relais_cbor_doc *doc, const uint8_t *bytes, size_t len,
                       uint8_t **copy, struct relais_cbor_error *err)
{
    *copy = malloc(len ? len : 1);
    if (!*copy) return RELAIS_ENOMEM;
    if (len) memcpy(*copy, bytes, len);
    return relais_cbor_decode(doc, *copy, len, NULL, err);
}

static int check_malformed(const char *dir, size_t *checked)
{
    char *text = read_text(dir, "malformed.txt");
    size_t lines = 0, failures = 0;
    char *line, *end;

    if (!text) return 1;
    for (line = text; *line; line = *end ? end + 1 : end) {
        struct relais_cbor_doc doc;
        struct relais_cbor_error err = {0};
        uint8_t bytes[MAX_INPUT], *copy = NULL;
        size_t n;
        long len;
        int rc;

        end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        n = (size_t)(end - line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
            n--;
        if (n == 0 || line[0] == '#') continue;
        lines++;
        len = parse_hex(line, n, bytes, sizeof bytes);
        if (len < 0) {
            printf("FAIL malformed.txt: unparsable line \"%.*s\"\n", (int)n, line);
            failures++;
            continue;
        }
        relais_cbor_doc_init(&doc);
        rc = decode_copy(&doc, bytes, (size_t)len, &copy, &err);
        if (rc != RELAIS_EPARSE) {
            printf("FAIL malformed.txt \"%.*s\": rc %d (%s), want RELAIS_EPARSE\n", (int)n, line,
                   rc, relais_strerror(rc));
            failures++;
        } else if (doc.cap > (size_t)len || doc.strbuf_cap > (size_t)len || !err.message) {
            printf("FAIL malformed.txt \"%.*s\": allocated %zu items, %zu string bytes\n", (int)n,
                   line, doc.cap, doc.strbuf_cap);
            failures++;
        } else {
            (*checked)++;
        }
        relais_cbor_doc_cleanup(&doc);
        free(copy);
    }
    printf("malformed.txt: %zu of %zu lines rejected as malformed\n", *checked, lines);
    free(text);
    return failures || *checked != lines || lines == 0;
}

/* Raw JSON scanning, to take "decoded" values from the file text. */
static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *skip_string(const char *p)
{
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) p++;
    }
    return *p ? p + 1 : NULL;
}

static const char *skip_value(const char *p)
{
    int depth = 0;

    if (*p == '"') return skip_string(p);
    if (*p != '[' && *p != '{') {
        while (*p && !strchr(",]} \t\r\n", *p))
            p++;
        return p;
    }
    do {
        if (*p == '"') {
            p = skip_string(p);
            if (!p) return NULL;
            continue;
        }
        if (*p == '[' || *p == '{') depth++;
        if (*p == ']' || *p == '}') depth--;
        p++;
    } while (depth > 0 && *p);
    return depth ? NULL : p;
}

struct span {
    const char *p;
    size_t n; /* 0: no "decoded" */
};

/* Finds the raw "decoded" value of each element of the top-level array. */
static long scan_decoded(const char *text, struct span *spans, size_t max)
{
    const char *p = skip_ws(text);
    size_t count = 0;

    if (*p++ != '[') return -1;
    for (p = skip_ws(p); *p != ']'; p = skip_ws(p)) {
        if (*p != '{' || count == max) return -1;
        spans[count] = (struct span){0};
        for (p = skip_ws(p + 1); *p != '}'; p = skip_ws(p)) {
            const char *key = p, *value;

            if (*p != '"' || !(p = skip_string(p))) return -1;
            p = skip_ws(p);
            if (*p++ != ':') return -1;
            value = skip_ws(p);
            if (!(p = skip_value(value))) return -1;
            if (strncmp(key, "\"decoded\"", 9) == 0) {
                spans[count] = (struct span){value, (size_t)(p - value)};
            }
            p = skip_ws(p);
            if (*p == ',') p++;
        }
        count++;
        p = skip_ws(p + 1);
        if (*p == ',') p++;
    }
    return (long)count;
}

/* Exact decimal of -(mag + 1) when neg, else mag; mag is big-endian. */
static bool to_decimal(const uint8_t *mag, size_t n, bool neg, char *out, size_t cap)
{
    uint8_t dig[200] = {0}; /* base 10, least significant first */
    size_t nd = 1, k = 0, o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned carry = mag[i];

        for (size_t j = 0; j < nd; j++) {
            unsigned v = dig[j] * 256u + carry;

            dig[j] = (uint8_t)(v % 10);
            carry = v / 10;
        }
        for (; carry; carry /= 10) {
            if (nd == sizeof dig) return false;
            dig[nd++] = (uint8_t)(carry % 10);
        }
    }
    if (neg) {
        while (k < nd && dig[k] == 9)
            dig[k++] = 0;
        if (k == nd && nd == sizeof dig) return false;
        dig[k]++;
        if (k == nd) nd++;
    }
    while (nd > 1 && dig[nd - 1] == 0)
        nd--;
    if (nd + 2 > cap) return false;
    if (neg) out[o++] = '-';
    while (nd)
        out[o++] = (char)('0' + dig[--nd]);
    out[o] = '\0';
    return true;
}

/* Item idx as an exact decimal: an integer, or a bignum (tag 2/3 of a byte string). */
static bool item_decimal(const struct relais_cbor_doc *doc, size_t idx, char *out, size_t cap)
{
    const struct relais_cbor_item *it = &doc->items[idx];
    uint8_t be[8];

    if (it->type == RELAIS_CBOR_UINT || it->type == RELAIS_CBOR_NEGINT) {
        for (int i = 0; i < 8; i++)
            be[i] = (uint8_t)(it->v.u >> (56 - 8 * i));
        return to_decimal(be, 8, it->type == RELAIS_CBOR_NEGINT, out, cap);
    }
    if (it->type == RELAIS_CBOR_TAG && (it->v.u == 2 || it->v.u == 3) && idx + 1 < doc->count &&
        doc->items[idx + 1].type == RELAIS_CBOR_BYTES) {
        return to_decimal(doc->items[idx + 1].v.str.ptr, doc->items[idx + 1].v.str.len,
                          it->v.u == 3, out, cap);
    }
    return false;
}

static bool is_text(const struct relais_cbor_item *it, const char *s, size_t n)
{
    return it->type == RELAIS_CBOR_TEXT && it->v.str.len == n && memcmp(it->v.str.ptr, s, n) == 0;
}

static bool is_simple(const struct relais_cbor_item *it, uint64_t v)
{
    return it->type == RELAIS_CBOR_SIMPLE && it->v.u == v;
}

/* Does item idx equal the JSON value j?  Map keys must be text. */
static bool equal_json(const struct relais_cbor_doc *doc, size_t idx, const json_t *j)
{
    const struct relais_cbor_item *it = &doc->items[idx];
    char want[32], got[128];
    size_t child = idx + 1;

    switch (json_typeof(j)) {
    case JSON_INTEGER:
        snprintf(want, sizeof want, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return item_decimal(doc, idx, got, sizeof got) && strcmp(got, want) == 0;
    case JSON_REAL:
        return it->type == RELAIS_CBOR_FLOAT && it->v.f == json_real_value(j) &&
               !signbit(it->v.f) == !signbit(json_real_value(j));
    case JSON_STRING: return is_text(it, json_string_value(j), json_string_length(j));
    case JSON_TRUE: return is_simple(it, RELAIS_CBOR_SIMPLE_TRUE);
    case JSON_FALSE: return is_simple(it, RELAIS_CBOR_SIMPLE_FALSE);
    case JSON_NULL: return is_simple(it, RELAIS_CBOR_SIMPLE_NULL);
    case JSON_ARRAY:
        if (it->type != RELAIS_CBOR_ARRAY || it->count != json_array_size(j)) return false;
        for (size_t i = 0; i < it->count; i++, child = doc->items[child].next) {
            if (!equal_json(doc, child, json_array_get(j, i))) return false;
        }
        return true;
    case JSON_OBJECT: {
        const char *key;
        const json_t *value;
        size_t matched = 0;

        if (it->type != RELAIS_CBOR_MAP || it->count != json_object_size(j)) return false;
        for (size_t i = 0; i < it->count; i++) {
            const struct relais_cbor_item *k = &doc->items[child];
            size_t vidx = k->next;
            const json_t *v;

            if (k->type != RELAIS_CBOR_TEXT) return false;
            v = json_object_getn(j, (const char *)k->v.str.ptr, k->v.str.len);
            if (!v || !equal_json(doc, vidx, v)) return false;
            child = doc->items[vidx].next;
        }
        /* and every JSON key is a CBOR key (no duplicates standing in for others) */
        json_object_foreach((json_t *)(uintptr_t)j, key, value)
        {
            child = idx + 1;
            for (size_t i = 0; i < it->count; i++) {
                if (is_text(&doc->items[child], key, strlen(key))) {
                    matched++;
                    break;
                }
                child = doc->items[doc->items[child].next].next;
            }
            (void)value;
        }
        return matched == it->count;
    }
    }
    return false;
}

/* Compares the top-level item with the raw JSON text of "decoded". */
static bool equal_raw(const struct relais_cbor_doc *doc, const char *raw, size_t n, char *why,
                      size_t whycap)
{
    char got[128];
    json_error_t jerr;
    json_t *j;
    bool eq;
    size_t i = raw[0] == '-';

    while (i < n && raw[i] >= '0' && raw[i] <= '9')
        i++;
    if (i == n && n > (size_t)(raw[0] == '-')) { /* a bare integer, possibly beyond int64 */
        if (!item_decimal(doc, 0, got, sizeof got)) {
            snprintf(why, whycap, "not an integer or bignum");
            return false;
        }
        snprintf(why, whycap, "got %s", got);
        return strlen(got) == n && memcmp(got, raw, n) == 0;
    }
    j = json_loadb(raw, n, JSON_DECODE_ANY, &jerr);
    if (!j) {
        snprintf(why, whycap, "jansson: %s", jerr.text);
        return false;
    }
    eq = equal_json(doc, 0, j);
    json_decref(j);
    snprintf(why, whycap, "value differs");
    return eq;
}

/*
 * Rewrites indefinite-string notation, (_ h'0102', h'03') or (_ "ab", "c"),
 * as its concatenated value, h'010203' or "abc", which is what
 * relais_cbor_diag() writes.  Returns false if out is too small or a (_ is
 * not a list of string chunks.
 */
static bool concat_chunks(const char *in, char *out, size_t cap)
{
    size_t o = 0;

    while (*in) {
        if (*in == '"') { /* copy a string literal whole */
            const char *e = skip_string(in);

            if (!e || (size_t)(e - in) >= cap - o) return false;
            memcpy(out + o, in, (size_t)(e - in));
            o += (size_t)(e - in);
            in = e;
            continue;
        }
        if (strncmp(in, "(_ ", 3) == 0) {
            char kind = in[3] == 'h' ? '\'' : '"';

            if (cap - o < 4) return false;
            if (kind == '\'') out[o++] = 'h';
            out[o++] = kind;
            for (in += 3;; in += 2) {
                const char *s = kind == '\'' ? in + 2 : in + 1;
                const char *e = kind == '\'' ? strchr(s, '\'') : skip_string(in);

                if ((kind == '\'' && strncmp(in, "h'", 2) != 0) || (kind == '"' && *in != '"') ||
                    !e) {
                    return false;
                }
                if (kind == '"') e--;                            /* at the closing quote */
                if (cap - o < (size_t)(e - s) + 3) return false; /* chunk, quote, NUL */
                memcpy(out + o, s, (size_t)(e - s));
                o += (size_t)(e - s);
                in = e + 1;
                if (*in == ')') break;
                if (strncmp(in, ", ", 2) != 0) return false;
            }
            in++;
            out[o++] = kind;
            continue;
        }
        if (cap - o < 2) return false;
        out[o++] = *in++;
    }
    out[o] = '\0';
    return true;
}

static int check_appendix_a(const char *dir, size_t *checked)
{
    char path[4096];
    char *text = read_text(dir, "rfc-appendix-a.json");
    json_error_t jerr;
    json_t *root = NULL;
    struct span *spans = NULL;
    size_t entries = 0, failures = 0, n_decoded = 0, n_diag = 0, n_rejected = 0;
    long raw_entries;
    int rc = 1;

    if (!text) goto out;
    snprintf(path, sizeof path, "%s/rfc-appendix-a.json", dir);
    root = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root || !json_is_array(root)) {
        printf("FAIL %s:%d: %s\n", path, jerr.line, root ? "not an array" : jerr.text);
        goto out;
    }
    entries = json_array_size(root);
    spans = calloc(entries + 1, sizeof *spans);
    if (!spans) goto out;
    raw_entries = scan_decoded(text, spans, entries);
    if (raw_entries < 0 || (size_t)raw_entries != entries) {
        printf("FAIL %s: raw scan found %ld entries, jansson %zu\n", path, raw_entries, entries);
        goto out;
    }
    for (size_t i = 0; i < entries; i++) {
        const json_t *e = json_array_get(root, i);
        const char *hex = json_string_value(json_object_get(e, "hex"));
        const char *want = json_string_value(json_object_get(e, "diagnostic"));
        struct relais_cbor_doc doc;
        struct relais_cbor_error err = {0};
        uint8_t bytes[MAX_INPUT], *copy = NULL;
        char diag[DIAG_CAP], expect[DIAG_CAP], why[256] = "";
        long len = hex ? parse_hex(hex, strlen(hex), bytes, sizeof bytes) : -1;
        int drc;
        bool ok = false;

        relais_cbor_doc_init(&doc);
        if (len < 0) {
            snprintf(why, sizeof why, "no usable \"hex\"");
        } else if (is_not_well_formed(hex)) {
            drc = decode_copy(&doc, bytes, (size_t)len, &copy, &err);
            ok = drc == RELAIS_EPARSE;
            snprintf(why, sizeof why, "rc %d, want RELAIS_EPARSE (not well-formed in RFC 8949)",
                     drc);
            if (ok)
                printf("note: rfc-appendix-a.json #%zu hex %s rejected: %s\n", i, hex, err.message);
            n_rejected += ok;
        } else if ((drc = decode_copy(&doc, bytes, (size_t)len, &copy, &err)) != RELAIS_OK) {
            snprintf(why, sizeof why, "decode: %s at %zu: %s", relais_strerror(drc), err.offset,
                     err.message ? err.message : "?");
        } else if (relais_cbor_diag(&doc, 0, diag, sizeof diag) < 0) {
            snprintf(why, sizeof why, "relais_cbor_diag failed");
        } else if (spans[i].n) {
            ok = equal_raw(&doc, spans[i].p, spans[i].n, why, sizeof why);
            n_decoded += ok;
        } else if (want) {
            ok = concat_chunks(want, expect, sizeof expect) && strcmp(diag, expect) == 0;
            snprintf(why, sizeof why, "diagnostic %.100s, want %.100s", diag, want);
            n_diag += ok;
        } else {
            snprintf(why, sizeof why, "entry has neither \"decoded\" nor \"diagnostic\"");
        }
        if (ok) {
            (*checked)++;
        } else {
            printf("FAIL rfc-appendix-a.json #%zu hex %s (decoded %.*s): %s\n", i, hex ? hex : "?",
                   (int)spans[i].n, spans[i].p ? spans[i].p : "", why);
            failures++;
        }
        relais_cbor_doc_cleanup(&doc);
        free(copy);
    }
    rc = failures || *checked != entries || entries == 0;
out:
    printf("rfc-appendix-a.json: %zu of %zu entries match (%zu by value, %zu by diagnostic, "
           "%zu rejected as not well-formed in RFC 8949)\n",
           *checked, entries, n_decoded, n_diag, n_rejected);
    free(spans);
    json_decref(root);
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    size_t malformed = 0, appendix = 0;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (holding malformed.txt and rfc-appendix-a.json)\n", argv[0]);
        return 2;
    }
    rc = check_malformed(argv[1], &malformed);
    rc |= check_appendix_a(argv[1], &appendix);
    printf("%s: %zu cases checked\n", rc ? "FAILED" : "PASSED", malformed + appendix);
    return rc ? 1 : 0;
}
