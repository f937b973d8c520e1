/*
 * store_redis.c -- the shared store backend: a Redis server
 * (URI "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]", port 6379 and db 0
 * by default), shared by every worker of every node that names it.
 *
 * Atomicity.  Every store call is ONE round trip: an EVALSHA of a Lua
 * script that reads, decides and writes on the server, where scripts run
 * one at a time.  The scripts are loaded (SCRIPT LOAD) when a connection
 * is made; a NOSCRIPT answer (Redis restarted, SCRIPT FLUSH) reloads them
 * and retries the call once, which is safe because a script that was not
 * found did not run.  No other call is retried: after a lost connection
 * nobody knows whether a counter_add was applied, so the caller gets
 * AMS_ERR_STORE and the next call reconnects.
 *
 * Layout.  Keys are a family prefix + the caller's key ("c:" counter, "l:"
 * lock, "t:" tag, "v:" value, "bm:"/"bz:" board).  The host's keys carry a
 * {hash tag}; Redis Cluster hashes on the first {...} wherever it is, so a
 * prefix keeps a record and its board keys in one slot.  Records are
 * hashes:
 *
 *   counter  c:KEY   e = expire_at_ms, d = value (decimal int64)
 *   lock     l:KEY   e, d = token
 *   tag      t:KEY   e, d = the caller's bytes
 *   value    v:KEY   e, d = bytes, n = version (decimal)
 *   board    bm:KEY  "" = expire_at_ms (a member is never empty), and
 *                    member -> its order key (below)
 *            bz:KEY  sorted set of order keys, every score 0
 *
 * Numbers travel and are stored as decimal strings and compared exactly
 * in Lua (cmp below): Redis' Lua has only doubles, which do not hold an
 * int64.  counter_add adds with HINCRBY, Redis' exact int64 arithmetic,
 * which refuses to overflow; a result outside [lo, hi] puts the old value
 * back before the script ends, so nobody sees it.
 *
 * Versions come from one global counter key (RD_VERSION_KEY, INCR), so
 * they only grow and are never reused, not even by a value created again
 * after it expired.  When that key is missing (a new server, or one that
 * restarted without persistence and lost everything) it starts from
 * Redis' clock in microseconds (TIME), so versions handed out before the
 * loss are not handed out again while a stale holder may still present
 * them (unless Redis' clock went back, or more than a million cas per
 * second were done for a long time).  On Redis Cluster that key would
 * have to be one per hash tag (same slot as the value); not done yet.
 *
 * Boards.  A zset's float score cannot hold an int64 score plus a time,
 * so every member of bz scores 0 and Redis orders equal scores by the
 * bytes of the member: the member is the order key, as in store_lmdb.c,
 * 8 bytes ~score (sign bit flipped, big-endian) + 8 bytes time (sign bit
 * flipped) + the member's bytes: score descending, then time ascending,
 * then member bytes.  ZRANGE gives the top, ZRANK the rank (O(log N)).
 * bm maps a member to its current order key (to remove it when the score
 * changes; a set to the same score keeps it, and so its time).  The
 * score is decoded from the order key in C.
 *
 * Expiry.  Semantics follow the host clock (now_ms), which tests move,
 * never Redis' clock: e is stored in the record and a record with
 * e != 0 && e <= now_ms reads as absent in every script (lazy expiry).
 * To reclaim memory, a record with an expiry also gets a Redis TTL of
 * (expire_at_ms - now_ms) + RD_MARGIN_MS, a day, relative to Redis' own
 * clock, so the host's and Redis' clocks need not agree; the record can
 * only vanish early if the host clock runs a day slower than Redis'.
 * Counters and boards get theirs only when created, like their expiry.
 * So store_sweep() has nothing to do: it answers AMS_OK, 0 removed (the
 * suite checks exact sweep counts only for lmdb: and mem:).
 *
 * Connection.  This is the synchronous path: one blocking hiredis
 * connection per handle, connect and command timeouts from
 * store_options.redis_timeout_ms (default 1000).  After an error the
 * connection is dropped and the next call reconnects, but a failed
 * connect is not tried again for RD_RETRY_MS: while Redis is down, calls
 * fail fast with AMS_ERR_STORE instead of each waiting for a timeout.
 * Every failure is logged to stderr and answered AMS_ERR_STORE.  Writes
 * to a dead socket would raise SIGPIPE: it is blocked around each call
 * and a pending one consumed.
 *
 * Next step, not done here: the asynchronous path.  Inside amsd each
 * request runs in a coroutine (coro.h: coro_current() != NULL), and a
 * blocking round trip stalls the worker's whole event loop.  The plan:
 * a hiredis async context (redisAsyncContext + the libevent adapter,
 * redisLibeventAttach) on the worker's event base (services.h, svc.base);
 * a store call made inside a coroutine sends its EVALSHA with a callback
 * that records the reply and coro_resume()s the coroutine, then
 * coro_yield()s until it is resumed; many requests' calls are thus
 * pipelined over one connection, answered in order.  Outside a coroutine
 * (checker, tests, tags_import) the synchronous path here stays.  NOSCRIPT
 * handling, the reconnect back-off and the timeouts (an event timer per
 * pending call, failing every pending call on expiry) carry over.
 */
#include "store.h"
#include "store_enc.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RD_RETRY_MS 100
#define RD_TIMEOUT_DEFAULT_MS 1000
#define RD_VERSION_KEY "ams:version"
#define RD_MEMBER_MAX 256              /* as store_lmdb.c */
#define RD_KEY_MAX (3 + STORE_KEY_MAX) /* prefix + caller key */
#define RD_ORDER STORE_ORDER_PREFIX    /* order key: score + time */

