/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the INI configuration parser (edge/src/config.c).
 * relais_config_load() takes a path, so each input is written to one
 * temporary file, created once per process with mkstemp() (in $TMPDIR or /tmp,
 * removed at exit) and rewritten for every run.  Aborts when the result breaks
 * the contract of relais/config.h:
 *
 *   loaded:   gateway_id is a valid id; every string key is set (its value or
 *             its default), printable and, for text, at most 255 bytes; every
 *             number within its [min, max]; every log level known;
 *   refused:  RELAIS_ECONFIG (or RELAIS_ENOMEM), a NUL-terminated message
 *             starting with the path, naming a line the input has (or none),
 *             and the config cleaned up (no string left to leak).
 *
 * Seeds: tests/fuzz/corpus/config/: valid and invalid configurations built
 * from the keys of `relaisd --config-example` (ok-*, bad-*), the inputs that
 * -merge=1 -use_counters=0 kept from a 60 s run, and crash-* reproducers
 * (crash-config-nul-splits-line aborts until config.c rejects NUL bytes).
 * Build (from the project root) and run:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -Iedge/include -Ifirmware/wire/include tests/fuzz/fuzz_config.c \
 *     edge/src/config.c edge/src/log.c firmware/wire/wire.c -linih -o fuzz_config
 *   ./fuzz_config -max_total_time=60 tests/fuzz/corpus/config/
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relais/config.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[4096];
static int fd = -1;

static void remove_file(void)
{
    if (fd >= 0) {
        close(fd);
        unlink(path);
        fd = -1;
    }
}

static void open_file(void)
{
    const char *dir = getenv("TMPDIR");

    if (!dir || !dir[0]) dir = "/tmp";
    if (snprintf(path, sizeof path, "%s/relais-fuzz-config-XXXXXX", dir) >= (int)sizeof path)
        abort();
    fd = mkstemp(path);
    if (fd < 0) abort();
    atexit(remove_file);
}

static void write_input(const uint8_t *data, size_t size)
{
    size_t off = 0;

    if (ftruncate(fd, 0) != 0) abort();
    while (off < size) {
        ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);

        if (n <= 0) abort();
        off += (size_t)n;
    }
}

static bool printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

static void check_loaded(const struct relais_config *cfg)
{
    if (!cfg->gateway_id || !relais_wire_id_valid(cfg->gateway_id, strlen(cfg->gateway_id)))
        abort();
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++) {
        const char *field = (const char *)cfg + k->offset;

        switch (k->type) {
        case RELAIS_CFG_STRING:
        case RELAIS_CFG_ID:
        case RELAIS_CFG_HOST:
        case RELAIS_CFG_PATH: {
            const char *s;

            memcpy(&s, field, sizeof s);
            if (!s || !printable(s)) abort();
            if (k->type == RELAIS_CFG_ID && !relais_wire_id_valid(s, strlen(s))) abort();
            if (k->type == RELAIS_CFG_STRING && strlen(s) > 255) abort();
            /* an optional host (default "") may be empty: the feature is off */
            if (k->type == RELAIS_CFG_HOST && strlen(s) == 0 && k->def && k->def[0]) abort();
            if (k->type == RELAIS_CFG_HOST && strlen(s) > 253) abort();
            break;
        }
        case RELAIS_CFG_UINT: {
            uint32_t v;

            memcpy(&v, field, sizeof v);
            if (v < k->min || v > k->max) abort();
            break;
        }
        case RELAIS_CFG_LOG_LEVEL: {
            enum relais_log_level v;

            memcpy(&v, field, sizeof v);
            if ((unsigned)v > RELAIS_LOG_DEBUG) abort();
            break;
        }
        case RELAIS_CFG_BOOL: break; /* a bool holds what it holds */
        }
    }
    if (relais_config_section_changed(cfg, cfg, "gateway")) abort();
}

/* Lines in the input as the parser counts them (fgets calls). */
static size_t count_lines(const uint8_t *data, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; i < size; i++)
        if (data[i] == '\n') n++;
    return n + (size && data[size - 1] != '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct relais_config cfg;
    struct relais_config_error err;

    if (fd < 0) open_file();
    write_input(data, size);
    memset(&cfg, 0xa5, sizeof cfg); /* the parser takes it uninitialised */
    int rc = relais_config_load(&cfg, path, &err);
    if (rc == RELAIS_OK) {
        check_loaded(&cfg);
        relais_config_cleanup(&cfg);
        return 0;
    }
    if (rc != RELAIS_ECONFIG && rc != RELAIS_ENOMEM) abort();
    if (!memchr(err.message, '\0', sizeof err.message)) abort();
    if (strncmp(err.message, path, strlen(path)) != 0 || err.message[strlen(path)] != ':') abort();
    if (err.line < 0 || (size_t)err.line > count_lines(data, size)) abort();
    if (cfg.gateway_id || cfg.data_dir) abort(); /* cleaned up on error */
    return 0;
}
