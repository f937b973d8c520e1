/*
 * store_redis.c -- the shared store backend: a Redis server
 * (URI "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]", port 6379 and db 0
 * by default), shared by every worker of every node that names it.
 *
 * Atomicity.  Every store call is ONE round trip: an EVALSHA of a Lua
 * script that reads, decides and writes on the server, where scripts run
 * one at a time (NOSCRIPT and retries: see Connections).  commit and
 * read_many send one script per write set / per Cluster slot read,
 * pipelined: still one round trip for the whole call.
 *
 * Layout.  Keys are a family prefix + the caller's key ("c:" counter, "l:"
 * lock, "t:" tag, "v:" value, "bm:"/"bz:" board, "j:" journal, "L:"
 * list).  Redis
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
 *   list     L:KEY   a Redis list: element 0 = expire_at_ms (set when an
 *                    APPEND creates the list, like a counter's), then the
 *                    entries, oldest first; list_range's entry i is
 *                    element i + 1 (LRANGE), so the expiry costs no key
 *                    of its own and is read with the entries (LINDEX 0).
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
 * Write sets (store.h).  A set is one run of lua/commit.lua over the
 * set's distinct keys: pass 1 reads each key once (checking the type of
 * every key it will write) and validates the ops in order against what
 * the ops before them left, writing nothing; pass 2 writes with commands
 * that cannot fail on keys of the right type.  So a script that fails
 * (an error reply) failed before its first write: the server's refusals
 * (OOM, READONLY, NOREPLICAS, MISCONF, BUSY) come at the first write or
 * before the script runs, and the script's own "wrong type" answer
 * comes from pass 1; res.unknown is 0 for all of them and 1 only when a
 * call went out and no answer came back (a timeout, a lost connection).
 * A Cluster refuses a set whose keys span slots (CROSSSLOT): the host
 * keeps one request's keys under one {tag}, so that is a caller bug
 * (AMS_ERR).  Sums are exact in the script (decimal limbs), not HINCRBY:
 * pass 1 must know the result without writing it.
 *
 * Connections, the calls and the scripts' loading: store_redis_conn.c;
 * the scripts themselves: lua/NAME.lua, embedded at build time.
 */
#include "store_redis.h"

#include "store_enc.h"

#include <errno.h>
#include <stdlib.h>

static const store_ops rd_ops;

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

/* Prefix + key into buf (RD_KEY_MAX bytes), *len its length; AMS_ERR
 * when the key is empty or too long.  A key without a hash tag is
 * wrapped in one, "prefix{key}", so that every Redis key made from the
 * same caller key (a board's two) hashes to the same Cluster slot
 * whatever the key. */
static ams_status rd_key_make(rd_store *rs, const char *op, char *buf,
                              size_t *len, const char *prefix, const char *key)
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
    *len = n;
    return AMS_OK;
}