/* ---- the scripts ---- */

/* Shared by every script.  cmp: exact order of two canonical decimal
 * int64 strings.  live: a record with expiry e is live at now.  keep:
 * give key k the Redis TTL of a record expiring at e (see the top). */
#define RD_LUA_LIB                                                          \
    "local function cmp(a, b)\n"                                            \
    "  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'\n"             \
    "  if na ~= nb then return na and -1 or 1 end\n"                        \
    "  local r = 0\n"                                                       \
    "  if #a ~= #b then r = #a < #b and -1 or 1\n"                          \
    "  elseif a ~= b then r = a < b and -1 or 1 end\n"                      \
    "  if na then r = -r end\n"                                             \
    "  return r\n"                                                          \
    "end\n"                                                                 \
    "local function live(e, now)\n"                                         \
    "  return e ~= false and e ~= nil and (e == '0' or cmp(e, now) > 0)\n"  \
    "end\n"                                                                 \
    "local function keep(k, e, now)\n"                                      \
    "  if e == '0' then redis.call('PERSIST', k) return end\n"              \
    "  local d = tonumber(e) - tonumber(now)\n"                             \
    "  if d < 0 then d = 0 end\n"                                           \
    "  if d > 1e15 then redis.call('PERSIST', k) return end\n"              \
    "  redis.call('PEXPIRE', k, string.format('%.0f', d + 86400000))\n"     \
    "end\n"

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
    S_COUNT
};

/* Answers: 0 OK, 1 conflict, 2 not found (as a number, or the first
 * element of an array). */
static const char *const rd_scripts[S_COUNT] = {
    /* counter_add: ARGV delta lo hi expire_at now -> {status, value} */
    [S_COUNTER_ADD] = RD_LUA_LIB
    "local k = KEYS[1]\n"
    "local fresh = not live(redis.call('HGET', k, 'e'), ARGV[5])\n"
    "local cur = '0'\n"
    "if fresh then redis.call('DEL', k)\n"
    "else cur = redis.call('HGET', k, 'd') or '0' end\n"
    "local r = redis.pcall('HINCRBY', k, 'd', ARGV[1])\n"
    "local nxt = nil\n"
    "if type(r) == 'table' and r.err then\n"
    "  if not string.find(r.err, 'overflow', 1, true) then\n"
    "    if fresh then redis.call('DEL', k) end\n"
    "    return redis.error_reply(r.err)\n"
    "  end\n"
    "else nxt = redis.call('HGET', k, 'd') end\n"
    "if nxt == nil or cmp(nxt, ARGV[2]) < 0 or cmp(nxt, ARGV[3]) > 0 then\n"
    "  if fresh then redis.call('DEL', k)\n"
    "  else redis.call('HSET', k, 'd', cur) end\n"
    "  return {1, cur}\n"
    "end\n"
    "if fresh then\n"
    "  redis.call('HSET', k, 'e', ARGV[4])\n"
    "  keep(k, ARGV[4], ARGV[5])\n"
    "end\n"
    "return {0, nxt}\n",

    /* counter_get: ARGV now -> value */
    [S_COUNTER_GET] = RD_LUA_LIB
    "if not live(redis.call('HGET', KEYS[1], 'e'), ARGV[1]) then\n"
    "  return '0' end\n"
    "return redis.call('HGET', KEYS[1], 'd') or '0'\n",

    /* lock_acquire: ARGV token expire_at now -> status */
    [S_LOCK_ACQUIRE] = RD_LUA_LIB
    "local k = KEYS[1]\n"
    "if live(redis.call('HGET', k, 'e'), ARGV[3]) and\n"
    "   redis.call('HGET', k, 'd') ~= ARGV[1] then return 1 end\n"
    "redis.call('HSET', k, 'd', ARGV[1], 'e', ARGV[2])\n"
    "keep(k, ARGV[2], ARGV[3])\n"
    "return 0\n",

    /* lock_release: ARGV token now -> status */
    [S_LOCK_RELEASE] = RD_LUA_LIB
    "local k = KEYS[1]\n"
    "if live(redis.call('HGET', k, 'e'), ARGV[2]) and\n"
    "   redis.call('HGET', k, 'd') == ARGV[1] then\n"
    "  redis.call('DEL', k) return 0 end\n"
    "return 1\n",

    /* lock_get: ARGV now -> token or nil */
    [S_LOCK_GET] = RD_LUA_LIB
    "if not live(redis.call('HGET', KEYS[1], 'e'), ARGV[1]) then\n"
    "  return false end\n"
    "return redis.call('HGET', KEYS[1], 'd')\n",

    /* tag_set: ARGV bytes expire_at now -> status */
    [S_TAG_SET] = RD_LUA_LIB
    "redis.call('HSET', KEYS[1], 'd', ARGV[1], 'e', ARGV[2])\n"
    "keep(KEYS[1], ARGV[2], ARGV[3])\n"
    "return 0\n",

    /* tag_get: ARGV now -> bytes or nil */
    [S_TAG_GET] = RD_LUA_LIB
    "if not live(redis.call('HGET', KEYS[1], 'e'), ARGV[1]) then\n"
    "  return false end\n"
    "return redis.call('HGET', KEYS[1], 'd')\n",

    /* tag_del: ARGV now -> status (an expired tag goes too, unseen) */
    [S_TAG_DEL] = RD_LUA_LIB
    "local l = live(redis.call('HGET', KEYS[1], 'e'), ARGV[1])\n"
    "redis.call('DEL', KEYS[1])\n"
    "if l then return 0 end\n"
    "return 2\n",

    /* value_get: ARGV now -> {version, bytes} or nil */
    [S_VALUE_GET] = RD_LUA_LIB
    "if not live(redis.call('HGET', KEYS[1], 'e'), ARGV[1]) then\n"
    "  return false end\n"
    "return redis.call('HMGET', KEYS[1], 'n', 'd')\n",

    /* value_cas: KEYS value, version counter; ARGV expect bytes expire_at
     * now -> {status, version} */
    [S_VALUE_CAS] = RD_LUA_LIB
    "local k = KEYS[1]\n"
    "local cur = '0'\n"
    "if live(redis.call('HGET', k, 'e'), ARGV[4]) then\n"
    "  cur = redis.call('HGET', k, 'n') or '0' end\n"
    "if cur ~= ARGV[1] then return {1, cur} end\n"
    "if redis.call('EXISTS', KEYS[2]) == 0 then\n"
    "  local t = redis.call('TIME')\n"
    "  redis.call('SET', KEYS[2],\n"
    "             t[1] .. string.format('%06d', tonumber(t[2])))\n"
    "end\n"
    "redis.call('INCR', KEYS[2])\n"
    "local v = redis.call('GET', KEYS[2])\n"
    "redis.call('HSET', k, 'd', ARGV[2], 'e', ARGV[3], 'n', v)\n"
    "keep(k, ARGV[3], ARGV[4])\n"
    "return {0, v}\n",

    /* board_set: KEYS bm bz; ARGV member orderkey expire_at now */
    [S_BOARD_SET] = RD_LUA_LIB
    "local bm, bz = KEYS[1], KEYS[2]\n"
    "local made = false\n"
    "if not live(redis.call('HGET', bm, ''), ARGV[4]) then\n"
    "  redis.call('UNLINK', bm, bz)\n"
    "  redis.call('HSET', bm, '', ARGV[3])\n"
    "  made = true\n"
    "end\n"
    "local old = redis.call('HGET', bm, ARGV[1])\n"
    "if old then\n"
    "  if old:sub(1, 8) == ARGV[2]:sub(1, 8) then return 0 end\n"
    "  redis.call('ZREM', bz, old)\n"
    "end\n"
    "redis.call('HSET', bm, ARGV[1], ARGV[2])\n"
    "redis.call('ZADD', bz, 0, ARGV[2])\n"
    "if made then keep(bm, ARGV[3], ARGV[4]) keep(bz, ARGV[3], ARGV[4]) end\n"
    "return 0\n",

    /* board_top: KEYS bm bz; ARGV now last -> order keys */
    [S_BOARD_TOP] = RD_LUA_LIB
    "if not live(redis.call('HGET', KEYS[1], ''), ARGV[1]) then\n"
    "  return {} end\n"
    "return redis.call('ZRANGE', KEYS[2], 0, ARGV[2])\n",

    /* board_rank: KEYS bm bz; ARGV member now -> {status, rank0, okey} */
    [S_BOARD_RANK] = RD_LUA_LIB
    "if not live(redis.call('HGET', KEYS[1], ''), ARGV[2]) then\n"
    "  return {2} end\n"
    "local o = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not o then return {2} end\n"
    "local r = redis.call('ZRANK', KEYS[2], o)\n"
    "if not r then return redis.error_reply('board member without its "
    "order entry') end\n"
    "return {0, r, o}\n",
};

