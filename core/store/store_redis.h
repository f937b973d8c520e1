/*
 * store_redis.h -- what the files of the Redis backend share: the
 * handle, the scripts (lua/NAME.lua, embedded at build time by lua/embed.py),
 * one call and the helpers that make keys and read answers.
 * store_redis.c holds the single operations and the record layout,
 * store_redis_wset.c the write-set operations (commit, read_many,
 * list_range), store_redis_conn.c the connections and the way a call
 * travels.  Only those three files include this.
 */
#ifndef AMS_CORE_STORE_REDIS_H
#define AMS_CORE_STORE_REDIS_H

#include "redis_uri.h"
#include "store_backend.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct event_base;
struct redisAsyncContext;

#define RD_RETRY_MS 100
#define RD_LOG_BURST 10 /* fault lines a second */
#define RD_TIMEOUT_DEFAULT_MS 1000
#define RD_MEMBER_MAX 256              /* as store_lmdb.c */
#define RD_KEY_MAX (5 + STORE_KEY_MAX) /* prefix + {caller key} */
#define RD_ORDER STORE_ORDER_PREFIX    /* order key: score + time */
#define RD_RATE_MARGIN_MS 10000        /* a rate bucket outlives its TAT */

/* The scripts, one per operation; rd_scripts[S_X] is lua/x.lua with its
 * preludes (store_redis_lua.c, generated). */
enum {
    S_COUNTER_ADD,
    S_COUNTER_GET,
    S_LOCK_ACQUIRE,
    S_LOCK_RELEASE,
    S_LOCK_GET,
    S_TAG_SET,
    S_TAG_GET,
    S_TAG_DEL,
    S_VALUE_GET,
    S_VALUE_CAS,
    S_BOARD_SET,
    S_BOARD_TOP,
    S_BOARD_RANK,
    S_JOURNAL_READ,
    S_JOURNAL_CLOSE,
    S_JOURNAL_GIVE_BACK,
    S_COMMIT,
    S_READ_MANY,
    S_LIST_RANGE,
    S_GCRA,
    S_COUNT
};

/* Answers: 0 OK, 1 conflict, 2 not found, 3 the named journal is closed,
 * 4 the named journal is full (as a number, or the first element of an
 * array); commit, read_many and list_range: see their scripts. */
extern const char *const rd_scripts[S_COUNT];

typedef struct rd_store {
    store base;
    char *name;      /* "redis://HOST:PORT/DB" without credentials, for logs */
    ruri uri;        /* host, port, db and credentials */
    char dbtext[16]; /* db in decimal, for SELECT */
    int64_t timeout_ms;
    redisContext *c;     /* NULL: not connected */
    int64_t next_try_ms; /* monotonic: no connect attempt before */
    /* The asynchronous path (evbase set): one pipelined connection. */
    struct event_base *evbase;
    struct redisAsyncContext *ac; /* NULL: not connected */
    int64_t next_async_ms;        /* monotonic: no connect attempt before */
    int64_t log_since_ms;         /* rd_fail's rate limit */
    int log_lines;
    unsigned long log_dropped;
    char sha[S_COUNT][41];
} rd_store;

/* The arguments of one call. */
#define RD_MAXARG 8

typedef struct rd_args {
    int n;
    const char *v[RD_MAXARG];
    size_t len[RD_MAXARG];
    char num[RD_MAXARG][24]; /* room for formatted numbers */
} rd_args;

static inline void arg_bytes(rd_args *a, const char *p, size_t len)
{
    a->v[a->n] = p != NULL ? p : "";
    a->len[a->n] = len;
    a->n++;
}

static inline void arg_str(rd_args *a, const char *s)
{
    arg_bytes(a, s, strlen(s));
}

static inline void arg_i64(rd_args *a, int64_t v)
{
    int n = snprintf(a->num[a->n], sizeof a->num[0], "%" PRId64, v);
    arg_bytes(a, a->num[a->n], (size_t)n);
}

static inline void arg_u64(rd_args *a, uint64_t v)
{
    int n = snprintf(a->num[a->n], sizeof a->num[0], "%" PRIu64, v);
    arg_bytes(a, a->num[a->n], (size_t)n);
}

/* Log a store fault (rate-limited, see store_redis_conn.c); returns
 * AMS_ERR_STORE. */
ams_status rd_fail(rd_store *rs, const char *op, const char *why);
/* A caller bug, not a store fault: logged, AMS_ERR (as store_lmdb.c). */
ams_status rd_bad(rd_store *rs, const char *op, const char *why);

