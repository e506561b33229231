/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire contract of relais (DESIGN.md section 3), in one small portable
 * library that both relaisd and the device firmware link: identifiers, topic
 * and path formats, the acknowledgement body, the SenML CBOR labels and the
 * table of metrics relais understands.
 *
 * No heap, no stdio, no floating-point formatting: it builds for a Cortex-M4
 * with newlib as well as for the gateway.  Every function that writes takes a
 * caller-owned buffer and its capacity and returns the length written
 * (excluding the NUL it always adds) or a negative value when it does not fit.
 */
#ifndef RELAIS_WIRE_H
#define RELAIS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- identifiers (3.1) ---- */

/* A gateway or device id: [a-z0-9][a-z0-9-]{0,31}. */
#define RELAIS_WIRE_ID_MAX  32
/* Sequence numbers are decimal, 0 .. 2^53-1 (exact in every JSON consumer). */
#define RELAIS_WIRE_SEQ_MAX 9007199254740991ULL

bool relais_wire_id_valid(const char *s, size_t len);
/* Parses a decimal seq without sign, leading zeros (except "0") or spaces.
 * Returns 0, or -1 when s is not a valid seq. */
int relais_wire_seq_parse(const char *s, size_t len, uint64_t *out);

/* ---- MQTT topics (3.3) ---- */

#define RELAIS_WIRE_TOPIC_UP_FILTER "relais/dev/+/up/+"
/* Longest topic relais writes: "relais/dev/" id "/ack/" seq */
#define RELAIS_WIRE_TOPIC_MAX       80

/* Parses "relais/dev/{device}/up/{seq}".  device receives the id,
 * NUL-terminated (capacity RELAIS_WIRE_ID_MAX + 1).  Returns 0 or -1. */
int relais_wire_topic_up_parse(const char *topic, size_t len, char device[RELAIS_WIRE_ID_MAX + 1],
                               uint64_t *seq);
int relais_wire_topic_up(char *buf, size_t cap, const char *device, uint64_t seq);
int relais_wire_topic_ack(char *buf, size_t cap, const char *device, uint64_t seq);
int relais_wire_topic_cmd(char *buf, size_t cap, const char *device);

/* ---- CoAP paths (3.4) ---- */

/* Parses the Uri-Path segments of "dev/{device}/up/{seq}".  Returns 0, or -1
 * when the path is not of that shape (-> 4.04). */
int relais_wire_path_up_parse(const char *const segs[], const size_t seg_lens[], size_t nsegs,
                              char device[RELAIS_WIRE_ID_MAX + 1], uint64_t *seq);

/* Parses the Uri-Path segments of "dev/{device}/cmd", where a device that
 * cannot hold an MQTT session (the pill box, CoAP) polls for its commands
 * (docs/contract.md).  Returns 0, or -1 when the path is not of that shape. */
int relais_wire_path_cmd_parse(const char *const segs[], const size_t seg_lens[], size_t nsegs,
                               char device[RELAIS_WIRE_ID_MAX + 1]);

/* ---- device commands (3.3 relais/dev/{device}/cmd; CoAP GET dev/{device}/cmd) ---- */

enum relais_wire_cmd_kind {
    RELAIS_WIRE_CMD_OTHER = 0, /* a command this library does not know: ignore it */
    RELAIS_WIRE_CMD_TIME =
        1, /* t: the gateway's clock, seconds since 1970 (a fraction kept to the ms) */
    RELAIS_WIRE_CMD_REMIND = 2, /* slot: "2026-11-22T08:00/am" */
    RELAIS_WIRE_CMD_CALL15 = 3, /* alert (may be empty): tell the patient to call 15 */
};

#define RELAIS_WIRE_CMD_TEXT_MAX 64
#define RELAIS_WIRE_CMD_MAX      256 /* longest command body relais writes */

struct relais_wire_cmd {
    enum relais_wire_cmd_kind kind;
    uint64_t id;   /* the gateway's command id (CoAP poll), 0 when absent */
    uint64_t t_ms; /* time: t in milliseconds */
    char slot[RELAIS_WIRE_CMD_TEXT_MAX + 1];  /* remind */
    char alert[RELAIS_WIRE_CMD_TEXT_MAX + 1]; /* call15 */
};

/* Strict parse of a command body: a flat JSON object with a "cmd" string;
 * "time" needs a t (decimal seconds, no sign or exponent), "remind" a
 * non-empty slot; text longer than RELAIS_WIRE_CMD_TEXT_MAX is refused.
 * Unknown members with scalar values are ignored; an unknown cmd parses as
 * RELAIS_WIRE_CMD_OTHER.  Returns 0 or -1. */
int relais_wire_cmd_parse(const char *buf, size_t len, struct relais_wire_cmd *out);

/* ---- acknowledgement (3.5) ---- */

enum relais_wire_ack_status {
    RELAIS_WIRE_ACK_STORED = 0,
    RELAIS_WIRE_ACK_DUPLICATE = 1,
    RELAIS_WIRE_ACK_REJECTED = 2,
    RELAIS_WIRE_ACK_BUSY = 3,
};

#define RELAIS_WIRE_ACK_ERROR_MAX 200
#define RELAIS_WIRE_ACK_MAX       (128 + 6 * RELAIS_WIRE_ACK_ERROR_MAX)

struct relais_wire_ack {
    uint64_t seq;
    enum relais_wire_ack_status status;
    uint32_t records;
    uint32_t retry_s; /* busy only: seconds to wait; 0 when absent */
    char error[RELAIS_WIRE_ACK_ERROR_MAX + 1];
};

