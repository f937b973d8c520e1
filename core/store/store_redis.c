/*
 * store_redis.c -- the shared store backend: a Redis server
 * (URI "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]", port 6379 and db 0
 * by default), shared by every worker of every node that names it.
 *
 * Atomicity.  Every store call is ONE round trip: an EVALSHA of a Lua
 * script that reads, decides and writes on the server, where scripts run
 * one at a time (NOSCRIPT and retries: see Connections).
 *
 * Layout.  Keys are a family prefix + the caller's key ("c:" counter, "l:"
 * lock, "t:" tag, "v:" value, "bm:"/"bz:" board, "j:" journal).  Redis
 * Cluster hashes
 * a key on its first {hash tag} wherever it is, and refuses a script
 * whose keys hash to different slots.  The host's keys carry a tag (one
 * per activity, see services.c), so one activity's records share a slot
 * and a prefix never moves a key off its slot; a caller key without a
 * tag is wrapped in one ("c:{KEY}") so that a board's two keys still
 * share theirs.  Every script touches only the keys it is given, all
 * made from one caller key (the suite passes against a one-node cluster,
 * which checks that), except the journal's: a journaled write and a
 * rollback touch a journal and its counters, which share a slot when the
 * caller gives them one tag (the host does: one activity's keys).
 * Records are hashes:
 *
 *   counter  c:KEY   e = expire_at_ms, d = value (decimal int64)
 *   lock     l:KEY   e, d = token
 *   tag      t:KEY   e, d = the caller's bytes
 *   value    v:KEY   e, d = bytes, n = version (decimal)
 *   board    bm:KEY  "" = expire_at_ms (a member is never empty), and
 *                    member -> its order key (below)
 *            bz:KEY  sorted set of order keys, every score 0
 *   journal  j:KEY   e, s = "o" open, "f" closed, "x" closed and given
 *                    back (store_enc.h), n = entries,
 *                    and entry i (1..n): ki = the counter's Redis key,
 *                    di = its delta (store.h: Journals).  A journaled
 *                    counter_add or value_cas names it as KEYS[2].
 *
 * Numbers travel and are stored as decimal strings and compared exactly
 * in Lua (cmp below): Redis' Lua has only doubles, which do not hold an
 * int64.  counter_add adds with HINCRBY, Redis' exact int64 arithmetic,
 * which refuses to overflow; a result outside [lo, hi] puts the old value
 * back before the script ends, so nobody sees it.
 *
 * Versions live in the value's record and grow by one (HINCRBY) with
 * each cas, also across an expiry: an expired record stays until its
 * Redis TTL (see Expiry) and its version goes on from there.  A record
 * that is not there at all (never made, reclaimed a day after it
 * expired, or lost with the server's data) starts at Redis' clock in
 * microseconds (TIME), above any version it had before unless Redis'
 * clock went back or it made more than 86 billion cas in the day it had
 * to live after its expiry.  So a stale holder's version is never
 * handed out again, and no key outside the record is needed (one slot).
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
 * Connections.  Two paths, chosen per call.
 *
 * Blocking: one hiredis connection per handle, connect and command
 * timeouts from store_options.redis_timeout_ms (default 1000).  Used
 * outside coroutines (the config checker, the tag import, tests, and a
 * worker's own code on its main stack).  Writes to a dead socket would
 * raise SIGPIPE: it is blocked around each call and a pending one
 * consumed.
 *
 * Asynchronous: when the handle was opened with an event loop
 * (store_options.base: amsd's workers) and the call comes from inside a
 * coroutine (coro.h: every request runs in one), the call goes over a
 * hiredis async connection attached to that loop (the libevent
 * adapter): the EVALSHA is queued, the coroutine yields, and the loop
 * serves other requests until the reply, the loss of the connection or
 * the timeout wakes it.  All of a worker's requests share that one
 * connection, so their calls are pipelined and answered in order.
 * hiredis 0.14 has no timeouts on async connections: each call arms an
 * event timer; when one expires the connection is closed, which ends
 * every call waiting on it at once (they wait on the same stall) rather
 * than each after its own timeout.  The reply callback never resumes a
 * coroutine itself, it wakes it through the call's event, so no request
 * code runs inside hiredis.
 *
 * Both paths: the scripts are loaded (SCRIPT LOAD) when the blocking
 * connection is made at open, which also checks the URI, password and
 * database before the server starts serving.  A NOSCRIPT answer (Redis
 * restarted or SCRIPT FLUSH) means the script did not run: the call is
 * sent again once as EVAL with the script's body, which runs it and
 * caches it again.  No other call is retried: after a lost connection or
 * a timeout nobody knows whether a counter_add was applied, so the
 * caller gets AMS_ERR_STORE (the log says the outcome is unknown; the
 * pipeline's idempotency record tells a retry the truth).  A lost
 * connection is made again by the next call, at most once per
 * RD_RETRY_MS: while Redis is down, calls fail fast with AMS_ERR_STORE
 * instead of each waiting for a timeout.  Faults are logged to stderr,
 * at most RD_LOG_BURST lines a second per handle.
 */
