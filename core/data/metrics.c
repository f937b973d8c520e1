/*
 * metrics.c -- the worker's counters (see metrics.h) and the "stats"
 * answer that hands them to the master, a page at a time.
 */
#include "metrics.h"

#include "answers.h"
#include "degrade.h"
#include "hash.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 0.5 ms .. 2.5 s: a store round trip to a slow plugin. */
const int64_t metrics_bucket_ns[METRICS_BUCKETS] = {
    500000,   1000000,   2500000,   5000000,   10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000,
};
const char *const metrics_bucket_le[METRICS_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5",
};

static const struct {
    size_t nlabels, nvalues;
} shapes[MF_COUNT] = {
    [MF_REQUESTS] = {3, 1},     [MF_LATENCY] = {2, 2 + METRICS_BUCKETS},
    [MF_ENTRY] = {2, 2},        [MF_STORE_ERRORS] = {1, 1},
    [MF_COMMITS] = {1, 1},      [MF_RATELIMIT] = {2, 1},
    [MF_RATELIMIT_EV] = {1, 1}, [MF_BLACKLIST] = {2, 1},
    [MF_CONN] = {2, 1},
};

/* Longest key (label values with their NULs) a series may have. */
#define KEY_MAX 1024

size_t metrics_nlabels(metrics_family f)
{
    return (unsigned)f < MF_COUNT ? shapes[f].nlabels : 0;
}

size_t metrics_nvalues(metrics_family f)
{
    return (unsigned)f < MF_COUNT ? shapes[f].nvalues : 0;
}

/* ---- the table ---- */

void metrics_table_init(metrics_table *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max;
}

void metrics_table_free(metrics_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->all[i]);
    free(t->all);
    free(t->slots);
    metrics_table_init(t, t->max);
}

/* Over the family byte and the key. */
static uint32_t hash_key(unsigned char f, const char *key, size_t len)
{
    return (uint32_t)hash_fnv1a(hash_fnv1a(HASH_FNV1A_INIT, &f, 1), key, len);
}

/* Rebuild the index at twice the size: kept at most half full. */
static int grow_slots(metrics_table *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 64;
    uint32_t *s = calloc(n, sizeof *s);

    if (s == NULL)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = t->all[i]->hash & (n - 1);
        while (s[j] != 0)
            j = (j + 1) & (n - 1);
        s[j] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = s;
    t->nslots = n;
    return 0;
}

static metrics_series *create(metrics_table *t, unsigned char f,
                              const char *key, size_t len, uint32_t h)
{
    size_t nv = shapes[f].nvalues;
    metrics_series *s;
    size_t j;

    if (t->n >= t->max)
        return NULL;
    if ((t->n + 1) * 2 > t->nslots && grow_slots(t) < 0)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        metrics_series **a = realloc(t->all, cap * sizeof *a);
        if (a == NULL)
            return NULL;
        t->all = a;
        t->cap = cap;
    }
    s = calloc(1, sizeof *s + nv * sizeof s->v[0] + len);
    if (s == NULL)
        return NULL;
    s->hash = h;
    s->family = f;
    s->keylen = (unsigned short)len;
    memcpy((char *)(s->v + nv), key, len);
    s->key = (const char *)(s->v + nv);
    t->all[t->n++] = s;
    j = h & (t->nslots - 1);
    while (t->slots[j] != 0)
        j = (j + 1) & (t->nslots - 1);
    t->slots[j] = (uint32_t)t->n;
    return s;
}

metrics_series *metrics_table_get(metrics_table *t, metrics_family f,
                                  const char *const *labels)
{
    char key[KEY_MAX];
    size_t len = 0;
    uint32_t h;
    metrics_series *s;

    if ((unsigned)f >= MF_COUNT)
        return NULL;
    for (size_t i = 0; i < shapes[f].nlabels; i++) {
        size_t n = strlen(labels[i]) + 1;
        if (len + n > sizeof key) {
            t->dropped++;
            return NULL;
        }
        memcpy(key + len, labels[i], n);
        len += n;
    }
    h = hash_key((unsigned char)f, key, len);
    for (size_t j = t->nslots ? h & (t->nslots - 1) : 0;
         t->nslots && t->slots[j] != 0; j = (j + 1) & (t->nslots - 1)) {
        s = t->all[t->slots[j] - 1];
        if (s->hash == h && s->family == f && s->keylen == len &&
            memcmp(s->key, key, len) == 0)
            return s;
    }
    s = create(t, (unsigned char)f, key, len, h);
    if (s == NULL)
        t->dropped++;
    return s;
}