/* ---- the handle ---- */

typedef struct rd_store {
    store base;
    char *name;   /* "redis://HOST:PORT/DB" without credentials, for logs */
    char *host;
    int port;
    int db;
    char *user;   /* NULL: none */
    char *pass;   /* NULL: no AUTH */
    int64_t timeout_ms;
    redisContext *c; /* NULL: not connected */
    int64_t next_try_ms; /* monotonic: no connect attempt before */
    char sha[S_COUNT][41];
} rd_store;

static const store_ops rd_ops;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ams_status rd_fail(rd_store *rs, const char *op, const char *why)
{
    fprintf(stderr, "store: %s: %s: %s\n", rs->name, op, why);
    return AMS_ERR_STORE;
}

/* A caller bug, not a store fault: AMS_ERR, as store_lmdb.c. */
static ams_status rd_bad(rd_store *rs, const char *op, const char *why)
{
    fprintf(stderr, "store: %s: %s: %s\n", rs->name, op, why);
    return AMS_ERR;
}

static void rd_drop(rd_store *rs)
{
    if (rs->c != NULL)
        redisFree(rs->c);
    rs->c = NULL;
}

/* ---- SIGPIPE: hiredis write()s; a dead peer must not kill us ---- */

typedef struct rd_sigpipe {
    sigset_t set, old;
    int was_pending;
} rd_sigpipe;

static void rd_sigpipe_block(rd_sigpipe *p)
{
    sigset_t pending;

    sigemptyset(&p->set);
    sigaddset(&p->set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    p->was_pending = sigismember(&pending, SIGPIPE);
    sigprocmask(SIG_BLOCK, &p->set, &p->old);
}

static void rd_sigpipe_unblock(rd_sigpipe *p)
{
    if (!p->was_pending) {
        sigset_t pending;
        struct timespec zero = {0, 0};

        sigemptyset(&pending);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE))
            while (sigtimedwait(&p->set, NULL, &zero) == SIGPIPE)
                ;
    }
    sigprocmask(SIG_SETMASK, &p->old, NULL);
}

/* ---- connecting ---- */

