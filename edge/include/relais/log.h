/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The logging facade.  Every module logs through these macros with a subsystem
 * tag; the level is checked before anything is formatted.  libmosquitto's,
 * libcoap's and mbedtls's logs are routed here by their adapters.
 *
 * Secrets and patient values never reach a log above RELAIS_LOG_DEBUG.
 */
#ifndef RELAIS_LOG_H
#define RELAIS_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum relais_log_level {
    RELAIS_LOG_ERROR = 0,
    RELAIS_LOG_WARN = 1,
    RELAIS_LOG_NOTICE = 2,
    RELAIS_LOG_INFO = 3,
    RELAIS_LOG_DEBUG = 4,
};

/* Where lines go: stderr with a timestamp, or stderr with the syslog "<N>"
 * prefix that journald understands (chosen automatically when JOURNAL_STREAM
 * names our stderr). */
enum relais_log_sink {
    RELAIS_LOG_SINK_AUTO = 0,
    RELAIS_LOG_SINK_STDERR,
    RELAIS_LOG_SINK_JOURNAL,
};

extern enum relais_log_level relais_log_threshold;

void relais_log_set_level(enum relais_log_level level);
void relais_log_set_sink(enum relais_log_sink sink);
/* Parses "error", "warn", "notice", "info", "debug"; returns 0 or RELAIS_EINVAL. */
int relais_log_level_parse(const char *s, enum relais_log_level *out);
const char *relais_log_level_name(enum relais_log_level level);

void relais_log_write(enum relais_log_level level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void relais_log_vwrite(enum relais_log_level level, const char *subsys, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Logs "what: strerror(errno) (file:line)" at ERROR. */
void relais_log_errno_at(const char *subsys, const char *file, int line, const char *what);

#define RELAIS_LOG_ENABLED(level) ((level) <= relais_log_threshold)

#define relais_log(level, subsys, ...)                                                             \
    do {                                                                                           \
        if (RELAIS_LOG_ENABLED(level)) relais_log_write((level), (subsys), __VA_ARGS__);           \
    } while (0)

#define log_error(subsys, ...)  relais_log(RELAIS_LOG_ERROR, subsys, __VA_ARGS__)
#define log_warn(subsys, ...)   relais_log(RELAIS_LOG_WARN, subsys, __VA_ARGS__)
#define log_notice(subsys, ...) relais_log(RELAIS_LOG_NOTICE, subsys, __VA_ARGS__)
#define log_info(subsys, ...)   relais_log(RELAIS_LOG_INFO, subsys, __VA_ARGS__)
#define log_debug(subsys, ...)  relais_log(RELAIS_LOG_DEBUG, subsys, __VA_ARGS__)
#define log_errno(subsys, what) relais_log_errno_at((subsys), __FILE__, __LINE__, (what))

#endif
