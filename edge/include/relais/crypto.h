/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cryptographic primitives through mbedtls, behind one small interface that
 * builds against mbedtls 2.28 and 3.x.
 */
#ifndef RELAIS_CRYPTO_H
#define RELAIS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAIS_SHA256_LEN 32

/* Incremental SHA-256; the context is caller-owned and opaque. */
struct relais_sha256 {
    _Alignas(8) unsigned char opaque[256];
};

void relais_sha256_init(struct relais_sha256 *h);
void relais_sha256_update(struct relais_sha256 *h, const void *data, size_t len);
/* Writes the digest and wipes the context. */
void relais_sha256_finish(struct relais_sha256 *h, uint8_t out[RELAIS_SHA256_LEN]);
void relais_sha256(const void *data, size_t len, uint8_t out[RELAIS_SHA256_LEN]);

/* HMAC-SHA256 of data under key. */
void relais_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[RELAIS_SHA256_LEN]);

/* Compares two byte strings in constant time: 0 when equal. */
int relais_ct_compare(const void *a, const void *b, size_t len);

/*
 * AES-256-GCM sealing of one record: a fresh random 96-bit nonce from the
 * CTR-DRBG, the 128-bit tag, the associated data authenticated, not stored.
 * Sealed layout: version byte 1 || nonce (12) || ciphertext (len) || tag (16),
 * that is RELAIS_SEAL_OVERHEAD bytes more than the plaintext.
 * relais_seal: out has room for len + RELAIS_SEAL_OVERHEAD; RELAIS_OK or
 * RELAIS_EIO.  relais_unseal: out has room for len - RELAIS_SEAL_OVERHEAD;
 * RELAIS_ECORRUPT (nothing usable in out) when the record, its associated
 * data or the key do not match.
 */
#define RELAIS_SEAL_KEY_LEN  32
#define RELAIS_SEAL_OVERHEAD (1 + 12 + 16)
/* The same with the key set up once (the store's hot path): a caller-owned
 * opaque context; relais_aead_open is relais_unseal's counterpart. */
struct relais_aead {
    _Alignas(16) unsigned char opaque[640];
    bool ready;
};
int relais_aead_init(struct relais_aead *a, const uint8_t key[RELAIS_SEAL_KEY_LEN]);
void relais_aead_free(struct relais_aead *a);
int relais_aead_seal(struct relais_aead *a, const void *aad, size_t aad_len, const void *in,
                     size_t len, uint8_t *out);
int relais_aead_open(struct relais_aead *a, const void *aad, size_t aad_len, const uint8_t *in,
                     size_t len, uint8_t *out);
int relais_seal(const uint8_t key[RELAIS_SEAL_KEY_LEN], const void *aad, size_t aad_len,
                const void *in, size_t len, uint8_t *out);
int relais_unseal(const uint8_t key[RELAIS_SEAL_KEY_LEN], const void *aad, size_t aad_len,
                  const uint8_t *in, size_t len, uint8_t *out);

/* Cryptographic random bytes from mbedtls's CTR-DRBG, seeded from the
 * kernel's entropy (getrandom) at first use.  Returns RELAIS_OK or RELAIS_EIO. */
int relais_random_bytes(void *out, size_t len);

/* Lower-case hex of in[0..len) into out (capacity 2 * len + 1). */
void relais_hex(const uint8_t *in, size_t len, char *out);

/* Parses exactly 2 * len lower- or upper-case hex digits.  Returns 0 or -1. */
int relais_unhex(const char *in, uint8_t *out, size_t len);

/* Wipes a secret so that the compiler cannot drop the write. */
void relais_zeroize(void *p, size_t len);

/* The hash mosquitto 2.0 keeps for a password in its password file
 * ("$7$101$SALT$HASH": PBKDF2-HMAC-SHA512, 101 iterations, a fresh random
 * 12-byte salt, both base64), as mosquitto_passwd writes it.  cap: at least
 * RELAIS_MOSQ_HASH_MAX.  Returns RELAIS_OK, RELAIS_EIO or RELAIS_ETOOBIG. */
#define RELAIS_MOSQ_HASH_MAX 128
int relais_mosquitto_pw_hash(const char *password, char *out, size_t cap);

#endif
