/* SPDX-License-Identifier: Apache-2.0 */
/* Files and directories: secrets with safe modes, data directories. */
#ifndef RELAIS_FSUTIL_H
#define RELAIS_FSUTIL_H

#include <stddef.h>

/*
 * Reads the first line of a secret file (password, key) into buf (NUL-
 * terminated, newline stripped).  Refuses (RELAIS_EPERM) a file that is not
 * regular or that group or others may read or write.  Returns RELAIS_OK,
 * RELAIS_EPERM, RELAIS_EIO or RELAIS_ETOOBIG.  Callers wipe buf after use.
 */
int relais_secret_read(const char *path, char *buf, size_t cap);

/* A private key or other secret read by a library (not through
 * relais_secret_read): RELAIS_EPERM (logged) when it is not a regular file
 * or group or others may read or write it, RELAIS_EIO when absent. */
int relais_secret_check(const char *path);

/* Creates dir and its parents as needed; the last component gets mode.
 * Refuses an existing directory that others may write; one wider than mode
 * is tightened to mode when it is ours (logged), refused when it is not. */
int relais_dir_ensure(const char *path, unsigned mode);

#endif
