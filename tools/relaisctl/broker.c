/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway broker's password file, kept by relaisctl device add/remove
 * ([local] broker_passwd_file): one "user:$7$..." line per user, as
 * mosquitto_passwd writes it.  A device's line is replaced or removed; every
 * other line (relaisd's own user, users added by hand) is kept as it was.
 * The file is rewritten whole (a temporary file in the same directory,
 * fsynced, renamed), with the owner and mode of the one it replaces (at most
 * 0640: never writable by the group nor readable by others; 0600 for
 * a new one); then mosquitto is told to reload it (SIGHUP to the pid in
 * [local] broker_pid_file).
 */
#include "relaisctl.h"

#include "relais/crypto.h"
#include "relais/error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASSWD_MAX (1024 * 1024)

static char *slurp(const char *path, size_t *len, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *len = 0;
            memset(st, 0, sizeof *st);
            st->st_mode = 0600;
            st->st_uid = (uid_t)-1;
            return calloc(1, 1);
        }
        return NULL;
    }
    char *buf = NULL;
    if (fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_size < PASSWD_MAX) {
        buf = malloc((size_t)st->st_size + 1);
        size_t n = 0;
        while (buf && n < (size_t)st->st_size) {
            ssize_t r = read(fd, buf + n, (size_t)st->st_size - n);
            if (r <= 0) {
                free(buf);
                buf = NULL;
                break;
            }
            n += (size_t)r;
        }
        if (buf) {
            buf[n] = '\0';
            *len = n;
        }
    }
    close(fd);
    return buf;
}

int broker_passwd_update(const char *passwd_file, const char *pid_file, const char *user,
                         const char *password)
{
    struct stat st;
    size_t len = 0;
    char *old = slurp(passwd_file, &len, &st);
    if (!old) {
        fprintf(stderr, "relaisctl: cannot read the broker's password file %s: %s\n", passwd_file,
                strerror(errno));
        return EXIT_ERROR;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.relaisctl-tmp", passwd_file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "relaisctl: cannot write %s: %s\n", tmp, strerror(errno));
        free(old);
        return EXIT_ERROR;
    }
    FILE *out = fdopen(fd, "w");
    size_t ul = strlen(user);
    int ok = out != NULL;
    /* every other user's line, as it was */
    for (char *line = old; ok && *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        bool mine = ll > ul && strncmp(line, user, ul) == 0 && line[ul] == ':';
        if (!mine && ll) ok = fprintf(out, "%.*s\n", (int)ll, line) > 0;
        line += ll + (nl ? 1 : 0);
    }
    if (ok && password) {
        char hash[RELAIS_MOSQ_HASH_MAX];
        ok = relais_mosquitto_pw_hash(password, hash, sizeof hash) == RELAIS_OK &&
             fprintf(out, "%s:%s\n", user, hash) > 0;
        relais_zeroize(hash, sizeof hash);
    }
    relais_zeroize(old, len);
    free(old);
    if (ok) ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    if (ok && st.st_uid != (uid_t)-1) {
        /* the owner (mosquitto reads it) and mode of the file it replaces */
        ok = fchown(fileno(out), st.st_uid, st.st_gid) == 0 || geteuid() != 0;
        ok = ok && fchmod(fileno(out), st.st_mode & 0640) == 0;
    }
    if (out) ok = (fclose(out) == 0) && ok;
    if (!ok || rename(tmp, passwd_file) != 0) {
        fprintf(stderr, "relaisctl: cannot write the broker's password file %s: %s\n", passwd_file,
                strerror(errno));
        unlink(tmp);
        return EXIT_ERROR;
    }
    if (!pid_file || !pid_file[0]) {
        fprintf(stderr, "broker: %s %s in %s; reload mosquitto (SIGHUP) for it to take effect\n",
                user, password ? "written" : "removed", passwd_file);
        return EXIT_OK;
    }
    FILE *pf = fopen(pid_file, "r");
    long pid = 0;
    if (!pf || fscanf(pf, "%ld", &pid) != 1 || pid <= 1 || kill((pid_t)pid, SIGHUP) != 0) {
        fprintf(stderr,
                "relaisctl: %s %s in %s, but mosquitto (pid file %s) could not be told to "
                "reload it: %s\n",
                user, password ? "written" : "removed", passwd_file, pid_file, strerror(errno));
        if (pf) fclose(pf);
        return EXIT_ERROR;
    }
    fclose(pf);
    fprintf(stderr, "broker: %s %s in %s; mosquitto (pid %ld) reloads it\n", user,
            password ? "written" : "removed", passwd_file, pid);
    return EXIT_OK;
}
