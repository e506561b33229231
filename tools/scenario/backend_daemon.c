/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon backend: a real relaisd, started here with --test-clock, fed
 * through the real gateway broker.  Each scenario device is an MQTT client
 * with its own credentials (the test's broker passwd), publishing its packs
 * at QoS 1 on relais/dev/{device}/up/{seq} and waiting for relaisd's ack,
 * and receiving its commands on relais/dev/{device}/cmd.  A device's first
 * dose pack registers it with relaisd as a pill box (control device-add),
 * whose record key then signs each of its dose packs: MQTT v5, user
 * property relais-sig (docs/contract.md).  The clock, the
 * care plan, acknowledgements and every query go through the control
 * socket, as relaisctl does.
 */
#include "scenario.h"

#include "relais/control.h"
#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/record_sig.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 16
#define MAX_CMDS    64
#define ACK_WAIT_MS 15000

struct dev_client {
    char id[40];
    struct mosquitto *mosq;
    bool connected;
    uint64_t waiting_seq;
    bool acked;
    char ack_status[16];
    char cmds[MAX_CMDS][16]; /* "cmd" of the commands received, not yet matched */
    size_t ncmds;
    bool has_record_key; /* registered as a pill box */
    uint8_t record_key[RELAIS_WIRE_RECORD_KEY_LEN];
    /* a registered pill box polls for its commands over CoAP: relaisd keeps
     * them for it; the ids of those already matched */
    json_int_t held[MAX_CMDS];
    size_t nheld;
};

struct dmn {
    struct daemon_opts o;
    pid_t pid;
    struct dev_client dev[MAX_DEVICES];
    size_t ndev;
    int64_t start_wall;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the control socket ---- */

static json_t *request(struct dmn *g, const char *line)
{
    char *answer = NULL;
    int rc = relais_control_request(g->o.socket, line, &answer, 20000);
    if (rc) {
        fprintf(stderr, "scenario: control request failed (%s): %.60s\n", relais_strerror(rc),
                line);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loads(answer, 0, &jerr);
    if (!j) fprintf(stderr, "scenario: control answer is not JSON: %.200s\n", answer);
    free(answer);
    return j;
}

static int request_ok(struct dmn *g, const char *line)
{
    json_t *j = request(g, line);
    const char *err = json_string_value(json_object_get(j, "error"));
    if (!j || err) {
        if (err) fprintf(stderr, "scenario: %s: %s\n", line, err);
        json_decref(j);
        return RELAIS_EIO;
    }
    json_decref(j);
    return RELAIS_OK;
}

/* ---- relaisd ---- */

static int spawn(struct dmn *g, int64_t wall_ms)
{
    char clock[32];
    snprintf(clock, sizeof clock, "%" PRId64, wall_ms);
    pid_t pid = fork();
    if (pid < 0) return RELAIS_EIO;
    if (pid == 0) {
        if (g->o.log) {
            int fd = open(g->o.log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                dup2(fd, 2);
                close(fd);
            }
        }
        execl(g->o.relaisd, g->o.relaisd, "-c", g->o.config, "--test-clock", clock, (char *)NULL);
        _exit(127);
    }
    g->pid = pid;
    int64_t deadline = mono_ms() + 20000;
    while (mono_ms() < deadline) {
        char *answer = NULL;
        if (relais_control_request(g->o.socket, "ping", &answer, 1000) == RELAIS_OK) {
            free(answer);
            return RELAIS_OK;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "scenario: relaisd exited at start (see %s)\n",
                    g->o.log ? g->o.log : "its stderr");
            g->pid = 0;
            return RELAIS_EIO;
        }
        usleep(50000);
    }
    fprintf(stderr, "scenario: relaisd does not answer on %s\n", g->o.socket);
    return RELAIS_EIO;
}

static void terminate(struct dmn *g, bool crash)
{
    if (g->pid <= 0) return;
    kill(g->pid, crash ? SIGKILL : SIGTERM);
    int64_t deadline = mono_ms() + 15000;
    int status;
    while (waitpid(g->pid, &status, WNOHANG) == 0) {
        if (mono_ms() > deadline) {
            kill(g->pid, SIGKILL);
            waitpid(g->pid, &status, 0);
            break;
        }
        usleep(20000);
    }
    g->pid = 0;
}

/* ---- device clients ---- */

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    struct dev_client *c = ud;
    if (rc != 0) return;
    char topic[96];
    snprintf(topic, sizeof topic, "relais/dev/%s/ack/+", c->id);
    mosquitto_subscribe(m, NULL, topic, 1);
    snprintf(topic, sizeof topic, "relais/dev/%s/cmd", c->id);
    mosquitto_subscribe(m, NULL, topic, 1);
    c->connected = true;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    struct dev_client *c = ud;
    (void)m;
    json_t *j = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
    if (strstr(msg->topic, "/cmd")) {
        const char *cmd = json_string_value(json_object_get(j, "cmd"));
        if (cmd && c->ncmds < MAX_CMDS) snprintf(c->cmds[c->ncmds++], sizeof c->cmds[0], "%s", cmd);
    } else {
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
        const char *st = json_string_value(json_object_get(j, "status"));
        if (seq == c->waiting_seq && st) {
            c->acked = true;
            snprintf(c->ack_status, sizeof c->ack_status, "%s", st);
        }
    }
    json_decref(j);
}

static void pump(struct dev_client *c, int ms)
{
    int rc = mosquitto_loop(c->mosq, ms, 1);
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) {
        c->connected = false;
        mosquitto_reconnect(c->mosq);
    }
}

