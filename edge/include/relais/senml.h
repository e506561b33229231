/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML (RFC 8428) decoding to one in-memory representation, from JSON
 * (jansson, duplicate keys rejected) or CBOR (relais/cbor.h), with every rule
 * of DESIGN.md 3.2: size and record limits, string limits, units of the
 * metrics relais understands (Pa converted to mmHg), names bound to the
 * publishing device, NaN and infinities rejected, must-understand fields
 * ("_"-suffixed) rejected, bver checked, nesting beyond the SenML shape
 * rejected.
 *
 * A rejected pack yields a reason (a stable snake_case code, counted and
 * audited) and a detail naming the record and field.
 */
#ifndef RELAIS_SENML_H
#define RELAIS_SENML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/wire.h"

enum relais_senml_format {
    RELAIS_SENML_JSON = 0, /* application/senml+json, CoAP content-format 110 */
    RELAIS_SENML_CBOR = 1, /* application/senml+cbor, CoAP content-format 112 */
};

/* Why a pack was rejected.  The values are stored: append only. */
enum relais_reject_reason {
    RELAIS_REJECT_NONE = 0,
    RELAIS_REJECT_TOO_LARGE = 1,     /* body over 64 KiB */
    RELAIS_REJECT_FORMAT = 2,        /* neither JSON nor CBOR by its first byte */
    RELAIS_REJECT_JSON = 3,          /* not well-formed JSON */
    RELAIS_REJECT_CBOR = 4,          /* not well-formed CBOR */
    RELAIS_REJECT_DUPLICATE_KEY = 5, /* a key twice in one record */
    RELAIS_REJECT_NOT_SENML = 6,     /* well-formed, but not the SenML shape or types */
    RELAIS_REJECT_EMPTY = 7,         /* no records, or no record with a value */
    RELAIS_REJECT_TOO_MANY_RECORDS = 8,
    RELAIS_REJECT_STRING_TOO_LONG = 9,  /* a string over 256 bytes */
    RELAIS_REJECT_NOT_FINITE = 10,      /* NaN or an infinity */
    RELAIS_REJECT_MUST_UNDERSTAND = 11, /* an unknown field ending in '_' */
    RELAIS_REJECT_VERSION = 12,         /* bver not a positive integer, > 10, or inconsistent */
    RELAIS_REJECT_NAME = 13,            /* missing or invalid name */
    RELAIS_REJECT_FOREIGN_NAME = 14,    /* the name is another device's */
    RELAIS_REJECT_UNIT = 15,            /* unit not accepted for the metric */
    RELAIS_REJECT_VALUE = 16,           /* value missing, of the wrong kind or implausible */
    RELAIS_REJECT_TIME = 17,            /* time out of range */
    RELAIS_REJECT_TOPIC = 18,           /* topic or path not of the contract's form */
    RELAIS_REJECT_UNSIGNED_DOSE = 19,   /* a dose record in a pack without a signature */
    RELAIS_REJECT_BAD_SIGNATURE = 20,   /* a signature of the wrong form, or that does not verify */
    RELAIS_REJECT_NO_RECORD_KEY = 21,   /* signed or dose pack from a device without a record key */
    RELAIS_REJECT_COUNT
};

const char *relais_reject_reason_name(enum relais_reject_reason r);

enum relais_time_source {
    RELAIS_TIME_DEVICE = 0,   /* absolute time given by the device */
    RELAIS_TIME_RELATIVE = 1, /* relative time (< 2^28) resolved against receive time */
    RELAIS_TIME_GATEWAY = 2,  /* no time: the gateway's receive time */
};

enum relais_reading_kind {
    RELAIS_READING_NUMBER = RELAIS_WIRE_NUMBER,
    RELAIS_READING_STRING = RELAIS_WIRE_STRING,
    RELAIS_READING_BOOL = RELAIS_WIRE_BOOL,
    RELAIS_READING_DATA = RELAIS_WIRE_DATA,
    RELAIS_READING_SUM_ONLY = 4, /* a record with a sum and no value */
};

/* One resolved record.  Strings point into the pack and are NUL-terminated. */
struct relais_reading {
    const char *metric; /* name relative to the device, e.g. "temp" */
    const char *unit;   /* canonical unit for known metrics; as sent otherwise; "" if none */
    const struct relais_wire_metric *known; /* NULL: stored and forwarded, not evaluated */
    enum relais_reading_kind kind;
    double value;        /* NUMBER (converted to the canonical unit) */
    bool boolean;        /* BOOL */
    const char *str;     /* STRING */
    const uint8_t *data; /* DATA */
    size_t len;          /* STRING, DATA */
    bool has_sum;
    double sum;
    double time; /* seconds since 1970 */
    enum relais_time_source time_source;
    bool has_update_time;
    double update_time; /* ut, seconds */
};

/* A decoded pack.  Caller-owned; init once, reuse for many decodes, cleanup. */
#define RELAIS_PACK_SIG_LEN 32 /* HMAC-SHA256 */

struct relais_pack {
    char device[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq;
    enum relais_senml_format format;
    struct relais_reading *readings;
    size_t count;
    /* set by ingest once the pack's record signature is verified (reset by
     * every decode): stored with the pack, flag RELAIS_PACK_FLAG_SIGNED */
    bool signed_ok;
    uint8_t sig[RELAIS_PACK_SIG_LEN];
    /* internals: capacity of readings; chunks holding the strings (never
     * moved while the pack lives, reused by the next decode) */
    size_t cap;
    struct relais_pack_chunk *chunks, *chunk_cur;
};

struct relais_senml_error {
    enum relais_reject_reason reason;
    int record; /* index of the offending record, -1 when not about one record */
    char detail[160];
};

void relais_pack_init(struct relais_pack *pack);
void relais_pack_cleanup(struct relais_pack *pack);

/* The format told by the first byte (DESIGN 3.2): '[' or JSON whitespace is
 * JSON, 0x80..0x9f is CBOR.  Returns 0 or -1 when it is neither. */
int relais_senml_sniff(const uint8_t *body, size_t len, enum relais_senml_format *out);

/*
 * Decodes body as a SenML pack of the given format published by device
 * (its id; names must be relative or urn:dev:relais:{device}:...).
 * now_s is the gateway's receive time (seconds since 1970), used for records
 * without time and relative times.  pack->device and pack->seq are left to the
 * caller.
 * Returns RELAIS_OK, or RELAIS_EPARSE with err filled (RELAIS_ENOMEM when out
 * of memory).
 */
int relais_senml_decode(struct relais_pack *pack, enum relais_senml_format format,
                        const uint8_t *body, size_t len, const char *device, double now_s,
                        struct relais_senml_error *err);

#endif