#include "store.h"
#include "redis_uri.h"
#include "store_enc.h"

#include <errno.h>
#include "coro.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RD_RETRY_MS 100
#define RD_LOG_BURST 10 /* fault lines a second */
#define RD_TIMEOUT_DEFAULT_MS 1000
#define RD_MEMBER_MAX 256              /* as store_lmdb.c */
#define RD_KEY_MAX (5 + STORE_KEY_MAX) /* prefix + {caller key} */
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

#define RD_STR_(x) #x
#define RD_STR(x) RD_STR_(x)

/* For the scripts that name a journal as KEYS[2] (see Journals at the
 * top).  jopen: the journal's entry count when it is live and open, 0
 * when absent or expired (an expired one is removed: a write starts it
 * anew), -3 when closed, -4 when full; 0 when no journal is named.  Its
 * second result: the journal is to be made (absent or expired). */
#define RD_LUA_JOURNAL                                                      \
    "local function jopen(j, now)\n"                                        \
    "  if not j then return 0, false end\n"                                 \
    "  local e, s, n = unpack(redis.call('HMGET', j, 'e', 's', 'n'))\n"     \
    "  if not live(e, now) then\n"                                          \
    "    if e then redis.call('DEL', j) end\n"                              \
    "    return 0, true\n"                                                  \
    "  end\n"                                                               \
    "  if s ~= 'o' then return -3, false end\n"                             \
    "  n = tonumber(n or '0')\n"                                            \
    "  if n >= " RD_STR(STORE_JOURNAL_MAX) " then return -4, false end\n"   \
    "  return n, false\n"                                                   \
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
    S_JOURNAL_READ,
    S_JOURNAL_CLOSE,
    S_JOURNAL_GIVE_BACK,
    S_COUNT
};

/* Answers: 0 OK, 1 conflict, 2 not found, 3 the named journal is closed,
 * 4 the named journal is full (as a number, or the first element of an
 * array). */
static const char *const rd_scripts[S_COUNT] = {
    /* counter_add: KEYS counter [journal]; ARGV delta lo hi expire_at now
     * [journal_expire_at] -> {status, value} */
    [S_COUNTER_ADD] = RD_LUA_LIB RD_LUA_JOURNAL
    "local k = KEYS[1]\n"
    "local jn, jnew = jopen(KEYS[2], ARGV[5])\n"
    "if jn < 0 then return {-jn, '0'} end\n"
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
    "if KEYS[2] then\n"
    "  local j = KEYS[2]\n"
    "  jn = jn + 1\n"
    "  if jnew then\n"
    "    redis.call('HSET', j, 'e', ARGV[6], 's', 'o', 'n', jn, 'k1', k,\n"
    "               'd1', ARGV[1])\n"
    "    keep(j, ARGV[6], ARGV[5])\n"
    "  else\n"
    "    redis.call('HSET', j, 'n', jn, 'k' .. jn, k, 'd' .. jn, ARGV[1])\n"
    "  end\n"
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

    /* value_cas: ARGV expect bytes expire_at now -> {status, version}.
     * The version lives in the record (see the top of the file). */
    [S_VALUE_CAS] = RD_LUA_LIB RD_LUA_JOURNAL
    "local k = KEYS[1]\n"
    "if jopen(KEYS[2], ARGV[4]) == -3 then return {3, '0'} end\n"
    "local e, n = unpack(redis.call('HMGET', k, 'e', 'n'))\n"
    "local cur = '0'\n"
    "if live(e, ARGV[4]) then cur = n or '0' end\n"
    "if cur ~= ARGV[1] then return {1, cur} end\n"
    "if n then redis.call('HINCRBY', k, 'n', 1)\n"
    "else\n"
    "  local t = redis.call('TIME')\n"
    "  redis.call('HSET', k, 'n',\n"
    "             t[1] .. string.format('%06d', tonumber(t[2])))\n"
    "end\n"
    "redis.call('HSET', k, 'd', ARGV[2], 'e', ARGV[3])\n"
    "keep(k, ARGV[3], ARGV[4])\n"
    "return {0, redis.call('HGET', k, 'n')}\n",

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

    /* journal_read: ARGV now -> {0} absent, {1} given back, or {2, k1,
     * d1, ..} (an open or closed journal's counter keys and deltas, oldest
     * first) */
    [S_JOURNAL_READ] = RD_LUA_LIB
    "local j = KEYS[1]\n"
    "if not live(redis.call('HGET', j, 'e'), ARGV[1]) then return {0} end\n"
    "if redis.call('HGET', j, 's') == 'x' then return {1} end\n"
    "local out = {2}\n"
    "for i = 1, tonumber(redis.call('HGET', j, 'n') or '0') do\n"
    "  local k, d = unpack(redis.call('HMGET', j, 'k' .. i, 'd' .. i))\n"
    "  out[#out + 1] = k\n"
    "  out[#out + 1] = d\n"
    "end\n"
    "return out\n",

    /* journal_close: ARGV now journal_expire_at -> 0.  Closes (an open
     * one keeps its entries for a give back). */
    [S_JOURNAL_CLOSE] = RD_LUA_LIB
    "local j, now = KEYS[1], ARGV[1]\n"
    "if live(redis.call('HGET', j, 'e'), now) then\n"
    "  if redis.call('HGET', j, 's') == 'o' then\n"
    "    redis.call('HSET', j, 's', 'f') end\n"
    "  return 0\n"
    "end\n"
    "redis.call('DEL', j)\n"
    "redis.call('HSET', j, 'e', ARGV[2], 's', 'f')\n"
    "keep(j, ARGV[2], now)\n"
    "return 0\n",

    /* journal_give_back: KEYS journal, then the counters journal_read
     * listed, in its order; ARGV now journal_expire_at -> {0, undone}, or
     * {1} when the journal is not what journal_read saw (read again).
     * Gives back each add whose counter is still live, then marks the
     * journal given back. */
    [S_JOURNAL_GIVE_BACK] = RD_LUA_LIB
    "local j, now = KEYS[1], ARGV[1]\n"
    "local e = redis.call('HGET', j, 'e')\n"
    "local jl = live(e, now)\n"
    "if jl and redis.call('HGET', j, 's') == 'x' then return {0, 0} end\n"
    "local n = jl and tonumber(redis.call('HGET', j, 'n') or '0') or 0\n"
    "if n ~= #KEYS - 1 then return {1} end\n"
    "local undone = 0\n"
    "for i = 1, n do\n"
    "  local k, d = unpack(redis.call('HMGET', j, 'k' .. i, 'd' .. i))\n"
    "  if k ~= KEYS[i + 1] then return {1} end\n"
    "  if live(redis.call('HGET', k, 'e'), now) then\n"
    "    local r = 0\n"
    "    if d ~= '0' then\n"
    "      local neg = d:sub(1, 1) == '-' and d:sub(2) or '-' .. d\n"
    "      r = redis.pcall('HINCRBY', k, 'd', neg)\n"
    "    end\n"
    "    if not (type(r) == 'table' and r.err) then undone = undone + 1 end\n"
    "  end\n"
    "end\n"
    "if not jl then e = ARGV[2] end\n"
    "redis.call('DEL', j)\n"
    "redis.call('HSET', j, 'e', e, 's', 'x')\n"
    "keep(j, e, now)\n"
    "return {0, undone}\n",
};

