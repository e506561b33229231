/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML CBOR (RFC 8428 section 6) for the devices: a definite-length array of
 * definite-length maps with the integer labels of relais/wire.h
 * (bn -2, bt -3, n 0, u 1, v 2, vs 3, vb 4, t 6).  Numbers are exact: whole
 * numbers in [-2^53, 2^53] as CBOR integers, others as float32 when that
 * holds the value exactly, else float64.
 */
#include "senml_enc_internal.h"

#include "relais/wire.h"

#include <string.h>

#define FLT_MAX_ 3.40282346638528859811704183484516925e+38

static void put_head(struct senml_enc__out *o, unsigned major, uint64_t v)
{
    uint8_t b[9];
    size_t n;
    uint8_t mt = (uint8_t)(major << 5);
    if (v < 24) {
        b[0] = (uint8_t)(mt | v);
        n = 1;
    } else if (v <= 0xff) {
        b[0] = mt | 24;
        n = 2;
    } else if (v <= 0xffff) {
        b[0] = mt | 25;
        n = 3;
    } else if (v <= 0xffffffffu) {
        b[0] = mt | 26;
        n = 5;
    } else {
        b[0] = mt | 27;
        n = 9;
    }
    for (size_t i = 1; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    senml_enc__put(o, b, n);
}

static void put_label(struct senml_enc__out *o, enum relais_senml_label label)
{
    if (label >= 0)
        put_head(o, 0, (uint64_t)label);
    else
        put_head(o, 1, (uint64_t)(-1 - (int)label));
}

static void put_text(struct senml_enc__out *o, const char *s, size_t len)
{
    put_head(o, 3, len);
    senml_enc__put(o, s, len);
}

static void put_number(struct senml_enc__out *o, double x)
{
    int64_t i;
    if (senml_enc__integral(x, &i)) {
        if (i >= 0)
            put_head(o, 0, (uint64_t)i);
        else
            put_head(o, 1, (uint64_t)(-(i + 1)));
        return;
    }
    double ax = x < 0 ? -x : x;
    uint8_t b[9];
    if (ax <= FLT_MAX_ && (double)(float)x == x) {
        float f = (float)x;
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        b[0] = 0xfa;
        for (int k = 0; k < 4; k++)
            b[1 + k] = (uint8_t)(u >> (24 - 8 * k));
        senml_enc__put(o, b, 5);
    } else {
        uint64_t u;
        memcpy(&u, &x, sizeof u);
        b[0] = 0xfb;
        for (int k = 0; k < 8; k++)
            b[1 + k] = (uint8_t)(u >> (56 - 8 * k));
        senml_enc__put(o, b, 9);
    }
}

static void put_record(struct senml_enc__out *o, const struct senml_enc__rec *rec)
{
    put_label(o, RELAIS_SENML_N);
    put_text(o, rec->name, rec->name_len);
    if (rec->unit) {
        put_label(o, RELAIS_SENML_U);
        put_text(o, rec->unit, rec->unit_len);
    }
    switch (rec->kind) {
    case RELAIS_FW_V_NUM:
        put_label(o, RELAIS_SENML_V);
        put_number(o, rec->v);
        break;
    case RELAIS_FW_V_STR:
        put_label(o, RELAIS_SENML_VS);
        put_text(o, rec->vs, rec->vs_len);
        break;
    case RELAIS_FW_V_BOOL:
        put_label(o, RELAIS_SENML_VB);
        put_head(o, 7, rec->vb ? 21 : 20); /* simple values true, false */
        break;
    }
    if (rec->has_t) {
        put_label(o, RELAIS_SENML_T);
        put_number(o, rec->t);
    }
}

int relais_fw_senml_cbor(uint8_t *out, size_t cap, size_t *len, const char *device, double bt,
                         const struct relais_fw_record *r, size_t n)
{
    int rc = senml_enc__check_pack(out, cap, len, device, bt, r, n);
    if (rc) {
        if (len) *len = 0;
        return rc;
    }
    struct senml_enc__out o = {out, cap, 0};
    char bn[SENML_ENC__BN_MAX];
    size_t bn_len = senml_enc__bn(bn, device);

    put_head(&o, 4, n);
    for (size_t i = 0; i < n; i++) {
        struct senml_enc__rec rec;
        rc = senml_enc__prepare(&r[i], bn_len, bt, &rec);
        if (rc) {
            *len = 0;
            return rc;
        }
        /* the map's size: n, value, then u and t when present; bn and bt in
         * the first record */
        uint64_t pairs = 2u + (rec.unit != NULL) + rec.has_t;
        if (i == 0) pairs += 1u + (bt != 0.0);
        put_head(&o, 5, pairs);
        if (i == 0) {
            put_label(&o, RELAIS_SENML_BN);
            put_text(&o, bn, bn_len);
            if (bt != 0.0) {
                put_label(&o, RELAIS_SENML_BT);
                put_number(&o, bt);
            }
        }
        put_record(&o, &rec);
    }
    return senml_enc__finish(&o, len);
}
