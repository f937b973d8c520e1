/*
 * services.h -- the host side of the plugin API: the ams_host table, the
 * per-call context and the per-request state the table works on.
 */
#ifndef AMS_CORE_SERVICES_H
#define AMS_CORE_SERVICES_H

#include "activity.h"
#include "clock.h"
#include "gen.h"
#include "session.h"
#include "store.h"
#include "wset.h"

#include <ams/ams.h>
#include <cjson/cJSON.h>

struct event_base;

/* Process-wide environment of the services (one per worker process). */
typedef struct svc_env {
    store *st;               /* NULL: store calls fail with AMS_ERR_STORE */
    struct event_base *base; /* NULL: sleep_ms blocks (checker, tests) */
    uint64_t rng;            /* splitmix64 state */
    int64_t idem_ttl_ms;     /* how long answers are kept for replay */
} svc_env;

extern svc_env svc;

/* The host's function table, and what generations use to hand it to the
 * plugins they load and to run their inits (gen.h). */
extern const ams_host services_host;
extern const gen_host svc_gen_host;

/* Seed the host random source; seed 0 takes one from the OS. */
void svc_seed(uint64_t seed);

typedef struct svc_lock {
    char *key;
    char token[AMS_TOKEN_LEN];
    struct svc_lock *next;
} svc_lock;

/* One request as the services see it.  Strings and params are owned by
 * the gateway's request; data, locks and the arena are owned here and
 * released by svc_req_end(). */
typedef struct svc_req {
    const char *uid, *request_id, *client_ip;
    const char *app;     /* the signed caller's app name, or NULL */
    const cJSON *params; /* the request's "params" object or NULL */
    char *params_json;   /* printed on demand */
    activity *act;
    method *m;
    int64_t clock_base_ms; /* host clock at mono_start_ms */
    int64_t mono_start_ms;
    cJSON *data;     /* reply data object */
    cJSON *grants;   /* grants recorded by operations (array) */
    cJSON *notes;    /* note_set texts by instance */
    svc_lock *locks; /* still held; released at the end */
    void **arena;    /* values handed to plugins */
    size_t narena, carena;
    /* This attempt's journal (store.h: Journals), set by the pipeline
     * once the request claimed its request_id: every counter add made for
     * the request from then on is recorded in it, and its counter adds
     * and value writes are fenced by it.  jkey[0] == '\0': none. */
    char jkey[STORE_KEY_MAX];
    int64_t jexpire_ms;
    /* The request's write set (wset.h), owned; NULL: its store calls go
     * to the store one by one (a plugin's unit test, the conformance
     * runner). */
    svc_ws *ws;
    session_hold sess; /* the session lock it holds (session.h) */
} svc_req;

/* The request's journal as the store takes it (valid while r is), or
 * NULL when it has none. */
const store_journal *svc_req_journal(const svc_req *r, store_journal *buf);

struct ams_ctx {
    svc_req *req; /* NULL during init */
    instance *inst;
    char reason[64]; /* set by set_reason */
    /* During init: the last error or warning the plugin logged, kept to
     * go with "init failed" at the instance's file:line instead of being
     * printed without a place. */
    char init_log[256];
    int init_log_level;
};

/* Session and plugin locks whose release failed with the store away
 * (see services.c): how many this process holds, and release them now
 * (call from a coroutine in a worker, so a slow store does not stall the
 * loop).  Stops at the first store fault; returns how many it
 * released. */
size_t svc_orphans(void);
size_t svc_release_orphans(int64_t now_ms);

/* Start a request: now_ms < 0 means "use the system clock".  Returns -1
 * when memory is short. */
int svc_req_begin(svc_req *r, int64_t now_ms);
/* Keep p (malloc'd) alive until the request ends, then free it; frees p
 * and returns NULL if the arena cannot grow.  svc_req.c */
void *svc_arena_keep(svc_req *r, void *p);
/* The host's random source (splitmix64 over svc.rng). */
uint64_t svc_random_u64(void);
/* 1 when k is a plugin key: 1..SVC_KEY_MAX printable bytes, no space. */
int svc_key_ok(const char *k);
#define SVC_KEY_MAX AMS_KEY_MAX
/* Release the request's locks and memory (not r itself). */
void svc_req_end(svc_req *r);
/* Release the plugin locks the request holds (before it runs again). */
void svc_req_release_locks(svc_req *r);

/* The host clock of a context (works for init contexts too). */
int64_t svc_now(ams_ctx *ctx);

/* Host-internal keys ("h" segment): the plugin namespace cannot reach
 * them.  uid NULL or "": activity-wide.  Returns -1 when out is too
 * small. */
int svc_host_key(char *out, size_t outlen, int64_t activity_id,
                 const char *uid, const char *name);

/* The crowd-scope key of tag `name` of user `uid` (AMS_SCOPE_CROWD:
 * the user across activities), as plugins reach it with tag_get and the
 * admin tag import writes it.  Returns -1 when out is too small. */
int svc_crowd_key(char *out, size_t outlen, const char *uid, const char *name);

/* The day number of now_ms in the activity's time zone, and the end of
 * that day plus a grace day (when a per-day record may be swept). */
int64_t svc_day(const activity *a, int64_t now_ms, int64_t *expire_at);

/* Take a host lock on key for the request; it is released by
 * svc_req_end().  AMS_CONFLICT when held by another. */
ams_status svc_host_lock(svc_req *r, const char *key, int64_t ttl_ms);

/* svc_host_lock, but a lock whose holder died on this node (its token
 * names node and pid), or whose request in this process ended without
 * being able to release it (the store was down), is released and taken
 * instead of waiting out its TTL. */
ams_status svc_host_lock_reclaim(svc_req *r, const char *key, int64_t ttl_ms);

/* The host clock of a request. */
int64_t svc_req_now(const svc_req *r);

/* The user's ledger key of an activity (wset entries; before them a
 * versioned JSON array). */
int svc_ledger_key(char *out, size_t outlen, const svc_req *r);

/* Stage the request's grants in its write set, one ledger entry each
 * (committed with the rest); a request without a write set (a plugin's
 * unit test) commits them at once.  AMS_OK when there are none. */
ams_status svc_ledger_stage(svc_req *r);
/* The user's whole ledger, oldest first (a new array, caller deletes). */
ams_status svc_ledger_read(const svc_req *r, cJSON **out);

/* Run an entry function on a context; any fault is logged with the
 * instance's reference. */
ams_status svc_call(ams_entry_fn fn, ams_ctx *ctx);

#endif
