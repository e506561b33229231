/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared between the SenML front ends (senml_json.c, senml_cbor.c) and the
 * common resolution in senml.c: a front end turns each record of its format
 * into a struct senml__record, and senml__record_add() applies base values,
 * checks names, units, values and times, and appends the reading.
 */
#ifndef RELAIS_SENML_INTERNAL_H
#define RELAIS_SENML_INTERNAL_H

#include "relais/senml.h"

enum senml__field {
    SENML_F_BN = 0,
    SENML_F_BT,
    SENML_F_BU,
    SENML_F_BV,
    SENML_F_BS,
    SENML_F_BVER,
    SENML_F_N,
    SENML_F_U,
    SENML_F_V,
    SENML_F_VS,
    SENML_F_VB,
    SENML_F_VD,
    SENML_F_S,
    SENML_F_T,
    SENML_F_UT,
    SENML_F_COUNT,
    SENML_F_UNKNOWN = -1, /* ignored */
};

/* The JSON type of each field: 's' string, 'n' number, 'b' boolean, 'd' data. */
extern const char senml__field_type[SENML_F_COUNT];
extern const char *const senml__field_name[SENML_F_COUNT];

struct senml__str {
    const char *p; /* borrowed from the input document; not NUL-terminated */
    size_t len;
};

/* One record as found in the input; a field counts when its bit is set. */
struct senml__record {
    unsigned present;                     /* 1u << enum senml__field */
    struct senml__str str[SENML_F_COUNT]; /* bn, bu, n, u, vs; vd as text (JSON) */
    double num[SENML_F_COUNT];            /* bt, bv, bs, bver, v, s, t, ut */
    bool vb;
    const uint8_t *vd; /* CBOR: the bytes; JSON: NULL, str[SENML_F_VD] holds base64url */
    size_t vd_len;
};

struct senml__ctx {
    struct relais_pack *pack;
    const char *device;
    size_t device_len;
    double now;
    struct relais_senml_error *err;
    int record; /* index of the record being read */
    /* base values in force */
    struct senml__str bn, bu;
    double bt, bv, bs;
    bool have_bt, have_bv, have_bs;
    long bver; /* 0 until a bver is seen */
};

void senml__begin(struct senml__ctx *c, struct relais_pack *pack, const char *device, double now,
                  struct relais_senml_error *err);
/* Records an error (the first one wins) and returns RELAIS_EPARSE. */
int senml__fail(struct senml__ctx *c, enum relais_reject_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a JSON key or CBOR text key to a field; SENML_F_UNKNOWN for fields to
 * ignore; fails on must-understand keys and over-long keys. */
int senml__key(struct senml__ctx *c, const char *key, size_t len, int *field);
/* Checks a string value: length and no NUL. */
int senml__check_string(struct senml__ctx *c, const char *what, const char *s, size_t len);
int senml__check_number(struct senml__ctx *c, const char *what, double v);
int senml__record_add(struct senml__ctx *c, const struct senml__record *r);
/* Fails when the pack ended up without readings. */
int senml__finish(struct senml__ctx *c);

int senml__decode_json(struct senml__ctx *c, const uint8_t *body, size_t len);
int senml__decode_cbor(struct senml__ctx *c, const uint8_t *body, size_t len);

#endif