/* Run one plain command on the fresh connection; 0, or -1 with why. */
static int rd_simple(rd_store *rs, int argc, const char **argv,
                     const size_t *lens, redisReply **out, char *why,
                     size_t whylen)
{
    redisReply *r = redisCommandArgv(rs->c, argc, argv, lens);

    if (r == NULL) {
        snprintf(why, whylen, "%s: %s", argv[0],
                 rs->c->errstr[0] ? rs->c->errstr : "no reply");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, whylen, "%s: %s", argv[0], r->str);
        freeReplyObject(r);
        return -1;
    }
    if (out != NULL)
        *out = r;
    else
        freeReplyObject(r);
    return 0;
}

static int rd_load_scripts(rd_store *rs, char *why, size_t whylen)
{
    for (int i = 0; i < S_COUNT; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", rd_scripts[i]};
        size_t lens[3] = {6, 4, strlen(rd_scripts[i])};
        redisReply *r = NULL;

        if (rd_simple(rs, 3, argv, lens, &r, why, whylen) != 0)
            return -1;
        if (r->type != REDIS_REPLY_STRING || r->len != 40) {
            snprintf(why, whylen, "SCRIPT LOAD: unexpected answer");
            freeReplyObject(r);
            return -1;
        }
        memcpy(rs->sha[i], r->str, 40);
        rs->sha[i][40] = '\0';
        freeReplyObject(r);
    }
    return 0;
}

/* Connect, authenticate, select the db and load the scripts; 0, or -1
 * with the reason in why. */
static int rd_connect(rd_store *rs, char *why, size_t whylen)
{
    struct timeval tv = {(time_t)(rs->timeout_ms / 1000),
                         (suseconds_t)(rs->timeout_ms % 1000 * 1000)};
    char db[16];

    rd_drop(rs);
    rs->c = redisConnectWithTimeout(rs->host, rs->port, tv);
    if (rs->c == NULL) {
        snprintf(why, whylen, "connect: out of memory");
        return -1;
    }
    if (rs->c->err) {
        snprintf(why, whylen, "connect: %s", rs->c->errstr);
        rd_drop(rs);
        return -1;
    }
    if (redisSetTimeout(rs->c, tv) != REDIS_OK) {
        snprintf(why, whylen, "setting the timeout: %s", rs->c->errstr);
        rd_drop(rs);
        return -1;
    }
    if (rs->pass != NULL) {
        const char *argv[3] = {"AUTH", rs->user, rs->pass};
        size_t lens[3] = {4, rs->user ? strlen(rs->user) : 0,
                          strlen(rs->pass)};
        if (rs->user == NULL) {
            argv[1] = rs->pass;
            lens[1] = lens[2];
        }
        if (rd_simple(rs, rs->user ? 3 : 2, argv, lens, NULL, why, whylen)) {
            rd_drop(rs);
            return -1;
        }
    }
    if (rs->db != 0) {
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, 0};
        lens[1] = (size_t)snprintf(db, sizeof db, "%d", rs->db);
        if (rd_simple(rs, 2, argv, lens, NULL, why, whylen) != 0) {
            rd_drop(rs);
            return -1;
        }
    }
    if (rd_load_scripts(rs, why, whylen) != 0) {
        rd_drop(rs);
        return -1;
    }
    return 0;
}

/* A connection for op, reconnecting if the last one was lost, at most
 * once per RD_RETRY_MS. */
static ams_status rd_ready(rd_store *rs, const char *op)
{
    char why[256];
    int64_t now;

    if (rs->c != NULL)
        return AMS_OK;
    now = mono_ms();
    if (now < rs->next_try_ms)
        return rd_fail(rs, op, "not connected (reconnecting soon)");
    if (rd_connect(rs, why, sizeof why) != 0) {
        rs->next_try_ms = now + RD_RETRY_MS;
        return rd_fail(rs, op, why);
    }
    return AMS_OK;
}

/* ---- one call: EVALSHA ---- */

#define RD_MAXARG 8

typedef struct rd_args {
    int n;
    const char *v[RD_MAXARG];
    size_t len[RD_MAXARG];
    char num[RD_MAXARG][24]; /* room for formatted numbers */
} rd_args;

static void arg_bytes(rd_args *a, const char *p, size_t len)
{
    a->v[a->n] = p != NULL ? p : "";
    a->len[a->n] = len;
    a->n++;
}

static void arg_str(rd_args *a, const char *s)
{
    arg_bytes(a, s, strlen(s));
}

static void arg_i64(rd_args *a, int64_t v)
{
    int n = snprintf(a->num[a->n], sizeof a->num[0], "%" PRId64, v);
    arg_bytes(a, a->num[a->n], (size_t)n);
}

static void arg_u64(rd_args *a, uint64_t v)
{
    int n = snprintf(a->num[a->n], sizeof a->num[0], "%" PRIu64, v);
    arg_bytes(a, a->num[a->n], (size_t)n);
}

/* Run script with nkeys keys followed by the arguments, all in a; *out
 * the reply (freeReplyObject it) on AMS_OK. */
