/*
 * blacklist.c -- the index of blacklist entries and the worker's check.
 *
 * Entries live in one open-addressing table keyed by (activity, kind,
 * value): the uid check is one lookup per scope.  IP entries are also
 * flattened, per scope, into disjoint sorted ranges, each carrying the
 * latest expiry of the prefixes that cover it, so one binary search
 * answers "is this address covered by a live entry": CIDR prefixes are
 * nested or disjoint, never partly overlapping, which makes the
 * flattening a single sweep with a stack.
 */
#include "blacklist.h"

#include "clock.h"
#include "hash.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "services.h"

#include <stdlib.h>
#include <string.h>

__extension__ typedef unsigned __int128 bl_u128;

struct bl_range {
    bl_u128 lo, hi;
    int64_t until;     /* the latest expiry over it; INT64_MAX: never */
    const bl_entry *e; /* whose reason it shows (the one expiring last) */
};

static bl_entry bl_tomb; /* a deleted slot */

static bl_u128 ip_num(const cidr_ip *ip)
{
    bl_u128 v = 0;

    for (int i = 0; i < 16; i++)
        v = (v << 8) | ip->b[i];
    return v;
}

static int64_t until_of(int64_t expires_ms)
{
    return expires_ms == 0 ? INT64_MAX : expires_ms;
}

static uint64_t key_hash(int64_t aid, int kind, const char *value)
{
    unsigned char k = (unsigned char)kind;
    uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, &aid, sizeof aid);

    h = hash_fnv1a(h, &k, 1);
    return hash_fnv1a(h, value, strlen(value));
}

void bl_index_init(bl_index *x)
{
    memset(x, 0, sizeof *x);
}

static void entry_free(bl_entry *e)
{
    if (e == NULL || e == &bl_tomb)
        return;
    free(e->value);
    free(e->reason);
    free(e);
}

void bl_index_free(bl_index *x)
{
    for (size_t i = 0; i < x->nslots; i++)
        entry_free(x->slot[i]);
    free(x->slot);
    for (size_t i = 0; i < x->nscopes; i++)
        free(x->scopes[i].r);
    free(x->scopes);
    bl_index_init(x);
}

/* The slot holding the key, or where it would go (the first tombstone on
 * its path, else the empty slot that ends it).  nslots > 0. */
