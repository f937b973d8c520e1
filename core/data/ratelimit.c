/*
 * ratelimit.c -- GCRA rate limits, the node's table of buckets in shared
 * memory, the per-worker pre-filter and a request's check (ratelimit.h).
 *
 * A bucket is named by its limit's label and what it counts for:
 * "rl|LABEL|VALUE" (VALUE the uid, the client address, "ID.METHOD",
 * "ID" or the app), hashed with SipHash under a key the master draws at
 * start, so that no client can aim its buckets at another's slot.
 * Times are the request's host clock (X-AMS-Now in tests) in
 * microseconds; several nodes on one Redis should keep their clocks in
 * step (NTP), as a node whose clock runs ahead by d is lenient by d.
 */
#include "ratelimit.h"

#include "metrics.h"
#include "prefetch.h"
#include "siphash.h"
#include "text.h"

#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

/* ---- GCRA ---- */

int rl_gcra(int64_t *tat, int64_t now_us, int64_t t_us, int64_t tau_us)
{
    int64_t x = *tat > now_us ? *tat : now_us;

    if (x - now_us > tau_us) {
        *tat = x;
        return 0;
    }
    *tat = x + t_us;
    return 1;
}

/* Microseconds to whole seconds, rounded up (0 stays 0). */
static int64_t ceil_s(int64_t us)
{
    return us <= 0 ? 0 : (us + 999999) / 1000000;
}

void rl_figures(int64_t tat, int64_t now_us, int64_t t_us, int64_t tau_us,
                int64_t *remaining, int64_t *reset_s, int64_t *retry_s)
{
    int64_t d = tat > now_us ? tat - now_us : 0;
    int64_t room = tau_us + t_us - d;

    *remaining = room > 0 ? room / t_us : 0;
    *reset_s = ceil_s(d);
    *retry_s = ceil_s(d - tau_us);
}

/* ---- the node's table (shared memory, mapped before the fork) ---- */

#define RL_WAYS 8
#define RL_LOCKS 256

typedef struct rl_slot {
    uint64_t h; /* 0: free */
    int64_t tat;
} rl_slot;

typedef struct rl_table {
    pthread_mutex_t lock[RL_LOCKS];
    uint64_t nsets;
    rl_slot slot[];
} rl_table;

static struct {
    int shared;      /* the store counts (Redis) */
    uint64_t key[2]; /* of every bucket hash */
    rl_table *tab;   /* NULL: none (a unit test without rl_node_init) */
    size_t tab_bytes;
} node;

int rl_node_init(int shared, size_t slots)
{
    pthread_mutexattr_t a;
    size_t sets = (slots + RL_WAYS - 1) / RL_WAYS, bytes;
    rl_table *t;

    if (getrandom(node.key, sizeof node.key, 0) != (ssize_t)sizeof node.key) {
        /* Not secret then, but still spread. */
        node.key[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
        node.key[1] = (uint64_t)clock() ^ 0xd1b54a32d192ed03ULL;
    }
    node.shared = shared;
    if (shared || node.tab != NULL)
        return 0;
    if (sets == 0)
        sets = 1;
    bytes = sizeof *t + sets * RL_WAYS * sizeof t->slot[0];
    t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
             -1, 0);
    if (t == MAP_FAILED)
        return -1;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    for (int i = 0; i < RL_LOCKS; i++)
        pthread_mutex_init(&t->lock[i], &a);
    pthread_mutexattr_destroy(&a);
    t->nsets = sets;
    node.tab = t;
    node.tab_bytes = bytes;
    return 0;
}

/* A holder that died (kill -9) left its set at worst with one slot half
 * written: a bucket that starts again from full, or one a little too
 * strict.  Take the lock over and go on. */
static void set_lock(pthread_mutex_t *m)
{
    if (pthread_mutex_lock(m) == EOWNERDEAD)
        pthread_mutex_consistent(m);
}

/* One attempt on bucket h of the node's table: rl_gcra under its set's
 * lock.  A bucket not in the table takes a free slot of its set, else
 * one whose TAT has passed (a full bucket, as good as absent), else the
 * one nearest to full (counted: "evicted"; that bucket starts again
 * full, which errs toward admitting). */