static ams_status rd_eval(rd_store *rs, const char *op, int script, int nkeys,
                          const rd_args *a, redisReply **out)
{
    const char *argv[3 + RD_MAXARG];
    size_t lens[3 + RD_MAXARG];
    char nk[8];
    redisReply *r = NULL;
    rd_sigpipe sp;
    ams_status st = AMS_OK;

    *out = NULL;
    if ((st = rd_ready(rs, op)) != AMS_OK)
        return st;
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[2] = nk;
    lens[2] = strlen(nk);
    for (int i = 0; i < a->n; i++) {
        argv[3 + i] = a->v[i];
        lens[3 + i] = a->len[i];
    }
    rd_sigpipe_block(&sp);
    for (int attempt = 0; attempt < 2; attempt++) {
        argv[1] = rs->sha[script];
        lens[1] = 40;
        r = redisCommandArgv(rs->c, 3 + a->n, argv, lens);
        if (r == NULL || r->type != REDIS_REPLY_ERROR ||
            strncmp(r->str, "NOSCRIPT", 8) != 0 || attempt > 0)
            break;
        /* The server lost its scripts (restart, SCRIPT FLUSH): reload
         * them and try once more; the script did not run. */
        char why[256];
        freeReplyObject(r);
        r = NULL;
        fprintf(stderr, "store: %s: %s: scripts gone (NOSCRIPT), reloading\n",
                rs->name, op);
        if (rd_load_scripts(rs, why, sizeof why) != 0) {
            st = rd_fail(rs, op, why);
            rd_drop(rs);
            break;
        }
    }
    if (st == AMS_OK && r == NULL) {
        char why[256];
        snprintf(why, sizeof why, "%s",
                 rs->c->errstr[0] ? rs->c->errstr : "connection lost");
        st = rd_fail(rs, op, why);
        rd_drop(rs); /* the next call reconnects */
    }
    rd_sigpipe_unblock(&sp);
    if (st != AMS_OK)
        return st;
    if (r->type == REDIS_REPLY_ERROR) {
        st = rd_fail(rs, op, r->str);
        freeReplyObject(r);
        return st;
    }
    *out = r;
    return AMS_OK;
}

static ams_status rd_unexpected(rd_store *rs, const char *op, redisReply *r)
{
    freeReplyObject(r);
    return rd_fail(rs, op, "unexpected answer from the script");
}

/* Prefix + key into a (which keeps pointing at buf); AMS_ERR when the key
 * is empty or too long. */
static ams_status rd_key(rd_store *rs, const char *op, rd_args *a, char *buf,
                         const char *prefix, const char *key)
{
    size_t klen = key != NULL ? strlen(key) : 0, plen = strlen(prefix);

    if (klen == 0 || klen > STORE_KEY_MAX)
        return rd_bad(rs, op, "key is empty or longer than STORE_KEY_MAX");
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, key, klen);
    arg_bytes(a, buf, plen + klen);
    return AMS_OK;
}

static int rd_parse_i64(const redisReply *r, int64_t *v)
{
    char buf[32], *end;
    long long x;

    if (r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len >= sizeof buf)
        return -1;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    errno = 0;
    x = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *v = x;
    return 0;
}

static int rd_parse_u64(const redisReply *r, uint64_t *v)
{
    char buf[32], *end;
    unsigned long long x;

    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len >= sizeof buf ||
        r->str[0] == '-')
        return -1;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    errno = 0;
    x = strtoull(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *v = x;
    return 0;
}

/* {status, ...}: the status of an array answer, or -1. */
static int rd_status(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return (int)r->integer;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        return (int)r->element[0]->integer;
    return -1;
}

static ams_status rd_code(int code)
{
    return code == 0 ? AMS_OK : code == 1 ? AMS_CONFLICT : AMS_NOT_FOUND;
}

/* A malloc'd NUL-terminated copy of a string reply; NULL when out of
 * memory. */
static char *rd_dup(const redisReply *r)
{
    char *p = malloc(r->len + 1);

    if (p != NULL) {
        if (r->len > 0)
            memcpy(p, r->str, r->len);
        p[r->len] = '\0';
    }
    return p;
}

/* ---- counters (policy: see store_lmdb.c) ---- */

static ams_status rd_counter_add(store *s, const char *key, int64_t delta,
                                 int64_t lo, int64_t hi, int64_t expire_at_ms,
                                 int64_t now_ms, int64_t *out)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    int64_t v;
    int code;
    ams_status st = rd_key(rs, "counter_add", &a, kb, "c:", key);

    if (st != AMS_OK)
        return st;
    arg_i64(&a, delta);
    arg_i64(&a, lo);
    arg_i64(&a, hi);
    arg_i64(&a, expire_at_ms);
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, "counter_add", S_COUNTER_ADD, 1, &a, &r)) != AMS_OK)
        return st;
    code = rd_status(r);
    if ((code != 0 && code != 1) || r->elements != 2 ||
        rd_parse_i64(r->element[1], &v) != 0)
        return rd_unexpected(rs, "counter_add", r);
    freeReplyObject(r);
    if (out != NULL)
        *out = v;
    return rd_code(code);
}

static ams_status rd_counter_get(store *s, const char *key, int64_t now_ms,
                                 int64_t *out)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    int64_t v;
    ams_status st = rd_key(rs, "counter_get", &a, kb, "c:", key);

    if (st != AMS_OK)
        return st;
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, "counter_get", S_COUNTER_GET, 1, &a, &r)) != AMS_OK)
        return st;
    if (rd_parse_i64(r, &v) != 0)
        return rd_unexpected(rs, "counter_get", r);
    freeReplyObject(r);
    if (out != NULL)
        *out = v;
    return AMS_OK;
}

/* ---- locks ---- */

