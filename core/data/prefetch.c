/*
 * prefetch.c -- the keys methods read, learned per worker (prefetch.h).
 *
 * A table of PREFETCH_METHODS entries, one per (activity, method), found
 * by a hash of both with open addressing; when it is full the entry at
 * the probe's end is reused (what was learned there is learned again).
 * A key template is the key with the request's "<len>:<uid>" (how every
 * user-scoped key carries its user, services.c) replaced by UID_MARK and
 * the request_id of an idempotency record (":idem:<rid>", pipeline.c)
 * by RID_MARK, bytes no key can hold (keys are visible ASCII).
 */
#include "prefetch.h"

#include "clock.h"
#include "hash.h"
#include "soldout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UID_MARK '\x01'
#define RID_MARK "\x02" /* the request_id of an idempotency record */
#define SLOTS PREFETCH_METHODS

typedef struct learned {
    int64_t activity;
    char *method; /* owned; NULL: a free slot */
    size_t n;
    uint8_t fam[PREFETCH_KEYS];
    char *tmpl[PREFETCH_KEYS]; /* owned */
} learned;

static learned table[SLOTS];

static size_t slot_of(int64_t activity, const char *method)
{
    uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, &activity, sizeof activity);

    return (size_t)(hash_fnv1a(h, method, strlen(method)) % SLOTS);
}

/* The entry of (activity, method); make it when make (reusing a slot if
 * the table is full).  NULL when absent (or out of memory). */
static learned *find(int64_t activity, const char *method, int make)
{
    size_t k = slot_of(activity, method);

    for (size_t i = 0; i < 8; i++, k = (k + 1) % SLOTS) {
        learned *l = &table[k];
        if (l->method == NULL)
            break;
        if (l->activity == activity && strcmp(l->method, method) == 0)
            return l;
    }
    if (!make)
        return NULL;
    if (table[k].method != NULL) {
        free(table[k].method);
        for (size_t i = 0; i < table[k].n; i++)
            free(table[k].tmpl[i]);
    }
    memset(&table[k], 0, sizeof table[k]);
    if ((table[k].method = strdup(method)) == NULL)
        return NULL;
    table[k].activity = activity;
    return &table[k];
}

/* "<len>:<uid>" of uid into buf; "" when there is no uid. */
static const char *user_part(const char *uid, char *buf, size_t len)
{
    if (uid == NULL || uid[0] == '\0')
        return "";
    snprintf(buf, len, "%zu:%s", strlen(uid), uid);
    return buf;
}

/* key with the first occurrence of from replaced by to, malloc'd; a copy
 * of key when from is "" or absent. */
static char *replace(const char *key, const char *from, const char *to)
{
    const char *at = from[0] ? strstr(key, from) : NULL;
    size_t n = strlen(key), f = strlen(from), t = strlen(to);
    char *out;

    if (at == NULL)
        return strdup(key);
    if ((out = malloc(n - f + t + 1)) == NULL)
        return NULL;
    memcpy(out, key, (size_t)(at - key));
    memcpy(out + (at - key), to, t);
    memcpy(out + (at - key) + t, at + f, n - (size_t)(at - key) - f + 1);
    return out;
}

/* ":idem:<rid>" into buf. */
static const char *rid_part(const char *rid, char *buf, size_t len)
{
    snprintf(buf, len, ":idem:%s", rid ? rid : "");
    return buf;
}

/* prefetch_fill, with the nr rate buckets r stepped in the same store
 * call when nr > 0 (store_read_rate), their answers in rres. */
static int fill(svc_ws *ws, store *st, int64_t activity, const char *method,
                const char *uid, const char *rid, int64_t now_ms,
                const store_rate *r, size_t nr, store_rate_res *rres,
                ams_status *st_out)
{
    learned *l = find(activity, method, 0);
    store_rkey keys[PREFETCH_KEYS];
    store_rval vals[PREFETCH_KEYS];
    char *own[PREFETCH_KEYS], ubuf[300], rbuf[300];
    const char mark[2] = {UID_MARK, '\0'};
    const char *user = user_part(uid, ubuf, sizeof ubuf);
    const char *req = rid_part(rid, rbuf, sizeof rbuf);
    size_t n = 0;
    ams_status s;

    *st_out = AMS_OK;
    if (st == NULL || ((l == NULL || l->n == 0) && nr == 0))
        return 0;
    for (size_t i = 0; l != NULL && i < l->n; i++) {
        if (strchr(l->tmpl[i], UID_MARK) != NULL && user[0] == '\0')
            continue; /* a user's record, and this request has none */
        if (l->fam[i] == STORE_F_COUNTER &&
            soldout_known(l->tmpl[i], clock_mono_ms()))
            continue; /* its add is refused from memory, unread */
        char *u = replace(l->tmpl[i], mark, user);

        own[n] = u ? replace(u, ":idem:" RID_MARK, req) : NULL;
        free(u);
        if (own[n] == NULL)
            break;
        keys[n].fam = l->fam[i];
        keys[n].key = own[n];
        n++;
    }
    memset(vals, 0, sizeof vals);
    if (nr > 0)
        s = store_read_rate(st, keys, n, r, nr, now_ms, vals, rres);
    else
        s = n > 0 ? store_read_many(st, keys, n, now_ms, vals) : AMS_OK;
    if (s == AMS_OK)
        ws_prefill(ws, keys, vals, n);
    for (size_t i = 0; i < n; i++)
        free(own[i]);
    *st_out = s;
    return s == AMS_OK ? (int)n : -1;
}

int prefetch_fill(svc_ws *ws, store *st, int64_t activity, const char *method,
                  const char *uid, const char *rid, int64_t now_ms,
                  ams_status *st_out)
{
    return fill(ws, st, activity, method, uid, rid, now_ms, NULL, 0, NULL,
                st_out);
}

int prefetch_fill_rate(svc_ws *ws, store *st, int64_t activity,
                       const char *method, const char *uid, const char *rid,
                       int64_t now_ms, const store_rate *r, size_t nr,
                       store_rate_res *rres, ams_status *st_out)
{
    return fill(ws, st, activity, method, uid, rid, now_ms, r, nr, rres,
                st_out);
}

void prefetch_learn(const svc_ws *ws, int64_t activity, const char *method,
                    const char *uid, const char *rid)
{
    store_rkey miss[PREFETCH_KEYS];
    size_t n = ws_misses(ws, miss, PREFETCH_KEYS);
    char ubuf[300], rbuf[300], mark[2] = {UID_MARK, '\0'};
    const char *user = user_part(uid, ubuf, sizeof ubuf);
    const char *req = rid_part(rid, rbuf, sizeof rbuf);
    learned *l;

    if (n == 0 || (l = find(activity, method, 1)) == NULL)
        return;
    for (size_t i = 0; i < n && l->n < PREFETCH_KEYS; i++) {
        char *u = replace(miss[i].key, user, mark);
        char *t = u ? replace(u, req, ":idem:" RID_MARK) : NULL;
        int known = 0;

        free(u);
        if (t == NULL)
            return;
        for (size_t j = 0; j < l->n && !known; j++)
            known = l->fam[j] == miss[i].fam && strcmp(l->tmpl[j], t) == 0;
        if (known) {
            free(t);
            continue;
        }
        l->fam[l->n] = miss[i].fam;
        l->tmpl[l->n++] = t;
    }
}
