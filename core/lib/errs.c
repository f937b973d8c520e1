/*
 * errs.c -- the error list every loader appends to.
 */
#include "errs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void errs_vadd(errs *e, int warning, const char *file, int line,
                      const char *fmt, va_list ap)
{
    char msg[1024], full[1400];

    vsnprintf(msg, sizeof msg, fmt, ap);
    if (file != NULL && line > 0)
        snprintf(full, sizeof full, "%s:%d: %s%s", file, line,
                 warning ? "warning: " : "", msg);
    else if (file != NULL)
        snprintf(full, sizeof full, "%s: %s%s", file,
                 warning ? "warning: " : "", msg);
    else
        snprintf(full, sizeof full, "%s%s", warning ? "warning: " : "", msg);

    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        char **m = realloc(e->msgs, cap * sizeof *m);
        if (m == NULL) {
            e->oom = 1;
            e->nerrors += !warning;
            return;
        }
        e->msgs = m;
        e->cap = cap;
    }
    e->msgs[e->n] = strdup(full);
    if (e->msgs[e->n] == NULL)
        e->oom = 1;
    else
        e->n++;
    e->nerrors += !warning;
}

void errs_add(errs *e, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errs_vadd(e, 0, file, line, fmt, ap);
    va_end(ap);
}

void errs_warn(errs *e, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errs_vadd(e, 1, file, line, fmt, ap);
    va_end(ap);
}

char *errs_join(const errs *e)
{
    size_t len = 1;
    char *out, *p;

    for (size_t i = 0; i < e->n; i++)
        len += strlen(e->msgs[i]) + 1;
    if (e->oom)
        len += 32;
    out = p = malloc(len);
    if (out == NULL)
        return NULL;
    *p = '\0';
    for (size_t i = 0; i < e->n; i++) {
        size_t l = strlen(e->msgs[i]);
        memcpy(p, e->msgs[i], l);
        p += l;
        *p++ = '\n';
    }
    if (e->oom)
        p += sprintf(p, "(out of memory: messages lost)\n");
    if (p > out)
        p[-1] = '\0';
    else
        *p = '\0';
    return out;
}

void errs_free(errs *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    memset(e, 0, sizeof *e);
}