/* ---- the handle ---- */

typedef struct rd_store {
    store base;
    char *name;   /* "redis://HOST:PORT/DB" without credentials, for logs */
    ruri uri;        /* host, port, db and credentials */
    char dbtext[16]; /* db in decimal, for SELECT */
    int64_t timeout_ms;
    redisContext *c; /* NULL: not connected */
    int64_t next_try_ms; /* monotonic: no connect attempt before */
    /* The asynchronous path (evbase set): one pipelined connection. */
    struct event_base *evbase;
    redisAsyncContext *ac;  /* NULL: not connected */
    int64_t next_async_ms;  /* monotonic: no connect attempt before */
    int64_t log_since_ms;   /* rd_fail's rate limit */
    int log_lines;
    unsigned long log_dropped;
    char sha[S_COUNT][41];
} rd_store;

static const store_ops rd_ops;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Log a store fault, at most RD_LOG_BURST lines a second per handle:
 * while Redis is down every request fails, and the log must stay
 * readable (metrics count every failure). */
static ams_status rd_fail(rd_store *rs, const char *op, const char *why)
{
    int64_t now = mono_ms();

    if (now - rs->log_since_ms >= 1000) {
        if (rs->log_dropped > 0)
            fprintf(stderr, "store: %s: %lu more failures not logged\n",
                    rs->name, rs->log_dropped);
        rs->log_since_ms = now;
        rs->log_lines = 0;
        rs->log_dropped = 0;
    }
    if (rs->log_lines++ < RD_LOG_BURST)
        fprintf(stderr, "store: %s: %s: %s\n", rs->name, op, why);
    else
        rs->log_dropped++;
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
        /* A refusal (a wrong password, no such db) stays until the
         * configuration changes; a server still loading its data will
         * answer soon, like one not reachable yet. */
        int loading = strncmp(r->str, "LOADING", 7) == 0;
        snprintf(why, whylen, "%s: %s", argv[0], r->str);
        freeReplyObject(r);
        return loading ? -1 : -2;
    }
    if (out != NULL)
        *out = r;
    else
        freeReplyObject(r);
    return 0;
}

/* Load the scripts into the server's cache (their sha1s are known from
 * rd_shas): 0, or rd_simple's -1 or -2 with the connection dropped. */
