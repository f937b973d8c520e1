/*
 * store_redis_wset.c -- the Redis backend's write-set operations: commit
 * (a set's script call built from its ops, its answer read back),
 * read_many (the keys grouped by Cluster slot, one script each; with
 * read_rate also one lua/gcra.lua per rate bucket, same round trip) and
 * list_range, the read of the lists only an APPEND writes.  The record
 * layout and what a set's script guarantees are documented at the top of
 * store_redis.c ("Layout", "Write sets"); the scripts are lua/commit.lua,
 * lua/read_many.lua and lua/list_range.lua; what the files share:
 * store_redis.h.
 */
#include "store_redis.h"

#include "store_enc.h"

#include <stdlib.h>

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
 * top of store_redis.c), so unknown = 0; only a call sent without an
 * answer may have run. */
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
ams_status rd_commit(store *s, const store_wset *sets, size_t n,
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

/* One bucket's answer {1|0, TAT} into v; AMS_ERR_STORE when it is not
 * that. */
static ams_status rd_rate_res(const redisReply *r, store_rate_res *v)
{
    int code = rd_status(r);

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        (code != 0 && code != 1) || rd_parse_i64(r->element[1], &v->tat_us))
        return AMS_ERR_STORE;
    v->st = code == 1 ? AMS_OK : AMS_CONFLICT;
    return AMS_OK;
}

/* read_many of k and the GCRA steps of r: the reads one script per
 * Cluster slot (lua/read_many.lua), each bucket one script of its own
 * (lua/gcra.lua: a bucket is its own slot), all in one round trip. */
static ams_status rd_read(rd_store *rs, const char *op, const store_rkey *k,
                          size_t n, const store_rate *r, size_t nr,
                          int64_t now_ms, store_rval *out,
                          store_rate_res *rout)
{
    char(*kb)[RD_KEY_MAX], now[24], nowus[24], (*num)[2][24];
    size_t *klen, *grp, *pos, ng = 0, *gn, *goff, nowlen, nowuslen, all;
    unsigned *slot, *gslot;
    const char **argv;
    size_t *lens;
    rd_call *calls;
    ams_status st = AMS_OK;

    if (n > 0)
        memset(out, 0, n * sizeof *out);
    if (n + nr == 0)
        return AMS_OK;
    all = n + nr;
    kb = malloc(all * sizeof *kb);
    num = malloc((nr + 1) * sizeof *num);
    klen = calloc(5 * all, sizeof *klen); /* klen, grp, pos, gn, goff */
    slot = calloc(2 * all, sizeof *slot);
    argv = calloc(5 * n + 7 * nr, sizeof *argv);
    lens = calloc(5 * n + 7 * nr, sizeof *lens);
    calls = calloc(all, sizeof *calls);
    if (kb == NULL || num == NULL || klen == NULL || slot == NULL ||
        argv == NULL || lens == NULL || calls == NULL) {
        st = AMS_ERR_NOMEM;
        goto out;
    }
    grp = klen + all;
    pos = grp + all;
    gn = pos + all;
    goff = gn + all;
    gslot = slot + all;
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
    for (size_t i = 0; i < nr && st == AMS_OK; i++) {
        if (r[i].t_us < 1 || r[i].tau_us < 0)
            st = rd_bad(rs, op, "rate bucket without an interval");
        else
            st = rd_key_make(rs, op, kb[n + i], &klen[n + i], "R:", r[i].key);
    }
    if (st != AMS_OK)
        goto out;
    /* Group g's call: argv[goff[g] ..]: 3 for EVALSHA, its keys, now;
     * then each bucket's: 3, its key, now, t, tau. */
    nowlen = (size_t)snprintf(now, sizeof now, "%" PRId64, now_ms);
    nowuslen =
        (size_t)snprintf(nowus, sizeof nowus, "%" PRId64, now_ms * 1000);
    size_t off = 0;
    for (size_t g = 0; g < ng; g++) {
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
    for (size_t i = 0; i < nr; i++, off += 7) {
        rd_call *c = &calls[ng + i];

        c->script = S_GCRA;
        c->nkeys = 1;
        c->argc = 4;
        c->argv = argv + off;
        c->lens = lens + off;
        argv[off + 3] = kb[n + i];
        lens[off + 3] = klen[n + i];
        argv[off + 4] = nowus;
        lens[off + 4] = nowuslen;
        argv[off + 5] = num[i][0];
        lens[off + 5] = (size_t)snprintf(num[i][0], 24, "%" PRId64, r[i].t_us);
        argv[off + 6] = num[i][1];
        lens[off + 6] =
            (size_t)snprintf(num[i][1], 24, "%" PRId64, r[i].tau_us);
    }
    st = rd_evalv_many(rs, op, calls, ng + nr);
    for (size_t g = 0; g < ng && st == AMS_OK; g++) {
        const redisReply *rp = calls[g].reply;
        if (rp->type == REDIS_REPLY_ERROR)
            st = rd_fail(rs, op, rp->str);
        else if (rp->type != REDIS_REPLY_ARRAY || rp->elements != 2 * gn[g])
            st = rd_fail(rs, op, "unexpected answer from the script");
    }
    for (size_t i = 0; i < nr && st == AMS_OK; i++) {
        const redisReply *rp = calls[ng + i].reply;
        if (rp->type == REDIS_REPLY_ERROR)
            st = rd_fail(rs, op, rp->str);
        else if (rd_rate_res(rp, &rout[i]) != AMS_OK)
            st = rd_fail(rs, op, "unexpected answer from the script");
    }
    for (size_t i = 0; i < n && st == AMS_OK; i++) {
        const redisReply *rp = calls[grp[i]].reply;
        st = rd_rval(k[i].fam, rp->element[2 * pos[i]],
                     rp->element[2 * pos[i] + 1], &out[i]);
        if (st == AMS_ERR_STORE)
            rd_fail(rs, op, "unexpected answer from the script");
    }
out:
    if (st != AMS_OK && n > 0) {
        store_rvals_free(out, n);
        memset(out, 0, n * sizeof *out);
    }
    for (size_t g = 0; calls != NULL && g < ng + nr; g++)
        if (calls[g].reply != NULL)
            freeReplyObject(calls[g].reply);
    free(kb);
    free(num);
    free(klen);
    free(slot);
    free(argv);
    free(lens);
    free(calls);
    return st;
}

ams_status rd_read_many(store *s, const store_rkey *k, size_t n,
                        int64_t now_ms, store_rval *out)
{
    return rd_read((rd_store *)s, "read_many", k, n, NULL, 0, now_ms, out,
                   NULL);
}

ams_status rd_read_rate(store *s, const store_rkey *k, size_t n,
                        const store_rate *r, size_t nr, int64_t now_ms,
                        store_rval *out, store_rate_res *rout)
{
    return rd_read((rd_store *)s, "read_rate", k, n, r, nr, now_ms, out, rout);
}

/* ---- lists (APPEND's; layout: see the top of store_redis.c) ---- */

ams_status rd_list_range(store *s, const char *key, size_t from, size_t max,
                         int64_t now_ms, store_item **out, size_t *count)
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
