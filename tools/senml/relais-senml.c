/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relais-senml: the developer's and installer's SenML tool.
 *   relais-senml cbor  < pack.json > pack.cbor   SenML JSON -> SenML CBOR (RFC 8428 labels)
 *   relais-senml check --device ID < pack         decode as relaisd does; print the readings
 *                                                 or the rejection reason (exit 1)
 *   relais-senml diag  < file.cbor                CBOR diagnostic notation
 */
#include "relais/cbor.h"
#include "relais/error.h"
#include "relais/senml.h"
#include "relais/wire.h"

#include <cbor.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t *read_all(FILE *in, size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, in);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            uint8_t *nb = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    *len = n;
    return buf;
}

/* ---- JSON -> CBOR ---- */

struct out {
    unsigned char *p;
    size_t len, cap;
    bool failed;
};

typedef size_t (*enc_fn)(unsigned char *, size_t);

static unsigned char *room(struct out *o, size_t need)
{
    if (o->len + need > o->cap) {
        size_t ncap = (o->cap ? o->cap : 256) * 2 + need;
        unsigned char *np = realloc(o->p, ncap);
        if (!np) {
            o->failed = true;
            return NULL;
        }
        o->p = np;
        o->cap = ncap;
    }
    return o->p + o->len;
}

#define EMIT(o, call)                                                                              \
    do {                                                                                           \
        unsigned char *at_ = room((o), 16);                                                        \
        if (at_) (o)->len += call;                                                                 \
    } while (0)

static void emit_bytes(struct out *o, const void *p, size_t n)
{
    unsigned char *at = room(o, n);
    if (at) {
        memcpy(at, p, n);
        o->len += n;
    }
}

static void emit_int(struct out *o, json_int_t v)
{
    if (v >= 0)
        EMIT(o, cbor_encode_uint((uint64_t)v, at_, 16));
    else
        EMIT(o, cbor_encode_negint((uint64_t)(-1 - v), at_, 16));
}

static void emit_text(struct out *o, const char *s, size_t n)
{
    EMIT(o, cbor_encode_string_start(n, at_, 16));
    emit_bytes(o, s, n);
}

static int b64url(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

static const struct {
    const char *name;
    int label;
} labels[] = {
    {"bver", RELAIS_SENML_BVER}, {"bn", RELAIS_SENML_BN}, {"bt", RELAIS_SENML_BT},
    {"bu", RELAIS_SENML_BU},     {"bv", RELAIS_SENML_BV}, {"bs", RELAIS_SENML_BS},
    {"n", RELAIS_SENML_N},       {"u", RELAIS_SENML_U},   {"v", RELAIS_SENML_V},
    {"vs", RELAIS_SENML_VS},     {"vb", RELAIS_SENML_VB}, {"s", RELAIS_SENML_S},
    {"t", RELAIS_SENML_T},       {"ut", RELAIS_SENML_UT}, {"vd", RELAIS_SENML_VD},
};

static int emit_value(struct out *o, const char *key, json_t *v)
{
    if (strcmp(key, "vd") == 0 && json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s), k = 0;
        unsigned char bytes[512];
        unsigned acc = 0;
        int bits = 0;
        for (size_t i = 0; i < n && k < sizeof bytes; i++) {
            int d = b64url((unsigned char)s[i]);
            if (d < 0) return -1;
            acc = (acc << 6) | (unsigned)d;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                bytes[k++] = (unsigned char)(acc >> bits);
            }
        }
        EMIT(o, cbor_encode_bytestring_start(k, at_, 16));
        emit_bytes(o, bytes, k);
        return 0;
    }
    switch (json_typeof(v)) {
    case JSON_INTEGER: emit_int(o, json_integer_value(v)); return 0;
    case JSON_REAL: EMIT(o, cbor_encode_double(json_real_value(v), at_, 16)); return 0;
    case JSON_STRING: emit_text(o, json_string_value(v), json_string_length(v)); return 0;
    case JSON_TRUE: EMIT(o, cbor_encode_bool(true, at_, 16)); return 0;
    case JSON_FALSE: EMIT(o, cbor_encode_bool(false, at_, 16)); return 0;
    case JSON_NULL: EMIT(o, cbor_encode_null(at_, 16)); return 0;
    default: return -1;
    }
}

