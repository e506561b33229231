/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pill box's transport seam: one pack up, one answer down.  Behind it, on
 * a real board: the radio driver, IP, DTLS-PSK and CoAP (POST
 * dev/{device}/up/{seq}, Content-Format 112, DESIGN 3.4); the answer is the
 * ack body (CBOR, relais/wire.h) or nothing yet.  radio_stub.c implements it
 * as a stub (compiled, not run): sends succeed, nothing ever comes back.
 */
#ifndef RELAIS_PB_RADIO_H
#define RELAIS_PB_RADIO_H

#include <stddef.h>
#include <stdint.h>

void relais_pb_radio_init(void);

/* Queues pack seq of device (its SenML CBOR body[0..len), borrowed for the
 * call) for sending.  Returns 0, or -1 when the link is down or busy (the
 * pack stays in the ring log and is sent again later). */
int relais_pb_radio_send(const char *device, uint64_t seq, const uint8_t *body, size_t len);

/* Copies the next answer received, an ack body, into buf[0..cap).  Returns
 * its length, 0 when nothing arrived, -1 when an answer did not fit (it is
 * dropped: the pack is sent again and acknowledged as a duplicate). */
int relais_pb_radio_recv(uint8_t *buf, size_t cap);

#endif
