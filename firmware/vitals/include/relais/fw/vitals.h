/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vitals hub's device logic (DESIGN.md 3.3, 3.5 and 7), portable and
 * without heap: take a reading set from the sensors, encode it as one SenML
 * pack, put it in the ring log under a fresh seq *before* sending it, send the
 * oldest unacknowledged packs (a small window) and resend each one after a
 * timeout with a capped exponential backoff, for ever, until relaisd
 * acknowledges it.
 *
 * The port supplies the sensors, the transport and the log as callbacks and
 * calls relais_fw_vitals_step() from its main loop with a monotonic clock,
 * relais_fw_vitals_on_ack() / _on_cmd() when a message arrives and
 * relais_fw_vitals_link_up() after each (re)connection.
 *
 * Not thread-safe: one caller at a time.
 */
#ifndef RELAIS_FW_VITALS_H
#define RELAIS_FW_VITALS_H

#include <stddef.h>
#include <stdint.h>

#include "relais/fw/ringlog.h"
#include "relais/fw/senml_enc.h"

/* Most records in a reading set (temp, spo2, hr, bp_sys, bp_dia, weight and
 * a few pro_* grades). */
#define RELAIS_FW_VITALS_MAX_RECORDS 16
/* Largest pack the hub encodes and reads back from the log. */
#define RELAIS_FW_VITALS_PACK_MAX    2048
/* Packs sent and not yet acknowledged at once. */
#define RELAIS_FW_VITALS_WINDOW      8

enum relais_fw_vitals_format {
    RELAIS_FW_VITALS_JSON = 0,
    RELAIS_FW_VITALS_CBOR = 1,
};

enum relais_fw_vitals_log_level {
    RELAIS_FW_VITALS_INFO = 0,
    RELAIS_FW_VITALS_WARN = 1,
    RELAIS_FW_VITALS_ERROR = 2,
};

struct relais_fw_vitals_ops {
    /* The sensors: fills rec[0..cap) with a reading set and *bt with its
     * base time (device time, seconds since 1970, the hub's clock passed in
     * device_s; 0: none) and returns how many records, 0 when no reading is
     * due now.  The strings the records point to stay valid until the next
     * call. */
    int (*read_cb)(void *ctx, double device_s, struct relais_fw_record *rec, size_t cap,
                   double *bt);
    /* The transport: sends pack seq with its body (borrowed for the call).
     * Returns 0 when handed over, negative when the link is down (the pack
     * is resent after the timeout as for a lost ack). */
    int (*send_cb)(void *ctx, uint64_t seq, const void *body, size_t len);
    /* The log: one line, msg borrowed for the call. */
    void (*log_cb)(void *ctx, enum relais_fw_vitals_log_level level, uint64_t seq, const char *msg);
    void *ctx; /* passed back to the callbacks; owned by the port */
};

/* Counters for the port's summary (since init). */
struct relais_fw_vitals_stats {
    uint32_t generated, sent, resent, stored, duplicate, rejected, busy;
};

/* Private: one pack of the window, sent and not yet acknowledged. */
struct relais_fw_vitals_inflight {
    uint64_t seq;      /* 0: the slot is free */
    uint64_t due_ms;   /* resend at */
    uint32_t attempts; /* sends so far */
};

/* Every field is private except stats; the caller owns the storage. */
struct relais_fw_vitals {
    struct relais_fw_ringlog *log; /* borrowed, mounted, until the hub is dropped */
    struct relais_fw_vitals_ops ops;
    const char *device; /* borrowed until the hub is dropped */
    enum relais_fw_vitals_format format;
    uint32_t resend_ms, resend_max_ms; /* first timeout, cap of the backoff */
    int64_t clock_offset_ms;           /* device time = monotonic + offset */
    uint64_t hold_until_ms;            /* busy: send nothing before */
    struct relais_fw_vitals_inflight win[RELAIS_FW_VITALS_WINDOW];
    struct relais_fw_vitals_stats stats;
    struct relais_fw_record rec[RELAIS_FW_VITALS_MAX_RECORDS];
    size_t pending_len; /* > 0: an encoded reading set the log had no room for */
    uint8_t pending[RELAIS_FW_VITALS_PACK_MAX];
    uint8_t pack[RELAIS_FW_VITALS_PACK_MAX]; /* a pack read back from the log */
};

/*
 * Sets the hub up on a mounted ring log (borrowed), with ops (copied),
 * device (borrowed, a valid device id), format, the first resend timeout and
 * the backoff's cap in ms (resend_ms >= 1, resend_max_ms >= resend_ms), and
 * the device clock as now_unix_ms - now_ms (monotonic).  Returns
 * RELAIS_FW_OK or RELAIS_FW_EINVAL.
 */
int relais_fw_vitals_init(struct relais_fw_vitals *v, struct relais_fw_ringlog *log,
                          const struct relais_fw_vitals_ops *ops, const char *device,
                          enum relais_fw_vitals_format format, uint32_t resend_ms,
                          uint32_t resend_max_ms, int64_t clock_offset_ms);

/*
 * One turn of the loop at monotonic time now_ms: takes a reading set when
 * the sensors have one (encode, seq, append), then sends or resends what is
 * due in the window.  Returns RELAIS_FW_OK; RELAIS_FW_EFULL when a reading
 * was due but the log is full (the reading waits in the sensors: call again
 * after acks); another negative code when the flash failed.
 */
int relais_fw_vitals_step(struct relais_fw_vitals *v, uint64_t now_ms);

/*
 * Puts an already encoded pack body[0..len) (borrowed) in the log under a
 * fresh seq (*seq, may be NULL); step() sends it.  What step() does with each
 * reading set, exposed for a port that builds its own packs.
 */
int relais_fw_vitals_submit(struct relais_fw_vitals *v, const void *body, size_t len,
                            uint64_t *seq);

/*
 * An ack body from relaisd (relais/dev/{device}/ack/{seq}), borrowed for the
 * call: stored/duplicate -> the pack leaves the log; rejected -> it leaves
 * the log too (final) and the error is logged; busy -> nothing is sent for
 * retry_s seconds.  Returns RELAIS_FW_OK, RELAIS_FW_EINVAL for a body that is
 * not an ack (logged, ignored), or the ring log's error.
 */
int relais_fw_vitals_on_ack(struct relais_fw_vitals *v, const char *body, size_t len,
                            uint64_t now_ms);

/*
 * A command body (relais/dev/{device}/cmd), borrowed for the call.  Only
 * {"cmd":"time","t":SECONDS} does something (sets the device clock); others
 * are logged and ignored.  Returns RELAIS_FW_OK or RELAIS_FW_EINVAL.
 */
int relais_fw_vitals_on_cmd(struct relais_fw_vitals *v, const char *body, size_t len,
                            uint64_t now_ms);

/* After a (re)connection: every pack of the window is due again now. */
void relais_fw_vitals_link_up(struct relais_fw_vitals *v, uint64_t now_ms);

/* True when no pack waits for an ack. */
int relais_fw_vitals_idle(const struct relais_fw_vitals *v);

#endif