/* rd_key_make, appended to a (which keeps pointing at buf). */
static ams_status rd_key(rd_store *rs, const char *op, rd_args *a, char *buf,
                         const char *prefix, const char *key)
{
    size_t n;
    ams_status st = rd_key_make(rs, op, buf, &n, prefix, key);

    if (st == AMS_OK)
        arg_bytes(a, buf, n);
    return st;
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
        fprintf(stderr,
                "store: %s: %s: write refused: its journal is "
                "closed (the request's attempt was rolled back by a "
                "retry)\n",
                rs->name, op);
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
    /* Give back only what a closed journal holds: close it first, so that
     * no add still on its way can change it between the read of its
     * entries and their give-back (adds that keep arriving would
     * otherwise make every try see another journal).  The retries below
     * then only cover a journal that expired and was made anew. */
    if (give_back &&
        (st = store_journal_close(s, j, 0, now_ms, NULL)) != AMS_OK)
        return st;
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
    return rd_fail(rs, op,
                   "the journal kept changing while it was given "
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

/* ---- write sets (store.h: Write sets; the script: lua/commit.lua) ---- */

/* What one op puts into its set's script call, in buffers of its own
 * that the call points into: its keys, its numbers in decimal, a
 * board's order key; ki: its keys' places among the call's KEYS
 * (1-based, as Lua counts). */
typedef struct rd_wtext {
    char key[2][RD_KEY_MAX];
    char num[6][24];
    unsigned char okey[RD_ORDER + RD_MEMBER_MAX];
    int ki[2];
} rd_wtext;

/* One set's script call and the buffers it points into (rd_wbuild makes
 * them, rd_wfree frees them). */
typedef struct rd_wcall {
    rd_call call;
    rd_wtext *t; /* one per op */
    const char **argv;
    size_t *lens;
    char now[24];
} rd_wcall;

static const char *const rd_wkind[] = {
    [STORE_W_ADD] = "A",     [STORE_W_CAS] = "C",    [STORE_W_TAG_SET] = "T",
    [STORE_W_TAG_DEL] = "D", [STORE_W_APPEND] = "L", [STORE_W_BOARD_SET] = "B",
};

static void rd_wput(rd_call *c, const void *p, size_t len)
{
    c->argv[3 + c->argc] = p != NULL ? p : "";
    c->lens[3 + c->argc] = len;
    c->argc++;
}

/* v in decimal into buf (24 bytes), as the next argument. */
static void rd_wnum(rd_call *c, char *buf, int64_t v)
{
    rd_wput(c, buf, (size_t)snprintf(buf, 24, "%" PRId64, v));
}

/* The place (1-based) of Redis key k among c's keys, added if new. */
static int rd_wkey(rd_call *c, const char *k, size_t len)
{
    for (int i = 0; i < c->argc; i++)
        if (c->lens[3 + i] == len && memcmp(c->argv[3 + i], k, len) == 0)
            return i + 1;
    rd_wput(c, k, len);
    return c->argc;
}

static void rd_wfree(rd_wcall *w)
{
    free(w->t);
    free(w->argv);
    free(w->lens);
    if (w->call.reply != NULL)
        freeReplyObject(w->call.reply);
    memset(w, 0, sizeof *w);
}

/* Build set's script call into w (rd_wfree it, whatever this returns):
 * KEYS its distinct keys, ARGV now and the ops (lua/commit.lua).
 * AMS_ERR (logged) for a bad op, which *at names. */
static ams_status rd_wbuild(rd_store *rs, const store_wset *set, rd_wcall *w,
                            size_t *at)
{
    const char *op = "commit";
    size_t n = set->n, cap = 3 + 2 * n + 1 + 7 * n;
    rd_call *c = &w->call;

    memset(w, 0, sizeof *w);
    w->t = calloc(n, sizeof *w->t);
    w->argv = malloc(cap * sizeof *w->argv);
    w->lens = malloc(cap * sizeof *w->lens);
    if (w->t == NULL || w->argv == NULL || w->lens == NULL)
        return AMS_ERR_NOMEM;
    c->script = S_COMMIT;
    c->argv = w->argv;
    c->lens = w->lens;
    for (size_t i = 0; i < n; i++) {
        const store_wop *o = &set->op[i];
        rd_wtext *t = &w->t[i];
        const char *prefix[2] = {NULL, NULL};
        ams_status st = AMS_OK;

        *at = i;
        switch (o->kind) {
        case STORE_W_ADD:
            prefix[0] = "c:";
            break;
        case STORE_W_CAS:
            prefix[0] = "v:";
            break;
        case STORE_W_TAG_SET:
        case STORE_W_TAG_DEL:
            prefix[0] = "t:";
            break;
        case STORE_W_APPEND:
            prefix[0] = "L:";
            break;
        case STORE_W_BOARD_SET:
            prefix[0] = "bm:";
            prefix[1] = "bz:";
            if (o->val == NULL || o->len == 0 || o->len > RD_MEMBER_MAX)
                return rd_bad(rs, op, "member is empty or too long");
            break;
        default:
            return rd_bad(rs, op, "unknown op kind");
        }
        if (o->val == NULL && o->len > 0)
            return rd_bad(rs, op, "NULL value");
        for (int k = 0; k < 2 && prefix[k] != NULL && st == AMS_OK; k++) {
            size_t len;
            if ((st = rd_key_make(rs, op, t->key[k], &len, prefix[k],
                                  o->key)) == AMS_OK)
                t->ki[k] = rd_wkey(c, t->key[k], len);
        }
        if (st != AMS_OK)
            return st;
    }
    c->nkeys = c->argc;
    rd_wnum(c, w->now, set->now_ms);
    for (size_t i = 0; i < n; i++) {
        const store_wop *o = &set->op[i];
        rd_wtext *t = &w->t[i];
        int kind = o->kind;

        rd_wput(c, rd_wkind[kind], 1);
        rd_wnum(c, t->num[0], t->ki[0]);
        switch (kind) {
        case STORE_W_ADD:
            rd_wnum(c, t->num[1], o->delta);
            rd_wnum(c, t->num[2], o->lo);
            rd_wnum(c, t->num[3], o->hi);
            rd_wnum(c, t->num[4], o->expire_at_ms);
            if (o->flags & STORE_WF_EXACT)
                rd_wnum(c, t->num[5], o->expect);
            else
                rd_wput(c, "", 0);
            break;
        case STORE_W_CAS:
            rd_wput(c, t->num[1],
                    (size_t)snprintf(t->num[1], sizeof t->num[1], "%" PRIu64,
                                     o->version));
            rd_wput(c, o->val, o->len);
            rd_wnum(c, t->num[2], o->expire_at_ms);
            break;
        case STORE_W_TAG_SET:
        case STORE_W_APPEND:
            rd_wput(c, o->val, o->len);
            rd_wnum(c, t->num[1], o->expire_at_ms);
            break;
        case STORE_W_BOARD_SET:
            rd_wnum(c, t->num[1], t->ki[1]);
            rd_wput(c, o->val, o->len);
            rd_wput(c, t->okey,
                    store_order_key(t->okey, o->delta, set->now_ms, o->val,
                                    o->len));
            rd_wnum(c, t->num[2], o->expire_at_ms);
            break;
        default: /* STORE_W_TAG_DEL: the key only */
            break;
        }
    }
    return AMS_OK;
}

/* What became of set (its call w ran, or failed to) into res.  Every
 * error reply means the script wrote nothing (see Write sets at the
 * top), so unknown = 0; only a call sent without an answer may have
 * run. */
static void rd_wresult(rd_store *rs, const store_wset *set, const rd_wcall *w,
                       store_wres *res)
{
    const redisReply *r = w->call.reply;
    int64_t at = 0, fresh = 0;
    uint64_t ver = 0;
    int code;
    char why[160];

    memset(res, 0, sizeof *res);
    res->st = AMS_ERR_STORE;
    if (r == NULL) {
        res->unknown = w->call.sent; /* rd_evalv_many logged it */
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "CROSSSLOT", 9) == 0) {
            fprintf(stderr,
                    "store: %s: commit: a write set's keys are in more "
                    "than one Redis Cluster hash slot, which the cluster "
                    "refuses (%s): one request's keys must share one "
                    "{hash tag}; nothing was written\n",
                    rs->name, r->str);
            res->st = AMS_ERR;
            return;
        }
        rd_fail(rs, "commit", r->str);
        return;
    }
    code = rd_status(r);
    if (code == 0 && r->elements == 1) {
        res->st = AMS_OK;
        return;
    }
    if ((code == 1 && r->elements == 3) || (code == 2 && r->elements == 2)) {
        const redisReply *a = r->element[1];
        if (a->type == REDIS_REPLY_INTEGER && a->integer >= 0 &&
            (size_t)a->integer < set->n)
            at = a->integer;
        else
            code = -1;
    }
    if (code == 1) {
        int cas = set->op[at].kind == STORE_W_CAS;
        if (cas ? rd_parse_u64(r->element[2], &ver) != 0
                : rd_parse_i64(r->element[2], &fresh) != 0)
            code = -1;
        else {
            res->st = AMS_CONFLICT;
            res->at = (size_t)at;
            res->fresh = cas ? (int64_t)ver : fresh;
            return;
        }
    }
    if (code == 2) {
        snprintf(why, sizeof why,
                 "the key of op %lld holds another kind of value "
                 "(nothing was written)",
                 (long long)at);
        rd_fail(rs, "commit", why);
        return;
    }
    /* It ran, and what it did is not known. */
    res->unknown = 1;
    rd_fail(rs, "commit",
            "unexpected answer from the script (whether it "
            "applied the set is unknown)");
}