static int rd_load_scripts(rd_store *rs, char *why, size_t whylen)
{
    for (int i = 0; i < S_COUNT; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", rd_scripts[i]};
        size_t lens[3] = {6, 4, strlen(rd_scripts[i])};
        redisReply *r = NULL;
        int rc = rd_simple(rs, 3, argv, lens, &r, why, whylen);

        if (rc == 0 && (r->type != REDIS_REPLY_STRING || r->len != 40 ||
                        memcmp(r->str, rs->sha[i], 40) != 0)) {
            snprintf(why, whylen, "SCRIPT LOAD: unexpected answer");
            rc = -2;
        }
        if (r != NULL)
            freeReplyObject(r);
        if (rc != 0) {
            rd_drop(rs);
            return rc;
        }
    }
    return 0;
}

/* The scripts' sha1s, as EVALSHA names them: computed here, so that the
 * handle can call them before it ever reached the server (a node that
 * started while Redis was away). */
static int rd_shas(rd_store *rs)
{
    for (int i = 0; i < S_COUNT; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        if (!EVP_Digest(rd_scripts[i], strlen(rd_scripts[i]), md, &n,
                        EVP_sha1(), NULL) ||
            n != 20)
            return -1;
        for (unsigned k = 0; k < 20; k++)
            snprintf(rs->sha[i] + 2 * k, 3, "%02x", md[k]);
    }
    return 0;
}

/* A command of at most 3 arguments. */
typedef struct rd_cmd {
    int argc;
    const char *argv[3];
    size_t lens[3];
} rd_cmd;

/* Step i of what a fresh connection sends before anything else (0:
 * AUTH, 1: SELECT), the same on both paths.  Returns 0 when step i has
 * nothing to send (no password, db 0). */
static int rd_handshake(const rd_store *rs, int i, rd_cmd *hc)
{
    memset(hc, 0, sizeof *hc);
    if (i == 0 && rs->uri.pass != NULL) {
        hc->argv[hc->argc++] = "AUTH";
        if (rs->uri.user != NULL)
            hc->argv[hc->argc++] = rs->uri.user;
        hc->argv[hc->argc++] = rs->uri.pass;
    } else if (i == 1 && rs->uri.db != 0) {
        hc->argv[hc->argc++] = "SELECT";
        hc->argv[hc->argc++] = rs->dbtext;
    }
    for (int k = 0; k < hc->argc; k++)
        hc->lens[k] = strlen(hc->argv[k]);
    return hc->argc > 0;
}

/* Connect, authenticate, select the db and load the scripts; 0, or the
 * reason in why and -1 when the server could not be reached (or is
 * loading its data), -2 when it refused (rd_simple). */
static int rd_connect(rd_store *rs, char *why, size_t whylen)
{
    struct timeval tv = {(time_t)(rs->timeout_ms / 1000),
                         (suseconds_t)(rs->timeout_ms % 1000 * 1000)};

    rd_drop(rs);
    rs->c = redisConnectWithTimeout(rs->uri.host, rs->uri.port, tv);
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
    for (int i = 0; i < 2; i++) {
        rd_cmd hc;
        int rc;
        if (rd_handshake(rs, i, &hc) &&
            (rc = rd_simple(rs, hc.argc, hc.argv, hc.lens, NULL, why,
                            whylen)) != 0) {
            rd_drop(rs);
            return rc;
        }
    }
    return rd_load_scripts(rs, why, whylen);
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

/* ---- the asynchronous path (see the top of the file) ---- */

enum { RW_SENT, RW_REPLIED, RW_LOST, RW_TIMEOUT };

/* One call waiting for its reply.  Two owners: the waiting coroutine
 * and hiredis' callback, which runs exactly once (with the reply, or
 * with NULL when the connection goes); the last of the two frees it. */
typedef struct rd_wait {
    coro *co;
    rd_store *rs;
    struct event *ev;  /* the timeout, and how a reply wakes the waiter */
    redisReply *reply; /* a copy (hiredis frees its own after the
                          callback), owned by the waiter */
    int state;         /* RW_* */
    int refs;
} rd_wait;

static void rd_wait_unref(rd_wait *w)
{
    if (--w->refs == 0) {
        if (w->reply != NULL)
            freeReplyObject(w->reply);
        free(w);
    }
}

/* A deep copy of r made with malloc, which is what freeReplyObject()
 * frees with (hiredis 0.14 allocates replies with malloc); NULL when out
 * of memory. */
static redisReply *rd_reply_copy(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str != NULL) {
        if ((c->str = malloc(r->len + 1)) == NULL)
            goto oom;
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        if ((c->element = calloc(r->elements, sizeof *c->element)) == NULL)
            goto oom;
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if ((c->element[i] = rd_reply_copy(r->element[i])) == NULL)
                goto oom;
    }
    return c;
oom:
    freeReplyObject(c);
    return NULL;
}

/* hiredis' callback: record the outcome and wake the waiter through its
 * event, never by resuming the coroutine here: a coroutine running
 * inside hiredis' read handler could free or reuse the connection
 * under it. */
