/* SPDX-License-Identifier: Apache-2.0 */
/* relaisctl's shared parts: options, exit codes, helpers (relaisctl.c),
 * and the care commands (care.c). */
#ifndef RELAISCTL_H
#define RELAISCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_NOT_RUNNING = 3, EXIT_TAMPERED = 4 };

struct opts {
    const char *config, *socket, *db, *key_file, *head, *device, *metric, *kind, *patient, *by;
    bool flagged, json, all;
    long limit;
};

void iso_time(double t, char *buf, size_t cap);
/* A request to relaisd; RELAIS_ECONN when it is not running. */
int ask(const char *sock, const char *request, json_t **answer);
int64_t wall_ms(void);

/* broker.c: replaces user's entry in the broker's password file (password
 * NULL: removes it), then SIGHUPs the pid in pid_file (NULL or "": none).
 * Returns an exit code. */
int broker_passwd_update(const char *passwd_file, const char *pid_file, const char *user,
                         const char *password);
/* Opens the store with its key (--key-file, [store] key_file, or store.key
 * beside the database); a read-only open without a readable key reads only
 * what is not sealed.  Prints why it failed. */
struct relais_store;
int ctl_store_open(const char *db, bool readonly, struct relais_store **st);
extern char relaisctl_key_file[4096];
/* The store key's path for db: --key-file, [store] key_file, or store.key
 * beside the database. */
void ctl_key_path(const char *db, char *out, size_t cap);
/* uplink.c: uplink csr (the gateway's key into key_file, the request on
 * stdout) */
int cmd_uplink_csr(const struct opts *o, const char *key_file, const char *gateway);
extern char relaisctl_upstream_key[4096];
/* key.c: key rotate */
int cmd_key_rotate(const struct opts *o, const char *sock, const char *db);
/* [gateway] id from the configuration ("gw" when it could not be read). */
extern char relaisctl_gateway[40];

/* The care commands: alerts, alert, ack, resolve, adherence, delays,
 * careplan [apply FILE], commands, clock [...]. */
bool care_command_known(const char *cmd, int nargs, char **args);
int care_command(const struct opts *o, const char *sock, const char *db, const char *cmd, int nargs,
                 char **args);

#endif