/* Keeps every device's connection alive (keepalive, commands arriving). */
static void pump_others(struct dmn *g, const struct dev_client *except)
{
    for (size_t i = 0; i < g->ndev; i++)
        if (&g->dev[i] != except) pump(&g->dev[i], 0);
}

static struct dev_client *client(struct dmn *g, const char *id)
{
    for (size_t i = 0; i < g->ndev; i++)
        if (strcmp(g->dev[i].id, id) == 0) return &g->dev[i];
    if (g->ndev == MAX_DEVICES) return NULL;
    struct dev_client *c = &g->dev[g->ndev];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    char cid[64];
    snprintf(cid, sizeof cid, "scn-%s", id);
    c->mosq = mosquitto_new(cid, true, c);
    if (!c->mosq) return NULL;
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_username_pw_set(c->mosq, id, g->o.device_password);
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_message_callback_set(c->mosq, on_message);
    if (mosquitto_connect(c->mosq, g->o.broker_host, g->o.broker_port, 30) != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(c->mosq);
        return NULL;
    }
    int64_t deadline = mono_ms() + 10000;
    while (!c->connected && mono_ms() < deadline)
        pump(c, 50);
    /* the SUBACKs */
    for (int i = 0; i < 4; i++)
        pump(c, 20);
    if (!c->connected) {
        fprintf(stderr, "scenario: device %s cannot connect to the broker\n", id);
        mosquitto_destroy(c->mosq);
        return NULL;
    }
    g->ndev++;
    return c;
}

/* ---- the backend ---- */

static int d_start(struct backend *b, int64_t wall_ms)
{
    struct dmn *g = b->priv;
    mosquitto_lib_init();
    g->start_wall = wall_ms;
    return spawn(g, wall_ms);
}

static void d_stop(struct backend *b)
{
    struct dmn *g = b->priv;
    terminate(g, false);
    for (size_t i = 0; i < g->ndev; i++) {
        mosquitto_disconnect(g->dev[i].mosq);
        mosquitto_destroy(g->dev[i].mosq);
    }
    g->ndev = 0;
    mosquitto_lib_cleanup();
}

static int d_restart(struct backend *b, bool crash)
{
    struct dmn *g = b->priv;
    json_t *c = request(g, "clock");
    int64_t wall = json_integer_value(json_object_get(c, "wall_ms"));
    bool synced = json_is_true(json_object_get(c, "synchronised"));
    json_decref(c);
    if (!wall) return RELAIS_EIO;
    terminate(g, crash);
    int rc = spawn(g, wall);
    if (!rc && !synced) rc = request_ok(g, "clock-sync off");
    return rc;
}

