/*
 * errs.h -- a list of "file:line: message" errors and warnings.
 *
 * Loading a configuration does not stop at the first problem: every parser
 * appends what it finds so an operator fixes a file in one round (like
 * `nginx -t`, but reporting all of them).
 */
#ifndef AMS_CORE_ERRS_H
#define AMS_CORE_ERRS_H

#include <stddef.h>

typedef struct errs {
    char **msgs; /* owned; each "file:line: message" or "warning: ..." */
    size_t n, cap;
    size_t nerrors; /* messages that are errors (the rest are warnings) */
    int oom;
} errs;

/* file may be NULL (no location); line 0 means "no line". */
void errs_add(errs *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void errs_warn(errs *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* All messages joined by '\n'; caller frees. NULL on allocation failure. */
char *errs_join(const errs *e);
void errs_free(errs *e);

#endif
