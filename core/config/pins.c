/*
 * pins.c -- plugin pins (see pins.h).
 */
#include "pins.h"

#include "digest.h"
#include "fileio.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pins_plain_name(const char *name, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);

    if (len == 0 || len > PINS_NAME_MAX || len <= sl || name[0] == '.' ||
        memcmp(name + len - sl, suffix, sl) != 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
            name[i] != '_' && name[i] != '-')
            return 0;
    return 1;
}

/* One line (without its newline) into p; problems to e. */
static void pins_line(const char *s, size_t n, int line, const char *where,
                      pins *p, errs *e)
{
    const char *name;
    size_t nlen;
    pin *grown;

    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || s[0] == '#')
        return;
    for (size_t i = 0; i < 64; i++)
        if (i >= n || !isxdigit((unsigned char)s[i])) {
            errs_add(e, where, line,
                     "expected 64 hex digits, two spaces "
                     "and a plugin file name (sha256sum format)");
            return;
        }
    if (n < 67 || s[64] != ' ' || (s[65] != ' ' && s[65] != '*')) {
        errs_add(e, where, line,
                 "expected two spaces (or \" *\") between "
                 "the SHA-256 and the file name (sha256sum format)");
        return;
    }
    name = s + 66;
    nlen = n - 66;
    if (!pins_plain_name(name, nlen, ".so")) {
        errs_add(e, where, line,
                 "\"%.*s\" is not a plugin file name "
                 "(name.so, without a directory)",
                 (int)(nlen > 300 ? 300 : nlen), name);
        return;
    }
    for (size_t i = 0; i < p->n; i++)
        if (strlen(p->v[i].name) == nlen &&
            memcmp(p->v[i].name, name, nlen) == 0) {
            errs_add(e, where, line, "%s: pinned twice (first at line %d)",
                     p->v[i].name, p->v[i].line);
            return;
        }
    grown = realloc(p->v, (p->n + 1) * sizeof *p->v);
    if (grown == NULL) {
        errs_add(e, where, line, "out of memory");
        return;
    }
    p->v = grown;
    memcpy(p->v[p->n].name, name, nlen);
    p->v[p->n].name[nlen] = '\0';
    for (size_t i = 0; i < 64; i++)
        p->v[p->n].hex[i] = (char)tolower((unsigned char)s[i]);
    p->v[p->n].hex[64] = '\0';
    p->v[p->n].line = line;
    p->n++;
}

int pins_parse(const char *text, size_t len, const char *where, pins *p,
               errs *e)
{
    size_t before = e->nerrors, at = 0;
    int line = 0;

    memset(p, 0, sizeof *p);
    if (memchr(text, '\0', len) != NULL) {
        errs_add(e, where, 0, "holds a NUL byte: not a text file");
        return -1;
    }
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;

        pins_line(text + at, n, ++line, where, p, e);
        at += n + 1;
    }
    return e->nerrors > before ? -1 : 0;
}

int pins_verify(const pins *p, const char *plugins_dir, const char *shown_dir,
                errs *e)
{
    size_t before = e->nerrors;

    for (size_t i = 0; i < p->n; i++) {
        char path[4096], hex[65];

        snprintf(path, sizeof path, "%s/%s", plugins_dir, p->v[i].name);
        if (digest_file(path, hex) < 0)
            errs_add(e, NULL, 0,
                     "%s/%s: pinned by the version (sha256 "
                     "%.12s...) but %s on this node",
                     shown_dir, p->v[i].name, p->v[i].hex,
                     errno == ENOENT ? "missing" : strerror(errno));
        else if (strcmp(hex, p->v[i].hex) != 0)
            errs_add(e, NULL, 0,
                     "%s/%s: pin mismatch: this node has sha256 "
                     "%s, the version pins %s (another build of the "
                     "plugin)",
                     shown_dir, p->v[i].name, hex, p->v[i].hex);
    }
    return e->nerrors > before ? -1 : 0;
}

int pins_verify_file(const char *path, const char *plugins_dir,
                     const char *shown_dir, errs *e)
{
    char *text;
    size_t len;
    pins p;
    int rc;

    if (fileio_read(path, PINS_FILE_MAX, &text, &len) < 0) {
        errs_add(e, path, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    rc = pins_parse(text, len, path, &p, e);
    if (rc == 0)
        rc = pins_verify(&p, plugins_dir, shown_dir, e);
    pins_free(&p);
    free(text);
    return rc;
}

void pins_free(pins *p)
{
    free(p->v);
    memset(p, 0, sizeof *p);
}