static int d_clock(struct backend *b, const char *cmd, int64_t delta)
{
    struct dmn *g = b->priv;
    pump_others(g, NULL);
    char line[64];
    snprintf(line, sizeof line, "%s %" PRId64, cmd, delta);
    return request_ok(g, line);
}

static int d_advance(struct backend *b, int64_t delta)
{
    return d_clock(b, "clock-advance", delta);
}

static int d_jump(struct backend *b, int64_t delta)
{
    return d_clock(b, "clock-jump", delta);
}

static json_t *d_apply_plan(struct backend *b, const char *json)
{
    struct dmn *g = b->priv;
    size_t n = strlen(json) + 32;
    char *line = malloc(n);
    if (!line) return NULL;
    snprintf(line, n, "careplan-apply %s", json);
    json_t *j = request(g, line);
    free(line);
    return j;
}

/* Registers c with relaisd as a pill box (again, if a previous run left it)
 * and keeps the record key it answers. */
static int register_pillbox(struct dmn *g, struct dev_client *c)
{
    char line[128];
    snprintf(line, sizeof line, "device-add %s pillbox", c->id);
    json_t *a = request(g, line);
    if (a && json_object_get(a, "error")) {
        json_decref(a);
        snprintf(line, sizeof line, "device-remove %s", c->id);
        json_decref(request(g, line));
        snprintf(line, sizeof line, "device-add %s pillbox", c->id);
        a = request(g, line);
    }
    const char *hex = json_string_value(json_object_get(a, "record_key"));
    int rc = hex && strlen(hex) == 2 * RELAIS_WIRE_RECORD_KEY_LEN &&
                     relais_unhex(hex, c->record_key, sizeof c->record_key) == 0
                 ? RELAIS_OK
                 : RELAIS_EIO;
    if (rc) fprintf(stderr, "scenario: cannot register %s as a pill box\n", c->id);
    c->has_record_key = rc == RELAIS_OK;
    json_decref(a);
    return rc;
}

static int d_send(struct backend *b, const char *device, uint64_t seq, const char *senml)
{
    struct dmn *g = b->priv;
    struct dev_client *c = client(g, device);
    if (!c) return RELAIS_ECONN;
    char topic[96];
    snprintf(topic, sizeof topic, "relais/dev/%s/up/%" PRIu64, device, seq);
    c->waiting_seq = seq;
    c->acked = false;
    size_t len = strlen(senml);
    mosquitto_property *props = NULL;
    if (strstr(senml, "\"dose\"")) {
        /* a dose pack is signed with the device's record key */
        uint8_t sig[RELAIS_WIRE_SIG_LEN];
        char hex[2 * RELAIS_WIRE_SIG_LEN + 1];
        int rc = c->has_record_key ? RELAIS_OK : register_pillbox(g, c);
        if (!rc)
            rc = relais_record_sig_compute(c->record_key, device, seq, (const uint8_t *)senml, len,
                                           sig);
        if (rc) return rc;
        relais_hex(sig, sizeof sig, hex);
        if (mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
                                               RELAIS_WIRE_MQTT_SIG_PROPERTY,
                                               hex) != MOSQ_ERR_SUCCESS)
            return RELAIS_ENOMEM;
    }
    int prc = mosquitto_publish_v5(c->mosq, NULL, topic, (int)len, senml, 1, false, props);
    mosquitto_property_free_all(&props);
    if (prc != MOSQ_ERR_SUCCESS) return RELAIS_ECONN;
    int64_t deadline = mono_ms() + ACK_WAIT_MS;
    while (!c->acked && mono_ms() < deadline) {
        pump(c, 20);
        pump_others(g, c);
    }
    if (!c->acked) {
        fprintf(stderr, "scenario: no ack from relaisd for %s/%" PRIu64 "\n", device, seq);
        return RELAIS_EIO;
    }
    /* a resend of the same pack is acknowledged "duplicate": done as well */
    if (strcmp(c->ack_status, "stored") != 0 && strcmp(c->ack_status, "duplicate") != 0) {
        fprintf(stderr, "scenario: %s/%" PRIu64 " acked %s\n", device, seq, c->ack_status);
        return RELAIS_EIO;
    }
    return request_ok(g, "rules-run");
}

