/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relaisctl key rotate: the store re-sealed under a fresh key.
 *
 * relaisd keeps its key in memory, so it must not run.  The new key is
 * written first, to "<key file>.new" (0600, fsync'd); the store is re-sealed
 * in one transaction (every sealed value opened under the old key, sealed
 * under the new one, every keyed tag recomputed, audited); then the new key
 * is renamed over the old one.  A crash before the commit leaves the store
 * and the key as they were; a crash after it leaves the store sealed under
 * "<key file>.new", which relaisd and relaisctl take (and rename into place)
 * when the key file's key is refused.
 */
#include "relaisctl.h"

#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fsync_dir_of(const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s", path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int cmd_key_rotate(const struct opts *o, const char *sock, const char *db)
{
    json_t *answer = NULL;
    if (ask(sock, "status", &answer) != RELAIS_ECONN) {
        json_decref(answer);
        fprintf(stderr,
                "relaisctl: relaisd is running (%s): stop it before rotating the store "
                "key (it holds the key in memory)\n",
                sock);
        return EXIT_ERROR;
    }
    char key[4200], next[4300];
    ctl_key_path(db, key, sizeof key);
    snprintf(next, sizeof next, "%s.new", key);
    struct relais_store *st = NULL;
    if (ctl_store_open(db, false, &st)) return EXIT_ERROR;
    char old_id[17] = "", new_id[17] = "";
    relais_store_key_id(st, old_id);
    /* the store opened under the key file's key: a left-over .new is stale */
    if (unlink(next) != 0 && errno != ENOENT) {
        fprintf(stderr, "relaisctl: cannot remove %s: %s\n", next, strerror(errno));
        relais_store_close(st);
        return EXIT_ERROR;
    }
    uint8_t k[RELAIS_STORE_KEY_LEN];
    int rc = relais_random_bytes(k, sizeof k);
    if (!rc) rc = relais_store_key_write(next, k);
    if (!rc) fsync_dir_of(next);
    if (!rc) rc = relais_store_rekey(st, k, wall_ms());
    relais_zeroize(k, sizeof k);
    if (!rc) relais_store_key_id(st, new_id);
    relais_store_close(st);
    if (rc) {
        unlink(next);
        fprintf(stderr, "relaisctl: key rotation failed, nothing changed: %s\n",
                relais_strerror(rc));
        return rc == RELAIS_ECORRUPT ? EXIT_TAMPERED : EXIT_ERROR;
    }
    if (rename(next, key) != 0) {
        fprintf(stderr,
                "relaisctl: the store is re-sealed under %s but it could not be renamed to %s: "
                "%s (relaisd takes it as it is)\n",
                next, key, strerror(errno));
        return EXIT_ERROR;
    }
    fsync_dir_of(key);
    if (o->json)
        printf("{\"rotated\":true,\"old_key_id\":\"%s\",\"key_id\":\"%s\",\"key_file\":\"%s\"}\n",
               old_id, new_id, key);
    else
        printf("store re-sealed: key %s replaced by %s (%s)\n", old_id, new_id, key);
    return EXIT_OK;
}
