/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes of the device firmware.  The values are those of the project's
 * one error enum (edge/include/relais/error.h), which the firmware cannot
 * include (it links no edge code): RELAIS_FW_OK is 0, errors are negative,
 * never renumbered, and RELAIS_FW_X == RELAIS_X for every code listed here.
 */
#ifndef RELAIS_FW_ERROR_H
#define RELAIS_FW_ERROR_H

enum relais_fw_err {
    RELAIS_FW_OK = 0,
    RELAIS_FW_EINVAL = -1,     /* invalid argument, or a NOR rule broken (emulation) */
    RELAIS_FW_ENOMEM = -2,     /* a caller's buffer is too small (the firmware has no heap) */
    RELAIS_FW_EIO = -3,        /* the flash failed (or the power was cut: emulation) */
    RELAIS_FW_ERANGE = -4,     /* value out of range (seq space exhausted) */
    RELAIS_FW_ETOOBIG = -6,    /* a pack larger than a log record can hold */
    RELAIS_FW_EFULL = -7,      /* = RELAIS_EBUSY: the log is full of unacknowledged packs */
    RELAIS_FW_ENOTFOUND = -8,  /* no such pack / no more packs */
    RELAIS_FW_ECORRUPT = -17,  /* a record failed its CRC when read back */
    RELAIS_FW_EINTERNAL = -18, /* a bug: an invariant did not hold */
};

/* A static English description of rc; never NULL. */
const char *relais_fw_strerror(int rc);

#endif