static json_t *d_act(struct backend *b, const char *id, const char *action, const char *who)
{
    struct dmn *g = b->priv;
    char line[256];
    snprintf(line, sizeof line, "alert-%s %s %s", action, id, who);
    json_t *j = request(g, line);
    return j ? j : json_pack("{s:s}", "error", "no answer");
}

static int d_condition(struct backend *b, const char *rule, bool active)
{
    struct dmn *g = b->priv;
    if (strcmp(rule, "clock_not_synced") == 0)
        return request_ok(g, active ? "clock-sync off" : "clock-sync on");
    return RELAIS_EINVAL; /* store_busy comes from the real quota only */
}

static json_t *d_query(struct backend *b, const char *what, const char *arg)
{
    struct dmn *g = b->priv;
    char line[96];
    if (strcmp(what, "events") == 0)
        snprintf(line, sizeof line, "alert-events %s", arg ? arg : "0");
    else if (strcmp(what, "alerts") == 0)
        snprintf(line, sizeof line, "alerts all");
    else
        snprintf(line, sizeof line, "%s", what);
    return request(g, line);
}

static bool d_device_got(struct backend *b, const char *device, const char *cmd)
{
    struct dmn *g = b->priv;
    struct dev_client *c = client(g, device);
    if (!c) return false;
    int64_t deadline = mono_ms() + 5000;
    do {
        /* a pill box (a dose sender, registered so): relaisd holds its
         * commands for its CoAP poll, not on MQTT: the one it holds counts */
        json_t *held = c->has_record_key ? request(g, "commands 1000") : NULL;
        size_t k;
        json_t *e;
        json_array_foreach(held, k, e)
        {
            const char *dev = json_string_value(json_object_get(e, "device"));
            const char *what =
                json_string_value(json_object_get(json_object_get(e, "body"), "cmd"));
            json_int_t id = json_integer_value(json_object_get(e, "id"));
            bool seen = false;
            for (size_t i = 0; i < c->nheld; i++)
                seen = seen || c->held[i] == id;
            if (!seen && dev && what && strcmp(dev, device) == 0 && strcmp(what, cmd) == 0 &&
                c->nheld < MAX_CMDS) {
                c->held[c->nheld++] = id;
                json_decref(held);
                return true;
            }
        }
        json_decref(held);
        for (size_t i = 0; i < c->ncmds; i++)
            if (strcmp(c->cmds[i], cmd) == 0) {
                memmove(c->cmds[i], c->cmds[i + 1], (c->ncmds - i - 1) * sizeof c->cmds[0]);
                c->ncmds--;
                return true;
            }
        pump(c, 20);
    } while (mono_ms() < deadline);
    return false;
}

static int d_connect(struct backend *b, const char *device)
{
    struct dmn *g = b->priv;
    return client(g, device) ? RELAIS_OK : RELAIS_ECONN;
}

int backend_daemon_init(struct backend *b, const struct daemon_opts *o)
{
    struct dmn *g = calloc(1, sizeof *g);
    if (!g) return RELAIS_ENOMEM;
    g->o = *o;
    *b = (struct backend){
        .name = "daemon",
        .start = d_start,
        .stop = d_stop,
        .restart = d_restart,
        .advance = d_advance,
        .jump = d_jump,
        .apply_plan = d_apply_plan,
        .send = d_send,
        .act = d_act,
        .condition = d_condition,
        .query = d_query,
        .device_got = d_device_got,
        .connect = d_connect,
        .priv = g,
    };
    return RELAIS_OK;
}
