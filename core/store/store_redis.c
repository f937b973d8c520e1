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
 *   rate     R:KEY   a string: a rate bucket's TAT in microseconds
 *                    (lua/gcra.lua; store.h: Rate limits), with a
 *                    Redis TTL until the TAT has passed, plus a margin.
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
 * the write-set operations (commit, read_many, list_range):
 * store_redis_wset.c; the scripts themselves: lua/NAME.lua, embedded at
 * build time.
 */
#include "store_redis.h"

#include "store_enc.h"

#include <errno.h>
#include <stdlib.h>

static const store_ops rd_ops;

ams_status rd_unexpected(rd_store *rs, const char *op, redisReply *r)
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

ams_status rd_key_make(rd_store *rs, const char *op, char *buf, size_t *len,
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
    *len = n;
    return AMS_OK;
}

ams_status rd_key(rd_store *rs, const char *op, rd_args *a, char *buf,
                  const char *prefix, const char *key)
{
    size_t n;
    ams_status st = rd_key_make(rs, op, buf, &n, prefix, key);

    if (st == AMS_OK)
        arg_bytes(a, buf, n);
    return st;
}

int rd_parse_i64(const redisReply *r, int64_t *v)
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

int rd_parse_u64(const redisReply *r, uint64_t *v)
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

int rd_status(const redisReply *r)
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

char *rd_dup(const redisReply *r)
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
    .read_rate = rd_read_rate,
    .list_range = rd_list_range,
};
