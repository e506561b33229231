/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control socket relaisctl talks to: a Unix stream socket (mode 0600).
 * One request line per connection, "COMMAND [ARGS]\n"; one JSON answer, then
 * the connection is closed.  Slow or silent clients are dropped after 5 s;
 * at most 8 are served at once.
 *
 * Opening fails when another process already serves the socket (a second
 * relaisd on the same data directory must not run).
 */
#ifndef RELAIS_CONTROL_H
#define RELAIS_CONTROL_H

#include <stddef.h>

#include "relais/loop.h"

struct relais_control;

/* The longest request line: a care plan (64 KiB) on one line and its command. */
#define RELAIS_CONTROL_MAX_REQUEST (65536 + 64)

/* Answers one request: writes a malloc'd JSON text to *out (freed by the
 * control module).  args is "" when none. */
typedef int (*relais_control_cb)(void *ud, const char *cmd, const char *args, char **out);

int relais_control_open(struct relais_control **out, struct relais_loop *loop, const char *path,
                        relais_control_cb cb, void *ud);
/* Closes the clients and the socket, and unlinks the path. */
void relais_control_close(struct relais_control *ctl);

/* Client side (relaisctl): sends "cmd args\n" to path and reads the answer
 * into a malloc'd string.  Returns RELAIS_OK, RELAIS_ECONN when nobody
 * listens, RELAIS_EIO. */
int relais_control_request(const char *path, const char *request, char **answer,
                           unsigned timeout_ms);

#endif
