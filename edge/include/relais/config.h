/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relaisd's configuration: an INI file (DESIGN.md 3.6) read with inih and
 * checked against one table of keys (type, default, range, reloadable, help).
 * Unknown sections and keys, duplicate keys, bad values and missing required
 * keys are errors that name the file, the line and the key.
 *
 * Relative paths are resolved against the directory of the config file.
 * Reload (SIGHUP) parses into a new struct; keys that are not reloadable keep
 * their running value and a warning says a restart is needed.
 */
#ifndef RELAIS_CONFIG_H
#define RELAIS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "relais/log.h"

struct relais_config {
    /* [gateway] */
    char *gateway_id;
    char *data_dir;
    enum relais_log_level log_level;
    /* [local]: the gateway broker */
    char *local_host;
    uint32_t local_port;
    char *local_username;
    char *local_password_file;
    char *local_client_id;
    uint32_t local_keepalive_s;
    uint32_t local_reconnect_min_ms;
    uint32_t local_reconnect_max_ms;
    uint32_t local_max_inflight;
    char *local_broker_passwd_file; /* relaisctl device add/remove write it */
    char *local_broker_pid_file;    /* relaisctl signals mosquitto to reload it */
    char *local_broker_log_file;    /* relaisd audits the refusals logged there */
    /* [coap]: relaisd's own CoAP server */
    char *coap_bind;
    uint32_t coap_port;
    uint32_t coap_dtls_port;
    bool coap_allow_plain;
    uint32_t coap_max_sessions;
    uint32_t coap_handshake_rate;
    uint32_t coap_request_rate;
    uint32_t coap_max_transfers;
    /* [upstream]: the hospital broker */
    char *upstream_host;
    uint32_t upstream_port;
    bool upstream_tls;
    char *upstream_ca_file;
    char *upstream_cert_file;
    char *upstream_key_file;
    char *upstream_username;
    char *upstream_password_file;
    char *upstream_client_id;
    uint32_t upstream_keepalive_s;
    uint32_t upstream_reconnect_min_ms, upstream_reconnect_max_ms;
    uint32_t upstream_window, upstream_bundle_max, upstream_backlog_rate;
    uint32_t upstream_status_interval_s, upstream_stall_s, upstream_max_attempts;
    uint32_t upstream_max_message_kb;
    /* [store] */
    uint32_t store_quota_mb;
    char *store_key_file;
    uint32_t store_commit_window_ms;
    uint32_t store_commit_linger_us;
    uint32_t store_commit_max_packs;
    uint32_t store_busy_retry_s;
    uint32_t store_retention_days, store_downsample_min;
    /* [careplan] */
    char *careplan_file;
    /* [rules] */
    uint32_t rules_eval_delay_ms;
    uint32_t rules_tick_max_s;
    uint32_t rules_clock_jump_ms;
    bool rules_clock_check;
    uint32_t rules_renotify_max;
    /* [control] */
    char *control_socket;
};

enum relais_config_type {
    RELAIS_CFG_STRING = 0, /* printable text, at most 255 bytes */
    RELAIS_CFG_ID,         /* [a-z0-9][a-z0-9-]{0,31} */
    RELAIS_CFG_HOST,       /* host name or IP address */
    RELAIS_CFG_PATH,       /* a file or directory; relative to the config file's directory */
    RELAIS_CFG_UINT,       /* decimal, within [min, max] */
    RELAIS_CFG_BOOL,       /* true|false|yes|no|on|off|1|0 */
    RELAIS_CFG_LOG_LEVEL,  /* error|warn|notice|info|debug */
};

#define RELAIS_CFG_REQUIRED   0x1u /* the key must be present */
#define RELAIS_CFG_RELOADABLE 0x2u /* SIGHUP applies a new value */

struct relais_config_key {
    const char *section;
    const char *key;
    enum relais_config_type type;
    const char *def; /* default as written in the file; "" = unset; NULL for required keys */
    uint64_t min, max;
    size_t offset; /* offsetof(struct relais_config, field) */
    unsigned flags;
    const char *example; /* value shown for required keys in the example config */
    const char *help;
};

/* The table, terminated by an entry whose key is NULL. */
extern const struct relais_config_key relais_config_keys[];

struct relais_config_error {
    char message[512]; /* "FILE:LINE: [section] key: why" */
    int line;          /* 0 when the error has no line (missing key, unreadable file) */
};

/* Sets every key to its default (required keys stay NULL/0). */
int relais_config_init_defaults(struct relais_config *cfg);
/* Frees the strings; cfg may be partly built. */
void relais_config_cleanup(struct relais_config *cfg);

/* Parses path into cfg (caller-owned, uninitialised).  Returns RELAIS_OK or
 * RELAIS_ECONFIG with err filled; cfg is cleaned up on error. */
int relais_config_load(struct relais_config *cfg, const char *path,
                       struct relais_config_error *err);

/* Reload: next was loaded from the same file; keys that are not reloadable and
 * differ are copied back from cur into next, each logged as needing a restart.
 * Returns the number of keys that needed a restart. */
int relais_config_merge_reload(const struct relais_config *cur, struct relais_config *next);

/* True when a key of the given section differs between a and b. */
bool relais_config_section_changed(const struct relais_config *a, const struct relais_config *b,
                                   const char *section);

/* Writes the example configuration generated from the table (every key with
 * its default and help); edge/relaisd.conf.example is this output. */
int relais_config_write_example(FILE *out);

#endif
