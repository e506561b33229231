/* SPDX-License-Identifier: Apache-2.0 */
/* Descriptions of the firmware error codes (relais/fw/error.h). */
#include "relais/fw/error.h"

const char *relais_fw_strerror(int rc)
{
    switch (rc) {
    case RELAIS_FW_OK: return "ok";
    case RELAIS_FW_EINVAL: return "invalid argument";
    case RELAIS_FW_ENOMEM: return "buffer too small";
    case RELAIS_FW_EIO: return "flash I/O failed";
    case RELAIS_FW_ERANGE: return "value out of range";
    case RELAIS_FW_ETOOBIG: return "pack too large for the log";
    case RELAIS_FW_EFULL: return "log full of unacknowledged packs";
    case RELAIS_FW_ENOTFOUND: return "not found";
    case RELAIS_FW_ECORRUPT: return "corrupt record";
    case RELAIS_FW_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}
