/*
 * tap.h -- a tiny TAP producer for the C unit tests.  Each check prints
 * "ok N - what" or "not ok N - what"; tap_done() prints the plan and
 * returns the exit status.  The test runner counts these lines.
 *
 * A test program may make its checks from several files (test_store and
 * its record families): the counters are one pair per program, defined
 * in tap.c, which every unit test links.
 */
#ifndef AMS_TESTS_TAP_H
#define AMS_TESTS_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

extern int tap_n, tap_failed;

static inline int tap_ok(int cond, const char *file, int line, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
static inline int tap_ok(int cond, const char *file, int line, const char *fmt,
                         ...)
{
    va_list ap;
    tap_n++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                \
    do {                                                                      \
        long long g_ = (long long)(got), w_ = (long long)(want);              \
        if (!ok(g_ == w_, __VA_ARGS__))                                       \
            printf("#   got %lld, want %lld\n", g_, w_);                      \
    } while (0)

#define is_str(got, want, ...)                                                \
    do {                                                                      \
        const char *g_ = (got), *w_ = (want);                                 \
        if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))                \
            printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)",       \
                   w_ ? w_ : "(null)");                                       \
    } while (0)

/* got contains want */
#define has_str(got, want, ...)                                               \
    do {                                                                      \
        const char *g_ = (got), *w_ = (want);                                 \
        if (!ok(g_ && w_ && strstr(g_, w_) != NULL, __VA_ARGS__))             \
            printf("#   \"%s\" does not contain \"%s\"\n",                    \
                   g_ ? g_ : "(null)", w_);                                   \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