static int table_step(uint64_t h, int64_t now, int64_t t, int64_t tau,
                      int64_t *tat_out)
{
    rl_table *tab = node.tab;
    uint64_t set = h % tab->nsets;
    rl_slot *s = &tab->slot[set * RL_WAYS], *use = NULL, *victim = s;
    pthread_mutex_t *m = &tab->lock[set % RL_LOCKS];
    int ok, evicted = 0;

    set_lock(m);
    for (int i = 0; i < RL_WAYS && use == NULL; i++) {
        if (s[i].h == h)
            use = &s[i];
        else if (s[i].h == 0 || s[i].tat < victim->tat)
            victim = &s[i];
    }
    if (use == NULL) {
        for (int i = 0; i < RL_WAYS; i++)
            if (s[i].h == 0) {
                victim = &s[i];
                break;
            }
        evicted = victim->h != 0 && victim->tat > now;
        victim->h = h;
        victim->tat = 0;
        use = victim;
    }
    ok = rl_gcra(&use->tat, now, t, tau);
    *tat_out = use->tat;
    pthread_mutex_unlock(m);
    if (evicted)
        metrics_count_ratelimit_event("evicted");
    return ok;
}

/* ---- the pre-filter (this worker's memory) ---- */

#define PF_SLOTS 4096

typedef struct pf_entry {
    uint64_t h;
    int64_t until; /* refused before this (us) */
    int64_t tat;
} pf_entry;

static pf_entry prefilter[PF_SLOTS];

void rl_prefilter_clear(void)
{
    memset(prefilter, 0, sizeof prefilter);
}

static int pf_get(uint64_t h, int64_t now, int64_t *tat)
{
    const pf_entry *e = &prefilter[h % PF_SLOTS];

    if (e->h != h || now >= e->until)
        return 0;
    *tat = e->tat;
    return 1;
}

static void pf_set(uint64_t h, int64_t until, int64_t tat)
{
    pf_entry *e = &prefilter[h % PF_SLOTS];

    e->h = h;
    e->until = until;
    e->tat = tat;
}

/* ---- a request ---- */

/* Bucket names longest kept; a longer one (cannot be: labels and ids are
 * bounded) is not limited. */
#define RL_BUCKET_MAX 320

/* One limit as this request meets it. */
typedef struct rl_one {
    const rl_limit *lim; /* the generation's, or rl_check's copy of
                            amsd.conf's (a reload rewrites those) */
    char bucket[RL_BUCKET_MAX];
    uint64_t h;
    int64_t tat;
    int known; /* tat is the bucket's (the store answered) */
    int ok;
} rl_one;

/* Copy into one[] the limits r meets: its method's, then its
 * activity's, then amsd.conf's, each name once (the closest wins; an
 * "off" one only hides the name further out). */
static size_t collect(const svc_req *r, const rl_set *global, rl_one *one)
{
    const rl_set *sets[3] = {&r->m->rl, &r->act->rl, global};
    size_t n = 0;

    for (int k = 0; k < 3; k++) {
        if (sets[k] == NULL)
            continue;
        for (size_t i = 0; i < sets[k]->n; i++) {
            const rl_limit *l = &sets[k]->v[i];
            int hidden = 0;

            for (int c = 0; c < k && !hidden; c++)
                for (size_t j = 0; sets[c] && j < sets[c]->n; j++)
                    if (strcmp(sets[c]->v[j].name, l->name) == 0)
                        hidden = 1;
            if (hidden || l->off || n == RL_REQ_MAX)
                continue;
            one[n++].lim = l;
        }
    }
    return n;
}

/* "rl|LABEL|VALUE" of o for r into o->bucket and its hash; -1 when the
 * request has nothing to count it for (no uid, no app...). */
