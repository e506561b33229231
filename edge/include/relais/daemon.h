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

#include <stdint.h>

struct relais_daemon_opts {
    int log_level_override; /* >= 0 (from --log-level) wins over the file, reloads included */
    /* --test-clock: the rules run on a clock that starts at this wall time
     * (ms since 1970) and moves only through the control socket's clock
     * commands; 0: the system clock.  For tests: never on a real gateway. */
    int64_t test_clock_ms;
};

/* Runs relaisd with a loaded config (ownership of cfg passes to the daemon).
 * Returns the process exit code. */
int relais_daemon_run(const char *config_path, struct relais_config *cfg,
                      const struct relais_daemon_opts *opts);

#endif