static int cmd_cbor(void)
{
    size_t len;
    uint8_t *in = read_all(stdin, &len);
    json_error_t jerr;
    json_t *root = in ? json_loadb((const char *)in, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    free(in);
    if (!root || !json_is_array(root)) {
        fprintf(stderr, "relais-senml: input is not a JSON array%s%s\n", root ? "" : ": ",
                root ? "" : jerr.text);
        json_decref(root);
        return 1;
    }
    struct out o = {0};
    EMIT(&o, cbor_encode_array_start(json_array_size(root), at_, 16));
    size_t i;
    json_t *rec;
    json_array_foreach(root, i, rec)
    {
        if (!json_is_object(rec)) {
            fprintf(stderr, "relais-senml: record %zu is not an object\n", i);
            goto fail;
        }
        EMIT(&o, cbor_encode_map_start(json_object_size(rec), at_, 16));
        const char *key;
        json_t *v;
        json_object_foreach(rec, key, v)
        {
            size_t k;
            for (k = 0; k < sizeof labels / sizeof labels[0]; k++)
                if (strcmp(labels[k].name, key) == 0) break;
            if (k < sizeof labels / sizeof labels[0])
                emit_int(&o, labels[k].label);
            else
                emit_text(&o, key, strlen(key));
            if (emit_value(&o, key, v) != 0) {
                fprintf(stderr, "relais-senml: record %zu: '%s' cannot be converted\n", i, key);
                goto fail;
            }
        }
    }
    if (o.failed) goto fail;
    fwrite(o.p, 1, o.len, stdout);
    free(o.p);
    json_decref(root);
    return fflush(stdout) == 0 ? 0 : 1;
fail:
    free(o.p);
    json_decref(root);
    return 1;
}

/* ---- check ---- */

static int cmd_check(const char *device, int format)
{
    size_t len;
    uint8_t *in = read_all(stdin, &len);
    if (!in) return 1;
    enum relais_senml_format f;
    if (format >= 0)
        f = (enum relais_senml_format)format;
    else if (relais_senml_sniff(in, len, &f) != 0) {
        printf("rejected: unknown_format: first byte 0x%02x\n", len ? in[0] : 0);
        free(in);
        return 1;
    }
    struct relais_pack pack;
    struct relais_senml_error err;
    relais_pack_init(&pack);
    int rc = relais_senml_decode(&pack, f, in, len, device, (double)time(NULL), &err);
    free(in);
    if (rc != RELAIS_OK) {
        printf("rejected: %s: %s\n", relais_reject_reason_name(err.reason), err.detail);
        relais_pack_cleanup(&pack);
        return 1;
    }
    for (size_t i = 0; i < pack.count; i++) {
        const struct relais_reading *r = &pack.readings[i];
        printf("%zu %s", i, r->metric);
        switch (r->kind) {
        case RELAIS_READING_NUMBER: printf(" %.10g", r->value); break;
        case RELAIS_READING_STRING: printf(" \"%s\"", r->str); break;
        case RELAIS_READING_BOOL: printf(" %s", r->boolean ? "true" : "false"); break;
        case RELAIS_READING_DATA: printf(" (%zu bytes)", r->len); break;
        case RELAIS_READING_SUM_ONLY: printf(" -"); break;
        }
        printf(" %s t=%.3f%s%s\n", r->unit, r->time,
               r->time_source == RELAIS_TIME_GATEWAY ? " (gateway time)" : "",
               r->known ? "" : " (not evaluated)");
    }
    relais_pack_cleanup(&pack);
    return 0;
}

static int cmd_diag(void)
{
    size_t len;
    uint8_t *in = read_all(stdin, &len);
    struct relais_cbor_doc doc;
    struct relais_cbor_error err;
    relais_cbor_doc_init(&doc);
    int rc = in ? relais_cbor_decode(&doc, in, len, NULL, &err) : RELAIS_ENOMEM;
    if (rc == RELAIS_OK) {
        size_t cap = 16 * len + 64;
        char *s = malloc(cap);
        if (s && relais_cbor_diag(&doc, 0, s, cap) >= 0)
            printf("%s\n", s);
        else
            rc = RELAIS_ENOMEM;
        free(s);
    } else if (rc == RELAIS_EPARSE || rc == RELAIS_ETOOBIG) {
        printf("not well-formed: byte %zu: %s\n", err.offset, err.message);
    }
    relais_cbor_doc_cleanup(&doc);
    free(in);
    return rc == RELAIS_OK ? 0 : 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: relais-senml cbor < pack.json > pack.cbor\n"
                 "       relais-senml check --device ID [--json|--cbor] < pack\n"
                 "       relais-senml diag < item.cbor\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "cbor") == 0 && argc == 2) return cmd_cbor();
    if (strcmp(argv[1], "diag") == 0 && argc == 2) return cmd_diag();
    if (strcmp(argv[1], "check") == 0) {
        const char *device = NULL;
        int format = -1;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
                device = argv[++i];
            else if (strcmp(argv[i], "--json") == 0)
                format = RELAIS_SENML_JSON;
            else if (strcmp(argv[i], "--cbor") == 0)
                format = RELAIS_SENML_CBOR;
            else {
                usage(stderr);
                return 2;
            }
        }
        if (!device || !relais_wire_id_valid(device, strlen(device))) {
            fprintf(stderr, "relais-senml: --device ID ([a-z0-9][a-z0-9-]{0,31}) is required\n");
            return 2;
        }
        return cmd_check(device, format);
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
