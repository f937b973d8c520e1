/*
 * conform.h -- the plugin conformance runner (ams-conform): shared types.
 *
 * The runner (main.c) never runs plugin code itself: every check runs in
 * a forked child (child.c) that loads the plugin into a harness host
 * (harness.c: the real host table and chain over an in-memory store and
 * a fixed clock) and hands its verdict back through shared memory.  A
 * child that crashes or hangs fails its check and the battery goes on.
 *
 * Checks live in one file per family: check_manifest.c, check_params.c,
 * check_calls.c (rules, operations, robustness), check_lifecycle.c.
 */
#ifndef AMS_CONFORM_H
#define AMS_CONFORM_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct conform_opts {
    const char *path;      /* the plugin file */
    char stem[256];        /* its file name without directory and .so */
    const cJSON *params;   /* --params: {"entry" or "plugin.entry": {...}} */
    const cJSON *requests; /* --request: same keys, request params */
    int64_t budget_ms;     /* per plugin call */
    int64_t check_timeout_ms; /* per check, whatever it does */
    int cycles;               /* lifecycle.repeat */
    int verbose;
} conform_opts;

typedef enum ck_status { CK_PASS = 0, CK_FAIL = 1, CK_SKIP = 2 } ck_status;

/* What a check child hands back (a shared anonymous mapping). */
#define CK_MSG_MAX 4096
#define CK_DOING_MAX 512
#define CK_DATA_MAX (256 * 1024)
typedef struct ck_shared {
    volatile int done;        /* the check returned a verdict */
    int status;               /* ck_status */
    char msg[CK_MSG_MAX];     /* one line */
    char detail[CK_MSG_MAX];  /* more lines, for logs and JUnit */
    char doing[CK_DOING_MAX]; /* what the child was doing last */
    char data[CK_DATA_MAX];   /* check-specific output (the probe) */
} ck_shared;

/* One check as a child sees it. */
typedef struct ck {
    const conform_opts *o;
    const char *entry; /* per-entry checks: the entry's name */
    ck_shared *sh;
} ck;

typedef void (*ck_fn)(ck *c);

/* Verdicts: the first verdict a check gives stands. */
void ck_pass(ck *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ck_fail(ck *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A line of detail under the verdict (shown on failure, in JUnit). */
void ck_note(ck *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* What the child is doing now: named when it crashes or times out. */
void ck_doing(ck *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- child.c: running a check in a child ---- */

typedef struct ck_result {
    ck_status status;
    char msg[CK_MSG_MAX];
    char *detail; /* malloc'd, may be NULL: notes and the log tail */
    char *data;   /* malloc'd copy of ck_shared.data, or NULL */
    double seconds;
} ck_result;

/* Run fn in a child (for entry, may be NULL) and wait for its verdict,
 * killing it after o->check_timeout_ms.  Fills r (free with
 * ck_result_free). */
void ck_run(const conform_opts *o, const char *entry, ck_fn fn, ck_result *r);
void ck_result_free(ck_result *r);

/* "SIGSEGV" and the like. */
const char *ck_signame(int sig);

/* ---- the checks ---- */

/* The manifest probe: writes a JSON summary of the manifest into data. */
void ck_probe(ck *c);
void ck_manifest_magic(ck *c);
void ck_manifest_abi(ck *c);
void ck_manifest_name(ck *c);
void ck_manifest_version(ck *c);
void ck_manifest_entries(ck *c);
void ck_manifest_schema(ck *c);
void ck_manifest_symbols(ck *c);
void ck_manifest_loader(ck *c);

void ck_params_example(ck *c);
void ck_params_missing(ck *c);
void ck_params_mistyped(ck *c);
void ck_params_bounds(ck *c);
void ck_params_optional(ck *c);

void ck_rule_pure(ck *c);
void ck_rule_deterministic(ck *c);
void ck_op_undo(ck *c);
void ck_op_idempotent(ck *c);
void ck_op_bounds(ck *c);
void ck_readonly(ck *c);
void ck_robust(ck *c);

void ck_lifecycle_repeat(ck *c);
void ck_lifecycle_reload(ck *c);

/* ---- report.c: output ---- */

typedef struct report_check {
    char name[160];
    ck_result r;
} report_check;

typedef struct report_suite {
    char plugin[256]; /* the file as given */
    char name[128];   /* manifest name, or the stem */
    report_check *checks;
    size_t n;
    double seconds;
} report_suite;

/* Escape text for one line of output: no newlines, bytes outside
 * printable ASCII as \xHH, and for TAP (tap set) no '#', which would start
 * a directive.  Returns out. */
char *report_line(const char *in, char *out, size_t outlen, int tap);
/* Write the JUnit XML report; -1 when the file cannot be written. */
int report_junit(const char *path, const report_suite *s, size_t n);

#endif
