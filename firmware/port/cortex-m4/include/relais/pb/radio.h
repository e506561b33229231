/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pill box's transport seam: requests up, responses down.  Behind it, on
 * a real board: the radio driver, IP, DTLS-PSK and CoAP (DESIGN 3.4):
 * confirmable POST dev/{device}/up/{seq} with Content-Format 112 and the
 * pack's record signature (option 65000), and GET
 * dev/{device}/cmd?after=N for the box's commands (docs/contract.md).  Each
 * response comes back with what it answers, its code, Max-Age and payload.
 * radio_stub.c implements it as a stub (compiled, not run): requests are
 * taken, nothing ever comes back.
 */
#ifndef RELAIS_PB_RADIO_H
#define RELAIS_PB_RADIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void relais_pb_radio_init(void);

/* Sends pack seq of device (its SenML CBOR body[0..len) and its record
 * signature sig, RELAIS_WIRE_SIG_LEN bytes for the Relais-Signature option
 * 65000, or NULL; borrowed for the call).  Returns 0, or -1 when the link is down or busy (the pack
 * stays in the ring log; the pill box logic sends it again after its timeout). */
int relais_pb_radio_post(const char *device, uint64_t seq, const uint8_t *body, size_t len,
                         const uint8_t *sig);

/* Asks for device's next command after command id `after`.  Returns 0 or -1. */
int relais_pb_radio_get_cmd(const char *device, uint64_t after);

/* A response received. */
struct relais_pb_response {
    bool is_cmd;        /* the answer to a GET .../cmd, else to the POST of pack seq */
    uint64_t seq;       /* the pack it answers */
    unsigned code;      /* CoAP code, class << 5 | detail */
    uint32_t max_age_s; /* Max-Age (60 when absent, RFC 7252) */
    size_t len;         /* payload bytes in the caller's buffer */
};

/* The next response, its payload copied into buf[0..cap).  Returns 1, 0 when
 * nothing arrived, -1 when one did not fit (dropped: the request is made
 * again). */
int relais_pb_radio_recv(struct relais_pb_response *r, uint8_t *buf, size_t cap);

#endif