static int bucket_of(const svc_req *r, rl_one *o)
{
    tbuf b = TBUF(o->bucket, sizeof o->bucket);
    const char *v = NULL;

    tbuf_str(&b, "rl|");
    tbuf_str(&b, o->lim->label);
    tbuf_str(&b, "|");
    switch (o->lim->key) {
    case RL_KEY_UID:
        v = r->uid;
        break;
    case RL_KEY_IP:
        v = r->client_ip;
        break;
    case RL_KEY_APP:
        v = r->app;
        break;
    case RL_KEY_METHOD:
        tbuf_int(&b, (long long)r->act->id);
        tbuf_str(&b, ".");
        v = r->m->name;
        break;
    case RL_KEY_ACTIVITY:
        tbuf_int(&b, (long long)r->act->id);
        v = "";
        break;
    default:
        return -1;
    }
    if (v == NULL || (v[0] == '\0' && o->lim->key != RL_KEY_ACTIVITY))
        return -1;
    tbuf_str(&b, v);
    if (tbuf_end(&b) < 0)
        return -1;
    o->h = siphash24(node.key, o->bucket, strlen(o->bucket));
    if (o->h == 0)
        o->h = 1; /* 0 marks a free slot */
    return 0;
}

/* The buckets of one[] not yet decided, stepped in the store in one
 * round trip with the method's prefetch (r->ws set when it went).  0, or
 * -1 when the store failed (nothing known). */
static int store_steps(svc_req *r, rl_one *one, const int *todo, size_t n)
{
    store_rate rate[RL_REQ_MAX];
    store_rate_res res[RL_REQ_MAX];
    size_t idx[RL_REQ_MAX], m = 0;
    ams_status st;

    for (size_t i = 0; i < n; i++)
        if (todo[i]) {
            rate[m] = (store_rate){one[i].bucket, one[i].lim->t_us,
                                   one[i].lim->tau_us};
            idx[m++] = i;
        }
    if (m == 0)
        return 0;
    if (r->ws == NULL && (r->ws = ws_new(svc.st)) != NULL &&
        prefetch_fill_rate(r->ws, svc.st, r->act->id, r->m->name, r->uid,
                           r->request_id, svc_req_now(r), rate, m, res,
                           &st) < 0) {
        /* The pipeline reads again and meets the fault itself. */
        ws_free(r->ws);
        r->ws = NULL;
        return -1;
    }
    if (r->ws == NULL && store_read_rate(svc.st, NULL, 0, rate, m,
                                         svc_req_now(r), NULL, res) != AMS_OK)
        return -1;
    for (size_t j = 0; j < m; j++) {
        rl_one *o = &one[idx[j]];
        o->ok = res[j].st == AMS_OK;
        o->tat = res[j].tat_us;
        o->known = 1;
    }
    return 0;
}

/* The verdict from the decided limits: the refusing one that admits
 * again last, else the one with the fewest attempts left. */
static void decide(const rl_one *one, size_t n, int64_t now, rl_verdict *v)
{
    int64_t best_rem = INT64_MAX, best_retry = -1;

    for (size_t i = 0; i < n; i++) {
        const rl_one *o = &one[i];
        int64_t rem, reset, retry;

        if (!o->known || o->lim->shadow)
            continue;
        rl_figures(o->tat, now, o->lim->t_us, o->lim->tau_us, &rem, &reset,
                   &retry);
        if (!o->ok) {
            if (retry < 1)
                retry = 1;
            if (retry <= best_retry)
                continue;
            best_retry = retry;
            v->refused = 1;
            rem = 0;
        } else if (v->refused || rem >= best_rem) {
            continue;
        }
        best_rem = rem;
        v->headers = 1;
        v->lim = *o->lim;
        v->remaining = rem;
        v->reset_s = reset;
        v->retry_s = o->ok ? 0 : retry;
    }
}

