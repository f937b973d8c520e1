/*
 * audit.h -- the admin plane's audit log: one JSON object per line, one
 * line per admin action, appended and fsync'd before the action is
 * answered, and read back by GET /admin/audit.
 *
 * A record is built by the admin plane (admin.c says which fields); this
 * module only needs "ts" to be its first member, so reading back can pick
 * the lines of a time range without parsing every one.  Only the master
 * writes, from its single thread: lines never interleave.
 */
#ifndef AMS_CORE_AUDIT_H
#define AMS_CORE_AUDIT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_READ_DEFAULT 1000 /* records GET /admin/audit returns */
#define AUDIT_READ_MAX 10000

/* Make sure records can be appended to path: create its directory (and
 * parents, mode 0700) and the file (0600) when missing.  Returns 0, or -1
 * with the reason in err. */
int audit_prepare(const char *path, char *err, size_t errlen);

/* A record's timestamp: the wall clock in ms, never less than the last
 * one this process handed out, so "ts" never goes back in file order. */
int64_t audit_now_ms(void);

/* Append rec (a JSON object whose first member is "ts") as one line,
 * write(2) in one piece, then fsync.  Returns 0, or -1 with errno. */
int audit_append(const char *path, const cJSON *rec);

/* The records of path with "ts" >= since, oldest first, at most the
 * `limit` newest of them, appended to arr as objects.  *matched gets how
 * many records matched in all (more than were appended when the limit
 * cut some), *skipped how many lines could not be read as records (a
 * line cut short by a crash).  A missing file has no records.  Returns
 * 0, or -1 with errno. */
int audit_read(const char *path, int64_t since, size_t limit, cJSON *arr,
               size_t *matched, size_t *skipped);

/* What is in force: {"config": sha256 of the config file,
 * "activities/<f>.conf": ..., "plugins/<f>.so": ...} from a generation's
 * snapshot directories (which never change once made, so the answer is
 * computed once per snapshot and cached).  config_sha may be "".  The
 * object comes printed already (a cJSON raw item: it is only ever put
 * into a record and printed).  Caller deletes; NULL when out of memory. */
cJSON *audit_checksums(const char *config_sha, const char *plugins_dir,
                       const char *activities_dir);

/* Records of the master's actions (admin requests, config-center
 * versions): they need the master's state (mstate.h). */
struct master;

/* The files in force as the audit log records them: the checksums of
 * the configuration and of the generation serving (audit_checksums()).
 * Caller deletes; NULL when out of memory. */
cJSON *audit_files_in_force(const struct master *m);

/* Stamp rec's "ts" (its first member, audit.h) and append rec to the
 * audit log, preparing the log once more when the first try fails (a
 * reload may have moved it, its directory may be gone).  For actions
 * that are not admin requests too (a config-center version loaded).
 * Returns 0, or -1 when it could not be written (logged, naming the
 * action that is not recorded). */
int audit_record(struct master *m, cJSON *rec);

#endif
