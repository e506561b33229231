/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the SenML encoder's common part (senml_enc.c: checks of every
 * record against DESIGN 3.2 and the wire contract's metric table, the bounded
 * output buffer) and its two formats (senml_enc_json.c, senml_enc_cbor.c).
 */
#ifndef RELAIS_FW_SENML_ENC_INTERNAL_H
#define RELAIS_FW_SENML_ENC_INTERNAL_H

#include "relais/fw/senml_enc.h"

/* An output buffer that counts past its capacity: once a write does not fit,
 * nothing more is written but off keeps growing to the size needed. */
struct senml_enc__out {
    uint8_t *buf;
    size_t cap;
    size_t off;
};

void senml_enc__put(struct senml_enc__out *o, const void *p, size_t n);

/* A record checked and ready to write. */
struct senml_enc__rec {
    const char *name; /* the metric, name_len bytes */
    size_t name_len;
    const char *unit; /* NULL: no "u" */
    size_t unit_len;
    enum relais_fw_value_kind kind;
    double v;
    const char *vs;
    size_t vs_len;
    bool vb;
    /* "t": write t; the decoder computes t_base + t, which must give
     * t_target (t_base is bt or 0) */
    bool has_t;
    double t, t_base, t_target;
};

/* Checks the pack's arguments (out may be NULL only when cap is 0).
 * Returns RELAIS_FW_OK or an error. */
int senml_enc__check_pack(const void *out, size_t cap, const size_t *len, const char *device,
                          double bt, const struct relais_fw_record *r, size_t n);

/* Checks record r of a pack whose bn is bn_len bytes long against DESIGN 3.2
 * and prepares it in out. */
int senml_enc__prepare(const struct relais_fw_record *r, size_t bn_len, double bt,
                       struct senml_enc__rec *out);

/* The end of an encoding: *len and the return code from the size needed. */
int senml_enc__finish(const struct senml_enc__out *o, size_t *len);

/* The base name "urn:dev:relais:{device}:" (without NUL) into bn, which has
 * room for SENML_ENC__BN_MAX bytes; returns its length. */
#define SENML_ENC__BN_MAX 64
size_t senml_enc__bn(char bn[SENML_ENC__BN_MAX], const char *device);

/* Whole numbers in [-2^53, 2^53] as int64 (*out), for CBOR integers. */
bool senml_enc__integral(double x, int64_t *out);

#endif
