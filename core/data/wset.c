/*
 * wset.c -- a request's write set (wset.h).
 *
 * A request touches a handful of keys, so the set is two small arrays
 * searched linearly: the records it read or wrote (ent) and the writes in
 * call order (op).  Every byte an op points at is owned by the set (own[])
 * until its writes are dropped, so ops stay valid however the entries
 * change meanwhile.
 */
#include "wset.h"

#include "clock.h"
#include "metrics.h"
#include "soldout.h"

#include <stdlib.h>
#include <string.h>

#define PROVISIONAL (UINT64_C(1) << 63)

typedef struct ws_ent {
    uint8_t fam; /* STORE_F_* */
    char *key;   /* owned */
    int loaded;  /* the store's record was read */
    int missed;  /* ... by a read of its own (not read ahead) */
    /* The store's record as read. */
    int present;
    int64_t num; /* counter value */
    char *val;   /* tag or value bytes, owned */
    size_t len;
    uint64_t version;
    /* What this request did to it. */
    int64_t pend; /* counter: the sum of its adds */
    int state;    /* tag or value: 0 untouched, 1 written, 2 deleted */
    char *pval;   /* the written bytes (owned by own[]) */
    size_t plen;
    uint64_t pver; /* value: the provisional version of the write */
    size_t cas_op; /* value: index of its CAS op + 1, 0: none */
} ws_ent;

struct svc_ws {
    store *st;
    ws_ent **ent;
    size_t nent, cent;
    store_wop *op;
    size_t nop, cop;
    char **own;
    size_t nown, cown;
    uint64_t seq; /* provisional versions */
    size_t reads;
};

svc_ws *ws_new(store *st)
{
    svc_ws *ws = calloc(1, sizeof *ws);

    if (ws != NULL)
        ws->st = st;
    return ws;
}

void ws_drop_writes(svc_ws *ws)
{
    for (size_t i = 0; i < ws->nown; i++)
        free(ws->own[i]);
    ws->nown = 0;
    ws->nop = 0;
    for (size_t i = 0; i < ws->nent; i++) {
        ws_ent *e = ws->ent[i];
        e->pend = 0;
        e->state = 0;
        e->pval = NULL;
        e->plen = 0;
        e->pver = 0;
        e->cas_op = 0;
    }
}

void ws_reset(svc_ws *ws)
{
    ws_drop_writes(ws);
    for (size_t i = 0; i < ws->nent; i++) {
        free(ws->ent[i]->key);
        free(ws->ent[i]->val);
        free(ws->ent[i]);
    }
    ws->nent = 0;
}

void ws_free(svc_ws *ws)
{
    if (ws == NULL)
        return;
    ws_reset(ws);
    free(ws->ent);
    free(ws->op);
    free(ws->own);
    free(ws);
}

size_t ws_writes(const svc_ws *ws)
{
    return ws->nop;
}

size_t ws_reads(const svc_ws *ws)
{
    return ws->reads;
}

const store_wop *ws_op(const svc_ws *ws, size_t i)
{
    return i < ws->nop ? &ws->op[i] : NULL;
}

void ws_learn(const svc_ws *ws, const store_wres *res)
{
    const store_wop *o = ws_op(ws, res->at);

    if (res->st == AMS_CONFLICT && o != NULL && o->kind == STORE_W_ADD &&
        o->delta > 0 && res->fresh > o->hi - o->delta)
        soldout_set(o->key, o->hi, res->fresh, clock_mono_ms());
    if (res->st != AMS_OK)
        return;
    for (size_t i = 0; i < ws->nop; i++)
        if (ws->op[i].kind == STORE_W_ADD && ws->op[i].delta < 0)
            soldout_forget(ws->op[i].key);
}