/* Every set is one run of lua/commit.lua (its keys in one slot: one
 * request's keys share a {hash tag}; a cluster refuses a set that
 * spans two, see rd_wresult), all sets' calls in one round trip,
 * applied in order, each all or nothing on its own. */
static ams_status rd_commit(store *s, const store_wset *sets, size_t n,
                            store_wres *res)
{
    rd_store *rs = (rd_store *)s;
    rd_wcall *w;
    rd_call *calls;
    size_t *which, m = 0;
    ams_status ret = AMS_OK;

    if (n == 0)
        return AMS_OK;
    w = calloc(n, sizeof *w);
    calls = calloc(n, sizeof *calls);
    which = calloc(n, sizeof *which);
    if (w == NULL || calls == NULL || which == NULL) {
        free(w);
        free(calls);
        free(which);
        for (size_t i = 0; i < n; i++)
            res[i] = (store_wres){.st = AMS_ERR_NOMEM};
        return AMS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t at = 0;
        ams_status st = AMS_OK;

        res[i] = (store_wres){.st = AMS_OK};
        if (sets[i].n == 0)
            continue; /* nothing to apply */
        if ((st = rd_wbuild(rs, &sets[i], &w[i], &at)) != AMS_OK) {
            res[i].st = st;
            res[i].at = at;
            continue;
        }
        calls[m] = w[i].call;
        which[m++] = i;
    }
    rd_evalv_many(rs, "commit", calls, m);
    for (size_t j = 0; j < m; j++) {
        size_t i = which[j];

        w[i].call.reply = calls[j].reply;
        w[i].call.sent = calls[j].sent;
        rd_wresult(rs, &sets[i], &w[i], &res[i]);
    }
    /* Decided: applied, conflicting or refused (a bad op, AMS_ERR); a
     * store failure of any set is the call's. */
    for (size_t i = 0; i < n; i++) {
        ams_status st = res[i].st;
        if (st != AMS_OK && st != AMS_CONFLICT && st != AMS_ERR &&
            (ret == AMS_OK || st == AMS_ERR_STORE))
            ret = st;
        rd_wfree(&w[i]);
    }
    free(w);
    free(calls);
    free(which);
    return ret;
}

