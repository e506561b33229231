/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the gateway broker's log lines that relaisd reads
 * (relais_broker_log_line, relais/broker_log.h): the input is split into
 * lines and fed to one parser; aborts when a refusal breaks the contract:
 * every field NUL-terminated within its capacity and printable ASCII, the
 * listener port in 0..65535, the reason non-empty.
 *
 * Seeds: tests/fuzz/corpus/broker_log/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relais/broker_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_field(const char *f, size_t cap)
{
    const char *end = memchr(f, '\0', cap);
    if (!end) abort();
    for (const char *c = f; c < end; c++)
        if (*c < 0x20 || *c >= 0x7f) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct relais_broker_log_parser p;
    memset(&p, 0, sizeof p);
    const char *s = (const char *)data, *end = s + size;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        struct relais_broker_refusal r;
        if (relais_broker_log_line(&p, s, len, &r)) {
            check_field(r.peer, sizeof r.peer);
            check_field(r.client, sizeof r.client);
            check_field(r.reason, sizeof r.reason);
            if (!r.reason[0] || r.listener_port < 0 || r.listener_port > 65535) abort();
        }
        check_field(p.peer, sizeof p.peer);
        s += len + 1;
    }
    return 0;
}
