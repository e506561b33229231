/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The devices' SenML encoder (DESIGN.md 3.2 and 7): one pack of readings as
 * SenML JSON (application/senml+json) or SenML CBOR (application/senml+cbor),
 * written into a caller-owned buffer.  No heap, no stdio, no libm: it builds
 * for a Cortex-M4 as well as for the posix port.
 *
 * The pack is [{bn, bt, record 0}, {record 1}, ...] with
 * bn = "urn:dev:relais:{device}:" and each record's n = its metric.  Units of
 * the metrics relais understands come from the wire contract's metric table
 * (relais/wire.h): a NULL unit takes the canonical one, a given unit must be
 * one the gateway accepts.  What relaisd would reject (DESIGN 3.2: more than
 * 1024 records, a pack over 64 KiB, a string over 256 bytes, NaN or an
 * infinity, a unit or kind the metric does not take, an implausible value) is
 * refused here with an error, so that a device never sends a pack that would
 * come back "rejected".
 *
 * Numbers: JSON numbers are written with the fewest decimals (up to 22) that
 * decode to the same double, else with 17 significant digits, which also
 * decode exactly for 2^-8 <= |x| < 2^63.  Outside that range a value with no
 * short decimal form decodes within a relative 1e-13 (no device measures
 * such values).  CBOR writes whole numbers up to 2^53 as integers, others as
 * float32 when that is exact, else float64: always exact.
 */
#ifndef RELAIS_FW_SENML_ENC_H
#define RELAIS_FW_SENML_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/fw/error.h"

/* Return codes: RELAIS_FW_OK and those of relais/fw/error.h
 * - RELAIS_FW_EINVAL: an argument is invalid: NULL pointer, no record,
 *   invalid device id or metric name, invalid UTF-8, a unit or value kind the
 *   metric does not take, an empty "dose" slot;
 * - RELAIS_FW_ERANGE: a number is NaN or infinite, a known metric's value is
 *   outside its plausible range or not whole when it must be, or a time is
 *   neither 0 nor an absolute time in [2^28, 9999-12-31];
 * - RELAIS_FW_ETOOBIG: a DESIGN 3.2 limit: more than 1024 records, a string
 *   (name resolved with bn, unit, vs) over 256 bytes, or a pack over 64 KiB;
 * and RELAIS_FW_SENML_ENOMEM: the output buffer is too small, *len tells the
 * size needed.  Its value is RELAIS_ENOMEM's (edge/include/relais/error.h),
 * which relais/fw/error.h does not list (yet). */
#define RELAIS_FW_SENML_ENOMEM (-2)

enum relais_fw_value_kind {
    RELAIS_FW_V_NUM = 0,  /* v */
    RELAIS_FW_V_STR = 1,  /* vs */
    RELAIS_FW_V_BOOL = 2, /* vb */
};

/* One reading.  All pointers are borrowed for the call and NUL-terminated. */
struct relais_fw_record {
    /* metric relative to the device, e.g. "temp", "dose", "pro_nausea":
     * [A-Za-z0-9][A-Za-z0-9._/-]* (no ':'), at most 256 bytes with the bn */
    const char *name;
    /* NULL: the metric's canonical unit (DESIGN 3.2) when relais knows the
     * metric, else none.  UTF-8, at most 256 bytes. */
    const char *unit;
    enum relais_fw_value_kind kind;
    double v;       /* RELAIS_FW_V_NUM: finite */
    const char *vs; /* RELAIS_FW_V_STR: UTF-8, at most 256 bytes */
    bool vb;        /* RELAIS_FW_V_BOOL */
    /* absolute time, seconds since 1970 (fractional allowed); 0: none, the
     * gateway stamps the reading with its receive time */
    double t;
};

/*
 * Encodes the n records r[0..n) published by device (a valid device id,
 * DESIGN 3.1) as one SenML JSON pack into out[0..cap).
 * bt: base time written in the first record (absolute seconds since 1970),
 * record times are then written relative to it; 0: no base time, record
 * times are absolute.  A record without time (t == 0) in a pack with a base
 * time is written with t = -bt, which resolves to 0, "now" (RFC 8428 4.5.3):
 * the gateway stamps it.
 * On RELAIS_FW_OK, *len is the pack's length (no NUL is written).  On
 * RELAIS_FW_SENML_ENOMEM, *len is the length needed (out may be NULL when cap
 * is 0: a size query); on any other error *len is 0.  Bytes past cap are
 * never written; on error out holds an unspecified prefix.
 * Returns RELAIS_FW_OK or one of the negative codes above.
 */
int relais_fw_senml_json(char *out, size_t cap, size_t *len, const char *device, double bt,
                         const struct relais_fw_record *r, size_t n);

/* The same pack as SenML CBOR (RFC 8428 section 6: definite-length array of
 * maps with integer labels).  Same arguments, limits and return codes. */
int relais_fw_senml_cbor(uint8_t *out, size_t cap, size_t *len, const char *device, double bt,
                         const struct relais_fw_record *r, size_t n);

#endif