void rl_check(svc_req *r, const rl_set *global, rl_verdict *v)
{
    rl_one one[RL_REQ_MAX];
    rl_set gcopy;
    int todo[RL_REQ_MAX] = {0}, blocked = 0;
    int64_t now = svc_req_now(r) * 1000;
    size_t n;

    memset(v, 0, sizeof *v);
    if (r->act == NULL || r->m == NULL ||
        r->m->rl.n + r->act->rl.n + (global ? global->n : 0) == 0)
        return;
    if (global != NULL) {
        gcopy = *global;
        global = &gcopy;
    }
    n = collect(r, global, one);
    for (size_t i = 0; i < n; i++) {
        rl_one *o = &one[i];

        o->known = o->ok = 0;
        if (bucket_of(r, o) < 0)
            continue;
        if (pf_get(o->h, now, &o->tat)) {
            o->known = 1;
            blocked |= !o->lim->shadow;
            metrics_count_ratelimit(
                o->lim->label, o->lim->shadow ? "shadow_refused" : "refused");
        } else {
            todo[i] = 1;
        }
    }
    /* Refused from memory: the other limits do not see the attempt. */
    if (blocked) {
        metrics_count_ratelimit_event("prefilter");
    } else {
        if (node.shared) {
            if (svc.st != NULL && store_steps(r, one, todo, n) < 0) {
                metrics_count_ratelimit_event("store_error");
                memset(todo, 0, sizeof todo); /* let through, uncounted */
            }
        } else if (node.tab != NULL) {
            for (size_t i = 0; i < n; i++)
                if (todo[i]) {
                    one[i].ok = table_step(one[i].h, now, one[i].lim->t_us,
                                           one[i].lim->tau_us, &one[i].tat);
                    one[i].known = 1;
                }
        } else {
            memset(todo, 0, sizeof todo);
        }
        for (size_t i = 0; i < n; i++) {
            rl_one *o = &one[i];
            if (!todo[i] || !o->known)
                continue;
            if (o->ok) {
                metrics_count_ratelimit(o->lim->label, "allowed");
                continue;
            }
            metrics_count_ratelimit(
                o->lim->label, o->lim->shadow ? "shadow_refused" : "refused");
            pf_set(o->h, o->tat - o->lim->tau_us, o->tat);
        }
    }
    decide(one, n, now, v);
}

/* ---- the answer ---- */

static void add_num(struct evkeyvalq *out, const char *name, int64_t v)
{
    char buf[24];
    tbuf b = TBUF(buf, sizeof buf);

    tbuf_int(&b, (long long)v);
    tbuf_end(&b);
    evhttp_add_header(out, name, buf);
}

void rl_headers(const rl_verdict *v, struct evkeyvalq *out)
{
    char policy[RL_LABEL_MAX + 96];

    if (!v->headers)
        return;
    add_num(out, "RateLimit-Limit", v->lim.burst);
    add_num(out, "RateLimit-Remaining", v->remaining);
    add_num(out, "RateLimit-Reset", v->reset_s);
    snprintf(policy, sizeof policy, "%lld;w=%lld;burst=%lld;policy=\"%s\"",
             (long long)v->lim.count, (long long)ceil_s(v->lim.per_ms * 1000),
             (long long)v->lim.burst, v->lim.label);
    evhttp_add_header(out, "RateLimit-Policy", policy);
    if (v->refused)
        add_num(out, "Retry-After", v->retry_s);
}

/* "5/s", "100/10s" of l into buf. */
static void rate_text(const rl_limit *l, char *buf, size_t len)
{
    static const struct {
        int64_t ms;
        char unit;
    } units[] = {{86400000, 'd'}, {3600000, 'h'}, {60000, 'm'}, {1000, 's'}};

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (l->per_ms % units[i].ms == 0) {
            int64_t k = l->per_ms / units[i].ms;
            if (k == 1)
                snprintf(buf, len, "%lld/%c", (long long)l->count,
                         units[i].unit);
            else
                snprintf(buf, len, "%lld/%lld%c", (long long)l->count,
                         (long long)k, units[i].unit);
            return;
        }
    snprintf(buf, len, "%lld/%lldms", (long long)l->count,
             (long long)l->per_ms);
}

void rl_message(const rl_verdict *v, char *buf, size_t len)
{
    char rate[48];

    rate_text(&v->lim, rate, sizeof rate);
    snprintf(buf, len,
             "rate limit \"%s\" (%s, burst %lld, per %s) exceeded; retry "
             "in %lld s",
             v->lim.label, rate, (long long)v->lim.burst,
             rlconf_key_name(v->lim.key), (long long)v->retry_s);
}