void metrics_table_add(metrics_table *dst, const metrics_table *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const metrics_series *s = src->all[i];
        const char *labels[4];
        metrics_series *d;

        for (size_t k = 0; k < shapes[s->family].nlabels; k++)
            labels[k] = metrics_label(s, k);
        if ((d = metrics_table_get(dst, (metrics_family)s->family, labels)) !=
            NULL)
            for (size_t k = 0; k < shapes[s->family].nvalues; k++)
                d->v[k] += s->v[k];
    }
    dst->dropped += src->dropped;
}

const char *metrics_label(const metrics_series *s, size_t i)
{
    const char *p = s->key;

    while (i-- > 0)
        p += strlen(p) + 1;
    return p;
}

/* ---- counting in the worker ---- */

static metrics_table worker = {.max = METRICS_SERIES_MAX};

metrics_table *metrics_worker_table(void)
{
    return &worker;
}

int64_t metrics_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void metrics_count_request(int64_t activity_id, const char *mname,
                           const char *reason, int64_t elapsed_ns)
{
    char id[24] = "";
    const char *labels[3] = {id, mname ? mname : "", reason ? reason : ""};
    metrics_series *s;

    if (activity_id > 0) { /* "%lld", without snprintf: per request */
        tbuf b = TBUF(id, sizeof id);
        tbuf_int(&b, (long long)activity_id);
        tbuf_end(&b);
    }
    if ((s = metrics_table_get(&worker, MF_REQUESTS, labels)) != NULL)
        s->v[0]++;
    if ((s = metrics_table_get(&worker, MF_LATENCY, labels)) == NULL)
        return;
    if (elapsed_ns < 0)
        elapsed_ns = 0;
    s->v[0]++;
    s->v[1] += (uint64_t)elapsed_ns;
    /* Stored per bucket; the exposition makes them cumulative. */
    for (int i = 0; i < METRICS_BUCKETS; i++)
        if (elapsed_ns <= metrics_bucket_ns[i]) {
            s->v[2 + i]++;
            break;
        }
}

void metrics_count_call(const instance *in, ams_entry_fn fn,
                        int64_t elapsed_ns)
{
    const plugin_entry *e = in ? in->entry : NULL;
    const char *labels[2] = {in && in->ref ? in->ref : "?", "unknown"};
    metrics_series *s;

    if (degrade_off[DEGRADE_PLUGIN_TIMING])
        return; /* turned off by an operator (degrade.h) */
    if (e != NULL && fn != NULL && fn == e->undo)
        labels[1] = "undo";
    else if (e != NULL && e->spec != NULL)
        labels[1] = plugin_kind_name(e->spec->kind);
    if ((s = metrics_table_get(&worker, MF_ENTRY, labels)) == NULL)
        return;
    s->v[0]++;
    s->v[1] += elapsed_ns > 0 ? (uint64_t)elapsed_ns : 0;
}

void metrics_count_store_error(const char *op)
{
    metrics_series *s = metrics_table_get(&worker, MF_STORE_ERRORS, &op);

    if (s != NULL)
        s->v[0]++;
}

void metrics_count_commit(const char *event, uint64_t n)
{
    metrics_series *s = metrics_table_get(&worker, MF_COMMITS, &event);

    if (s != NULL)
        s->v[0] += n;
}

void metrics_count_ratelimit(const char *limit, const char *outcome)
{
    const char *labels[2] = {limit, outcome};
    metrics_series *s = metrics_table_get(&worker, MF_RATELIMIT, labels);

    if (s != NULL)
        s->v[0]++;
}

void metrics_count_ratelimit_event(const char *event)
{
    metrics_series *s = metrics_table_get(&worker, MF_RATELIMIT_EV, &event);

    if (s != NULL)
        s->v[0]++;
}

void metrics_count_conn(const char *plane, const char *event)
{
    char word[16];
    size_t n = strcspn(plane, " ");
    const char *labels[2] = {word, event};
    metrics_series *s;

    if (n >= sizeof word)
        n = sizeof word - 1;
    memcpy(word, plane, n);
    word[n] = '\0';
    if ((s = metrics_table_get(&worker, MF_CONN, labels)) != NULL)
        s->v[0]++;
}

void metrics_count_blacklist(const char *scope, const char *kind)
{
    const char *labels[2] = {scope, kind};
    metrics_series *s = metrics_table_get(&worker, MF_BLACKLIST, labels);

    if (s != NULL)
        s->v[0]++;
}

