/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pill box's device logic (DESIGN.md 3.4, 3.5 and 7), portable and
 * without heap: the sensors report events (the lid opened or closed, a
 * compartment emptied, the battery level); the events of one lid cycle are
 * gathered into one SenML CBOR pack, which is put in the ring log under a
 * fresh seq *before* it is sent; the oldest unacknowledged pack is sent as a
 * confirmable CoAP POST to /dev/{device}/up/{seq} -- one request in flight,
 * as RFC 7252's NSTART = 1 -- and resent after a timeout with a capped
 * exponential backoff, for ever, until relaisd answers it.
 *
 * The port supplies the transport and the log as callbacks, reports the
 * events, calls relais_fw_pillbox_step() from its main loop with a monotonic
 * clock and relais_fw_pillbox_on_response() when a response to a request
 * arrives (matched to it by its token: the port's business).
 *
 * Commands: the box cannot hold a subscription, so the port polls GET
 * /dev/{device}/cmd?after=N (N = relais_fw_pillbox_cmd_after()) and hands
 * each answer's body to relais_fw_pillbox_on_cmd(): `remind` lights the LED
 * and sounds the buzzer until the lid opens, `call15` shows "call 15" on the
 * display, `time` sets the device clock.  Each command is carried out once
 * (by its id); the next poll tells relaisd it arrived.
 *
 * Not thread-safe: one caller at a time.
 */
#ifndef RELAIS_FW_PILLBOX_H
#define RELAIS_FW_PILLBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/fw/ringlog.h"
#include "relais/fw/senml_enc.h"
#include "relais/wire.h"

/* Most records in one pack (a lid cycle: open, doses, close, battery). */
#define RELAIS_FW_PILLBOX_MAX_RECORDS 8
/* Longest slot id kept, NUL excluded (e.g. "2026-11-22T08:00/am"). */
#define RELAIS_FW_PILLBOX_SLOT_MAX    47
/* Largest pack the pill box encodes and reads back from the log. */
#define RELAIS_FW_PILLBOX_PACK_MAX    512

/* CoAP response codes the logic tells apart (class << 5 | detail). */
#define RELAIS_FW_COAP_CREATED     0x41 /* 2.01 */
#define RELAIS_FW_COAP_CHANGED     0x44 /* 2.04: the ack body */
#define RELAIS_FW_COAP_BAD_REQUEST 0x80 /* 4.00: malformed pack, final */
#define RELAIS_FW_COAP_TOO_LARGE   0x8d /* 4.13: final */
#define RELAIS_FW_COAP_UNSUPPORTED 0x8f /* 4.15: final */
#define RELAIS_FW_COAP_UNAVAILABLE 0xa3 /* 5.03: busy, Max-Age seconds */

/* What the box shows the patient (the port drives the LED, buzzer, display). */
enum relais_fw_pillbox_indication {
    RELAIS_FW_PILLBOX_REMIND_ON = 0,  /* LED and buzzer: a dose is due (detail: the slot) */
    RELAIS_FW_PILLBOX_REMIND_OFF = 1, /* the lid opened: the reminder stops (detail: the slot) */
    RELAIS_FW_PILLBOX_CALL15 = 2,     /* the display says "call 15" (detail: the alert) */
    RELAIS_FW_PILLBOX_TIME_SET = 3,   /* the device clock was set (detail: "") */
};

enum relais_fw_pillbox_log_level {
    RELAIS_FW_PILLBOX_INFO = 0,
    RELAIS_FW_PILLBOX_WARN = 1,
    RELAIS_FW_PILLBOX_ERROR = 2,
};

struct relais_fw_pillbox_ops {
    /* The transport: sends pack seq (SenML CBOR, content-format 112) as a
     * confirmable POST to /dev/{device}/up/{seq} with its record signature
     * sig (NULL: none), both borrowed for the call.  Returns 0 when handed over, negative when the
     * link cannot take it now (tried again after the first timeout). */
    int (*send_cb)(void *ctx, uint64_t seq, const void *body, size_t len, const uint8_t *sig);
    /* The record signature seam (docs/firmware.md): the core has no crypto.
     * Writes into mac the HMAC-SHA256, under the box's 32-byte record key,
     * of head[0..head_len) (relais_wire_sig_head: context, device, seq)
     * followed by body[0..len).  Returns 0, or negative when it cannot (the
     * pack is not sent now; tried again after the first timeout).  send_cb
     * then gets the MAC as sig (RELAIS_WIRE_SIG_LEN bytes, borrowed for the
     * call), to carry in the CoAP option RELAIS_WIRE_COAP_OPTION_SIG.  NULL:
     * packs go unsigned (sig NULL), and relaisd rejects any holding a dose. */
    int (*sign_cb)(void *ctx, const uint8_t *head, size_t head_len, const void *body, size_t len,
                   uint8_t mac[RELAIS_WIRE_SIG_LEN]);
    /* The log: one line, msg borrowed for the call. */
    void (*log_cb)(void *ctx, enum relais_fw_pillbox_log_level level, uint64_t seq,
                   const char *msg);
    /* The LED, buzzer and display (may be NULL); detail borrowed for the call. */
    void (*indicate_cb)(void *ctx, enum relais_fw_pillbox_indication what, const char *detail);
    void *ctx; /* passed back to the callbacks; owned by the port */
};

/* Counters for the port's summary (since init). */
struct relais_fw_pillbox_stats {
    uint32_t generated, sent, resent, stored, duplicate, rejected, busy;
    uint32_t commands, reminds, call15s, bad_commands;
};

/* Private: one record of the lid cycle being gathered. */
struct relais_fw_pillbox_event {
    struct relais_fw_record rec;
    char slot[RELAIS_FW_PILLBOX_SLOT_MAX + 1];
};

/* Every field is private except stats; the caller owns the storage. */
struct relais_fw_pillbox {
    struct relais_fw_ringlog *log; /* borrowed, mounted, until the box is dropped */
    struct relais_fw_pillbox_ops ops;
    const char *device; /* borrowed until the box is dropped */
    uint32_t resend_ms, resend_max_ms;
    uint64_t hold_until_ms; /* busy: send nothing before */
    uint64_t inflight_seq;  /* 0: no request in flight */
    uint64_t due_ms;        /* resend the request in flight at */
    uint32_t attempts;      /* sends of the request in flight */
    bool lid_open;
    size_t nev; /* records gathered for the next pack */
    struct relais_fw_pillbox_event ev[RELAIS_FW_PILLBOX_MAX_RECORDS];
    struct relais_fw_record rec[RELAIS_FW_PILLBOX_MAX_RECORDS];
    size_t pending_len; /* > 0: an encoded pack the log had no room for yet */
    uint8_t pending[RELAIS_FW_PILLBOX_PACK_MAX];
    uint8_t pack[RELAIS_FW_PILLBOX_PACK_MAX]; /* a pack read back from the log */
    uint8_t sig[RELAIS_WIRE_SIG_LEN];         /* its record signature */
    uint64_t cmd_after;                       /* the last command id carried out */
    bool reminding;                           /* LED and buzzer on */
    char remind_slot[RELAIS_FW_PILLBOX_SLOT_MAX + 1];
    bool call15;             /* "call 15" on the display */
    bool clock_set;          /* a time command came */
    int64_t clock_offset_ms; /* device time = now_ms + offset */
    struct relais_fw_pillbox_stats stats;
};

/*
 * Sets the box up on a mounted ring log (borrowed), with ops (copied),
 * device (borrowed, a valid device id), the first resend timeout and the
 * backoff's cap in ms (resend_ms >= 1, resend_max_ms >= resend_ms).
 * Returns RELAIS_FW_OK or RELAIS_FW_EINVAL.
 */
int relais_fw_pillbox_init(struct relais_fw_pillbox *pb, struct relais_fw_ringlog *log,
                           const struct relais_fw_pillbox_ops *ops, const char *device,
                           uint32_t resend_ms, uint32_t resend_max_ms);

/*
 * Events, t = device time (seconds since 1970; 0: unknown, the gateway
 * stamps it).  lid(false) closes the cycle and seals its records into one
 * pack (encode, seq, append); a dose or battery event with the lid closed is
 * a pack of its own; a cycle that fills RELAIS_FW_PILLBOX_MAX_RECORDS is
 * sealed early.  Each returns RELAIS_FW_OK; RELAIS_FW_EFULL when the log has
 * no room and a sealed pack already waits for some (the event is NOT taken:
 * report it again after acks); RELAIS_FW_EINVAL for an empty or too long slot
 * or a battery level out of 0..100; another negative code when the flash
 * failed (the pack waits in RAM and step() tries again).
 */
int relais_fw_pillbox_lid(struct relais_fw_pillbox *pb, bool open, double t);
int relais_fw_pillbox_dose(struct relais_fw_pillbox *pb, const char *slot, double t);
int relais_fw_pillbox_battery(struct relais_fw_pillbox *pb, double percent, double t);
/* Seals what was gathered into a pack now (e.g. the lid stayed open too
 * long).  Same return codes. */
int relais_fw_pillbox_flush(struct relais_fw_pillbox *pb);

/*
 * One turn of the loop at monotonic time now_ms: stores a sealed pack that
 * waited for room, then sends the oldest unacknowledged pack when none is in
 * flight, or resends the one in flight when its timeout passed.  Returns
 * RELAIS_FW_OK, or a negative code when the flash failed.
 */
int relais_fw_pillbox_step(struct relais_fw_pillbox *pb, uint64_t now_ms);

/*
 * The response to the request for pack seq: code (class << 5 | detail), its
 * payload body[0..len) (borrowed), max_age_s its Max-Age option (the port
 * passes 60, RFC 7252's default, when absent).
 *   2.04/2.01 with an ack (CBOR or JSON, relais/wire.h) about seq:
 *     stored, duplicate -> the pack leaves the log; rejected -> it leaves the
 *     log too (final) and the error is logged; busy -> wait retry_s;
 *   5.03 -> nothing is sent for max_age_s seconds, then the pack again;
 *   4.00, 4.13, 4.15 -> the pack can never be taken: dropped and logged;
 *   anything else (4.01, 4.03: credentials; 4.04, 5.xx) -> logged, resent
 *     with the backoff (the pack is kept: it is the gateway that is wrong).
 * A response about another seq than the one in flight is ignored.  Returns
 * RELAIS_FW_OK, RELAIS_FW_EINVAL for an unreadable ack (logged, the pack is
 * resent), or the ring log's error.
 */
int relais_fw_pillbox_on_response(struct relais_fw_pillbox *pb, uint64_t seq, unsigned code,
                                  const uint8_t *body, size_t len, uint32_t max_age_s,
                                  uint64_t now_ms);

/* After a (re)connection: the request in flight, if any, is due again now. */
void relais_fw_pillbox_link_up(struct relais_fw_pillbox *pb, uint64_t now_ms);

/*
 * A command (the body of an answer to GET /dev/{device}/cmd, or of an MQTT
 * cmd message), at monotonic time now_ms.  A command whose id is not above
 * the last one carried out is ignored (a repeat); remind and call15 drive
 * indicate_cb; time sets the clock.  Returns RELAIS_FW_OK, or
 * RELAIS_FW_EINVAL for a body relais/wire.h cannot read (logged, counted).
 */
int relais_fw_pillbox_on_cmd(struct relais_fw_pillbox *pb, const char *body, size_t len,
                             uint64_t now_ms);
/* The N of the next poll's ?after=N: the last command id carried out. */
uint64_t relais_fw_pillbox_cmd_after(const struct relais_fw_pillbox *pb);
/* The device clock, seconds since 1970 (with ms), or 0 before a time command. */
double relais_fw_pillbox_time(const struct relais_fw_pillbox *pb, uint64_t now_ms);

/* True when nothing waits: no record gathered, no pack unacknowledged. */
int relais_fw_pillbox_idle(const struct relais_fw_pillbox *pb);

#endif
