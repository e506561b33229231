/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relaisd: the home-care gateway daemon.  Parses the command line, loads the
 * configuration and hands over to relais_daemon_run().  --help is built from
 * the option table below, which docs/cli.md follows.
 */
#include "relais/config.h"
#include "relais/daemon.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/version.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cli_option {
    const char *lng;
    int shrt;
    const char *arg;
    const char *help;
};

static const struct cli_option cli_options[] = {
    {"config", 'c', "FILE", "configuration file (INI); required to run"},
    {"check", 'k', NULL,
     "validate the configuration and exit: 0 if valid, 1 with FILE:LINE: [section] key: why"},
    {"log-level", 'l', "LEVEL", "override [gateway] log_level (error, warn, notice, info, debug)"},
    {"config-example", 'E', NULL, "print the example configuration generated from the key table"},
    {"test-clock", 'T', "TIME",
     "tests only: the rules run on a clock starting at TIME (UTC, YYYY-MM-DDTHH:MM:SSZ or ms since "
     "1970) moved by relaisctl clock"},
    {"version", 'V', NULL, "print the version and exit"},
    {"help", 'h', NULL, "print this help and exit"},
    {NULL, 0, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: relaisd -c FILE [--check] [--log-level LEVEL] [--test-clock TIME]\n"
                 "       relaisd --version | --config-example | --help\n\n"
                 "relaisd runs in the foreground and logs to stderr (journald when run by\n"
                 "systemd). SIGTERM/SIGINT: commit, acknowledge, exit 0. SIGHUP: reload the\n"
                 "configuration without touching the store.\n\noptions:\n");
    for (const struct cli_option *o = cli_options; o->lng; o++) {
        char left[48];
        snprintf(left, sizeof left, "-%c, --%s%s%s", o->shrt, o->lng, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        fprintf(out, "  %-28s %s\n", left, o->help);
    }
    fprintf(out, "\nexit codes: 0 ok, 1 configuration or runtime error, 2 usage error\n");
}

/* "2026-11-23T06:00:00Z" or milliseconds since 1970. */
static int parse_test_clock(const char *s, int64_t *out)
{
    char *end;
    long long ms = strtoll(s, &end, 10);
    if (*s && !*end && ms > 0) {
        *out = ms;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end) return -1;
    time_t t = timegm(&tm);
    if (t <= 0) return -1;
    *out = (int64_t)t * 1000;
    return 0;
}

int main(int argc, char **argv)
{
    int64_t test_clock = 0;
    const char *config_path = NULL;
    const char *level = NULL;
    bool check = false;
    struct option longopts[sizeof cli_options / sizeof cli_options[0]];
    char shortopts[64];
    size_t s = 0, i;

    for (i = 0; cli_options[i].lng; i++) {
        longopts[i].name = cli_options[i].lng;
        longopts[i].has_arg = cli_options[i].arg ? required_argument : no_argument;
        longopts[i].flag = NULL;
        longopts[i].val = cli_options[i].shrt;
        shortopts[s++] = (char)cli_options[i].shrt;
        if (cli_options[i].arg) shortopts[s++] = ':';
    }
    memset(&longopts[i], 0, sizeof longopts[i]);
    shortopts[s] = '\0';

    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'k': check = true; break;
        case 'l': level = optarg; break;
        case 'T':
            if (parse_test_clock(optarg, &test_clock)) {
                fprintf(stderr, "relaisd: --test-clock: '%s' is not YYYY-MM-DDTHH:MM:SSZ\n",
                        optarg);
                return 2;
            }
            break;
        case 'E': return relais_config_write_example(stdout) == RELAIS_OK ? 0 : 1;
        case 'V': printf("relaisd %s\n", RELAIS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !config_path) {
        fprintf(stderr, "relaisd: %s\n",
                optind != argc ? "unexpected argument" : "-c FILE is required");
        usage(stderr);
        return 2;
    }

    struct relais_config cfg;
    struct relais_config_error err;
    if (relais_config_load(&cfg, config_path, &err) != RELAIS_OK) {
        fprintf(stderr, "relaisd: %s\n", err.message);
        return 1;
    }
    enum relais_log_level override = RELAIS_LOG_INFO;
    if (level && relais_log_level_parse(level, &override) != RELAIS_OK) {
        fprintf(stderr, "relaisd: --log-level: '%s' is not a log level\n", level);
        relais_config_cleanup(&cfg);
        return 2;
    }
    if (check) {
        printf("%s: ok\n", config_path);
        relais_config_cleanup(&cfg);
        return 0;
    }
    const struct relais_daemon_opts opts = {
        .log_level_override = level ? (int) override : -1,
        .test_clock_ms = test_clock,
    };
    return relais_daemon_run(config_path, &cfg, &opts);
}
