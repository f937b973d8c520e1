/*
 * activity.h -- the compiled form of activity files.
 *
 * An activity file is parsed once per generation into these structures,
 * with every `plugin.entry` already resolved to a plugin_entry and every
 * params group validated and converted to JSON.  The pipeline only walks
 * them.  Everything here is owned by the generation that built it.
 */
#ifndef AMS_CORE_ACTIVITY_H
#define AMS_CORE_ACTIVITY_H

#include "errs.h"
#include "plugin.h"
#include "rlconf.h"

#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct activity activity;

/* One use of an entry, with its own params and state. */
typedef struct instance {
    const plugin_entry *entry;
    char *ref;         /* "plugin.entry", for messages and metrics */
    cJSON *params;     /* validated; never NULL (empty object) */
    void *state;       /* from the entry's init */
    cJSON *json_cache; /* conf_json texts, by param name */
    int inited;        /* init succeeded: destroy must run */
    activity *act;
    struct method *m;   /* the method it serves (NULL for crowd rules) */
    struct rnode *when; /* operations: run only when this passes */
    int constant;       /* rules: -1 unknown, 0 never passes, 1 always */
    struct inst_use {
        char *param; /* the resource param it draws from */
        int64_t per_call;
    } * uses; /* declared by init (declare_use) */
    size_t nuses;
    char *file; /* owned copy, for messages */
    int line;
    struct instance *next_all; /* every instance of a generation */
} instance;

typedef enum rnode_kind { RN_LEAF, RN_ALL, RN_ANY, RN_NOT } rnode_kind;

typedef struct rnode {
    rnode_kind kind;
    instance *leaf;      /* RN_LEAF */
    struct rnode **kids; /* RN_ALL, RN_ANY: n kids; RN_NOT: 1 */
    size_t nkids;
} rnode;

/* Per-method limits on successful calls; 0 means none. */
typedef struct limits {
    int64_t user_total, user_daily; /* per user */
    int64_t total, daily;           /* the whole activity */
} limits;

#define METHOD_OPS_MAX 32

typedef struct method {
    char *name;
    activity *act;
    int login; /* an empty uid is rejected */
    /* Signed callers (callers.h): only they may call it; these params
     * only from them (owned). */
    int signed_only;
    char **signed_params;
    size_t nsigned_params;
    int auth; /* lis_auth (listeners.h); 0: its listener's */
    limits lim;
    rnode *rule; /* NULL: no condition */
    instance **ops;
    size_t nops;
    instance *handler; /* NULL: the reply carries only ops' data */
    rl_set rl;         /* its own rate_limits (rlconf.h) */
    int line;
} method;

struct activity {
    int64_t id;
    char *name;
    char *tenant;
    int enabled;
    int64_t start_ms, end_ms; /* [start, end) */
    int tz_offset_min;        /* for per-day periods */
    rnode *crowd;             /* NULL: everyone */
    /* Declared resources, as JSON objects keyed by name:
     * {"pools":{...},"coupons":{...},"budgets":{...}}; never NULL. */
    cJSON *resources;
    method *methods;
    size_t nmethods;
    rl_set rl; /* rate_limits of all its methods (rlconf.h) */
    char *file;
    int line;
    int64_t max_in_flight; /* its requests in flight per worker; 0: any */
    uint64_t in_flight;    /* worker-local count (admission.c) */
};

/* Lookup of loaded plugins by name, provided by the generation. */
typedef plugin *(*activity_plugin_fn)(void *ud, const char *name);

/* Parse one activity file, appending activities to *acts (realloc'd) and
 * instances to the *all list.  Every problem goes to e.  Returns -1 if
 * the file had errors (activities parsed without error are still
 * appended, so the caller frees them). */
int activity_parse_file(const char *path, activity_plugin_fn find, void *ud,
                        activity ***acts, size_t *nacts, instance **all,
                        errs *e);
/* The same reading the file at `file` but naming `path` in messages and
 * in the activities' file (a snapshot's object stands for the file it is
 * a copy of). */
int activity_parse_file_as(const char *file, const char *path,
                           activity_plugin_fn find, void *ud, activity ***acts,
                           size_t *nacts, instance **all, errs *e);

/* Frees the activity's own structures; instances are owned by the
 * generation's list and freed with activity_instance_free (after destroy
 * has run). */
void activity_free(activity *a);
void activity_instance_free(instance *in);

/* "2026-01-01T00:00:00+08:00" (or Z) to ms since the epoch; -1 if bad. */
int activity_parse_time(const char *s, int64_t *ms, int *offset_min);
/* "+08:00", "-05:30", "Z", "UTC" to minutes east of UTC; -1 if bad. */
int activity_parse_tz(const char *s, int *offset_min);

#endif