static size_t find_slot(const bl_index *x, int64_t aid, int kind,
                        const char *value, uint64_t h, int *found)
{
    size_t mask = x->nslots - 1, i = (size_t)h & mask, tomb = SIZE_MAX;

    *found = 0;
    for (;;) {
        bl_entry *e = x->slot[i];
        if (e == NULL)
            return tomb != SIZE_MAX ? tomb : i;
        if (e == &bl_tomb) {
            if (tomb == SIZE_MAX)
                tomb = i;
        } else if (e->hash == h && e->activity_id == aid && e->kind == kind &&
                   strcmp(e->value, value) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

/* Room for one more: at most half the slots used (tombstones count). */
static int grow(bl_index *x)
{
    size_t n = x->nslots ? x->nslots : 64;
    bl_entry **old = x->slot;
    size_t oldn = x->nslots;

    if ((x->used + 1) * 2 <= x->nslots)
        return 0;
    while ((x->n + 1) * 4 > n)
        n *= 2;
    x->slot = calloc(n, sizeof *x->slot);
    if (x->slot == NULL) {
        x->slot = old;
        return -1;
    }
    x->nslots = n;
    x->used = x->n;
    for (size_t i = 0; i < oldn; i++) {
        bl_entry *e = old[i];
        size_t j;
        if (e == NULL || e == &bl_tomb)
            continue;
        for (j = (size_t)e->hash & (n - 1); x->slot[j] != NULL;
             j = (j + 1) & (n - 1))
            ;
        x->slot[j] = e;
    }
    free(old);
    return 0;
}

const bl_entry *bl_index_find(const bl_index *x, int64_t activity_id, int kind,
                              const char *value)
{
    int found;
    size_t i;

    if (x->n == 0)
        return NULL;
    i = find_slot(x, activity_id, kind, value,
                  key_hash(activity_id, kind, value), &found);
    return found ? x->slot[i] : NULL;
}

/* The scope of aid, created when create; NULL when absent or no memory. */
static bl_scope *scope_of(bl_index *x, int64_t aid, int create)
{
    size_t lo = 0, hi = x->nscopes;
    bl_scope *s;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x->scopes[mid].activity_id < aid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < x->nscopes && x->scopes[lo].activity_id == aid)
        return &x->scopes[lo];
    if (!create)
        return NULL;
    s = realloc(x->scopes, (x->nscopes + 1) * sizeof *s);
    if (s == NULL)
        return NULL;
    x->scopes = s;
    memmove(&s[lo + 1], &s[lo], (x->nscopes - lo) * sizeof *s);
    memset(&s[lo], 0, sizeof *s);
    s[lo].activity_id = aid;
    x->nscopes++;
    return &s[lo];
}

static int set_text(char **slot, const char *text)
{
    char *t = strdup(text);

    if (t == NULL)
        return -1;
    free(*slot);
    *slot = t;
    return 0;
}

static int apply_add(bl_index *x, const bl_change *c, uint64_t h)
{
    bl_scope *sc = NULL;
    bl_entry *e;
    size_t i;
    int found;

    if (c->kind == BL_IP && (sc = scope_of(x, c->activity_id, 1)) == NULL)
        return -1;
    if (grow(x) < 0)
        return -1;
    i = find_slot(x, c->activity_id, c->kind, c->value, h, &found);
    if (found) {
        e = x->slot[i];
        if (set_text(&e->reason, c->reason) < 0)
            return -1;
    } else {
        e = calloc(1, sizeof *e);
        if (e == NULL || (e->value = strdup(c->value)) == NULL ||
            (e->reason = strdup(c->reason)) == NULL ||
            (c->kind == BL_IP && cidr_parse(c->value, &e->net) < 0)) {
            entry_free(e);
            return -1;
        }
        e->activity_id = c->activity_id;
        e->kind = c->kind;
        e->hash = h;
        if (x->slot[i] == NULL)
            x->used++;
        x->slot[i] = e;
        x->n++;
        if (c->kind == BL_IP) {
            x->nip++;
            sc->nentries++;
        } else {
            x->nuid++;
        }
    }
    e->expires_ms = c->expires_ms;
    e->added_ms = c->at_ms;
    if (sc != NULL)
        sc->dirty = 1;
    return 0;
}

static void apply_remove(bl_index *x, const bl_change *c, uint64_t h)
{
    bl_entry *e;
    size_t i;
    int found;

    if (x->n == 0)
        return;
    i = find_slot(x, c->activity_id, c->kind, c->value, h, &found);
    if (!found)
        return;
    e = x->slot[i];
    x->slot[i] = &bl_tomb;
    x->n--;
    if (e->kind == BL_IP) {
        bl_scope *sc = scope_of(x, e->activity_id, 0);
        x->nip--;
        if (sc != NULL) {
            sc->nentries--;
            sc->dirty = 1;
        }
    } else {
        x->nuid--;
    }
    entry_free(e);
}

int bl_index_apply(bl_index *x, const bl_change *c)
{
    uint64_t h = key_hash(c->activity_id, c->kind, c->value);

    if (c->add)
        return apply_add(x, c, h);
    apply_remove(x, c, h);
    return 0;
}

/* ---- flattening the prefixes of a scope ---- */

typedef struct span {
    bl_u128 lo, hi;
    int64_t until;
    const bl_entry *e;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;

    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->hi != y->hi)
        return x->hi > y->hi ? -1 : 1; /* the wider first */
    return 0;
}

typedef struct flat {
    bl_range *r;
    size_t n;
    bl_u128 cursor;
    int full; /* the cursor went past the last address */
} flat;

/* Emit [f->cursor, hi] under frame fr (merged into the last range when
 * they touch and say the same), then move the cursor past hi. */
static void emit(flat *f, bl_u128 hi, const span *fr)
{
    if (!f->full && f->cursor <= hi) {
        bl_range *last = f->n ? &f->r[f->n - 1] : NULL;
        if (last != NULL && last->hi + 1 == f->cursor &&
            last->until == fr->until &&
            (last->e == fr->e || strcmp(last->e->reason, fr->e->reason) == 0))
            last->hi = hi;
        else
            f->r[f->n++] = (bl_range){f->cursor, hi, fr->until, fr->e};
    }
    if (hi == ~(bl_u128)0)
        f->full = 1;
    else if (f->cursor <= hi + 1)
        f->cursor = hi + 1;
}

/* sp sorted by span_cmp, n > 0; r has room for 2n ranges (each prefix
 * opens at most one range and, on closing, resumes its parent once). */
static size_t flatten(const span *sp, size_t n, bl_range *r)
{
    span stack[130]; /* prefixes nest at most 129 deep (/0 .. /128) */
    size_t depth = 0;
    flat f = {r, 0, 0, 0};

    for (size_t i = 0; i < n; i++) {
        span fr = sp[i];
        while (depth > 0 && stack[depth - 1].hi < fr.lo) {
            emit(&f, stack[depth - 1].hi, &stack[depth - 1]);
            depth--;
        }
        if (depth > 0 && f.cursor < fr.lo)
            emit(&f, fr.lo - 1, &stack[depth - 1]);
        if (!f.full && f.cursor < fr.lo)
            f.cursor = fr.lo;
        if (depth > 0 && stack[depth - 1].until > fr.until) {
            fr.until = stack[depth - 1].until;
            fr.e = stack[depth - 1].e;
        }
        if (depth == sizeof stack / sizeof stack[0])
            depth--; /* cannot happen with real prefixes */
        stack[depth++] = fr;
    }
    while (depth > 0) {
        emit(&f, stack[depth - 1].hi, &stack[depth - 1]);
        depth--;
    }
    return f.n;
}

static int settle_scope(bl_index *x, bl_scope *sc)
{
    span *sp = NULL;
    bl_range *r = NULL;
    size_t n = 0;

    if (sc->nentries > 0) {
        sp = malloc(sc->nentries * sizeof *sp);
        r = malloc(2 * sc->nentries * sizeof *r);
        if (sp == NULL || r == NULL) {
            free(sp);
            free(r);
            free(sc->r); /* its entries may be gone: never read it again */
            sc->r = NULL;
            sc->n = 0;
            return -1;
        }
        for (size_t i = 0; i < x->nslots; i++) {
            const bl_entry *e = x->slot[i];
            cidr_ip last;
            if (e == NULL || e == &bl_tomb || e->kind != BL_IP ||
                e->activity_id != sc->activity_id)
                continue;
            cidr_last(&e->net, &last);
            sp[n++] = (span){ip_num(&e->net.base), ip_num(&last),
                             until_of(e->expires_ms), e};
        }
        qsort(sp, n, sizeof *sp, span_cmp);
        n = n ? flatten(sp, n, r) : 0;
        free(sp);
    }
    free(sc->r);
    sc->r = r;
    sc->n = n;
    sc->dirty = 0;
    return 0;
}

int bl_index_settle(bl_index *x)
{
    int rc = 0;

    for (size_t i = 0; i < x->nscopes; i++)
        if (x->scopes[i].dirty && settle_scope(x, &x->scopes[i]) < 0)
            rc = -1;
    return rc;
}

/* ---- the check ---- */

static int uid_hit(const bl_index *x, int64_t aid, const char *uid,
                   int64_t now_ms, bl_hit *hit)
{
    const bl_entry *e = bl_index_find(x, aid, BL_UID, uid);

    if (e == NULL || until_of(e->expires_ms) <= now_ms)
        return 0;
    *hit = (bl_hit){aid, BL_UID, e->reason};
    return 1;
}

/* A scope whose ranges could not be built (no memory): entry by entry. */
static int ip_hit_slow(const bl_index *x, int64_t aid, const cidr_ip *ip,
                       int64_t now_ms, bl_hit *hit)
{
    for (size_t i = 0; i < x->nslots; i++) {
        const bl_entry *e = x->slot[i];
        if (e != NULL && e != &bl_tomb && e->kind == BL_IP &&
            e->activity_id == aid && until_of(e->expires_ms) > now_ms &&
            cidr_contains(&e->net, ip)) {
            *hit = (bl_hit){aid, BL_IP, e->reason};
            return 1;
        }
    }
    return 0;
}

static int ip_hit(const bl_index *x, int64_t aid, const cidr_ip *ip, bl_u128 v,
                  int64_t now_ms, bl_hit *hit)
{
    const bl_scope *sc = scope_of((bl_index *)x, aid, 0);
    size_t lo = 0, hi;

    if (sc == NULL || sc->nentries == 0)
        return 0;
    if (sc->dirty)
        return ip_hit_slow(x, aid, ip, now_ms, hit);
    /* The last range starting at or before v. */
    hi = sc->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sc->r[mid].lo <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    const bl_range *r = &sc->r[lo - 1];
    if (v > r->hi || r->until <= now_ms)
        return 0;
    *hit = (bl_hit){aid, BL_IP, r->e->reason};
    return 1;
}

int bl_index_check(const bl_index *x, int64_t activity_id, const char *uid,
                   const cidr_ip *ip, int64_t now_ms, bl_hit *hit)
{
    if (x->n == 0)
        return 0;
    if (ip != NULL && x->nip > 0) {
        bl_u128 v = ip_num(ip);
        if (ip_hit(x, 0, ip, v, now_ms, hit) ||
            (activity_id != 0 && ip_hit(x, activity_id, ip, v, now_ms, hit)))
            return 1;
    }
    if (uid != NULL && uid[0] != '\0' && x->nuid > 0)
        return uid_hit(x, 0, uid, now_ms, hit) ||
               (activity_id != 0 && uid_hit(x, activity_id, uid, now_ms, hit));
    return 0;
}

void bl_index_each(const bl_index *x, int (*fn)(const bl_entry *e, void *ud),
                   void *ud)
{
    for (size_t i = 0; i < x->nslots; i++)
        if (x->slot[i] != NULL && x->slot[i] != &bl_tomb &&
            fn(x->slot[i], ud) != 0)
            return;
}

/* ---- the worker's index ---- */

static bl_index worker_bl;

ams_status blacklist_refresh(store *st, int64_t now_ms)
{
    size_t applied = 0;
    ams_status rc;

    if (st == NULL)
        return AMS_ERR_STORE;
    rc = bl_journal_read(st, &worker_bl, now_ms, &applied);
    if (applied > 0)
        log_info("blacklist: %zu change(s) applied, %zu entr%s", applied,
                 worker_bl.n, worker_bl.n == 1 ? "y" : "ies");
    return rc;
}

int blacklist_check(int64_t activity_id, const char *uid, const char *ip,
                    int64_t now_ms, bl_hit *hit)
{
    cidr_ip addr;
    int have_ip;

    if (worker_bl.n == 0)
        return 0;
    have_ip = worker_bl.nip > 0 && ip != NULL && ip[0] != '\0' &&
              cidr_ip_parse(ip, &addr) == 0;
    return bl_index_check(&worker_bl, activity_id, uid, have_ip ? &addr : NULL,
                          now_ms, hit);
}

size_t blacklist_size(void)
{
    return worker_bl.n;
}

void blacklist_reset(void)
{
    bl_index_free(&worker_bl);
}

/* The master asks right after this node changed the blacklist, so the
 * change applies here at once.  Read on the blocking path (this is not a
 * coroutine): a short wait of an admin action, not of requests in
 * general. */
int answer_blacklist_refresh(struct gen *current, const cJSON *q, cJSON *reply)
{
    size_t before = worker_bl.next_item;
    ams_status rc;

    (void)current;
    (void)q;
    rc = blacklist_refresh(svc.st, clock_wall_ms());
    if (rc != AMS_OK) {
        cJSON_AddStringToObject(reply, "error",
                                "the store failed reading the blacklist");
        return -1;
    }
    cJSON_AddNumberToObject(reply, "entries", (double)worker_bl.n);
    cJSON_AddNumberToObject(reply, "items_read",
                            (double)(worker_bl.next_item - before));
    return 0;
}

/* The answer says the scope, which a client cannot change by retrying,
 * but not whether its uid or its address matched: that would tell a
 * hostile client which of the two to rotate.  The reason is the
 * operator's note ("chargeback fraud, ticket 123"), shown only when
 * blacklist.show_reason is set. */
char *blacklist_reply(const bl_hit *hit, const char *request_id,
                      int show_reason)
{
    const char *scope = hit->activity_id ? "activity" : "global";
    jbuf b;

    jbuf_init(&b, NULL, 0);
    json_put_lit(&b, "{\"code\":403,\"reason\":\"blacklisted\",\"message\":");
    json_put_string(&b, hit->activity_id ? "refused by this activity's "
                                           "blacklist"
                                         : "refused by the blacklist");
    json_put_lit(&b, ",\"scope\":");
    json_put_string(&b, scope);
    if (show_reason && hit->reason != NULL && hit->reason[0] != '\0') {
        json_put_lit(&b, ",\"blacklist_reason\":");
        json_put_string(&b, hit->reason);
    }
    if (request_id != NULL && request_id[0] != '\0') {
        json_put_lit(&b, ",\"request_id\":");
        json_put_string(&b, request_id);
    }
    json_put_lit(&b, "}");
    metrics_count_blacklist(scope, hit->kind == BL_UID ? "uid" : "ip");
    return jbuf_take(&b);
}