/* Run script with nkeys keys followed by the arguments: argc of them in
 * argv[3..] (argv[0..2] are this function's to fill); *out the reply
 * (freeReplyObject it) on AMS_OK.  One round trip, on the path the caller
 * is on (a coroutine of a worker: asynchronous; otherwise blocking). */
ams_status rd_evalv(rd_store *rs, const char *op, int script, int nkeys,
                    int argc, const char **argv, size_t *lens,
                    redisReply **out);
/* One script call of a batch (rd_evalv_many). */
typedef struct rd_call {
    int script; /* S_* */
    int nkeys;
    int argc;          /* keys and arguments, in argv[3 .. 3 + argc) */
    const char **argv; /* 3 + argc of them; argv[0..2] are rd_evalv_many's
                          to fill */
    size_t *lens;
    /* Out.  reply: the answer, which may be an error reply, owned by the
     * caller (freeReplyObject it), or NULL when none came; then sent: 1
     * when the call may have run (it went out and no answer came back),
     * 0 when it certainly did not (not connected, never written). */
    redisReply *reply;
    int sent;
    char nk[12]; /* nkeys in decimal, for argv[2] */
} rd_call;

/* Run n scripts in ONE round trip (pipelined on the path the caller is
 * on, as rd_evalv), in order: calls[i].reply each.  NOSCRIPT is handled
 * as rd_evalv does (one more round trip for those).  AMS_OK when every
 * call has a reply (error replies included: the caller decides), else
 * AMS_ERR_STORE (logged) with the replies that came; either way the
 * caller frees every non-NULL reply. */
ams_status rd_evalv_many(rd_store *rs, const char *op, rd_call *calls,
                         size_t n);
/* rd_evalv with the keys and arguments in a. */
ams_status rd_eval(rd_store *rs, const char *op, int script, int nkeys,
                   const rd_args *a, redisReply **out);

/* ---- keys and answers (store_redis.c) ---- */

/* Prefix + key into buf (RD_KEY_MAX bytes), *len its length; AMS_ERR
 * when the key is empty or too long.  A key without a hash tag is
 * wrapped in one, "prefix{key}", so that every Redis key made from the
 * same caller key (a board's two) hashes to the same Cluster slot
 * whatever the key. */
ams_status rd_key_make(rd_store *rs, const char *op, char *buf, size_t *len,
                       const char *prefix, const char *key);
/* rd_key_make, appended to a (which keeps pointing at buf). */
ams_status rd_key(rd_store *rs, const char *op, rd_args *a, char *buf,
                  const char *prefix, const char *key);
/* A decimal (or, for i64, integer) reply into *v: 0, or -1 when it is
 * not one. */
int rd_parse_i64(const redisReply *r, int64_t *v);
int rd_parse_u64(const redisReply *r, uint64_t *v);
/* {status, ...}: the status of an array answer, or -1. */
int rd_status(const redisReply *r);
/* A malloc'd NUL-terminated copy of a string reply; NULL when out of
 * memory. */
char *rd_dup(const redisReply *r);
/* Free r and log a script answer of the wrong shape: AMS_ERR_STORE. */
ams_status rd_unexpected(rd_store *rs, const char *op, redisReply *r);

/* ---- the write-set operations (store_redis_wset.c) ---- */

/* store_ops.commit, read_many and list_range. */
ams_status rd_commit(store *s, const store_wset *sets, size_t n,
                     store_wres *res);
ams_status rd_read_many(store *s, const store_rkey *k, size_t n,
                        int64_t now_ms, store_rval *out);
ams_status rd_list_range(store *s, const char *key, size_t from, size_t max,
                         int64_t now_ms, store_item **out, size_t *count);
ams_status rd_read_rate(store *s, const store_rkey *k, size_t n,
                        const store_rate *r, size_t nr, int64_t now_ms,
                        store_rval *out, store_rate_res *rout);

/* ---- connections (store_redis_conn.c) ---- */

/* Hash the scripts and make the blocking connection (which checks the
 * URI, password and database).  lazy: an unreachable server is not an
 * error (calls fail until it is reached).  0, or -1 with the reason in
 * why. */
int rd_conn_start(rd_store *rs, int lazy, char *why, size_t whylen);
/* Close both connections (not the handle). */
void rd_conn_close(rd_store *rs);

#endif