static void rd_async_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    rd_wait *w = priv;

    (void)ac;
    if (w->state == RW_SENT) {
        w->state = RW_LOST;
        if (reply != NULL && (w->reply = rd_reply_copy(reply)) != NULL)
            w->state = RW_REPLIED;
        event_active(w->ev, EV_TIMEOUT, 0);
    }
    rd_wait_unref(w);
}

/* Handshake replies: an error (wrong password, bad db) makes every call
 * on this connection fail, so close it once the calls already sent have
 * had their (error) answers, and reconnect later. */
static void rd_async_handshake(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *r = reply;
    rd_store *rs = priv;

    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "store: %s: connecting: %s\n", rs->name, r->str);
        rs->next_async_ms = mono_ms() + RD_RETRY_MS;
        if (rs->ac == ac) {
            rs->ac = NULL;
            redisAsyncDisconnect(ac);
        }
    }
}

static void rd_async_connected(const redisAsyncContext *ac, int status)
{
    rd_store *rs = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees ac after this (its calls are told with NULL). */
        fprintf(stderr, "store: %s: connect: %s\n", rs->name,
                ac->errstr[0] ? ac->errstr : "failed");
        if (rs->ac == ac)
            rs->ac = NULL;
        rs->next_async_ms = mono_ms() + RD_RETRY_MS;
    }
}

static void rd_async_gone(const redisAsyncContext *ac, int status)
{
    rd_store *rs = ac->data;

    /* No back-off here: a server that closed an idle connection is
     * fine, and the next call connects at once; only a failed connect
     * waits RD_RETRY_MS before the next attempt. */
    if (status != REDIS_OK)
        fprintf(stderr, "store: %s: connection lost: %s\n", rs->name,
                ac->errstr[0] ? ac->errstr : "closed");
    if (rs->ac == ac)
        rs->ac = NULL; /* hiredis frees it after this */
}

/* Close the asynchronous connection now: every call still waiting on it
 * is told (RW_LOST) and woken.  Only from outside hiredis' callbacks. */
static void rd_async_drop(rd_store *rs)
{
    redisAsyncContext *ac = rs->ac;

    rs->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);
}

/* An asynchronous connection, made if there is none (not again within
 * RD_RETRY_MS of a failed attempt).  The handshake is queued at once: hiredis sends it, and
 * the calls queued after it, when the connect completes, so a call on a
 * fresh connection costs no extra round trip. */
