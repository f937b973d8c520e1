/*
 * conf.h -- the server configuration (amsd.conf) and command-line flags.
 * See docs/operator-guide.md for every setting.
 */
#ifndef AMS_CORE_CONF_H
#define AMS_CORE_CONF_H

#include "auth.h"
#include "callers.h"
#include "errs.h"
#include "keys.h"
#include "listeners.h"
#include "rlconf.h"
#include "httpguard.h"

#include <cjson/cJSON.h>

#include <stddef.h>
#include <stdint.h>

typedef struct conf {
    char *file;   /* config file path as given */
    char *listen; /* "HOST:PORT" of the data plane */
    char *admin;  /* "HOST:PORT" of the admin plane */
    int workers;  /* >= 1 after conf_finish() */
    char *store;  /* store URI */
    char *plugins_dir;
    char *activities_dir;
    int log_level;
    int64_t max_body;               /* bytes */
    int64_t admin_max_body;         /* bytes, admin plane (tag imports) */
    int64_t admin_import_timeout_s; /* a tag import is killed after it */
    int64_t max_headers;            /* bytes */
    int64_t timeout_ms;          /* read/write/idle timeout of a connection */
    httpguard_limits conn;       /* http.header_timeout_ms, ... (data) */
    httpguard_limits admin_conn; /* admin_header_timeout_ms, ... */
    struct {
        int64_t max_in_flight; /* per worker; 0: no bound */
        int64_t max_wait_ms;   /* headers read -> coroutine; 0: none */
        int64_t retry_after_s; /* of the 503 */
    } overload;                /* overload { } (admission.h) */
    int64_t shutdown_timeout_ms;
    int64_t lmdb_map_mb;
    int lmdb_sync;            /* STORE_SYNC_* */
    char *redis_user;         /* redis.user: ACL user for AUTH, or NULL */
    char *redis_password;     /* redis.password(_file), or NULL */
    int64_t redis_timeout_ms; /* redis.timeout_ms */
    /* config_center { } (center.c): cc_redis NULL when there is none. */
    char *cc_redis;        /* URI as given: may hold a password, never log */
    char *cc_node;         /* this node's name (conf_finish() defaults it) */
    char *cc_prefix;       /* of every key */
    int64_t cc_poll_ms;    /* how often the version pointer is read */
    int64_t cc_timeout_ms; /* connect and command timeout */
    char *cc_user;         /* AUTH user and password, or NULL */
    char *cc_password;
    int64_t stack_kb;          /* coroutine stack per request */
    int64_t sweep_ms;          /* expired-record sweep interval */
    int64_t session_lock_ms;   /* accepted, no effect: the session lock
                                  lives in a worker's memory (session.h) */
    int64_t idempotency_ttl_s; /* how long answers are kept for replay */
    int clock_header;          /* testing: honour X-AMS-Now */
    int64_t bl_poll_ms;        /* blacklist.poll_ms: journal read interval */
    int bl_show_reason;        /* blacklist.show_reason: tell the client */
    int64_t random_seed;       /* testing: 0 = seed from the OS */
    char *run_dir;             /* snapshots and plugin copies; "" = temp dir */
    auth_table tokens;         /* admin_tokens; none: loopback-only admin */
    lis_set ls;                /* the data plane's listeners (listeners.h) */
    jwt_conf jwt;              /* end users' token keys (keys.h) */
    gw_conf gw;                /* a trusted gateway's secrets (keys.h) */
    char *audit_log;           /* admin audit log (JSON lines) */
    callers_table callers;     /* signed_callers (callers.h) */
    int64_t signed_window_s;   /* a signed request's ts: now +- this */
    rl_set rate_limits;        /* every method's (rlconf.h); reloadable */
    int64_t rl_table_slots;    /* rate_limit_table: the node's buckets */
    char file_sha256[65];      /* of the config file as read, hex ("" if
                                  unreadable) */
    const struct conf_overrides *overrides; /* command-line flags, kept
                                               to apply again on reload */
} conf;

/* Command-line values that win over the file (NULL: not given).  The
 * strings must outlive the conf (they are argv's). */
typedef struct conf_overrides {
    const char *listen, *admin, *workers, *store, *plugins, *activities,
        *log_level;
} conf_overrides;

/* Apply o to c and remember it in c->overrides; problems go to e. */
void conf_apply_overrides(conf *c, const conf_overrides *o, errs *e);

/* Reload: note as warnings in e every setting that changed between old
 * and nw but only takes effect at a restart (listen, store, workers...). */
void conf_restart_only_changes(const conf *old, const conf *nw, errs *e);
/* The settings a reload applies, as JSON (caller deletes), and applying
 * them (unknown members are ignored). */
cJSON *conf_reloadable_json(const conf *c);
void conf_apply_reloadable(conf *c, const cJSON *j);

/* Defaults, then the file.  Relative paths in the file are resolved
 * against the file's directory.  Every problem goes to e; returns -1 when
 * there was any error.  The caller conf_free()s c in both cases. */
int conf_load(conf *c, const char *path, errs *e);
/* Replace a string setting (flags): the value is copied. */
int conf_set(char **slot, const char *value);
/* Validate cross-field rules and fill "auto" values (workers = cores,
 * config_center.node = HOSTNAME:ADMIN-PORT). */
int conf_finish(conf *c, errs *e);
void conf_free(conf *c);

struct store_options;
/* The store settings of c as store_open() takes them; the strings stay
 * owned by c. */
void conf_store_options(const conf *c, struct store_options *so);

/* Split "HOST:PORT" ("[v6]:PORT" too).  host receives at most hostlen-1
 * bytes.  Returns -1 on a malformed address. */
int conf_split_addr(const char *addr, char *host, size_t hostlen, int *port);

#endif