/* ---- reads in one round trip: lua/read_many.lua, once per slot ---- */

/* The Redis Cluster hash slot of key k (CRC16/XMODEM of its hash tag,
 * or of all of it), as the server computes it: read_many groups its
 * keys by it, one script per slot, so that a cluster takes every one. */
static unsigned rd_slot(const char *k, size_t len)
{
    const char *open = memchr(k, '{', len), *close;
    unsigned crc = 0;

    if (open != NULL &&
        (close = memchr(open + 1, '}', len - (size_t)(open + 1 - k))) !=
            NULL &&
        close > open + 1) {
        len = (size_t)(close - open - 1);
        k = open + 1;
    }
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)k[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
        crc &= 0xffff;
    }
    return crc & 16383;
}

/* One key's answer (two elements of its slot's reply: d and n) into v;
 * v->val is malloc'd, the caller's.  AMS_ERR_STORE for an answer that is
 * not a record's. */
static ams_status rd_rval(uint8_t fam, const redisReply *d,
                          const redisReply *n, store_rval *v)
{
    if (d->type == REDIS_REPLY_NIL) {
        v->st = fam == STORE_F_COUNTER ? AMS_OK : AMS_NOT_FOUND;
        return AMS_OK;
    }
    if (d->type != REDIS_REPLY_STRING)
        return AMS_ERR_STORE;
    v->st = AMS_OK;
    if (fam == STORE_F_COUNTER)
        return rd_parse_i64(d, &v->num) == 0 ? AMS_OK : AMS_ERR_STORE;
    if (fam == STORE_F_VALUE && rd_parse_u64(n, &v->version) != 0)
        return AMS_ERR_STORE;
    if ((v->val = rd_dup(d)) == NULL)
        return AMS_ERR_NOMEM;
    v->len = d->len;
    return AMS_OK;
}