static ams_status rd_async_ready(rd_store *rs, const char *op)
{
    redisAsyncContext *ac;
    int64_t now;

    if (rs->ac != NULL)
        return AMS_OK;
    now = mono_ms();
    if (now < rs->next_async_ms)
        return rd_fail(rs, op, "not connected (reconnecting soon)");
    ac = redisAsyncConnect(rs->uri.host, rs->uri.port);
    if (ac == NULL)
        return rd_fail(rs, op, "connect: out of memory");
    if (ac->err) {
        char why[256];
        snprintf(why, sizeof why, "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        rs->next_async_ms = now + RD_RETRY_MS;
        return rd_fail(rs, op, why);
    }
    ac->data = rs;
    if (redisLibeventAttach(ac, rs->evbase) != REDIS_OK) {
        redisAsyncFree(ac);
        return rd_fail(rs, op, "cannot attach to the event loop");
    }
    redisAsyncSetConnectCallback(ac, rd_async_connected);
    redisAsyncSetDisconnectCallback(ac, rd_async_gone);
    for (int i = 0; i < 2; i++) {
        rd_cmd hc;
        if (rd_handshake(rs, i, &hc) &&
            redisAsyncCommandArgv(ac, rd_async_handshake, rs, hc.argc,
                                  hc.argv, hc.lens) != REDIS_OK) {
            redisAsyncFree(ac);
            return rd_fail(rs, op, "cannot queue the handshake");
        }
    }
    rs->ac = ac;
    return AMS_OK;
}

/* The waiter's event: a reply or a lost connection (made active by
 * rd_async_reply), or the timeout. */
static void rd_wait_wake(evutil_socket_t fd, short what, void *arg)
{
    rd_wait *w = arg;

    (void)fd;
    (void)what;
    if (w->state == RW_SENT) {
        /* No answer in time.  The call may or may not have run; the
         * calls behind it on this connection wait on the same stall:
         * drop the connection, which fails them all now instead of each
         * after its own timeout, and reconnect after the back-off. */
        w->state = RW_TIMEOUT;
        w->rs->next_async_ms = mono_ms() + RD_RETRY_MS;
        rd_async_drop(w->rs);
    }
    coro_resume(w->co);
}

/* One command from inside a coroutine: send it, yield until the answer,
 * the connection's loss or the timeout.  *out as rd_command's. */
static ams_status rd_command_async(rd_store *rs, const char *op, int argc,
                                   const char **argv, const size_t *lens,
                                   redisReply **out)
{
    struct timeval tv = {(time_t)(rs->timeout_ms / 1000),
                         (suseconds_t)(rs->timeout_ms % 1000 * 1000)};
    rd_wait *w;
    ams_status st;
    char why[128];

    if ((st = rd_async_ready(rs, op)) != AMS_OK)
        return st;
    if ((w = calloc(1, sizeof *w)) == NULL)
        return rd_fail(rs, op, "out of memory");
    w->co = coro_current();
    w->rs = rs;
    w->state = RW_SENT;
    w->refs = 2;
    if ((w->ev = evtimer_new(rs->evbase, rd_wait_wake, w)) == NULL) {
        free(w);
        return rd_fail(rs, op, "out of memory");
    }
    if (redisAsyncCommandArgv(rs->ac, rd_async_reply, w, argc, argv,
                              lens) != REDIS_OK) {
        event_free(w->ev);
        free(w);
        return rd_fail(rs, op, "cannot queue the command");
    }
    evtimer_add(w->ev, &tv);
    coro_yield();
    event_free(w->ev);
    switch (w->state) {
    case RW_REPLIED:
        *out = w->reply;
        w->reply = NULL;
        st = AMS_OK;
        break;
    case RW_TIMEOUT:
        snprintf(why, sizeof why,
                 "no answer within %lld ms (whether it ran is unknown)",
                 (long long)rs->timeout_ms);
        st = rd_fail(rs, op, why);
        break;
    default:
        st = rd_fail(rs, op, "connection lost (whether it ran is unknown)");
    }
    rd_wait_unref(w);
    return st;
}

/* ---- one call, on either path ---- */

/* One command on the blocking connection.  *out as rd_command's. */
static ams_status rd_command_sync(rd_store *rs, const char *op, int argc,
                                  const char **argv, const size_t *lens,
                                  redisReply **out)
{
    ams_status st;
    rd_sigpipe sp;

    if ((st = rd_ready(rs, op)) != AMS_OK)
        return st;
    rd_sigpipe_block(&sp);
    *out = redisCommandArgv(rs->c, argc, argv, lens);
    if (*out == NULL) {
        char why[256];
        if (rs->c->err == REDIS_ERR_IO &&
            (errno == EAGAIN || errno == EWOULDBLOCK))
            snprintf(why, sizeof why,
                     "no answer within %lld ms (whether it ran is unknown)",
                     (long long)rs->timeout_ms);
        else
            snprintf(why, sizeof why, "%s (whether it ran is unknown)",
                     rs->c->errstr[0] ? rs->c->errstr : "connection lost");
        st = rd_fail(rs, op, why);
        rd_drop(rs); /* the next call reconnects */
    }
    rd_sigpipe_unblock(&sp);
    return st;
}

/* Send one command and get its reply (*out: freeReplyObject it), which
 * may be an error reply; AMS_ERR_STORE when there was none.  Inside a
 * coroutine of a process with an event loop the call yields; elsewhere
 * it blocks. */
static ams_status rd_command(rd_store *rs, const char *op, int argc,
                             const char **argv, const size_t *lens,
                             redisReply **out)
{
    *out = NULL;
    if (rs->evbase != NULL && coro_current() != NULL)
        return rd_command_async(rs, op, argc, argv, lens, out);
    return rd_command_sync(rs, op, argc, argv, lens, out);
}

/* Run script with nkeys keys followed by the arguments: argc of them in
 * argv[3..] (argv[0..2] are this function's to fill); *out the reply
 * (freeReplyObject it) on AMS_OK. */
static ams_status rd_evalv(rd_store *rs, const char *op, int script,
                           int nkeys, int argc, const char **argv,
                           size_t *lens, redisReply **out)
{
    char nk[12];
    redisReply *r = NULL;
    ams_status st;

    *out = NULL;
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = rs->sha[script];
    lens[1] = 40;
    argv[2] = nk;
    lens[2] = strlen(nk);
    st = rd_command(rs, op, 3 + argc, argv, lens, &r);
    if (st == AMS_OK && r->type == REDIS_REPLY_ERROR &&
        strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* The server lost its scripts (restart, SCRIPT FLUSH); the
         * script did not run.  EVAL with the body runs it and caches it
         * again under the same sha, in the same single round trip. */
        fprintf(stderr, "store: %s: %s: script gone (NOSCRIPT), sending "
                "it again\n", rs->name, op);
        freeReplyObject(r);
        r = NULL;
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = rd_scripts[script];
        lens[1] = strlen(rd_scripts[script]);
        st = rd_command(rs, op, 3 + argc, argv, lens, &r);
    }
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

/* rd_evalv with the keys and arguments in a. */
static ams_status rd_eval(rd_store *rs, const char *op, int script, int nkeys,
                          const rd_args *a, redisReply **out)
{
    const char *argv[3 + RD_MAXARG];
    size_t lens[3 + RD_MAXARG];

    for (int i = 0; i < a->n; i++) {
        argv[3 + i] = a->v[i];
        lens[3 + i] = a->len[i];
    }
    return rd_evalv(rs, op, script, nkeys, a->n, argv, lens, out);
}

static ams_status rd_unexpected(rd_store *rs, const char *op, redisReply *r)
{
    freeReplyObject(r);
    return rd_fail(rs, op, "unexpected answer from the script");
}

/* Whether key has a Redis Cluster hash tag: a '{', then a '}' after it
 * with at least one byte between (Redis hashes only on that part). */
static int rd_has_tag(const char *key)
{
    const char *open = strchr(key, '{');

    return open != NULL && open[1] != '\0' && open[1] != '}' &&
           strchr(open + 2, '}') != NULL;
}

/* Prefix + key into a (which keeps pointing at buf); AMS_ERR when the key
 * is empty or too long.  A key without a hash tag is wrapped in one,
 * "prefix{key}", so that every Redis key made from the same caller key
 * (a board's two) hashes to the same Cluster slot whatever the key. */
static ams_status rd_key(rd_store *rs, const char *op, rd_args *a, char *buf,
                         const char *prefix, const char *key)
{
    size_t klen = key != NULL ? strlen(key) : 0, plen = strlen(prefix), n;
    int wrap;

    if (klen == 0 || klen > STORE_KEY_MAX)
        return rd_bad(rs, op, "key is empty or longer than STORE_KEY_MAX");
    wrap = !rd_has_tag(key);
    memcpy(buf, prefix, plen);
    n = plen;
    if (wrap)
        buf[n++] = '{';
    memcpy(buf + n, key, klen);
    n += klen;
    if (wrap)
        buf[n++] = '}';
    arg_bytes(a, buf, n);
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

/* A script's answer that a journal refused the write (3: closed, 4:
 * full), as store.h says; 0 for any other code. */
static ams_status rd_journal_refused(rd_store *rs, const char *op, int code)
{
    if (code == 3) {
        fprintf(stderr, "store: %s: %s: write refused: its journal is "
                "closed (the request's attempt was rolled back by a "
                "retry)\n", rs->name, op);
        return AMS_ERR_STORE;
    }
    if (code == 4)
        return rd_bad(rs, op, "journal full");
    return 0;
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
                                 int64_t now_ms, int64_t *out,
                                 const store_journal *j)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX], jb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    int64_t v;
    int code;
    ams_status st = rd_key(rs, "counter_add", &a, kb, "c:", key);

    if (st == AMS_OK && j != NULL)
        st = rd_key(rs, "counter_add", &a, jb, "j:", j->key);
    if (st != AMS_OK)
        return st;
    arg_i64(&a, delta);
    arg_i64(&a, lo);
    arg_i64(&a, hi);
    arg_i64(&a, expire_at_ms);
    arg_i64(&a, now_ms);
    if (j != NULL)
        arg_i64(&a, j->expire_at_ms);
    if ((st = rd_eval(rs, "counter_add", S_COUNTER_ADD, j != NULL ? 2 : 1, &a,
                      &r)) != AMS_OK)
        return st;
    code = rd_status(r);
    if ((st = rd_journal_refused(rs, "counter_add", code)) != 0) {
        freeReplyObject(r);
        return st;
    }
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
                               uint64_t *version, const store_journal *j)
{
    rd_store *rs = (rd_store *)s;
    char kb[RD_KEY_MAX], jb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    uint64_t ver;
    int code;
    ams_status st;

    if (val == NULL && len > 0)
        return rd_bad(rs, "value_cas", "NULL value");
    if ((st = rd_key(rs, "value_cas", &a, kb, "v:", key)) == AMS_OK &&
        j != NULL)
        st = rd_key(rs, "value_cas", &a, jb, "j:", j->key);
    if (st != AMS_OK)
        return st;
    arg_u64(&a, expect);
    arg_bytes(&a, val, len);
    arg_i64(&a, expire_at_ms);
    arg_i64(&a, now_ms);
    if ((st = rd_eval(rs, "value_cas", S_VALUE_CAS, j != NULL ? 2 : 1, &a,
                      &r)) != AMS_OK)
        return st;
    code = rd_status(r);
    if ((st = rd_journal_refused(rs, "value_cas", code)) != 0) {
        freeReplyObject(r);
        return st;
    }
    if ((code != 0 && code != 1) || r->elements != 2 ||
        rd_parse_u64(r->element[1], &ver) != 0)
        return rd_unexpected(rs, "value_cas", r);
    freeReplyObject(r);
    if (version != NULL)
        *version = ver;
    return rd_code(code);
}

/* ---- journals (layout: see the top of the file) ---- */

/* Closing is one script.  Giving back is two: journal_read lists the
 * journal's counters, and journal_give_back, with those counters declared
 * as its keys (Redis Cluster wants every key a script touches declared),
 * checks that the journal still holds exactly them, gives back and marks
 * it.  A write that slipped in between (a late add to an open journal)
 * makes it answer "read again". */
static ams_status rd_journal_close(store *s, const store_journal *j,
                                   int give_back, int64_t now_ms,
                                   size_t *undone)
{
    rd_store *rs = (rd_store *)s;
    const char *op = "journal_close";
    char jb[RD_KEY_MAX];
    ams_status st = AMS_OK;

    if (undone != NULL)
        *undone = 0;
    for (int tries = 0; tries < 3; tries++) {
        rd_args a = {0};
        redisReply *r, *rb = NULL;
        const char **argv = NULL;
        size_t *lens = NULL, n;
        int64_t v = 0;
        int code;

        if ((st = rd_key(rs, op, &a, jb, "j:", j->key)) != AMS_OK)
            return st;
        arg_i64(&a, now_ms);
        if (!give_back) {
            arg_i64(&a, j->expire_at_ms);
            if ((st = rd_eval(rs, op, S_JOURNAL_CLOSE, 1, &a, &r)) != AMS_OK)
                return st;
            code = rd_status(r);
            if (code != 0)
                return rd_unexpected(rs, op, r);
            freeReplyObject(r);
            return AMS_OK;
        }
        if ((st = rd_eval(rs, op, S_JOURNAL_READ, 1, &a, &r)) != AMS_OK)
            return st;
        code = rd_status(r);
        if (code == 1) { /* given back before */
            freeReplyObject(r);
            return AMS_OK;
        }
        if ((code != 0 && code != 2) || (code == 2 && r->elements % 2 != 1))
            return rd_unexpected(rs, op, r);
        n = code == 2 ? (r->elements - 1) / 2 : 0;
        argv = malloc((3 + 3 + n) * sizeof *argv);
        lens = malloc((3 + 3 + n) * sizeof *lens);
        if (argv == NULL || lens == NULL) {
            free(argv);
            free(lens);
            freeReplyObject(r);
            return AMS_ERR_NOMEM;
        }
        /* KEYS: the journal, its counters; ARGV: now, expire_at. */
        arg_i64(&a, j->expire_at_ms);
        argv[3] = a.v[0];
        lens[3] = a.len[0];
        for (size_t i = 0; i < n; i++) {
            const redisReply *k = r->element[1 + 2 * i];
            if (k->type != REDIS_REPLY_STRING) {
                free(argv);
                free(lens);
                return rd_unexpected(rs, op, r);
            }
            argv[4 + i] = k->str;
            lens[4 + i] = k->len;
        }
        argv[4 + n] = a.v[1];
        lens[4 + n] = a.len[1];
        argv[5 + n] = a.v[2];
        lens[5 + n] = a.len[2];
        st = rd_evalv(rs, op, S_JOURNAL_GIVE_BACK, 1 + (int)n, 3 + (int)n,
                      argv, lens, &rb);
        free(argv);
        free(lens);
        freeReplyObject(r);
        if (st != AMS_OK)
            return st;
        code = rd_status(rb);
        if (code == 1) {
            freeReplyObject(rb);
            continue; /* changed since the read: read again */
        }
        if (code != 0 || rb->elements != 2 ||
            rd_parse_i64(rb->element[1], &v) != 0 || v < 0)
            return rd_unexpected(rs, op, rb);
        freeReplyObject(rb);
        if (undone != NULL)
            *undone = (size_t)v;
        return AMS_OK;
    }
    return rd_fail(rs, op, "the journal kept changing while it was given "
                           "back");
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

    rd_async_drop(rs);
    rd_drop(rs);
    free(rs->name);
    ruri_free(&rs->uri);
    free(rs);
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
    rs->evbase = opt->base;
    bad = NULL;
    if (ruri_parse(uri, &rs->uri, &bad) == 0 &&
        opt->redis_password != NULL) {
        /* From amsd.conf's redis { }: only when the URI has none. */
        if (rs->uri.pass != NULL)
            bad = "a password in the URI and in the redis settings too";
        else if (ruri_set_auth(&rs->uri, opt->redis_user,
                               opt->redis_password) < 0)
            bad = "out of memory";
    }
    snprintf(rs->dbtext, sizeof rs->dbtext, "%d", rs->uri.db);
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

    if (rd_shas(rs) != 0) {
        snprintf(err, errlen, "store: \"%s\": cannot hash the scripts",
                 shown);
        rd_close(&rs->base);
        return NULL;
    }
    rd_sigpipe_block(&sp);
    rc = rd_connect(rs, why, sizeof why);
    rd_sigpipe_unblock(&sp);
    if (rc == -1 && opt->redis_lazy) {
        /* Not reachable (yet): serve anyway; every call answers
         * AMS_ERR_STORE at once until a connect succeeds (rd_ready). */
        fprintf(stderr, "store: %s: not reachable (%s); serving anyway: "
                "store calls fail until it is\n", shown, why);
        rs->next_try_ms = mono_ms() + RD_RETRY_MS;
        return &rs->base;
    }
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
    .journal_close = rd_journal_close,
    .board_set = rd_board_set,
    .board_top = rd_board_top,
    .board_rank = rd_board_rank,
    .sweep = rd_sweep,
    .close = rd_close,
};