static ams_status rd_lock_call(store *s, const char *op, int script,
                               const char *key, const char *token,
                               const int64_t *expire_at_ms, int64_t now_ms)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    int code;
    ams_status st;

    if (token == NULL || *token == '\0')
        return rd_bad(rs, op, "empty token");
    if ((st = rd_key(rs, op, &a, kb, "l:", key)) != AMS_OK)
        return st;
    arg_str(&a, token);
    if (expire_at_ms != NULL)
        arg_i64(&a, *expire_at_ms);
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, op, script, 1, &a, &r)) != AMS_OK)
        return st;
    code = rd_status(r);
    if (r->type != REDIS_REPLY_INTEGER || (code != 0 && code != 1))
        return rd_unexpected(rs, op, r);
    freeReplyObject(r);
    return rd_code(code);
}

static ams_status rd_lock_acquire(store *s, const char *key, const char *token,
                                  int64_t expire_at_ms, int64_t now_ms)
{
    return rd_lock_call(s, "lock_acquire", S_LOCK_ACQUIRE, key, token,
                        &expire_at_ms, now_ms);
}

static ams_status rd_lock_release(store *s, const char *key, const char *token,
                                  int64_t now_ms)
{
    return rd_lock_call(s, "lock_release", S_LOCK_RELEASE, key, token, NULL,
                        now_ms);
}

/* A get of one string: *val (may be NULL) a malloc'd copy, *len its
 * length; AMS_NOT_FOUND on a nil answer. */
static ams_status rd_get_str(store *s, const char *op, int script,
                             const char *prefix, const char *key,
                             int64_t now_ms, char **val, size_t *len)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    char *copy = NULL;
    ams_status st;

    if (val != NULL)
        *val = NULL;
    if (len != NULL)
        *len = 0;
    if ((st = rd_key(rs, op, &a, kb, prefix, key)) != AMS_OK)
        return st;
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, op, script, 1, &a, &r)) != AMS_OK)
        return st;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return AMS_NOT_FOUND;
    }
    if (r->type != REDIS_REPLY_STRING)
        return rd_unexpected(rs, op, r);
    if (val != NULL && (copy = rd_dup(r)) == NULL)
        st = AMS_ERR_NOMEM;
    if (len != NULL && st == AMS_OK)
        *len = r->len;
    if (val != NULL)
        *val = copy;
    freeReplyObject(r);
    return st;
}

static ams_status rd_lock_get(store *s, const char *key, int64_t now_ms,
                              char **token)
{
    return rd_get_str(s, "lock_get", S_LOCK_GET, "l:", key, now_ms, token,
                      NULL);
}

/* ---- tags ---- */

static ams_status rd_tag_set(store *s, const char *key, const char *val,
                             size_t len, int64_t expire_at_ms, int64_t now_ms)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    ams_status st;

    if (val == NULL && len > 0)
        return rd_bad(rs, "tag_set", "NULL value");
    if ((st = rd_key(rs, "tag_set", &a, kb, "t:", key)) != AMS_OK)
        return st;
    arg_bytes(&a, val, len);
    arg_i64(&a, expire_at_ms);
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, "tag_set", S_TAG_SET, 1, &a, &r)) != AMS_OK)
        return st;
    if (rd_status(r) != 0 || r->type != REDIS_REPLY_INTEGER)
        return rd_unexpected(rs, "tag_set", r);
    freeReplyObject(r);
    return AMS_OK;
}

static ams_status rd_tag_get(store *s, const char *key, int64_t now_ms,
                             char **val, size_t *len)
{
    return rd_get_str(s, "tag_get", S_TAG_GET, "t:", key, now_ms, val, len);
}

static ams_status rd_tag_del(store *s, const char *key, int64_t now_ms)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    int code;
    ams_status st = rd_key(rs, "tag_del", &a, kb, "t:", key);

    if (st != AMS_OK)
        return st;
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, "tag_del", S_TAG_DEL, 1, &a, &r)) != AMS_OK)
        return st;
    code = rd_status(r);
    if (r->type != REDIS_REPLY_INTEGER || (code != 0 && code != 2))
        return rd_unexpected(rs, "tag_del", r);
    freeReplyObject(r);
    return rd_code(code);
}

/* ---- versioned values ---- */

static ams_status rd_value_get(store *s, const char *key, int64_t now_ms,
                               char **val, size_t *len, uint64_t *version)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    uint64_t ver;
    char *copy = NULL;
    ams_status st;

    if (val != NULL)
        *val = NULL;
    if (len != NULL)
        *len = 0;
    if (version != NULL)
        *version = 0;
    if ((st = rd_key(rs, "value_get", &a, kb, "v:", key)) != AMS_OK)
        return st;
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, "value_get", S_VALUE_GET, 1, &a, &r)) != AMS_OK)
        return st;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return AMS_NOT_FOUND;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        rd_parse_u64(r->element[0], &ver) != 0 ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return rd_unexpected(rs, "value_get", r);
    if (val != NULL && (copy = rd_dup(r->element[1])) == NULL)
        st = AMS_ERR_NOMEM;
    if (st == AMS_OK) {
        if (len != NULL)
            *len = r->element[1]->len;
        if (version != NULL)
            *version = ver;
    }
    if (val != NULL)
        *val = copy;
    freeReplyObject(r);
    return st;
}

static ams_status rd_value_cas(store *s, const char *key, uint64_t expect,
                               const char *val, size_t len,
                               int64_t expire_at_ms, int64_t now_ms,
                               uint64_t *version)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    uint64_t ver;
    int code;
    ams_status st;

    if (val == NULL && len > 0)
        return rd_bad(rs, "value_cas", "NULL value");
    if ((st = rd_key(rs, "value_cas", &a, kb, "v:", key)) != AMS_OK)
        return st;
    arg_str(&a, RD_VERSION_KEY);
    arg_u64(&a, expect);
    arg_bytes(&a, val, len);
    arg_i64(&a, expire_at_ms);
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, "value_cas", S_VALUE_CAS, 2, &a, &r)) != AMS_OK)
        return st;
    code = rd_status(r);
    if ((code != 0 && code != 1) || r->elements != 2 ||
        rd_parse_u64(r->element[1], &ver) != 0)
        return rd_unexpected(rs, "value_cas", r);
    freeReplyObject(r);
    if (version != NULL)
        *version = ver;
    return rd_code(code);
}

