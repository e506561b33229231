/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The logging facade: one line per call, written with a single write(2) so that
 * lines from a crash are whole.  Lines longer than the buffer are truncated and
 * marked with "...".
 */
#include "relais/log.h"
#include "relais/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum relais_log_level relais_log_threshold = RELAIS_LOG_INFO;
static enum relais_log_sink log_sink = RELAIS_LOG_SINK_AUTO;
static int log_sink_resolved = -1;

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};
/* syslog priorities for journald: err, warning, notice, info, debug */
static const int level_prio[] = {3, 4, 5, 6, 7};

void relais_log_set_level(enum relais_log_level level)
{
    relais_log_threshold = level;
}

void relais_log_set_sink(enum relais_log_sink sink)
{
    log_sink = sink;
    log_sink_resolved = -1;
}

int relais_log_level_parse(const char *s, enum relais_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum relais_log_level)i;
            return RELAIS_OK;
        }
    }
    return RELAIS_EINVAL;
}

const char *relais_log_level_name(enum relais_log_level level)
{
    if ((unsigned)level < sizeof level_names / sizeof level_names[0]) return level_names[level];
    return "?";
}

/* journald sets JOURNAL_STREAM=dev:ino of the stream it connected to stderr. */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    if (!js) return 0;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0) return 0;
    char want[64];
    snprintf(want, sizeof want, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    return strcmp(js, want) == 0;
}

static int use_journal(void)
{
    if (log_sink_resolved < 0) {
        if (log_sink == RELAIS_LOG_SINK_AUTO)
            log_sink_resolved = stderr_is_journal();
        else
            log_sink_resolved = log_sink == RELAIS_LOG_SINK_JOURNAL;
    }
    return log_sink_resolved;
}

void relais_log_vwrite(enum relais_log_level level, const char *subsys, const char *fmt, va_list ap)
{
    char line[1024];
    size_t off = 0;
    int n;
    int saved_errno = errno;

    if ((unsigned)level > RELAIS_LOG_DEBUG) level = RELAIS_LOG_DEBUG;
    if (use_journal()) {
        n = snprintf(line, sizeof line, "<%d>%s: ", level_prio[level], subsys);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-6s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], subsys);
    }
    if (n > 0) off = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    n = vsnprintf(line + off, sizeof line - off, fmt, ap);
    if (n > 0) off += (size_t)n;
    if (off >= sizeof line - 1) {
        off = sizeof line - 1;
        memcpy(line + off - 4, "...", 3);
        off -= 1;
    }
    /* strip trailing newlines the caller (or a library) left, then add one */
    while (off > 0 && (line[off - 1] == '\n' || line[off - 1] == '\r'))
        off--;
    line[off++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, off);
    (void)w; /* nowhere to report a failed log write */
    errno = saved_errno;
}

void relais_log_write(enum relais_log_level level, const char *subsys, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    relais_log_vwrite(level, subsys, fmt, ap);
    va_end(ap);
}

void relais_log_errno_at(const char *subsys, const char *file, int line, const char *what)
{
    int e = errno;
    const char *base = strrchr(file, '/');
    relais_log_write(RELAIS_LOG_ERROR, subsys, "%s: %s (%s:%d)", what, strerror(e),
                     base ? base + 1 : file, line);
    errno = e;
}
