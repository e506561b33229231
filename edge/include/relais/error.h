/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relais error codes: one enum for the whole project.
 *
 * RELAIS_OK is 0; every error is negative with an explicit value that is never
 * renumbered (values are logged, stored in the audit trail and mapped to exit
 * codes).  Adapters turn libcoap's "1 = success", libmosquitto's MOSQ_ERR_* and
 * SQLite's SQLITE_* into these at the boundary.
 */
#ifndef RELAIS_ERROR_H
#define RELAIS_ERROR_H

enum relais_err {
    RELAIS_OK = 0,
    RELAIS_EINVAL = -1,     /* invalid argument or input */
    RELAIS_ENOMEM = -2,     /* out of memory */
    RELAIS_EIO = -3,        /* I/O or system call failed (errno logged) */
    RELAIS_ERANGE = -4,     /* value out of range */
    RELAIS_EPARSE = -5,     /* malformed input */
    RELAIS_ETOOBIG = -6,    /* input exceeds a limit */
    RELAIS_EBUSY = -7,      /* resource busy or quota reached; retry later */
    RELAIS_ENOTFOUND = -8,  /* no such thing */
    RELAIS_EEXIST = -9,     /* already exists */
    RELAIS_ESTORE = -10,    /* the store failed (SQLite error logged) */
    RELAIS_ECONFIG = -11,   /* configuration error */
    RELAIS_EPERM = -12,     /* not permitted (ownership, mode, ACL) */
    RELAIS_EAGAIN = -13,    /* would block, try again */
    RELAIS_ECONN = -14,     /* connection refused, lost or not established */
    RELAIS_EPROTO = -15,    /* protocol violation by a peer */
    RELAIS_EVERSION = -16,  /* unsupported version (schema, SenML bver) */
    RELAIS_ECORRUPT = -17,  /* corrupt data detected */
    RELAIS_EINTERNAL = -18, /* a bug: an invariant did not hold */
};

/* A static English description of rc; never NULL. */
const char *relais_strerror(int rc);

#endif
