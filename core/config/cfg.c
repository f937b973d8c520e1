/*
 * cfg.c -- libconfig helpers with file:line errors.
 */
#include "cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

char *cfg_resolve(const char *file, const char *path)
{
    const char *slash = strrchr(file, '/');
    char *out;

    if (path[0] == '/' || slash == NULL)
        return strdup(path);
    if (asprintf(&out, "%.*s/%s", (int)(slash - file), file, path) < 0)
        return NULL;
    return out;
}

int cfg_line(const config_setting_t *s)
{
    for (; s != NULL; s = config_setting_parent(s)) {
        int l = (int)config_setting_source_line(s);
        if (l > 0)
            return l;
    }
    return 0;
}

void cfg_check_members(const config_setting_t *g, const char *const *allowed,
                       const char *file, const char *where, errs *e)
{
    int n = config_setting_length(g);

    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        int known = 0;

        if (name == NULL)
            continue;
        for (const char *const *a = allowed; *a != NULL; a++)
            if (strcmp(*a, name) == 0)
                known = 1;
        if (!known)
            errs_add(e, file, cfg_line(m), "%s: unknown setting \"%s\"", where,
                     name);
    }
}

static const char *type_name(int t)
{
    switch (t) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a number";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    case CONFIG_TYPE_GROUP:
        return "a group";
    default:
        return "something else";
    }
}

/* Member lookup shared by the readers: 0 absent, -1 missing-but-required,
 * 1 found. */
static int member(const config_setting_t *g, const char *name, int required,
                  config_setting_t **out, const char *file, errs *e)
{
    *out = g ? config_setting_get_member(g, name) : NULL;
    if (*out != NULL)
        return 1;
    if (required) {
        errs_add(e, file, cfg_line(g), "%s: missing (required)", name);
        return -1;
    }
    return 0;
}

int cfg_int(const config_setting_t *g, const char *name, int required,
            int64_t min, int64_t max, int64_t *out, const char *file, errs *e)
{
    config_setting_t *s;
    int r = member(g, name, required, &s, file, e);
    int64_t v;

    if (r <= 0)
        return r;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
        errs_add(e, file, cfg_line(s), "%s: expected an integer, got %s", name,
                 type_name(t));
        return -1;
    }
    v = config_setting_get_int64(s);
    if (v < min || v > max) {
        errs_add(e, file, cfg_line(s), "%s: %lld is out of range [%lld, %lld]",
                 name, (long long)v, (long long)min, (long long)max);
        return -1;
    }
    *out = v;
    return 1;
}

int cfg_bool(const config_setting_t *g, const char *name, int required,
             int *out, const char *file, errs *e)
{
    config_setting_t *s;
    int r = member(g, name, required, &s, file, e);

    if (r <= 0)
        return r;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        errs_add(e, file, cfg_line(s), "%s: expected true or false, got %s",
                 name, type_name(config_setting_type(s)));
        return -1;
    }
    *out = config_setting_get_bool(s);
    return 1;
}

int cfg_str(const config_setting_t *g, const char *name, int required,
            const char **out, const char *file, errs *e)
{
    config_setting_t *s;
    int r = member(g, name, required, &s, file, e);

    if (r <= 0)
        return r;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        errs_add(e, file, cfg_line(s), "%s: expected a string, got %s", name,
                 type_name(config_setting_type(s)));
        return -1;
    }
    *out = config_setting_get_string(s);
    return 1;
}

/* libconfig 1.5 follows `@include "PATH"` even in a stream, from the
 * server's working directory (or from / for an absolute path), and its
 * scanner exit()s when PATH is a directory: one line in an activity
 * file, a published one included, stopped the process that read it
 * (found by fuzz/fuzz_activity).  Neither file kind uses includes, so a
 * line that starts with @include (after blanks, as libconfig's scanner
 * reads it) is refused before libconfig sees the file; f is rewound.
 * Returns 0, or -1 with the line reported. */
static int find_include(FILE *f, const char *name, errs *e)
{
    int line = 1, c, at_start = 1;
    size_t matched = 0;
    static const char word[] = "@include";

    while ((c = getc(f)) != EOF) {
        if (c == '\n') {
            line++;
            at_start = 1;
            matched = 0;
        } else if (at_start && matched == 0 && (c == ' ' || c == '\t')) {
            continue;
        } else if (at_start && c == word[matched]) {
            if (++matched == sizeof word - 1) {
                errs_add(e, name, line,
                         "@include is not supported: write the settings in "
                         "this file");
                return -1;
            }
        } else {
            at_start = 0;
        }
    }
    rewind(f);
    return 0;
}

int cfg_read_as(config_t *cf, const char *path, const char *name, errs *e)
{
    FILE *f;
    struct stat st;

    config_init(cf);
    f = fopen(path, "r");
    if (f == NULL) {
        errs_add(e, name, 0, "cannot open: %s", strerror(errno));
        config_destroy(cf);
        return -1;
    }
    /* libconfig's scanner exit()s on a read error (a directory): refuse
     * anything but a regular file before it gets the stream. */
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        errs_add(e, name, 0, "cannot open: not a regular file");
        fclose(f);
        config_destroy(cf);
        return -1;
    }
    if (find_include(f, name, e) != 0) {
        fclose(f);
        config_destroy(cf);
        return -1;
    }
    if (config_read(cf, f) != CONFIG_TRUE) {
        errs_add(e, name, config_error_line(cf), "syntax error: %s",
                 config_error_text(cf));
        fclose(f);
        config_destroy(cf);
        return -1;
    }
    fclose(f);
    return 0;
}

int cfg_read(config_t *cf, const char *path, errs *e)
{
    return cfg_read_as(cf, path, path, e);
}
