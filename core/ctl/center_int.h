/*
 * center_int.h -- what the three files of the config center's node side
 * share: center.c (versions: reading the pointer, loading, refusing,
 * reporting, the clock, life cycle), center_link.c (the two Redis
 * connections) and center_boot.c (the blocking start).  Nothing outside
 * them includes this; the rest of amsd uses center.h.
 */
#ifndef AMS_CORE_CENTER_INT_H
#define AMS_CORE_CENTER_INT_H

#include "center.h"
#include "center_kv.h"
#include "errs.h"
#include "redis_uri.h"

#include <cjson/cJSON.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <sys/time.h>

#define CC_TICK_MS 100 /* how soon a timeout or a retry is seen */
#define CC_BACKOFF_MIN_MS 200
#define CC_BACKOFF_MAX_MS 5000
#define CC_REPORT_TTL_MIN_MS 30000 /* a node's report outlives 10 polls */
#define CC_NODES_FORGET_MS (24LL * 3600 * 1000)
#define CC_BOOT_CHECK_MS 60000
#define CC_BOOT_FALLBACKS 4 /* versions tried when the latest fails */
#define CC_REASON_MAX 8192
#define CC_DEAD_MAX 4

typedef enum { CC_DOWN, CC_CONNECTING, CC_UP } cc_link;

typedef struct center {
    master *m;
    ruri uri;
    char shown[300]; /* the URI without credentials: for every message */
    char k_pointer[CKV_KEY_MAX], k_channel[CKV_KEY_MAX];
    char k_node[CKV_KEY_MAX], k_nodes[CKV_KEY_MAX];
    redisAsyncContext *cmd, *sub;
    redisAsyncContext *dead[CC_DEAD_MAX];
    int ndead;
    int subscribed; /* sub's SUBSCRIBE confirmed */
    int answered;   /* cmd answered a read */
    cc_link link;
    char link_error[300]; /* why it is not connected ("" when up) */
    int64_t connect_at;   /* monotonic ms: when the pair was opened */
    int64_t next_connect;
    int64_t backoff_ms;
    int pending;           /* commands on cmd waiting for a reply */
    int64_t pending_since; /* the last progress while some waited */
    int checking, recheck; /* a read of the pointer in flight / again */
    int64_t next_check;
    int64_t last_answer_wall;
    struct event *tick, *kick;
    uint64_t latest;        /* the pointer, as last read */
    uint64_t fetching;      /* whose content is being read */
    uint64_t loading;       /* being reloaded */
    uint64_t skip;          /* refused: not tried again (center.h) */
    uint64_t changed;       /* serving, but other content under its
                               number (Redis lost its data and the
                               number was published again) */
    uint64_t rejected;      /* the last refused, for reports */
    char *reason;           /* why, a message a line (owned) */
    int64_t rejected_at;    /* wall ms */
    char digest[65];        /* of the version serving */
    char serving_dir[1100]; /* run_dir/center-N of it, or "" */
    char loading_dir[1100];
    char loading_digest[65];
    unsigned stages; /* versions written so far */
    cJSON *audit;    /* the running load's record (owned) */
    int closing;
    int warned_empty;
    int64_t started_at; /* wall ms */
} center;

static inline int64_t cc_ms_or(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static inline struct timeval cc_tv(int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* center.c */
void cc_on_sub(redisAsyncContext *ac, void *reply, void *priv);
const char *cc_serving(const center *cc, char *buf, size_t len);
cJSON *cc_audit_begin(const center *cc, uint64_t n, const ckv_version *v);
void cc_audit_end(center *cc, cJSON *rec, int ok, const char *reason,
                  const cJSON *errors);
cJSON *cc_errs_json(const center *cc, uint64_t n, const errs *e);
void cc_refusal_log(center *cc, uint64_t n, const cJSON *errors, cJSON *rec,
                    const char *code);
void cc_refuse(center *cc, uint64_t n, cJSON *errors, cJSON *rec,
               const char *code);
void cc_serve_loaded(center *cc, uint64_t n);
int cc_stage(center *cc, const ckv_version *v, errs *e);

/* center_link.c */
void cc_bury(center *cc, redisAsyncContext *ac);
void cc_connect(center *cc);
int cc_failed(const redisReply *r, const char *what, char *why, size_t len);
void cc_free_dead(center *cc);
void cc_lost(center *cc, const redisAsyncContext *going, const char *why);
void cc_maybe_up(center *cc);
center *cc_mine(redisAsyncContext *ac);
void cc_on_written(redisAsyncContext *ac, void *reply, void *priv);
int cc_send(center *cc, redisCallbackFn *fn, int argc, const char **argv,
            const size_t *lens);

#endif