static ams_status rd_read_many(store *s, const store_rkey *k, size_t n,
                               int64_t now_ms, store_rval *out)
{
    rd_store *rs = (rd_store *)s;
    const char *op = "read_many";
    char(*kb)[RD_KEY_MAX], now[24];
    size_t *klen, *grp, *pos, ng = 0, *gn, *goff, nowlen;
    unsigned *slot, *gslot;
    const char **argv;
    size_t *lens;
    rd_call *calls;
    ams_status st = AMS_OK;

    memset(out, 0, n * sizeof *out);
    if (n == 0)
        return AMS_OK;
    kb = malloc(n * sizeof *kb);
    klen = calloc(5 * n, sizeof *klen); /* klen, grp, pos, gn, goff */
    slot = calloc(2 * n, sizeof *slot);
    argv = calloc(5 * n, sizeof *argv);
    lens = calloc(5 * n, sizeof *lens);
    calls = calloc(n, sizeof *calls);
    if (kb == NULL || klen == NULL || slot == NULL || argv == NULL ||
        lens == NULL || calls == NULL) {
        st = AMS_ERR_NOMEM;
        goto out;
    }
    grp = klen + n;
    pos = grp + n;
    gn = pos + n;
    goff = gn + n;
    gslot = slot + n;
    for (size_t i = 0; i < n && st == AMS_OK; i++) {
        const char *prefix = k[i].fam == STORE_F_COUNTER ? "c:"
                             : k[i].fam == STORE_F_TAG   ? "t:"
                             : k[i].fam == STORE_F_VALUE ? "v:"
                                                         : NULL;
        size_t g;

        if (prefix == NULL) {
            st = rd_bad(rs, op, "unknown record family");
            break;
        }
        st = rd_key_make(rs, op, kb[i], &klen[i], prefix, k[i].key);
        slot[i] = rd_slot(kb[i], klen[i]);
        for (g = 0; g < ng && gslot[g] != slot[i]; g++)
            ;
        if (g == ng)
            gslot[ng++] = slot[i];
        grp[i] = g;
        pos[i] = gn[g]++;
    }
    if (st != AMS_OK)
        goto out;
    /* Group g's call: argv[goff[g] ..]: 3 for EVALSHA, its keys, now. */
    nowlen = (size_t)snprintf(now, sizeof now, "%" PRId64, now_ms);
    for (size_t g = 0, off = 0; g < ng; g++) {
        goff[g] = off;
        calls[g].script = S_READ_MANY;
        calls[g].nkeys = (int)gn[g];
        calls[g].argc = (int)gn[g] + 1;
        calls[g].argv = argv + off;
        calls[g].lens = lens + off;
        argv[off + 3 + gn[g]] = now;
        lens[off + 3 + gn[g]] = nowlen;
        off += 4 + gn[g];
    }
    for (size_t i = 0; i < n; i++) {
        argv[goff[grp[i]] + 3 + pos[i]] = kb[i];
        lens[goff[grp[i]] + 3 + pos[i]] = klen[i];
    }
    st = rd_evalv_many(rs, op, calls, ng);
    for (size_t g = 0; g < ng && st == AMS_OK; g++) {
        const redisReply *r = calls[g].reply;
        if (r->type == REDIS_REPLY_ERROR)
            st = rd_fail(rs, op, r->str);
        else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 * gn[g])
            st = rd_fail(rs, op, "unexpected answer from the script");
    }
    for (size_t i = 0; i < n && st == AMS_OK; i++) {
        const redisReply *r = calls[grp[i]].reply;
        st = rd_rval(k[i].fam, r->element[2 * pos[i]],
                     r->element[2 * pos[i] + 1], &out[i]);
        if (st == AMS_ERR_STORE)
            rd_fail(rs, op, "unexpected answer from the script");
    }
