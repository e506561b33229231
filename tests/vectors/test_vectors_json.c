/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data-driven test of SenML JSON decoding against the JSONTestSuite parsing
 * corpus in argv[1] (normally /work/shared/testdata/jsontestsuite/test_parsing),
 * each file taken as the whole body of an uplink:
 *
 *   n_*.json  not JSON: relais_senml_decode(JSON) must reject it (any reason);
 *   y_*.json  JSON: it must never be rejected as malformed_json.  It either
 *             decodes (when it happens to be a SenML pack: printed) or is
 *             rejected with a SenML-level reason (not_senml, empty_pack, ...);
 *             duplicate_key only when the file really holds a duplicate key
 *             (told by jansson without JSON_REJECT_DUPLICATES, an oracle
 *             independent of relais), since DESIGN 3.2 rejects those;
 *   i_*.json  implementation-defined: must not crash; the outcome is printed.
 *
 * Every file also goes through the gateway's full path: relais_senml_sniff(),
 * then a decode in the sniffed format (CBOR when the first byte says so); n_
 * files must be rejected there too, and a file sniffed as JSON must get the
 * same outcome as the direct decode.  Every file is decoded as CBOR as well
 * (CoAP's content-format may say so): it must not crash.  Every y_ file is
 * also embedded as the value of an ignored field of a valid record
 * ([{"n":"x","v":1,"ext":FILE}]): never malformed_json, and accepted when
 * the file is a scalar.
 *
 * One struct relais_pack is reused for every decode.  Inputs are exactly-sized
 * heap copies, so ASan sees any read past the end.
 *
 * The number of files seen per class must equal the JSONTestSuite's
 * (95 y_, 188 n_, 35 i_; the README's 318 cases), and every file listed must
 * have been checked, so the test cannot pass on an empty or partial directory.
 * Every violation is printed with the file name and the reason; the exit
 * status is 1 on any violation, 2 on a usage or I/O error.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relais/error.h"
#include "relais/senml.h"

#define DEVICE "dev-1"
#define NOW    1795000000.0

enum cls { CLS_Y, CLS_N, CLS_I, CLS_COUNT };

static const char *const cls_prefix[CLS_COUNT] = {"y_", "n_", "i_"};
/* The JSONTestSuite test_parsing corpus as shipped in /work/shared/testdata. */
static const size_t cls_expected[CLS_COUNT] = {95, 188, 35};

struct run {
    struct relais_pack pack;
    size_t seen[CLS_COUNT];     /* files listed in the directory */
    size_t checked[CLS_COUNT];  /* files read and checked */
    size_t accepted[CLS_COUNT]; /* decoded as a valid SenML pack */
    size_t reasons[CLS_COUNT][RELAIS_REJECT_COUNT];
    size_t violations;
};

struct outcome {
    int rc;
    enum relais_reject_reason reason;
    char detail[160];
};

static void violation(struct run *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void violation(struct run *r, const char *name, const char *fmt, ...)
{
    va_list ap;

    printf("FAIL %s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    r->violations++;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static uint8_t *read_file(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    FILE *fp;
    uint8_t *buf = NULL;
    long size;

    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return NULL;
    fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return NULL;
    }
    if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
        buf = malloc(size ? (size_t)size : 1); /* exactly sized: no NUL */
        if (buf && fread(buf, 1, (size_t)size, fp) == (size_t)size) {
            *len = (size_t)size;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(fp);
    return buf;
}

static struct outcome decode(struct run *r, enum relais_senml_format fmt, const uint8_t *body,
                             size_t len)
{
    struct relais_senml_error err;
    struct outcome o;
    uint8_t *copy = malloc(len ? len : 1);

    if (!copy) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    if (len) memcpy(copy, body, len);
    memset(&err, 0x5a, sizeof err);
    o.rc = relais_senml_decode(&r->pack, fmt, copy, len, DEVICE, NOW, &err);
    o.reason = err.reason;
    snprintf(o.detail, sizeof o.detail, "%s", o.rc == RELAIS_OK ? "" : err.detail);
    /* the invariants of the result, whatever the input */
    if (o.rc == RELAIS_OK) {
        if (err.reason != RELAIS_REJECT_NONE || r->pack.count == 0 ||
            r->pack.count > RELAIS_SENML_MAX_RECORDS)
            o.rc = RELAIS_EINTERNAL;
        for (size_t i = 0; i < r->pack.count && o.rc == RELAIS_OK; i++)
            if (!r->pack.readings[i].metric || strchr(r->pack.readings[i].metric, ':'))
                o.rc = RELAIS_EINTERNAL;
    } else if (o.rc != RELAIS_EPARSE || err.reason == RELAIS_REJECT_NONE ||
               err.reason >= RELAIS_REJECT_COUNT || r->pack.count != 0 ||
               !memchr(err.detail, '\0', sizeof err.detail)) {
        o.rc = RELAIS_EINTERNAL;
    }
    free(copy);
    return o;
}

static const char *outcome_name(const struct outcome *o)
{
    if (o->rc == RELAIS_OK) return "accepted";
    if (o->rc == RELAIS_EINTERNAL) return "INVARIANT BROKEN";
    return relais_reject_reason_name(o->reason);
}

/* Does the JSON text hold an object with a key twice?  jansson is asked twice:
 * without and with JSON_REJECT_DUPLICATES. */
static bool has_duplicate_keys(const uint8_t *body, size_t len)
{
    json_error_t e;
    json_t *v = json_loadb((const char *)body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

    if (!v) return false;
    json_decref(v);
    v = json_loadb((const char *)body, len,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    if (v) {
        json_decref(v);
        return false;
    }
    return json_error_code(&e) == json_error_duplicate_key;
}

/* The reasons that say "this is not JSON" or are not about the content. */
static bool json_level(enum relais_reject_reason why)
{
    return why == RELAIS_REJECT_JSON || why == RELAIS_REJECT_CBOR || why == RELAIS_REJECT_FORMAT ||
           why == RELAIS_REJECT_TOO_LARGE || why == RELAIS_REJECT_NONE;
}

static bool is_scalar_json(const uint8_t *body, size_t len)
{
    size_t i = 0;

    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
        i++;
    return i < len && body[i] != '[' && body[i] != '{';
}

static void check_y(struct run *r, const char *name, const uint8_t *body, size_t len,
                    const struct outcome *o)
{
    bool dups = has_duplicate_keys(body, len);

    if (o->rc == RELAIS_OK) {
        printf("y_ accepted as a SenML pack: %s (%zu readings)\n", name, r->pack.count);
    } else if (o->reason == RELAIS_REJECT_DUPLICATE_KEY) {
        if (!dups) violation(r, name, "duplicate_key but no key is duplicated (%s)", o->detail);
    } else if (json_level(o->reason)) {
        violation(r, name, "valid JSON rejected as %s: %s", relais_reject_reason_name(o->reason),
                  o->detail);
    } else if (dups) {
        violation(r, name, "duplicate keys, but rejected as %s",
                  relais_reject_reason_name(o->reason));
    }

    /* embedded in a valid record as an ignored field */
    static const char pre[] = "[{\"n\":\"x\",\"v\":1,\"ext\":";
    static const char post[] = "}]";
    size_t n = sizeof pre - 1 + len + sizeof post - 1;
    uint8_t *pack = malloc(n);
    if (!pack) exit(2);
    memcpy(pack, pre, sizeof pre - 1);
    memcpy(pack + sizeof pre - 1, body, len);
    memcpy(pack + sizeof pre - 1 + len, post, sizeof post - 1);
    struct outcome e = decode(r, RELAIS_SENML_JSON, pack, n);
    if (e.rc == RELAIS_EINTERNAL)
        violation(r, name, "embedded: invariants broken");
    else if (e.rc != RELAIS_OK && e.reason == RELAIS_REJECT_DUPLICATE_KEY && !dups)
        violation(r, name, "embedded: duplicate_key but no key is duplicated");
    else if (e.rc != RELAIS_OK && json_level(e.reason))
        violation(r, name, "embedded in a record, valid JSON rejected as %s: %s",
                  relais_reject_reason_name(e.reason), e.detail);
    else if (is_scalar_json(body, len) && e.rc != RELAIS_OK)
        violation(r, name, "embedded scalar in an ignored field rejected as %s: %s",
                  relais_reject_reason_name(e.reason), e.detail);
    free(pack);
}

static void check_file(struct run *r, const char *dir, const char *name, enum cls c)
{
    size_t len = 0;
    uint8_t *body = read_file(dir, name, &len);

    if (!body) {
        violation(r, name, "cannot read");
        return;
    }
    r->checked[c]++;

    /* 1. the body decoded as SenML JSON */
    struct outcome o = decode(r, RELAIS_SENML_JSON, body, len);
    if (o.rc == RELAIS_EINTERNAL) violation(r, name, "invariants of the result broken");
    if (o.rc == RELAIS_OK)
        r->accepted[c]++;
    else
        r->reasons[c][o.reason < RELAIS_REJECT_COUNT ? o.reason : 0]++;
    switch (c) {
    case CLS_N:
        if (o.rc == RELAIS_OK) violation(r, name, "not JSON, but accepted");
        break;
    case CLS_Y: check_y(r, name, body, len, &o); break;
    case CLS_I:
        printf("i_ %-50s %s%s%s\n", name, outcome_name(&o), o.rc ? ": " : "", o.detail);
        break;
    default: break;
    }

    /* 2. the gateway's path: sniff, then the sniffed format */
    enum relais_senml_format fmt;
    if (relais_senml_sniff(body, len, &fmt) == 0) {
        struct outcome g = decode(r, fmt, body, len);

        if (g.rc == RELAIS_EINTERNAL) violation(r, name, "sniffed path: invariants broken");
        if (c == CLS_N && g.rc == RELAIS_OK) violation(r, name, "sniffed path: accepted");
        if (fmt == RELAIS_SENML_JSON && (g.rc != o.rc || (g.rc && g.reason != o.reason)))
            violation(r, name, "sniffed path: %s, direct decode: %s", outcome_name(&g),
                      outcome_name(&o));
        if (fmt == RELAIS_SENML_CBOR) printf("%s sniffed as CBOR: %s\n", name, outcome_name(&g));
    } /* else: rejected as unknown_format before any decode */

    /* 3. the same bytes declared CBOR */
    struct outcome b = decode(r, RELAIS_SENML_CBOR, body, len);
    if (b.rc == RELAIS_EINTERNAL) violation(r, name, "as CBOR: invariants broken");
    free(body);
}

int main(int argc, char **argv)
{
    static struct run r;
    char **names = NULL;
    size_t count = 0, cap = 0;
    DIR *d;
    struct dirent *de;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (JSONTestSuite test_parsing/)\n", argv[0]);
        return 2;
    }
    d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        return 2;
    }
    while ((de = readdir(d)) != NULL) {
        if (!has_suffix(de->d_name, ".json")) continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 512;
            names = realloc(names, cap * sizeof *names);
            if (!names) return 2;
        }
        names[count] = strdup(de->d_name);
        if (!names[count]) return 2;
        count++;
    }
    closedir(d);
    if (count) qsort(names, count, sizeof *names, cmp_names);

    relais_pack_init(&r.pack);
    for (size_t i = 0; i < count; i++) {
        enum cls c = CLS_COUNT;

        for (int k = 0; k < CLS_COUNT; k++)
            if (strncmp(names[i], cls_prefix[k], 2) == 0) c = (enum cls)k;
        if (c == CLS_COUNT) {
            violation(&r, names[i], "neither y_, n_ nor i_");
            continue;
        }
        r.seen[c]++;
        check_file(&r, argv[1], names[i], c);
    }
    relais_pack_cleanup(&r.pack);

    for (int k = 0; k < CLS_COUNT; k++) {
        printf("%s: %zu files (expected %zu), %zu checked, %zu accepted as SenML;", cls_prefix[k],
               r.seen[k], cls_expected[k], r.checked[k], r.accepted[k]);
        for (int why = 1; why < RELAIS_REJECT_COUNT; why++)
            if (r.reasons[k][why])
                printf(" %s %zu", relais_reject_reason_name((enum relais_reject_reason)why),
                       r.reasons[k][why]);
        printf("\n");
        if (r.seen[k] != cls_expected[k] || r.checked[k] != r.seen[k] || r.seen[k] == 0) {
            printf("FAIL %s*.json: %zu on disk, %zu checked, %zu expected\n", cls_prefix[k],
                   r.seen[k], r.checked[k], cls_expected[k]);
            r.violations++;
        }
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    printf("%s: %zu violations\n", r.violations ? "FAILED" : "PASSED", r.violations);
    return r.violations ? 1 : 0;
}