/* Grow *p (an array of *cap elements of size sz) to hold one more. */
static int grow(void **p, size_t *cap, size_t n, size_t sz)
{
    void *q;
    size_t c;

    if (n < *cap)
        return 0;
    c = *cap ? *cap * 2 : 8;
    if ((q = realloc(*p, c * sz)) == NULL)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* A copy of len bytes, NUL-terminated, owned by the caller. */
static char *dup_bytes(const char *p, size_t len)
{
    char *d = malloc(len + 1);

    if (d != NULL) {
        if (len > 0)
            memcpy(d, p, len);
        d[len] = '\0';
    }
    return d;
}

/* A copy the set owns until its writes are dropped; NULL: no memory. */
static char *own_bytes(svc_ws *ws, const char *p, size_t len)
{
    char *d;

    if (grow((void **)&ws->own, &ws->cown, ws->nown, sizeof *ws->own) < 0 ||
        (d = dup_bytes(p, len)) == NULL)
        return NULL;
    ws->own[ws->nown++] = d;
    return d;
}

/* The entry of (fam, key), made when new (not loaded); NULL: no memory. */
static ws_ent *entry(svc_ws *ws, uint8_t fam, const char *key)
{
    ws_ent *e;

    for (size_t i = 0; i < ws->nent; i++)
        if (ws->ent[i]->fam == fam && strcmp(ws->ent[i]->key, key) == 0)
            return ws->ent[i];
    if (grow((void **)&ws->ent, &ws->cent, ws->nent, sizeof *ws->ent) < 0 ||
        (e = calloc(1, sizeof *e)) == NULL)
        return NULL;
    if ((e->key = strdup(key)) == NULL) {
        free(e);
        return NULL;
    }
    e->fam = fam;
    ws->ent[ws->nent++] = e;
    return e;
}

/* Read e's record from the store once.  What a failed read may have left
 * in its out-parameters is not the caller's (the store hands nothing back
 * on failure), so only a success is kept. */
static ams_status load(svc_ws *ws, ws_ent *e, int64_t now_ms)
{
    ams_status st;
    int64_t num = 0;
    char *val = NULL;
    size_t len = 0;
    uint64_t version = 0;

    if (e->loaded)
        return AMS_OK;
    if (ws->st == NULL)
        return AMS_ERR_STORE;
    ws->reads++;
    if (e->fam == STORE_F_COUNTER)
        st = store_counter_get(ws->st, e->key, now_ms, &num);
    else if (e->fam == STORE_F_TAG)
        st = store_tag_get(ws->st, e->key, now_ms, &val, &len);
    else
        st = store_value_get(ws->st, e->key, now_ms, &val, &len, &version);
    if (st != AMS_OK && st != AMS_NOT_FOUND)
        return st;
    e->loaded = 1;
    e->missed = 1;
    e->present = e->fam == STORE_F_COUNTER || st == AMS_OK;
    e->num = st == AMS_OK ? num : 0;
    e->val = st == AMS_OK ? val : NULL;
    e->len = st == AMS_OK ? len : 0;
    e->version = st == AMS_OK ? version : 0;
    return AMS_OK;
}

/* The entry of (fam, key), loaded; NULL with *st set on failure. */
static ws_ent *loaded(svc_ws *ws, uint8_t fam, const char *key, int64_t now_ms,
                      ams_status *st)
{
    ws_ent *e = entry(ws, fam, key);

    if (e == NULL) {
        *st = AMS_ERR_NOMEM;
        return NULL;
    }
    if ((*st = load(ws, e, now_ms)) != AMS_OK)
        return NULL;
    return e;
}

/* A new op at the end; NULL: no memory. */
static store_wop *add_op(svc_ws *ws, uint8_t kind, const char *key)
{
    store_wop *o;

    if (grow((void **)&ws->op, &ws->cop, ws->nop, sizeof *ws->op) < 0)
        return NULL;
    o = &ws->op[ws->nop++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->key = key;
    return o;
}

ams_status ws_counter_get(svc_ws *ws, const char *key, int64_t now_ms,
                          int64_t *out)
{
    ams_status st;
    ws_ent *e = loaded(ws, STORE_F_COUNTER, key, now_ms, &st);

    if (e == NULL)
        return st;
    if (out != NULL)
        *out = e->num + e->pend;
    return AMS_OK;
}

ams_status ws_counter_add(svc_ws *ws, const char *key, int64_t delta,
                          int64_t lo, int64_t hi, int64_t expire_at_ms,
                          int64_t now_ms, int64_t *out, int exact)
{
    ams_status st;
    ws_ent *e = entry(ws, STORE_F_COUNTER, key);
    int64_t cur, next, known;
    store_wop *o;

    if (e == NULL)
        return AMS_ERR_NOMEM;
    /* A stock this worker saw full a moment ago: no read, no commit. */
    if (delta > 0 && !e->loaded &&
        soldout_get(key, hi, clock_mono_ms(), &known)) {
        metrics_count_commit("sold_out_memory", 1);
        if (out != NULL)
            *out = known;
        return AMS_CONFLICT;
    }
    if ((st = load(ws, e, now_ms)) != AMS_OK)
        return st;
    cur = e->num + e->pend;
    if (__builtin_add_overflow(cur, delta, &next) || next < lo || next > hi) {
        if (delta > 0 && next > hi)
            soldout_set(key, hi, cur, clock_mono_ms());
        if (out != NULL)
            *out = cur;
        return AMS_CONFLICT;
    }
    if ((o = add_op(ws, STORE_W_ADD, e->key)) == NULL)
        return AMS_ERR_NOMEM;
    o->delta = delta;
    o->lo = lo;
    o->hi = hi;
    o->expire_at_ms = expire_at_ms;
    if (exact) {
        o->flags = STORE_WF_EXACT;
        o->expect = cur;
    }
    e->pend += delta;
    if (out != NULL)
        *out = next;
    return AMS_OK;
}

/* What the request sees of a tag or value entry: the bytes (not owned),
 * or NULL when absent. */
static const char *seen(const ws_ent *e, size_t *len)
{
    if (e->state == 1) {
        *len = e->plen;
        return e->pval;
    }
    if (e->state == 2 || !e->present)
        return NULL;
    *len = e->len;
    return e->val;
}

/* Hand the seen bytes out as a copy. */
static ams_status hand_out(const ws_ent *e, char **val, size_t *len)
{
    size_t n = 0;
    const char *p = seen(e, &n);

    if (p == NULL)
        return AMS_NOT_FOUND;
    if (val != NULL && (*val = dup_bytes(p, n)) == NULL)
        return AMS_ERR_NOMEM;
    if (len != NULL)
        *len = n;
    return AMS_OK;
}

ams_status ws_tag_get(svc_ws *ws, const char *key, int64_t now_ms, char **val,
                      size_t *len)
{
    ams_status st;
    ws_ent *e = loaded(ws, STORE_F_TAG, key, now_ms, &st);

    if (e == NULL)
        return st;
    return hand_out(e, val, len);
}

ams_status ws_tag_set(svc_ws *ws, const char *key, const char *val, size_t len,
                      int64_t expire_at_ms, int64_t now_ms)
{
    ws_ent *e = entry(ws, STORE_F_TAG, key);
    store_wop *o;
    char *copy;

    (void)now_ms; /* blind: nothing to read */
    if (e == NULL || (copy = own_bytes(ws, val, len)) == NULL ||
        (o = add_op(ws, STORE_W_TAG_SET, e->key)) == NULL)
        return AMS_ERR_NOMEM;
    o->val = copy;
    o->len = len;
    o->expire_at_ms = expire_at_ms;
    e->state = 1;
    e->pval = copy;
    e->plen = len;
    return AMS_OK;
}

ams_status ws_tag_del(svc_ws *ws, const char *key, int64_t now_ms)
{
    ams_status st;
    ws_ent *e = loaded(ws, STORE_F_TAG, key, now_ms, &st);
    size_t n;
    int was;

    if (e == NULL)
        return st;
    was = seen(e, &n) != NULL;
    if (add_op(ws, STORE_W_TAG_DEL, e->key) == NULL)
        return AMS_ERR_NOMEM;
    e->state = 2;
    e->pval = NULL;
    return was ? AMS_OK : AMS_NOT_FOUND;
}

ams_status ws_value_get(svc_ws *ws, const char *key, int64_t now_ms,
                        char **val, size_t *len, uint64_t *version)
{
    ams_status st;
    ws_ent *e = loaded(ws, STORE_F_VALUE, key, now_ms, &st);

    if (e == NULL)
        return st;
    st = hand_out(e, val, len);
    if (version != NULL)
        *version = st != AMS_OK ? 0 : e->state == 1 ? e->pver : e->version;
    return st;
}

ams_status ws_value_cas(svc_ws *ws, const char *key, uint64_t expect,
                        const char *val, size_t len, int64_t expire_at_ms,
                        int64_t now_ms, uint64_t *version)
{
    ams_status st;
    ws_ent *e = loaded(ws, STORE_F_VALUE, key, now_ms, &st);
    uint64_t cur;
    store_wop *o;
    char *copy;

    if (e == NULL)
        return st;
    cur = e->state == 1 ? e->pver : e->present ? e->version : 0;
    if (cur != expect) {
        if (version != NULL)
            *version = cur;
        return AMS_CONFLICT;
    }
    if ((copy = own_bytes(ws, val, len)) == NULL)
        return AMS_ERR_NOMEM;
    if (e->cas_op > 0) {
        /* A second write of the request: one op, still expecting the
         * version the store had. */
        o = &ws->op[e->cas_op - 1];
    } else {
        if ((o = add_op(ws, STORE_W_CAS, e->key)) == NULL)
            return AMS_ERR_NOMEM;
        o->version = e->present ? e->version : 0;
        e->cas_op = ws->nop;
    }
    o->val = copy;
    o->len = len;
    o->expire_at_ms = expire_at_ms;
    e->state = 1;
    e->pval = copy;
    e->plen = len;
    e->pver = PROVISIONAL | ++ws->seq;
    if (version != NULL)
        *version = e->pver;
    return AMS_OK;
}

/* A blind op of kind on key with the bytes val/len, both copied into the
 * set; NULL when memory is short. */
static store_wop *owned_op(svc_ws *ws, uint8_t kind, const char *key,
                           const char *val, size_t len, int64_t expire_at_ms)
{
    char *k = own_bytes(ws, key, strlen(key));
    char *v = k ? own_bytes(ws, val, len) : NULL;
    store_wop *o = v ? add_op(ws, kind, k) : NULL;

    if (o != NULL) {
        o->val = v;
        o->len = len;
        o->expire_at_ms = expire_at_ms;
    }
    return o;
}

ams_status ws_put_if(svc_ws *ws, const char *key, uint64_t version,
                     const char *val, size_t len, int64_t expire_at_ms)
{
    store_wop *o = owned_op(ws, STORE_W_CAS, key, val, len, expire_at_ms);

    if (o == NULL)
        return AMS_ERR_NOMEM;
    o->version = version;
    return AMS_OK;
}

ams_status ws_board_set(svc_ws *ws, const char *key, const char *member,
                        int64_t score, int64_t expire_at_ms)
{
    store_wop *o = owned_op(ws, STORE_W_BOARD_SET, key, member, strlen(member),
                            expire_at_ms);

    if (o == NULL)
        return AMS_ERR_NOMEM;
    o->delta = score;
    return AMS_OK;
}

ams_status ws_append(svc_ws *ws, const char *key, const char *val, size_t len,
                     int64_t expire_at_ms)
{
    return owned_op(ws, STORE_W_APPEND, key, val, len, expire_at_ms)
               ? AMS_OK
               : AMS_ERR_NOMEM;
}

void ws_prefill(svc_ws *ws, const store_rkey *k, store_rval *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ws_ent *e = entry(ws, k[i].fam, k[i].key);
        int ok = v[i].st == AMS_OK;

        if (e == NULL || e->loaded) {
            free(v[i].val);
            v[i].val = NULL;
            continue;
        }
        e->loaded = 1;
        e->present = k[i].fam == STORE_F_COUNTER || ok;
        e->num = ok ? v[i].num : 0;
        e->val = ok ? v[i].val : NULL;
        e->len = ok ? v[i].len : 0;
        e->version = ok ? v[i].version : 0;
        if (!ok)
            free(v[i].val);
        v[i].val = NULL;
    }
}

size_t ws_misses(const svc_ws *ws, store_rkey *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < ws->nent && n < max; i++)
        if (ws->ent[i]->missed) {
            out[n].fam = ws->ent[i]->fam;
            out[n].key = ws->ent[i]->key;
            n++;
        }
    return n;
}

ams_status ws_commit(svc_ws *ws, int64_t now_ms, store_wres *res)
{
    store_wset set = {ws->op, ws->nop, now_ms};
    ams_status st;

    memset(res, 0, sizeof *res);
    if (ws->st == NULL) {
        res->st = AMS_ERR_STORE;
        return res->st;
    }
    st = store_commit(ws->st, &set, 1, res);
    if (st != AMS_OK && res->st == AMS_OK)
        res->st = st;
    return res->st;
}
