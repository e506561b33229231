/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mbedtls adapter: SHA-256 and wiping.  The *_ret functions of mbedtls 2.x
 * became the plain names in 3.x; this file is the only place that knows.
 */
#include "relais/crypto.h"

#include "relais/error.h"
#include "relais/log.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

_Static_assert(sizeof(mbedtls_sha256_context) <= sizeof(struct relais_sha256),
               "struct relais_sha256 too small for mbedtls_sha256_context");

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define sha256_starts mbedtls_sha256_starts
#define sha256_update mbedtls_sha256_update
#define sha256_finish mbedtls_sha256_finish
#else
#define sha256_starts mbedtls_sha256_starts_ret
#define sha256_update mbedtls_sha256_update_ret
#define sha256_finish mbedtls_sha256_finish_ret
#endif

void relais_sha256_init(struct relais_sha256 *h)
{
    mbedtls_sha256_context *ctx = (mbedtls_sha256_context *)(void *)h->opaque;
    mbedtls_sha256_init(ctx);
    (void)sha256_starts(ctx, 0); /* cannot fail for the software implementation */
}

void relais_sha256_update(struct relais_sha256 *h, const void *data, size_t len)
{
    (void)sha256_update((mbedtls_sha256_context *)(void *)h->opaque, data, len);
}

void relais_sha256_finish(struct relais_sha256 *h, uint8_t out[RELAIS_SHA256_LEN])
{
    mbedtls_sha256_context *ctx = (mbedtls_sha256_context *)(void *)h->opaque;
    (void)sha256_finish(ctx, out);
    mbedtls_sha256_free(ctx);
}

void relais_sha256(const void *data, size_t len, uint8_t out[RELAIS_SHA256_LEN])
{
    struct relais_sha256 h;
    relais_sha256_init(&h);
    relais_sha256_update(&h, data, len);
    relais_sha256_finish(&h, out);
}

void relais_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[RELAIS_SHA256_LEN])
{
    /* cannot fail with SHA-256 and valid pointers */
    (void)mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len, data, len,
                          out);
}

int relais_ct_compare(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < len; i++)
        d |= (uint8_t)(x[i] ^ y[i]);
    return d != 0;
}

#define SEAL_VERSION 1
#define SEAL_NONCE   12
#define SEAL_TAG     16

_Static_assert(sizeof(mbedtls_gcm_context) <= sizeof(((struct relais_aead *)0)->opaque),
               "struct relais_aead too small for mbedtls_gcm_context");

static mbedtls_gcm_context *gcm_of(struct relais_aead *a)
{
    return (mbedtls_gcm_context *)(void *)a->opaque;
}

int relais_aead_init(struct relais_aead *a, const uint8_t key[RELAIS_SEAL_KEY_LEN])
{
    mbedtls_gcm_init(gcm_of(a));
    int rc = mbedtls_gcm_setkey(gcm_of(a), MBEDTLS_CIPHER_ID_AES, key, 8 * RELAIS_SEAL_KEY_LEN);
    if (rc) {
        log_error("crypto", "AES-GCM key setup failed: -0x%04x", (unsigned)-rc);
        mbedtls_gcm_free(gcm_of(a));
        return RELAIS_EIO;
    }
    a->ready = true;
    return RELAIS_OK;
}

void relais_aead_free(struct relais_aead *a)
{
    if (a->ready) mbedtls_gcm_free(gcm_of(a)); /* wipes the key schedule */
    a->ready = false;
}

int relais_aead_seal(struct relais_aead *a, const void *aad, size_t aad_len, const void *in,
                     size_t len, uint8_t *out)
{
    if (!a->ready) return RELAIS_EINVAL;
    out[0] = SEAL_VERSION;
    if (relais_random_bytes(out + 1, SEAL_NONCE)) return RELAIS_EIO;
    int rc = mbedtls_gcm_crypt_and_tag(gcm_of(a), MBEDTLS_GCM_ENCRYPT, len, out + 1, SEAL_NONCE,
                                       aad, aad_len, in, out + 1 + SEAL_NONCE, SEAL_TAG,
                                       out + 1 + SEAL_NONCE + len);
    if (rc) {
        log_error("crypto", "AES-GCM seal failed: -0x%04x", (unsigned)-rc);
        return RELAIS_EIO;
    }
    return RELAIS_OK;
}