out:
    if (st != AMS_OK) {
        store_rvals_free(out, n);
        memset(out, 0, n * sizeof *out);
    }
    for (size_t g = 0; calls != NULL && g < ng; g++)
        if (calls[g].reply != NULL)
            freeReplyObject(calls[g].reply);
    free(kb);
    free(klen);
    free(slot);
    free(argv);
    free(lens);
    free(calls);
    return st;
}

/* ---- lists (APPEND's; layout: see the top of the file) ---- */

static ams_status rd_list_range(store *s, const char *key, size_t from,
                                size_t max, int64_t now_ms, store_item **out,
                                size_t *count)
{
    rd_store *rs = (rd_store *)s;
    const char *op = "list_range";
    char kb[RD_KEY_MAX];
    rd_args a = {0};
    redisReply *r;
    store_item *it = NULL;
    uint64_t first, last;
    ams_status st;

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if ((st = rd_key(rs, op, &a, kb, "L:", key)) != AMS_OK)
        return st;
    /* Entry i is the list's element i + 1 (element 0: its expiry). */
    if (max == 0 || from >= (uint64_t)INT64_MAX - 1)
        return AMS_OK;
    first = (uint64_t)from + 1;
    last = max - 1 > (uint64_t)INT64_MAX - first ? (uint64_t)INT64_MAX
                                                 : first + (max - 1);
    arg_i64(&a, now_ms);
    arg_u64(&a, first);
    arg_u64(&a, last);
    if ((st = rd_eval(rs, op, S_LIST_RANGE, 1, &a, &r)) != AMS_OK)
        return st;
    if (r->type != REDIS_REPLY_ARRAY)
        return rd_unexpected(rs, op, r);
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return rd_unexpected(rs, op, r);
    if (r->elements > 0 && out != NULL) {
        if ((it = calloc(r->elements, sizeof *it)) == NULL)
            st = AMS_ERR_NOMEM;
        for (size_t i = 0; st == AMS_OK && i < r->elements; i++) {
            if ((it[i].val = rd_dup(r->element[i])) == NULL) {
                st = AMS_ERR_NOMEM;
                store_items_free(it, i);
                it = NULL;
                break;
            }
            it[i].len = r->element[i]->len;
        }
    }
    if (st == AMS_OK) {
        if (out != NULL)
            *out = it;
        if (count != NULL)
            *count = r->elements;
    }
    freeReplyObject(r);
    return st;
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

    rd_conn_close(rs);
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
        snprintf(err, errlen, "store: \"%s\": bad URI: expected redis://",
                 shown);
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
    if (ruri_parse(uri, &rs->uri, &bad) == 0 && opt->redis_password != NULL) {
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
    if (rd_conn_start(rs, opt->redis_lazy, why, sizeof why) != 0) {
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
    .commit = rd_commit,
    .read_many = rd_read_many,
    .list_range = rd_list_range,
};
