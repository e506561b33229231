/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relaisd: wires the modules on one loop and runs it.
 *
 *   start:   config -> data dir -> store -> loop, signals, control socket ->
 *            ingest -> MQTT ingest -> READY (sd_notify)
 *   SIGHUP:  reload the config into a new struct; apply what may change
 *   SIGTERM/SIGINT: stop reading, commit the open batch, send its acks,
 *            disconnect, checkpoint and close the store, exit 0
 */
#ifndef RELAIS_DAEMON_H
#define RELAIS_DAEMON_H

#include "relais/config.h"

/* Runs relaisd with a loaded config (ownership of cfg passes to the daemon).
 * log_level_override >= 0 (from --log-level) wins over the file, reloads
 * included.  Returns the process exit code. */
int relais_daemon_run(const char *config_path, struct relais_config *cfg, int log_level_override);

#endif