/* ---- leaderboards (layout: see the top of the file) ---- */


static int rd_member_ok(const char *member, size_t *mlen)
{
    *mlen = member != NULL ? strlen(member) : 0;
    return *mlen > 0 && *mlen <= RD_MEMBER_MAX;
}

/* The two keys of board key: bm and bz. */
static ams_status rd_board_keys(rd_store *rs, const char *op, rd_args *a,
                                char *bm, char *bz, const char *key)
{
    ams_status st = rd_key(rs, op, a, bm, "bm:", key);

    return st == AMS_OK ? rd_key(rs, op, a, bz, "bz:", key) : st;
}

static ams_status rd_board_set(store *s, const char *key, const char *member,
                               int64_t score, int64_t expire_at_ms,
                               int64_t now_ms)
{
    rd_store *rs = (rd_store *)s;
    char bm[RD_KEY_MAX], bz[RD_KEY_MAX];
    unsigned char ok[RD_ORDER + RD_MEMBER_MAX];
    rd_args a = {0};
    redisReply *r;
    size_t mlen;
    ams_status st;

    if (!rd_member_ok(member, &mlen))
        return rd_bad(rs, "board_set", "member is empty or too long");
    if ((st = rd_board_keys(rs, "board_set", &a, bm, bz, key)) != AMS_OK)
        return st;
    store_order_key(ok, score, now_ms, member, mlen);
    arg_bytes(&a, member, mlen);
    arg_bytes(&a, (const char *)ok, RD_ORDER + mlen);
    arg_i64(&a, expire_at_ms);
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, "board_set", S_BOARD_SET, 2, &a, &r)) != AMS_OK)
        return st;
    if (rd_status(r) != 0 || r->type != REDIS_REPLY_INTEGER)
        return rd_unexpected(rs, "board_set", r);
    freeReplyObject(r);
    return AMS_OK;
}

static int64_t rd_order_score(const char *okey)
{
    return store_score_dec(store_get_u64((const unsigned char *)okey));
}

static ams_status rd_board_top(store *s, const char *key, size_t n,
                               int64_t now_ms, store_board_entry **out,
                               size_t *count)
{
    rd_store *rs = (rd_store *)s;
    char bm[RD_KEY_MAX], bz[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    store_board_entry *e = NULL;
    size_t got = 0;
    ams_status st;

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if ((st = rd_board_keys(rs, "board_top", &a, bm, bz, key)) != AMS_OK)
        return st;
    if (n == 0)
        return AMS_OK;
    arg_i64(&a, now_ms);
    arg_i64(&a, n > (size_t)INT64_MAX ? INT64_MAX : (int64_t)n - 1);
    if ((st = rd_eval(rs, "board_top", S_BOARD_TOP, 2, &a, &r)) != AMS_OK)
        return st;
    if (r->type != REDIS_REPLY_ARRAY)
        return rd_unexpected(rs, "board_top", r);
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING ||
            r->element[i]->len <= RD_ORDER)
            return rd_unexpected(rs, "board_top", r);
    if (r->elements > 0 && out != NULL) {
        e = calloc(r->elements, sizeof *e);
        if (e == NULL)
            st = AMS_ERR_NOMEM;
        for (size_t i = 0; st == AMS_OK && i < r->elements; i++) {
            const redisReply *el = r->element[i];
            size_t mlen = el->len - RD_ORDER;

            e[i].member = malloc(mlen + 1);
            if (e[i].member == NULL) {
                st = AMS_ERR_NOMEM;
                break;
            }
            memcpy(e[i].member, el->str + RD_ORDER, mlen);
            e[i].member[mlen] = '\0';
            e[i].score = rd_order_score(el->str);
            got++;
        }
    }
    if (st != AMS_OK) {
        store_board_free(e, got);
    } else if (out != NULL) {
        *out = e;
        if (count != NULL)
            *count = got;
    } else if (count != NULL) {
        *count = r->elements;
    }
    freeReplyObject(r);
    return st;
}

static ams_status rd_board_rank(store *s, const char *key, const char *member,
                                int64_t now_ms, int64_t *rank, int64_t *score)
{
    rd_store *rs = (rd_store *)s;
    char bm[RD_KEY_MAX], bz[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    size_t mlen;
    int code;
    ams_status st;

    if (rank != NULL)
        *rank = 0;
    if (score != NULL)
        *score = 0;
    if (!rd_member_ok(member, &mlen))
        return rd_bad(rs, "board_rank", "member is empty or too long");
    if ((st = rd_board_keys(rs, "board_rank", &a, bm, bz, key)) != AMS_OK)
        return st;
    arg_bytes(&a, member, mlen);
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, "board_rank", S_BOARD_RANK, 2, &a, &r)) != AMS_OK)
        return st;
    code = rd_status(r);
    if (code == 2 && r->type == REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return AMS_NOT_FOUND;
    }
    if (code != 0 || r->elements != 3 ||
        r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_STRING ||
        r->element[2]->len <= RD_ORDER)
        return rd_unexpected(rs, "board_rank", r);
    if (rank != NULL)
        *rank = r->element[1]->integer + 1;
    if (score != NULL)
        *score = rd_order_score(r->element[2]->str);
    freeReplyObject(r);
    return AMS_OK;
}

