/* SPDX-License-Identifier: Apache-2.0 */
/* Secret files and data directories (see relais/fsutil.h). */
#include "relais/fsutil.h"
#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int relais_secret_read(const char *path, char *buf, size_t cap)
{
    struct stat st;
    int rc = RELAIS_EIO;
    if (cap == 0) return RELAIS_EINVAL;
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        log_error("secret", "cannot open %s: %s", path, strerror(errno));
        return RELAIS_EIO;
    }
    if (fstat(fd, &st) != 0) {
        log_error("secret", "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        log_error("secret", "%s is not a regular file", path);
        rc = RELAIS_EPERM;
        goto out;
    }
    if (st.st_mode & 077) {
        log_error("secret",
                  "%s is accessible to group or others (mode %04o): refusing it; "
                  "chmod 600 it",
                  path, (unsigned)(st.st_mode & 07777));
        rc = RELAIS_EPERM;
        goto out;
    }
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            log_error("secret", "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    char *nl = memchr(buf, '\n', n);
    if (!nl && n + 1 >= cap) {
        log_error("secret", "%s: first line too long", path);
        rc = RELAIS_ETOOBIG;
        goto out;
    }
    if (nl) *nl = '\0';
    n = strlen(buf);
    if (n && buf[n - 1] == '\r') buf[n - 1] = '\0';
    rc = RELAIS_OK;
out:
    if (rc != RELAIS_OK) relais_zeroize(buf, cap);
    close(fd);
    return rc;
}

int relais_secret_check(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        log_error("secret", "cannot stat %s: %s", path, strerror(errno));
        return RELAIS_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        log_error("secret", "%s is not a regular file", path);
        return RELAIS_EPERM;
    }
    if (st.st_mode & 077) {
        log_error("secret",
                  "%s is accessible to group or others (mode %04o): refusing it; chmod 600 it",
                  path, (unsigned)(st.st_mode & 07777));
        return RELAIS_EPERM;
    }
    return RELAIS_OK;
}

int relais_dir_ensure(const char *path, unsigned mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return RELAIS_ETOOBIG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            log_error("fs", "cannot create %s: %s", tmp, strerror(errno));
            return RELAIS_EIO;
        }
        *p = '/';
    }
    if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST) {
        log_error("fs", "cannot create %s: %s", tmp, strerror(errno));
        return RELAIS_EIO;
    }
    struct stat st;
    if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_error("fs", "%s is not a directory", tmp);
        return RELAIS_EIO;
    }
    if (st.st_mode & 002) {
        log_error("fs", "%s is writable by others: refusing it", tmp);
        return RELAIS_EPERM;
    }
    /* an existing directory wider than asked: tightened when it is ours
     * (the store, its key and the control socket live there), else refused */
    if ((st.st_mode & 0777 & ~(mode_t)mode) != 0) {
        if (st.st_uid != geteuid()) {
            log_error("fs", "%s (mode %04o) is open to others and not ours: refusing it", tmp,
                      (unsigned)(st.st_mode & 07777));
            return RELAIS_EPERM;
        }
        if (chmod(tmp, (mode_t)mode) != 0) {
            log_error("fs", "cannot chmod %s to %04o: %s", tmp, mode, strerror(errno));
            return RELAIS_EIO;
        }
        log_warn("fs", "%s was mode %04o: now %04o", tmp, (unsigned)(st.st_mode & 07777), mode);
    }
    return RELAIS_OK;
}
