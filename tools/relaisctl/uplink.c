/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relaisctl uplink csr: the gateway's own identity towards the hospital
 * broker.  A fresh EC P-256 key (mbedtls, CTR-DRBG) is written to
 * [upstream] key_file (0600, never over an existing key) and a certificate
 * signing request for it, subject CN = the gateway id, is printed (PEM) for
 * the hospital's CA; the certificate it returns goes to [upstream]
 * cert_file.  Builds against mbedtls 2.28 and 3.x.
 */
#include "relaisctl.h"

#include "relais/crypto.h"
#include "relais/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_csr.h>

static int rng(void *unused, unsigned char *out, size_t len)
{
    (void)unused;
    return relais_random_bytes(out, len) == RELAIS_OK ? 0 : -1;
}

static int write_secret(const char *path, const unsigned char *pem, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "relaisctl: cannot create %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (the gateway has a key: remove it first to replace its "
                                  "identity, and have the hospital revoke the old certificate)"
                                : "");
        return EXIT_ERROR;
    }
    int ok = write(fd, pem, len) == (ssize_t)len && fsync(fd) == 0;
    if (close(fd) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "relaisctl: cannot write %s: %s\n", path, strerror(errno));
        unlink(path);
        return EXIT_ERROR;
    }
    return EXIT_OK;
}

int cmd_uplink_csr(const struct opts *o, const char *key_file, const char *gateway)
{
    (void)o;
    if (!key_file[0]) {
        fprintf(stderr, "relaisctl: uplink csr: [upstream] key_file is not set in the "
                        "configuration\n");
        return EXIT_ERROR;
    }
    if (access(key_file, F_OK) == 0) {
        fprintf(stderr,
                "relaisctl: %s exists: the gateway has a key (remove it first to replace "
                "its identity, and have the hospital revoke the old certificate)\n",
                key_file);
        return EXIT_ERROR;
    }
    mbedtls_pk_context pk;
    mbedtls_x509write_csr csr;
    mbedtls_pk_init(&pk);
    mbedtls_x509write_csr_init(&csr);
    static unsigned char pem[4096], req[4096];
    char subject[128];
    int rc = EXIT_ERROR;
    int m = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (!m) m = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), rng, NULL);
    if (!m) m = mbedtls_pk_write_key_pem(&pk, pem, sizeof pem);
    if (m) {
        fprintf(stderr, "relaisctl: uplink csr: key generation failed: -0x%04x\n", (unsigned)-m);
        goto out;
    }
    snprintf(subject, sizeof subject, "CN=%s,O=relais gateway", gateway);
    mbedtls_x509write_csr_set_key(&csr, &pk);
    mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
    m = mbedtls_x509write_csr_set_subject_name(&csr, subject);
    if (!m) m = mbedtls_x509write_csr_set_key_usage(&csr, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    if (!m) m = mbedtls_x509write_csr_pem(&csr, req, sizeof req, rng, NULL);
    if (m) {
        fprintf(stderr, "relaisctl: uplink csr: the request failed: -0x%04x\n", (unsigned)-m);
        goto out;
    }
    /* the key first: a request is worth nothing without it */
    rc = write_secret(key_file, pem, strlen((const char *)pem));
    if (rc) goto out;
    fputs((const char *)req, stdout);
    fprintf(stderr,
            "relaisctl: the gateway's key is in %s (0600); send the request above to the "
            "hospital's CA and put the certificate it returns in [upstream] cert_file\n",
            key_file);
out:
    relais_zeroize(pem, sizeof pem);
    mbedtls_x509write_csr_free(&csr);
    mbedtls_pk_free(&pk);
    return rc;
}