/* ---- sweep: Redis reclaims expired records itself (see the top) ---- */

static ams_status rd_sweep(store *s, int64_t now_ms, size_t max,
                           size_t *removed)
{
    if (removed != NULL)
        *removed = 0;
    return AMS_OK;
}

/* ---- open and close ---- */

static void rd_close(store *s)
{
    rd_store *rs = (rd_store *)s;

    rd_drop(rs);
    free(rs->name);
    free(rs->host);
    free(rs->user);
    free(rs->pass);
    free(rs);
}

static char *dupn(const char *p, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

/* Parse "[[USER]:PASSWORD@]HOST[:PORT][/DB]" (what follows "redis://")
 * into rs; NULL, or what is wrong with it. */
static const char *rd_parse(rd_store *rs, const char *p)
{
    const char *at = strrchr(p, '@'), *h, *hend, *rest;
    char *end;
    long v;

    rs->port = 6379;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL) {
            rs->pass = dupn(p, (size_t)(at - p));
        } else {
            if (colon > p)
                rs->user = dupn(p, (size_t)(colon - p));
            rs->pass = dupn(colon + 1, (size_t)(at - colon - 1));
            if (colon > p && rs->user == NULL)
                return "out of memory";
        }
        if (rs->pass == NULL)
            return "out of memory";
        p = at + 1;
    }
    if (*p == '[') { /* [IPv6] */
        h = p + 1;
        hend = strchr(h, ']');
        if (hend == NULL)
            return "unterminated [";
        rest = hend + 1;
    } else {
        h = p;
        hend = p + strcspn(p, ":/");
        rest = hend;
    }
    if (hend == h)
        return "no host";
    if ((rs->host = dupn(h, (size_t)(hend - h))) == NULL)
        return "out of memory";
    if (*rest == ':') {
        errno = 0;
        v = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || errno != 0 || v < 1 || v > 65535 ||
            (*end != '\0' && *end != '/'))
            return "bad port";
        rs->port = (int)v;
        rest = end;
    }
    if (*rest == '/' && rest[1] != '\0') {
        errno = 0;
        v = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || errno != 0 || v < 0 || v > 1000000 ||
            *end != '\0')
            return "bad database number";
        rs->db = (int)v;
    } else if (*rest == '/') {
        rest++;
    }
    if (*rest != '\0' && *rest != '/')
        return "unexpected characters after the host";
    return NULL;
}

/* The URI as given, with any password replaced, for messages. */
static void rd_display(const char *uri, char *out, size_t outlen)
{
    const char *at = strrchr(uri, '@');

    if (at == NULL)
        snprintf(out, outlen, "%s", uri);
    else
        snprintf(out, outlen, "redis://***@%s", at + 1);
}

store *store_redis_open(const char *uri, const store_options *opt, char *err,
                        size_t errlen)
{
    char shown[512], why[256];
    const char *bad;
    rd_store *rs;

    rd_display(uri, shown, sizeof shown);
    if (strncmp(uri, "redis://", 8) != 0) {
        snprintf(err, errlen, "store: \"%s\": bad URI: expected redis://", shown);
        return NULL;
    }
    rs = calloc(1, sizeof *rs);
    if (rs == NULL) {
        snprintf(err, errlen, "store: \"%s\": out of memory", shown);
        return NULL;
    }
    rs->base.ops = &rd_ops;
    rs->timeout_ms = opt->redis_timeout_ms > 0 ? opt->redis_timeout_ms
                                               : RD_TIMEOUT_DEFAULT_MS;
    bad = rd_parse(rs, uri + 8);
    if (bad == NULL && opt->redis_password != NULL) {
        /* From amsd.conf's redis { }: only when the URI has none. */
        if (rs->pass != NULL)
            bad = "a password in the URI and in the redis settings too";
        else if ((rs->pass = strdup(opt->redis_password)) == NULL ||
                 (opt->redis_user != NULL &&
                  (rs->user = strdup(opt->redis_user)) == NULL))
            bad = "out of memory";
    }
    if (bad == NULL) {
        size_t n = strlen(shown) + 1;
        if ((rs->name = malloc(n)) == NULL)
            bad = "out of memory";
        else
            memcpy(rs->name, shown, n);
    }
    if (bad != NULL) {
        snprintf(err, errlen,
                 "store: \"%s\": bad URI: %s (expected "
                 "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])",
                 shown, bad);
        rd_close(&rs->base);
        return NULL;
    }
    rd_sigpipe sp;
    int rc;

    rd_sigpipe_block(&sp);
    rc = rd_connect(rs, why, sizeof why);
    rd_sigpipe_unblock(&sp);
    if (rc != 0) {
        snprintf(err, errlen, "store: \"%s\": %s", shown, why);
        rd_close(&rs->base);
        return NULL;
    }
    return &rs->base;
}

static const store_ops rd_ops = {
    .name = "redis",
    .counter_add = rd_counter_add,
    .counter_get = rd_counter_get,
    .lock_acquire = rd_lock_acquire,
    .lock_release = rd_lock_release,
    .lock_get = rd_lock_get,
    .tag_set = rd_tag_set,
    .tag_get = rd_tag_get,
    .tag_del = rd_tag_del,
    .value_get = rd_value_get,
    .value_cas = rd_value_cas,
    .board_set = rd_board_set,
    .board_top = rd_board_top,
    .board_rank = rd_board_rank,
    .sweep = rd_sweep,
    .close = rd_close,
};
