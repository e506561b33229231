/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record signatures (see relais/record_sig.h): HMAC-SHA256 through mbedtls's
 * generic message-digest layer, whose HMAC calls have the same names in
 * mbedtls 2.28 and 3.x.  The head comes from the wire library, so that the
 * devices and relaisd MAC the same bytes.
 */
#include "relais/record_sig.h"
#include "relais/crypto.h"
#include "relais/error.h"

#include <string.h>

#include <mbedtls/md.h>

_Static_assert(RELAIS_PACK_SIG_LEN == RELAIS_WIRE_SIG_LEN, "a pack keeps one record signature");

int relais_record_sig_compute(const uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN], const char *device,
                              uint64_t seq, const uint8_t *body, size_t len,
                              uint8_t mac[RELAIS_WIRE_SIG_LEN])
{
    uint8_t head[RELAIS_WIRE_SIG_HEAD_MAX];
    mbedtls_md_context_t md;
    int rc = RELAIS_EINVAL;
    memset(mac, 0, RELAIS_WIRE_SIG_LEN);
    int hl = relais_wire_sig_head(head, sizeof head, device, seq);
    if (hl < 0 || (len && !body)) return RELAIS_EINVAL;
    mbedtls_md_init(&md);
    if (mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) != 0 ||
        mbedtls_md_hmac_starts(&md, key, RELAIS_WIRE_RECORD_KEY_LEN) != 0 ||
        mbedtls_md_hmac_update(&md, head, (size_t)hl) != 0 ||
        (len && mbedtls_md_hmac_update(&md, body, len) != 0) ||
        mbedtls_md_hmac_finish(&md, mac) != 0) {
        memset(mac, 0, RELAIS_WIRE_SIG_LEN);
        rc = RELAIS_EINTERNAL;
        goto out;
    }
    rc = RELAIS_OK;
out:
    mbedtls_md_free(&md); /* wipes the keyed pads */
    return rc;
}

/* 0 when a and b are equal; the time does not depend on where they differ. */
int relais_record_sig_verify(const uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN], const char *device,
                             uint64_t seq, const uint8_t *body, size_t len, const uint8_t *sig,
                             size_t sig_len)
{
    uint8_t mac[RELAIS_WIRE_SIG_LEN];
    if (!sig || sig_len != RELAIS_WIRE_SIG_LEN) return RELAIS_EINVAL;
    int rc = relais_record_sig_compute(key, device, seq, body, len, mac);
    if (rc == RELAIS_OK && relais_ct_compare(mac, sig, sizeof mac) != 0) rc = RELAIS_EPERM;
    relais_zeroize(mac, sizeof mac);
    return rc;
}

bool relais_pack_has_dose(const struct relais_pack *pack)
{
    for (size_t i = 0; i < pack->count; i++)
        if (pack->readings[i].metric && strcmp(pack->readings[i].metric, "dose") == 0) return true;
    return false;
}
