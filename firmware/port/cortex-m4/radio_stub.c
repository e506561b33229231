/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport seam (relais/pb/radio.h) as a stub: compiled, not run.  A
 * real port puts the radio driver, DTLS-PSK and CoAP behind these functions.
 */
#include "relais/pb/radio.h"

static volatile uint32_t radio_sent;

void relais_pb_radio_init(void)
{
    radio_sent = 0;
}

int relais_pb_radio_post(const char *device, uint64_t seq, const uint8_t *body, size_t len,
                         const uint8_t *sig)
{
    (void)sig;
    if (device == NULL || seq == 0 || (body == NULL && len > 0)) {
        return -1;
    }
    radio_sent++;
    return 0;
}

int relais_pb_radio_get_cmd(const char *device, uint64_t after)
{
    (void)after;
    if (device == NULL) {
        return -1;
    }
    radio_sent++;
    return 0;
}

int relais_pb_radio_recv(struct relais_pb_response *r, uint8_t *buf, size_t cap)
{
    (void)r;
    (void)buf;
    (void)cap;
    return 0; /* nothing ever arrives in the stub */
}