const char *relais_wire_ack_status_name(enum relais_wire_ack_status st);
/* {"seq":N,"status":"...","records":K[,"error":"..."][,"retry_s":S]}
 * error is written for rejected and busy when non-empty, escaped, bytes >= 0x80
 * replaced by '?', truncated to RELAIS_WIRE_ACK_ERROR_MAX. */
int relais_wire_ack_format(char *buf, size_t cap, const struct relais_wire_ack *ack);
/* Strict parse of an ack body (a flat JSON object; unknown scalar members are
 * ignored).  Returns 0 or -1. */
int relais_wire_ack_parse(const char *buf, size_t len, struct relais_wire_ack *out);

/* The same ack as a CBOR map with the same text keys, for devices that speak
 * CBOR (the CoAP answer to a SenML CBOR pack).  Returns the length written or
 * -1 when it does not fit in cap - 1 bytes (no NUL is added: the body is
 * binary; RELAIS_WIRE_ACK_MAX is always enough). */
int relais_wire_ack_format_cbor(uint8_t *buf, size_t cap, const struct relais_wire_ack *ack);
/* Strict parse of a CBOR ack (definite-length map, text keys; unknown keys
 * with an integer or text value ignored).  Returns 0 or -1. */
int relais_wire_ack_parse_cbor(const uint8_t *buf, size_t len, struct relais_wire_ack *out);

/* ---- CoAP content-formats (RFC 7252 12.3, RFC 8428 12.3) ---- */

#define RELAIS_CF_JSON       50  /* application/json: taken as SenML JSON */
#define RELAIS_CF_CBOR       60  /* application/cbor: taken as SenML CBOR */
#define RELAIS_CF_SENML_JSON 110 /* application/senml+json */
#define RELAIS_CF_SENML_CBOR 112 /* application/senml+cbor */

/* ---- record signatures (docs/contract.md "Signed dose records") ---- */

/* A pack holding a dose record is signed by its device: HMAC-SHA256 under
 * the device's 32-byte record key over the signature head (below) followed
 * by the exact body bytes.  The SenML body itself is unchanged: the MAC
 * travels beside it, as a CoAP option or an MQTT v5 user property. */
#define RELAIS_WIRE_SIG_LEN           32
#define RELAIS_WIRE_RECORD_KEY_LEN    32
/* CoAP option (experimental range, elective, safe to forward, part of the
 * cache key): the 32 MAC bytes, opaque. */
#define RELAIS_WIRE_COAP_OPTION_SIG   65000
/* MQTT v5 user property: the MAC as 64 lower-case hex digits. */
#define RELAIS_WIRE_MQTT_SIG_PROPERTY "relais-sig"
#define RELAIS_WIRE_SIG_CONTEXT       "relais-dose-v1"
/* Longest head: context, device id, seq (20 digits) and three 0 bytes. */
#define RELAIS_WIRE_SIG_HEAD_MAX      (sizeof RELAIS_WIRE_SIG_CONTEXT + RELAIS_WIRE_ID_MAX + 1 + 20 + 1)

/* Writes the signature head, "relais-dose-v1" 0x00 {device} 0x00 {seq in
 * decimal} 0x00, into buf (binary: it holds 0 bytes; no NUL is added).
 * Binding the device and seq stops a signed body from being replayed under
 * another seq or by another device.  Returns its length, or -1 when device is
 * not a valid id, seq is above RELAIS_WIRE_SEQ_MAX or cap is too small
 * (RELAIS_WIRE_SIG_HEAD_MAX always suffices). */
int relais_wire_sig_head(uint8_t *buf, size_t cap, const char *device, uint64_t seq);

/* ---- SenML (3.2) ---- */

#define RELAIS_SENML_MAX_RECORDS 1024
#define RELAIS_SENML_MAX_BYTES   65536
#define RELAIS_SENML_MAX_STRING  256
#define RELAIS_SENML_VERSION     10
#define RELAIS_SENML_NAME_PREFIX "urn:dev:relais:"

/* CBOR labels (RFC 8428 section 6) */
enum relais_senml_label {
    RELAIS_SENML_BVER = -1,
    RELAIS_SENML_BN = -2,
    RELAIS_SENML_BT = -3,
    RELAIS_SENML_BU = -4,
    RELAIS_SENML_BV = -5,
    RELAIS_SENML_BS = -6,
    RELAIS_SENML_N = 0,
    RELAIS_SENML_U = 1,
    RELAIS_SENML_V = 2,
    RELAIS_SENML_VS = 3,
    RELAIS_SENML_VB = 4,
    RELAIS_SENML_S = 5,
    RELAIS_SENML_T = 6,
    RELAIS_SENML_UT = 7,
    RELAIS_SENML_VD = 8,
};

/* ---- metrics relais understands ---- */

enum relais_wire_value_kind {
    RELAIS_WIRE_NUMBER = 0, /* v */
    RELAIS_WIRE_STRING = 1, /* vs */
    RELAIS_WIRE_BOOL = 2,   /* vb */
    RELAIS_WIRE_DATA = 3,   /* vd */
};

/* An accepted unit and its conversion to the canonical one:
 * canonical = value * scale. */
struct relais_wire_unit {
    const char *unit;
    double scale;
};

struct relais_wire_metric {
    const char *name;
    enum relais_wire_value_kind kind;
    /* accepted units, canonical first; NULL-terminated.  A metric whose list is
     * empty takes no unit at all. */
    const struct relais_wire_unit *units;
    double min, max; /* plausible range of the canonical value */
    bool integer;    /* the value must be a whole number */
};

/* The metric of that name, or NULL when relais does not evaluate it (it is
 * then stored and forwarded as is). */
const struct relais_wire_metric *relais_wire_metric_find(const char *name, size_t len);
/* Iteration over the table: returns NULL past the end. */
const struct relais_wire_metric *relais_wire_metric_at(size_t i);

#endif