/* ---- the wire format ---- */

/* Bytes cJSON prints for string s, at most. */
static size_t json_len(const char *s)
{
    size_t n = 2;

    for (; *s; s++)
        n += (unsigned char)*s < 0x20 ? 6 : (*s == '"' || *s == '\\') ? 2 : 1;
    return n;
}

size_t metrics_encode(const metrics_table *t, size_t from, size_t budget,
                      cJSON *arr)
{
    size_t used = 0, i;

    for (i = from; i < t->n; i++) {
        const metrics_series *s = t->all[i];
        size_t nl = shapes[s->family].nlabels, nv = shapes[s->family].nvalues;
        size_t need = 4 + 25 * nv;
        cJSON *e;

        for (size_t k = 0; k < nl; k++)
            need += json_len(metrics_label(s, k)) + 1;
        /* One series always goes, or a huge one would stall the pages. */
        if (used > 0 && used + need > budget)
            break;
        e = cJSON_CreateArray();
        if (e == NULL || !cJSON_AddItemToArray(arr, e))
            break;
        cJSON_AddItemToArray(e, cJSON_CreateNumber(s->family));
        for (size_t k = 0; k < nl; k++)
            cJSON_AddItemToArray(e, cJSON_CreateString(metrics_label(s, k)));
        for (size_t k = 0; k < nv; k++)
            cJSON_AddItemToArray(e, cJSON_CreateNumber((double)s->v[k]));
        used += need;
    }
    return i;
}

/* One element of a page into t; -1 when it is not well formed. */
static int merge_one(metrics_table *t, const cJSON *e)
{
    const char *labels[4];
    uint64_t v[2 + METRICS_BUCKETS];
    const cJSON *it;
    metrics_family f;
    size_t nl, nv, k = 0;
    metrics_series *s;

    it = cJSON_IsArray(e) ? e->child : NULL;
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
        it->valuedouble >= MF_COUNT || it->valuedouble != (double)it->valueint)
        return -1;
    f = (metrics_family)it->valueint;
    nl = shapes[f].nlabels;
    nv = shapes[f].nvalues;
    for (it = it->next; it != NULL && k < nl + nv; it = it->next, k++) {
        if (k < nl && cJSON_IsString(it))
            labels[k] = it->valuestring;
        else if (k >= nl && cJSON_IsNumber(it) && it->valuedouble >= 0 &&
                 it->valuedouble < 1.8e19)
            v[k - nl] = (uint64_t)it->valuedouble;
        else
            return -1;
    }
    if (k != nl + nv || it != NULL)
        return -1;
    if ((s = metrics_table_get(t, f, labels)) != NULL)
        for (k = 0; k < nv; k++)
            s->v[k] += v[k];
    return 0;
}

size_t metrics_merge(metrics_table *t, const cJSON *arr)
{
    const cJSON *e;
    size_t bad = 0;

    if (!cJSON_IsArray(arr))
        return 1;
    cJSON_ArrayForEach(e, arr) if (merge_one(t, e) < 0) bad++;
    return bad;
}

/* ---- the "stats" answer ---- */

/* A page fits a control message (CTL_MSG_MAX, and a socket buffer's
 * default size) with room to spare. */
#define PAGE_BYTES (128 * 1024)

/* {} or {"from":{"PID":K}} -> {"pid", "series":[...], "dropped",
 * "next": K (more pages)}; a worker the "from" map leaves out answers
 * {"pid", "skip": true}: the master asks again only those with pages
 * left. */
int answer_stats(gen *current, const cJSON *q, cJSON *reply)
{
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(q, "from");
    char pid[24];
    size_t start = 0, next;
    cJSON *arr;

    (void)current;
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    cJSON_AddNumberToObject(reply, "pid", (double)getpid());
    if (from != NULL) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(from, pid);
        if (!cJSON_IsNumber(k) || k->valuedouble < 0) {
            cJSON_AddBoolToObject(reply, "skip", 1);
            return 0;
        }
        start = (size_t)k->valuedouble;
    }
    arr = cJSON_AddArrayToObject(reply, "series");
    if (arr == NULL) {
        cJSON_AddStringToObject(reply, "error", "out of memory");
        return -1;
    }
    next = metrics_encode(&worker, start, PAGE_BYTES, arr);
    if (start == 0) /* once per worker, however many pages */
        cJSON_AddNumberToObject(reply, "dropped", (double)worker.dropped);
    if (next < worker.n)
        cJSON_AddNumberToObject(reply, "next", (double)next);
    return 0;
}