int relais_aead_open(struct relais_aead *a, const void *aad, size_t aad_len, const uint8_t *in,
                     size_t len, uint8_t *out)
{
    if (!a->ready || len < RELAIS_SEAL_OVERHEAD || in[0] != SEAL_VERSION) return RELAIS_ECORRUPT;
    size_t n = len - RELAIS_SEAL_OVERHEAD;
    int rc = mbedtls_gcm_auth_decrypt(gcm_of(a), n, in + 1, SEAL_NONCE, aad, aad_len,
                                      in + 1 + SEAL_NONCE + n, SEAL_TAG, in + 1 + SEAL_NONCE, out);
    if (rc) {
        if (n) relais_zeroize(out, n);
        return RELAIS_ECORRUPT;
    }
    return RELAIS_OK;
}

int relais_seal(const uint8_t key[RELAIS_SEAL_KEY_LEN], const void *aad, size_t aad_len,
                const void *in, size_t len, uint8_t *out)
{
    struct relais_aead a = {.ready = false};
    int rc = relais_aead_init(&a, key);
    if (!rc) rc = relais_aead_seal(&a, aad, aad_len, in, len, out);
    relais_aead_free(&a);
    return rc;
}

int relais_unseal(const uint8_t key[RELAIS_SEAL_KEY_LEN], const void *aad, size_t aad_len,
                  const uint8_t *in, size_t len, uint8_t *out)
{
    struct relais_aead a = {.ready = false};
    int rc = relais_aead_init(&a, key) ? RELAIS_ECORRUPT : RELAIS_OK;
    if (!rc) rc = relais_aead_open(&a, aad, aad_len, in, len, out);
    relais_aead_free(&a);
    return rc;
}

/* One DRBG for the process (relaisd and its tools are single-threaded). */
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static int drbg_ready;

int relais_random_bytes(void *out, size_t len)
{
    static const unsigned char pers[] = "relais";
    if (!drbg_ready) {
        mbedtls_entropy_init(&entropy);
        mbedtls_ctr_drbg_init(&drbg);
        int rc =
            mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers, sizeof pers - 1);
        if (rc != 0) {
            log_error("crypto", "CTR-DRBG seed failed: -0x%04x", (unsigned)-rc);
            mbedtls_ctr_drbg_free(&drbg);
            mbedtls_entropy_free(&entropy);
            return RELAIS_EIO;
        }
        drbg_ready = 1;
    }
    unsigned char *p = out;
    while (len) {
        size_t n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        int rc = mbedtls_ctr_drbg_random(&drbg, p, n);
        if (rc != 0) {
            log_error("crypto", "CTR-DRBG failed: -0x%04x", (unsigned)-rc);
            return RELAIS_EIO;
        }
        p += n;
        len -= n;
    }
    return RELAIS_OK;
}

int relais_unhex(const char *in, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < 2 * len; i++) {
        char c = in[i];
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return in[2 * len] == '\0' ? 0 : -1;
}

void relais_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void relais_zeroize(void *p, size_t len)
{
    mbedtls_platform_zeroize(p, len);
}

/* PBKDF2-HMAC-SHA512 (mbedtls 3.3 has a context-free call; 2.x needs a
 * context). */
static int pbkdf2_sha512(const unsigned char *pw, size_t pwlen, const unsigned char *salt,
                         size_t saltlen, unsigned iterations, unsigned char *out, size_t outlen)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03030000
    return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA512, pw, pwlen, salt, saltlen, iterations,
                                         (uint32_t)outlen, out);
#else
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA512), 1);
    if (rc == 0)
        rc = mbedtls_pkcs5_pbkdf2_hmac(&md, pw, pwlen, salt, saltlen, iterations, (uint32_t)outlen,
                                       out);
    mbedtls_md_free(&md);
    return rc;
#endif
}

int relais_mosquitto_pw_hash(const char *password, char *out, size_t cap)
{
    unsigned char salt[12], hash[64], s64[24], h64[96];
    size_t sl = 0, hl = 0;
    int rc = relais_random_bytes(salt, sizeof salt);
    if (rc) return rc;
    if (pbkdf2_sha512((const unsigned char *)password, strlen(password), salt, sizeof salt, 101,
                      hash, sizeof hash) != 0 ||
        mbedtls_base64_encode(s64, sizeof s64, &sl, salt, sizeof salt) != 0 ||
        mbedtls_base64_encode(h64, sizeof h64, &hl, hash, sizeof hash) != 0) {
        relais_zeroize(hash, sizeof hash);
        return RELAIS_EIO;
    }
    int n = snprintf(out, cap, "$7$101$%.*s$%.*s", (int)sl, (const char *)s64, (int)hl,
                     (const char *)h64);
    relais_zeroize(hash, sizeof hash);
    return n > 0 && (size_t)n < cap ? RELAIS_OK : RELAIS_ETOOBIG;
}
