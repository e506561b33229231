/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relais-scenario: a care plan and a timeline of readings, doses,
 * acknowledgements and clock changes, checked against the exact alerts
 * (rule, priority, team, time) that result.  The file format is in
 * docs/scenarios.md.  Two backends run the same file:
 *
 *   engine   the rules engine in this process, a store in a temporary
 *            directory, a fake clock (unit level: ctest label "unit")
 *   daemon   a real relaisd with --test-clock, packs published over MQTT to
 *            the gateway's mosquitto as each device, acknowledgements and
 *            plans through the control socket (ctest label "integration")
 */
#ifndef RELAIS_SCENARIO_H
#define RELAIS_SCENARIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backend {
    const char *name;
    /* the clock starts at wall_ms; the backend is ready for a plan */
    int (*start)(struct backend *b, int64_t wall_ms);
    void (*stop)(struct backend *b);
    /* relaisd (or the engine) stops and starts again on the same store;
     * crash: relaisd is killed (SIGKILL) instead of stopped */
    int (*restart)(struct backend *b, bool crash);
    /* moves the clock: both wall and monotonic (advance), or wall only (jump);
     * then runs the rules (time events) */
    int (*advance)(struct backend *b, int64_t delta_ms);
    int (*jump)(struct backend *b, int64_t delta_ms);
    /* the answer of the plan path: {"status": "applied"|"unchanged"|"rejected", ...} */
    json_t *(*apply_plan)(struct backend *b, const char *json);
    /* one SenML JSON pack from device, stored and acknowledged; then the rules run */
    int (*send)(struct backend *b, const char *device, uint64_t seq, const char *senml);
    /* "ack" or "resolve": the alert after the act, or {"error": ...} */
    json_t *(*act)(struct backend *b, const char *alert_id, const char *action, const char *who);
    int (*condition)(struct backend *b, const char *rule, bool active);
    /* "events" (arg: after id), "alerts", "commands", "adherence", "delays" */
    json_t *(*query)(struct backend *b, const char *what, const char *arg);
    /* the device itself received a command with this "cmd" (daemon: over
     * MQTT, waiting a little); the engine backend has no devices: true */
    bool (*device_got)(struct backend *b, const char *device, const char *cmd);
    /* the device is online from now on (daemon: its MQTT client connects) */
    int (*connect)(struct backend *b, const char *device);
    void *priv;
};

int backend_engine_init(struct backend *b, const char *gateway_id);

struct daemon_opts {
    const char *relaisd; /* path of relaisd */
    const char *config;  /* its config file */
    const char *socket;  /* its control socket */
    const char *log;     /* relaisd's stderr goes here */
    const char *broker_host;
    int broker_port;
    const char *device_password; /* every scenario device's MQTT password */
};

int backend_daemon_init(struct backend *b, const struct daemon_opts *o);

#endif
