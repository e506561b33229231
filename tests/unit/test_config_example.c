/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keeps the documentation of the configuration in step with the key table
 * (edge/src/config.c):
 *   - edge/relaisd.conf.example is byte for byte what
 *     relais_config_write_example() writes (relaisd --config-example);
 *   - that example is itself a valid configuration, equal to the defaults;
 *   - docs/config.md has, under a heading "## [section]" per section, one
 *     table row "| `key` | type | default | range | reload | meaning |" for
 *     every key, with the key's default and reload column, and no row for a
 *     key that does not exist.
 *
 * usage: test_config_example EXAMPLE_FILE CONFIG_MD
 * (ctest passes ${PROJECT_SOURCE_DIR}/edge/relaisd.conf.example and
 * ${PROJECT_SOURCE_DIR}/docs/config.md)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relais/config.h"
#include "relais/error.h"

static const char *example_path;
static const char *docs_path;

/* Reads a whole file; free with free().  *len receives its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            assert_non_null(p);
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, fp);
        n += r;
        if (r == 0) break;
    }
    assert_int_equal(ferror(fp), 0);
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Line number (from 1) of byte offset off in text. */
static int line_at(const char *text, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++)
        line += text[i] == '\n';
    return line;
}

/* The text of the line that holds offset off, for messages. */
static void line_text(const char *text, size_t len, size_t off, char *out, size_t cap)
{
    size_t start = off, end = off;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    while (end < len && text[end] != '\n')
        end++;
    snprintf(out, cap, "%.*s", (int)(end - start), text + start);
}

static void test_example_is_generated_from_the_table(void **state)
{
    (void)state;
    size_t flen;
    char *file = slurp(example_path, &flen);
    char *gen = NULL;
    size_t glen = 0;
    FILE *mem = open_memstream(&gen, &glen);
    assert_non_null(mem);
    assert_int_equal(relais_config_write_example(mem), RELAIS_OK);
    assert_int_equal(fclose(mem), 0);

    if (flen != glen || memcmp(file, gen, flen) != 0) {
        size_t i = 0;
        while (i < flen && i < glen && file[i] == gen[i])
            i++;
        char a[256], b[256];
        line_text(file, flen, i < flen ? i : flen, a, sizeof a);
        line_text(gen, glen, i < glen ? i : glen, b, sizeof b);
        char msg[1024];
        snprintf(msg, sizeof msg,
                 "%s differs from relais_config_write_example() at line %d:\n"
                 "  file:      %s\n  generated: %s\n"
                 "regenerate it with: relaisd --config-example > edge/relaisd.conf.example",
                 example_path, line_at(file, i), i < flen ? a : "(end of file)",
                 i < glen ? b : "(end of output)");
        free(file);
        free(gen);
        fail_msg("%s", msg);
    }
    free(file);
    free(gen);
}

static void test_example_is_a_valid_config(void **state)
{
    (void)state;
    struct relais_config cfg, def;
    struct relais_config_error err;

    if (relais_config_load(&cfg, example_path, &err) != RELAIS_OK)
        fail_msg("the example does not load: %s", err.message);

    /* it sets the required keys to their example values and leaves every
     * other key at its default */
    assert_int_equal(relais_config_init_defaults(&def), RELAIS_OK);
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++) {
        if (!(k->flags & RELAIS_CFG_REQUIRED)) continue;
        char **field = (char **)(void *)((char *)&def + k->offset);
        assert_true(k->type != RELAIS_CFG_UINT && k->type != RELAIS_CFG_BOOL &&
                    k->type != RELAIS_CFG_LOG_LEVEL);
        *field = strdup(k->example);
        assert_non_null(*field);
    }
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++)
        if (relais_config_section_changed(&cfg, &def, k->section))
            fail_msg("[%s] of the example is not the defaults", k->section);
    assert_string_equal(cfg.gateway_id, "gw-example");
    relais_config_cleanup(&cfg);
    relais_config_cleanup(&def);
}

/* ---- docs/config.md ---- */

/* Cells of a markdown table row "| a | b | ... |", trimmed; returns the count.
 * A "\|" inside a cell does not split it. */
static size_t split_row(const char *line, size_t len, char cells[][160], size_t max)
{
    size_t n = 0, i = 0;

    if (len == 0 || line[0] != '|') return 0;
    i = 1;
    while (i < len && n < max) {
        size_t start = i;
        while (i < len && !(line[i] == '|' && line[i - 1] != '\\'))
            i++;
        if (i >= len) break; /* no closing '|': not a cell */
        size_t a = start, b = i;
        while (a < b && (line[a] == ' ' || line[a] == '\t'))
            a++;
        while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t'))
            b--;
        snprintf(cells[n], sizeof cells[n], "%.*s", (int)(b - a), line + a);
        n++;
        i++; /* past '|' */
    }
    return n;
}

