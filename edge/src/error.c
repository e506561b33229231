/* SPDX-License-Identifier: Apache-2.0 */
/* relais_strerror(): descriptions of the project's error codes. */
#include "relais/error.h"

const char *relais_strerror(int rc)
{
    switch (rc) {
    case RELAIS_OK: return "success";
    case RELAIS_EINVAL: return "invalid argument";
    case RELAIS_ENOMEM: return "out of memory";
    case RELAIS_EIO: return "input/output error";
    case RELAIS_ERANGE: return "value out of range";
    case RELAIS_EPARSE: return "malformed input";
    case RELAIS_ETOOBIG: return "input too large";
    case RELAIS_EBUSY: return "busy";
    case RELAIS_ENOTFOUND: return "not found";
    case RELAIS_EEXIST: return "already exists";
    case RELAIS_ESTORE: return "store error";
    case RELAIS_ECONFIG: return "configuration error";
    case RELAIS_EPERM: return "not permitted";
    case RELAIS_EAGAIN: return "try again";
    case RELAIS_ECONN: return "connection error";
    case RELAIS_EPROTO: return "protocol error";
    case RELAIS_EVERSION: return "unsupported version";
    case RELAIS_ECORRUPT: return "corrupt data";
    case RELAIS_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}