static const struct relais_config_key *find_key(const char *section, const char *name)
{
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++)
        if (strcmp(k->section, section) == 0 && strcmp(k->key, name) == 0) return k;
    return NULL;
}

static void test_docs_cover_every_key(void **state)
{
    (void)state;
    size_t len;
    char *md = slurp(docs_path, &len);
    size_t nkeys = 0;
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++)
        nkeys++;
    int *row_line = calloc(nkeys, sizeof *row_line);
    assert_non_null(row_line);

    char section[64] = "";
    int errors = 0;
    size_t off = 0;
    while (off < len) {
        const char *line = md + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t llen = nl ? (size_t)(nl - line) : len - off;
        int lineno = line_at(md, off);
        off += llen + 1;

        if (llen >= 2 && line[0] == '#' && line[1] == '#') {
            /* "## [section]" starts a section; any other heading ends it */
            section[0] = '\0';
            if (llen > 4 && strncmp(line, "## [", 4) == 0) {
                const char *close = memchr(line + 4, ']', llen - 4);
                if (close && close - (line + 4) < (long)sizeof section)
                    snprintf(section, sizeof section, "%.*s", (int)(close - (line + 4)), line + 4);
            }
            continue;
        }
        if (llen < 3 || strncmp(line, "| `", 3) != 0) continue;

        char cells[8][160];
        size_t n = split_row(line, llen, cells, 8);
        size_t klen = strlen(cells[0]);
        if (n < 6 || klen < 3 || cells[0][0] != '`' || cells[0][klen - 1] != '`') {
            fprintf(stderr, "%s:%d: malformed key row\n", docs_path, lineno);
            errors++;
            continue;
        }
        char name[160];
        snprintf(name, sizeof name, "%.*s", (int)(klen - 2), cells[0] + 1);
        if (!section[0]) {
            fprintf(stderr, "%s:%d: row for `%s` outside a \"## [section]\" heading\n", docs_path,
                    lineno, name);
            errors++;
            continue;
        }
        const struct relais_config_key *k = find_key(section, name);
        if (!k) {
            fprintf(stderr, "%s:%d: [%s] %s is documented but not in the table\n", docs_path,
                    lineno, section, name);
            errors++;
            continue;
        }
        size_t idx = (size_t)(k - relais_config_keys);
        if (row_line[idx]) {
            fprintf(stderr, "%s:%d: [%s] %s documented twice (also line %d)\n", docs_path, lineno,
                    section, name, row_line[idx]);
            errors++;
        }
        row_line[idx] = lineno;

        /* the default column: `def`, *(empty)* or "required" */
        char want[200];
        if (k->flags & RELAIS_CFG_REQUIRED)
            snprintf(want, sizeof want, "required");
        else if (k->def[0] == '\0')
            snprintf(want, sizeof want, "*(empty)*");
        else
            snprintf(want, sizeof want, "`%s`", k->def);
        if (!strstr(cells[2], want)) {
            fprintf(stderr, "%s:%d: [%s] %s: default column \"%s\" should show %s\n", docs_path,
                    lineno, section, name, cells[2], want);
            errors++;
        }
        /* the reload column */
        const char *reload = k->flags & RELAIS_CFG_RELOADABLE ? "reloadable" : "restart";
        if (strcmp(cells[4], reload) != 0) {
            fprintf(stderr, "%s:%d: [%s] %s: reload column \"%s\" should be \"%s\"\n", docs_path,
                    lineno, section, name, cells[4], reload);
            errors++;
        }
    }
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++) {
        if (!row_line[k - relais_config_keys]) {
            fprintf(stderr,
                    "%s: [%s] %s is not documented (a row \"| `%s` |\" under \"## [%s]\")\n",
                    docs_path, k->section, k->key, k->key, k->section);
            errors++;
        }
    }
    free(row_line);
    free(md);
    if (errors) fail_msg("%d problem(s) in %s, listed above", errors, docs_path);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s EXAMPLE_FILE CONFIG_MD\n",
                argc ? argv[0] : "test_config_example");
        return 2;
    }
    example_path = argv[1];
    docs_path = argv[2];

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_is_generated_from_the_table),
        cmocka_unit_test(test_example_is_a_valid_config),
        cmocka_unit_test(test_docs_cover_every_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
