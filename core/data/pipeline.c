/*
 * pipeline.c -- the interceptor chain.  Every method, bundled or plugin
 * defined, goes through these steps in this order:
 *
 *  1. the activity is enabled and inside its window   (disabled, ...)
 *  2. login: a method that needs a uid has one         (login_required)
 *  3. idempotency: a known (activity, uid, request_id) gets its first
 *     answer again, byte for byte; other params under the same id: 409
 *     (the same params in another key order are the same: canon.h)
 *  4. the per-user session lock on (activity, method, uid): a second
 *     concurrent request is answered busy at once, never queued (in the
 *     worker's memory, session.h; not for a method that cannot write)
 *  5. crowd, then the method's limits, then its rule tree
 *  6. limits reserved, operations in order; when one fails, the earlier
 *     ones are undone in reverse order
 *  7. an ok that changed something is committed: its writes, one ledger
 *     entry per grant and the answer for replays, in one atomic step
 *
 * The request is the unit of work (DESIGN.md §5): every store call of
 * steps 5 and 6 goes to the request's write set (wset.h), which answers
 * reads from the store plus the request's own writes and only records
 * the writes.  A refusal or a fault drops them: it wrote nothing, and a
 * retry simply runs again.  The commit validates again what the answers
 * depended on (bounds, versions) and that no other attempt of the
 * request_id committed first; when another request took the last unit
 * meanwhile, the request runs again on fresh state (and is then refused,
 * sold out), so it is never oversold.  A store fault during the commit
 * leaves its outcome unknown: the commit either happened whole (a retry
 * replays the stored answer) or not at all (a retry runs it).
 *
 * Stores written by the chain before write sets may hold a "p" record of
 * an attempt cut off mid-way, whose counted writes went into a journal
 * (store.h: Journals): its retry fences it out, finds out from the ledger
 * whether it finished, and if not gives those writes back and runs it
 * again (resolve_interrupted): it too is done exactly once.
 */
#include "pipeline.h"

#include "canon.h"
#include "digest.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "prefetch.h"
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *reason;
    int code;
} codes[] = {
    {"ok", 0},
    {"not_started", 1001},
    {"ended", 1002},
    {"disabled", 1003},
    {"login_required", 1004},
    {"not_eligible", 1005},
    {"limit_reached", 1006},
    {"busy", 1007},
    {"sold_out", 1008},
    {"budget_exhausted", 1009},
    {"duplicate", 1010},
};

int pipeline_code(const char *reason)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].reason, reason) == 0)
            return codes[i].code;
    return 1099;
}

/* What the chain decided, before it becomes an answer. */
typedef struct outcome {
    int http_status; /* 200 for every business outcome */
    char reason[64];
    cJSON *detail;     /* owned */
    char message[256]; /* non-200: what went wrong */
    /* Store faults only: 1 when the request may have changed something
     * (its commit was sent, its answer lost), so its outcome is unknown
     * until a retry with the same request_id finds it out; 0 when it
     * changed nothing and a retry simply runs it. */
    int unknown;
} outcome;

static void set_outcome(outcome *o, const char *reason)
{
    text_copy(o->reason, sizeof o->reason, reason); /* snprintf's "%s" */
    o->http_status = 200;
}

static void set_fault(outcome *o, ams_status st, const char *what,
                      const char *ref)
{
    if (st == AMS_ERR_STORE) {
        o->http_status = 503;
        snprintf(o->reason, sizeof o->reason, "store_unavailable");
        snprintf(o->message, sizeof o->message,
                 "the store is unavailable (during %s %s)", what, ref);
    } else {
        o->http_status = 500;
        snprintf(o->reason, sizeof o->reason, "plugin_fault");
        snprintf(o->message, sizeof o->message, "%s %s reported a fault", what,
                 ref);
    }
}

/* Whether o is a store fault (set_fault with AMS_ERR_STORE). */
static int store_fault(const outcome *o)
{
    return o->http_status == 503 &&
           strcmp(o->reason, "store_unavailable") == 0;
}

static void set_http(outcome *o, int status, const char *reason,
                     const char *msg)
{
    o->http_status = status;
    snprintf(o->reason, sizeof o->reason, "%s", reason);
    snprintf(o->message, sizeof o->message, "%s", msg);
}

ams_status pipeline_eval(rnode *n, svc_req *r, instance **who, char reason[64])
{
    ams_status st = AMS_OK;

    switch (n->kind) {
    case RN_LEAF: {
        ams_ctx ctx = {.req = r, .inst = n->leaf};
        st = svc_call(n->leaf->entry->fn, &ctx);
        /* The last leaf evaluated is the one that decided, whatever the
         * outcome: a pass under not(), a fault, a failure. */
        *who = n->leaf;
        if (st == AMS_FAIL)
            snprintf(reason, 64, "%s", ctx.reason[0] ? ctx.reason : "failed");
        return st;
    }
    case RN_ALL:
        /* Short-circuit: the first failing child decides. */
        for (size_t i = 0; i < n->nkids; i++)
            if ((st = pipeline_eval(n->kids[i], r, who, reason)) != AMS_OK)
                return st;
        return AMS_OK;
    case RN_ANY:
        /* Short-circuit: the first passing child decides; when none
         * passes, the last failure is the one reported. */
        for (size_t i = 0; i < n->nkids; i++) {
            st = pipeline_eval(n->kids[i], r, who, reason);
            if (st != AMS_FAIL)
                return st;
        }
        return AMS_FAIL;
    case RN_NOT:
        st = pipeline_eval(n->kids[0], r, who, reason);
        if (st == AMS_FAIL)
            return AMS_OK;
        if (st == AMS_OK) {
            snprintf(reason, 64, "negated"); /* *who passed: to blame */
            return AMS_FAIL;
        }
        return st;
    }
    return AMS_ERR;
}

/* Crowd or method rule; 0 to go on, -1 when o is decided. */
static int check_rule(rnode *rule, const char *stage, svc_req *r, outcome *o)
{
    instance *who = NULL;
    char reason[64] = "";
    ams_status st;

    if (rule == NULL)
        return 0;
    st = pipeline_eval(rule, r, &who, reason);
    if (st == AMS_OK)
        return 0;
    if (st == AMS_FAIL) {
        set_outcome(o, "not_eligible");
        o->detail = cJSON_CreateObject();
        cJSON_AddStringToObject(o->detail, "stage", stage);
        cJSON_AddStringToObject(o->detail, "rule", who ? who->ref : "?");
        cJSON_AddStringToObject(o->detail, "reason", reason);
        return -1;
    }
    set_fault(o, st, "rule", who ? who->ref : stage);
    return -1;
}

/* ---- limits ---- */

typedef struct limit_slot {
    const char *name; /* as in the activity file */
    int64_t max;
    int per_user, per_day;
    char key[STORE_KEY_MAX];
    int64_t expire;
} limit_slot;

/* The method's configured limits with their host keys; returns how many. */
static size_t limit_slots(svc_req *r, limit_slot s[4])
{
    const limits *l = &r->m->lim;
    const struct {
        const char *name;
        int64_t max;
        int per_user, per_day;
    } all[4] = {{"user_total", l->user_total, 1, 0},
                {"user_daily", l->user_daily, 1, 1},
                {"total", l->total, 0, 0},
                {"daily", l->daily, 0, 1}};
    size_t n = 0;
    int64_t now = svc_req_now(r);

    for (int i = 0; i < 4; i++) {
        char name[160];
        int64_t day;
        if (all[i].max <= 0)
            continue;
        s[n] = (limit_slot){all[i].name,    all[i].max, all[i].per_user,
                            all[i].per_day, "",         0};
        if (all[i].per_day) {
            day = svc_day(r->act, now, &s[n].expire);
            snprintf(name, sizeof name, "lim:%s@d%lld", r->m->name,
                     (long long)day);
        } else {
            snprintf(name, sizeof name, "lim:%s", r->m->name);
        }
        if (svc_host_key(s[n].key, sizeof s[n].key, r->act->id,
                         all[i].per_user ? r->uid : NULL, name) == 0)
            n++;
    }
    return n;
}

static void limit_reached(outcome *o, const limit_slot *s)
{
    set_outcome(o, "limit_reached");
    o->detail = cJSON_CreateObject();
    cJSON_AddStringToObject(o->detail, "limit", s->name);
    cJSON_AddNumberToObject(o->detail, "max", (double)s->max);
}

/* Before the rules: is any limit already used up?  0 to go on. */
static int check_limits(svc_req *r, limit_slot *s, size_t n, outcome *o)
{
    for (size_t i = 0; i < n; i++) {
        int64_t v = 0;
        ams_status st = ws_counter_get(r->ws, s[i].key, svc_req_now(r), &v);
        if (st != AMS_OK && st != AMS_NOT_FOUND) {
            set_fault(o, st, "limit", s[i].name);
            return -1;
        }
        if (v >= s[i].max) {
            limit_reached(o, &s[i]);
            return -1;
        }
    }
    return 0;
}

/* After the rules: take one of each limit, in the request's write set;
 * the commit checks every bound again, so two workers (or nodes) can
 * never both take the last one. */
static int reserve_limits(svc_req *r, limit_slot *s, size_t n, outcome *o)
{
    for (size_t i = 0; i < n; i++) {
        ams_status st = ws_counter_add(r->ws, s[i].key, 1, 0, s[i].max,
                                       s[i].expire, svc_req_now(r), NULL, 0);
        if (st == AMS_OK)
            continue;
        if (st == AMS_CONFLICT)
            limit_reached(o, &s[i]);
        else
            set_fault(o, st, "limit", s[i].name);
        return -1;
    }
    return 0;
}

/* ---- operations ---- */

/* Undo operations 0..k-1 that ran (bit i of ran), in reverse order. */
static void undo_ops(method *m, size_t k, uint64_t ran, svc_req *r)
{
    while (k-- > 0) {
        instance *in = m->ops[k];
        ams_ctx ctx = {.req = r, .inst = in};
        ams_status st;

        if (in->entry->undo == NULL || !(ran & ((uint64_t)1 << k)))
            continue;
        st = svc_call(in->entry->undo, &ctx);
        /* Its writes go to the write set, dropped with the rest: a
         * failed undo changes nothing in the store, but says the plugin
         * is broken. */
        if (st != AMS_OK)
            log_warn("activity %lld method %s: undo of %s failed (%d) for "
                     "uid=%s request_id=%s (nothing was committed)",
                     (long long)r->act->id, r->m->name, in->ref, (int)st,
                     r->uid ? r->uid : "", r->request_id ? r->request_id : "");
    }
}

/* Data and grants of a method that failed must not reach the client or
 * the ledger. */
static void drop_effects(svc_req *r)
{
    cJSON_Delete(r->data);
    r->data = cJSON_CreateObject();
    cJSON_Delete(r->grants);
    r->grants = NULL;
}

static int run_ops(svc_req *r, outcome *o)
{
    method *m = r->m;
    uint64_t ran = 0;

    for (size_t i = 0; i < m->nops; i++) {
        instance *in = m->ops[i];
        ams_ctx ctx = {.req = r, .inst = in};
        ams_status st;

        if (in->when != NULL) {
            instance *who = NULL;
            char why[64];
            st = pipeline_eval(in->when, r, &who, why);
            if (st == AMS_FAIL)
                continue; /* not this time: skipped, nothing to undo */
            if (st != AMS_OK) {
                undo_ops(m, i, ran, r);
                set_fault(o, st, "rule", who ? who->ref : "when");
                drop_effects(r);
                return -1;
            }
        }
        st = svc_call(in->entry->fn, &ctx);
        if (st == AMS_OK) {
            ran |= (uint64_t)1 << i;
            continue;
        }
        undo_ops(m, i, ran, r);
        if (st < 0) {
            set_fault(o, st, "operation", in->ref);
        } else {
            set_outcome(o, ctx.reason[0] ? ctx.reason : "operation_failed");
            o->detail = cJSON_CreateObject();
            cJSON_AddStringToObject(o->detail, "operation", in->ref);
            cJSON_AddNumberToObject(o->detail, "index", (double)i);
        }
        drop_effects(r);
        return -1;
    }
    return 0;
}

static int run_handler(svc_req *r, outcome *o)
{
    instance *h = r->m->handler;
    ams_ctx ctx = {.req = r, .inst = h};
    ams_status st;

    if (h == NULL)
        return 0;
    st = svc_call(h->entry->fn, &ctx);
    if (st == AMS_OK)
        return 0;
    if (st == AMS_FAIL)
        set_outcome(o, ctx.reason[0] ? ctx.reason : "declined");
    else
        set_fault(o, st, "handler", h->ref);
    return -1;
}

/* Steps 5 and 6, every store call going to the request's write set:
 * nothing reaches the store before the commit, so a refusal or a fault
 * anywhere here has changed nothing (outcome "none"). */
static void run_method(svc_req *r, outcome *o)
{
    limit_slot lim[4];
    size_t nlim = limit_slots(r, lim);

    if (check_rule(r->act->crowd, "crowd", r, o) < 0 ||
        check_limits(r, lim, nlim, o) < 0 ||
        check_rule(r->m->rule, "rule", r, o) < 0 ||
        reserve_limits(r, lim, nlim, o) < 0 || run_ops(r, o) < 0 ||
        run_handler(r, o) < 0)
        return;
    set_outcome(o, "ok");
}

/* ---- idempotency ---- */

/* Records are compact (idem_compact), "done", written in the request's
 * commit with everything else it did.  Older ones are JSON:
 * {"s":state,"h":hash,"st":status,"b":answer,"a":n}, state "d" when
 * done.  The chain before write sets also wrote "p" while a
 * request ran and "r" when it faulted: a "p" record left by an attempt it
 * cut off names that attempt (a), whose counted writes are journaled
 * under its number (attempt_journal); resolve_interrupted settles it. */
typedef struct idem {
    char key[STORE_KEY_MAX];
    char hash[65];    /* "" until idem_hash() needs it */
    uint64_t version; /* of the record seen; 0 when none */
    int64_t prev;     /* the attempt a "p" record seen names */
    int64_t attempt;  /* this run's attempt */
} idem;

/* sha256 of method and params: a replay must ask the same thing.  The
 * params in their canonical text (canon.h: keys sorted at every depth,
 * numbers in one spelling), so the same params in another key order are
 * the same request.  legacy: in the text they came in (json_print), the
 * hash of versions before canonical idempotency. */
static void request_hash(const svc_req *r, int legacy, char out[65])
{
    char *params = r->params == NULL ? NULL
                   : legacy          ? json_print(r->params)
                                     : canon_print(r->params);

    digest_sha256_hex(r->m->name, strlen(r->m->name) + 1, params,
                      params ? strlen(params) : 0, out);
    free(params);
}

/* d->hash, computed on first use.  Only a record that exists (compared
 * with it) or one that is written carries the hash, and most requests
 * have neither (a new request_id refused, a read-only method): hashing
 * every request up front cost more than the rest of a refusal. */
static const char *idem_hash(const svc_req *r, idem *d)
{
    if (d->hash[0] == '\0')
        request_hash(r, 0, d->hash);
    return d->hash;
}

/* Whether a record's hash (64 hex digits at h) is this request's.  A
 * record written before canonical idempotency holds the hash of the
 * params as that request sent them: it is this request's too when this
 * request's params, as sent, hash the same (the same text: the same
 * request; a retry across the upgrade replays its answer).  The same
 * params in another order then are 409, as they were before the
 * upgrade: refused, never granted twice.  Params in canonical order
 * hash the same either way (as do requests without params), so a
 * second hash is made only when the first did not match: a retry with
 * other params, or across the upgrade. */
static int idem_same(const svc_req *r, idem *d, const char *h)
{
    char legacy[65];

    if (memcmp(h, idem_hash(r, d), 64) == 0)
        return 1;
    if (r->params == NULL)
        return 0;
    request_hash(r, 1, legacy);
    return memcmp(h, legacy, 64) == 0;
}

static int idem_write(svc_req *r, idem *d, const char *state, int status,
                      const char *answer)
{
    cJSON *rec = cJSON_CreateObject();
    char *text;
    ams_status st;
    int64_t now = svc_req_now(r);

    cJSON_AddStringToObject(rec, "s", state);
    cJSON_AddStringToObject(rec, "h", idem_hash(r, d));
    if (strcmp(state, "p") == 0)
        cJSON_AddNumberToObject(rec, "a", (double)d->attempt);
    if (answer != NULL) {
        cJSON_AddNumberToObject(rec, "st", status);
        cJSON_AddStringToObject(rec, "b", answer);
    }
    text = json_print(rec);
    cJSON_Delete(rec);
    if (text == NULL)
        return AMS_ERR_NOMEM;
    st = store_value_cas(svc.st, d->key, d->version, text, strlen(text),
                         now + svc.idem_ttl_ms, now, &d->version);
    free(text);
    return st;
}

/* The key of attempt n's journal into out (STORE_KEY_MAX bytes); -1 when
 * it does not fit. */
static int attempt_journal(const svc_req *r, int64_t n, char *out)
{
    char name[200];

    snprintf(name, sizeof name, "jrn:%s#%lld", r->request_id, (long long)n);
    return svc_host_key(out, STORE_KEY_MAX, r->act->id, r->uid, name);
}

/* Step 3.  Returns 0 to go on (d->version is the record to replace), or
 * -1 with the answer decided in o or res. */
/* The record of an answer, compact: IDEM_V1, 'd', the HTTP status
 * (16 bits, big-endian), the request's hash (64 hex digits), then the
 * answer's bytes as they were sent.  Records written before it are JSON
 * ({"s":...}), read below; the first byte tells them apart. */
#define IDEM_V1 0x01
#define IDEM_HEAD (4 + 64)

/* idem_lookup of a compact record (text, owned: freed here). */
static int idem_compact(svc_req *r, idem *d, outcome *o, pipe_result *res,
                        char *text, size_t len)
{
    int status = ((unsigned char)text[2] << 8) | (unsigned char)text[3];

    if (text[1] != 'd' || !idem_same(r, d, text + 4)) {
        int corrupt = text[1] != 'd';
        free(text);
        if (corrupt) {
            log_error("activity %lld: corrupt idempotency record %s; "
                      "running the request again",
                      (long long)r->act->id, d->key);
            return 0;
        }
        set_http(o, 409, "request_id_reused",
                 "request_id was already used with another method or other "
                 "params; use a new request_id");
        return -1;
    }
    /* The answer moves to the front, NUL-terminated (the value is). */
    memmove(text, text + IDEM_HEAD, len - IDEM_HEAD + 1);
    res->http_status = status;
    res->raw = text;
    return -1;
}

static int idem_lookup(svc_req *r, idem *d, outcome *o, pipe_result *res)
{
    char name[160], *text = NULL;
    size_t len = 0;
    cJSON *rec;
    const cJSON *s, *h, *b, *stc;
    ams_status st;

    snprintf(name, sizeof name, "idem:%s", r->request_id);
    if (svc_host_key(d->key, sizeof d->key, r->act->id, r->uid, name) < 0) {
        set_http(o, 400, "bad_request", "request_id: too long");
        return -1;
    }
    /* Through the write set: read ahead with the rest (prefetch.h). */
    st = ws_value_get(r->ws, d->key, svc_req_now(r), &text, &len, &d->version);
    if (st == AMS_NOT_FOUND) {
        d->version = 0;
        return 0;
    }
    if (st != AMS_OK) {
        set_fault(o, st, "idempotency", "lookup");
        return -1;
    }
    if (len >= IDEM_HEAD && (unsigned char)text[0] == IDEM_V1)
        return idem_compact(r, d, o, res, text, len);
    rec = cJSON_ParseWithLength(text, len);
    free(text);
    s = cJSON_GetObjectItemCaseSensitive(rec, "s");
    h = cJSON_GetObjectItemCaseSensitive(rec, "h");
    b = cJSON_GetObjectItemCaseSensitive(rec, "b");
    stc = cJSON_GetObjectItemCaseSensitive(rec, "st");
    if (!cJSON_IsString(s) || !cJSON_IsString(h)) {
        cJSON_Delete(rec);
        log_error("activity %lld: corrupt idempotency record %s; running "
                  "the request again",
                  (long long)r->act->id, d->key);
        return 0;
    }
    if (strlen(h->valuestring) != 64 || !idem_same(r, d, h->valuestring)) {
        set_http(o, 409, "request_id_reused",
                 "request_id was already used with another method or other "
                 "params; use a new request_id");
        cJSON_Delete(rec);
        return -1;
    }
    if (strcmp(s->valuestring, "d") == 0 && cJSON_IsString(b) &&
        cJSON_IsNumber(stc)) {
        res->http_status = stc->valueint;
        res->raw = strdup(b->valuestring);
        cJSON_Delete(rec);
        if (res->raw == NULL) {
            set_http(o, 503, "overloaded", "out of memory");
            return -1;
        }
        return -1;
    }
    if (strcmp(s->valuestring, "p") == 0) {
        /* Running now (then the session lock is held: busy), or cut off by
         * a crash or a store fault; step 4 tells the two apart. */
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec, "a");
        d->prev = cJSON_IsNumber(a) ? (int64_t)a->valuedouble : 0;
        cJSON_Delete(rec);
        return 1;
    }
    cJSON_Delete(rec); /* "r": the first attempt faulted; run again */
    return 0;
}

/* Stage the "d" record of an answer in the write set: committed only if
 * the record is still the one idem_lookup saw (absent, or an attempt of
 * the chain before write sets), so that of two attempts of one
 * request_id at most one commits. */
static ams_status idem_stage(svc_req *r, idem *d, const char *answer_text)
{
    size_t n = strlen(answer_text);
    char *rec = malloc(IDEM_HEAD + n);
    ams_status st;

    if (rec == NULL)
        return AMS_ERR_NOMEM;
    rec[0] = IDEM_V1;
    rec[1] = 'd';
    rec[2] = 0; /* 200 */
    rec[3] = (char)200;
    memcpy(rec + 4, idem_hash(r, d), 64);
    memcpy(rec + IDEM_HEAD, answer_text, n);
    st = ws_put_if(r->ws, d->key, d->version, rec, IDEM_HEAD + n,
                   svc_req_now(r) + svc.idem_ttl_ms);
    free(rec);
    return st;
}

/* Another attempt of the request_id committed first: answer what it
 * recorded. */
static void idem_replay(svc_req *r, idem *d, outcome *o, pipe_result *res)
{
    idem again = {.attempt = 1};

    (void)d;
    ws_reset(r->ws); /* read the record as the winner left it */
    if (idem_lookup(r, &again, o, res) >= 0)
        set_outcome(o, "busy"); /* not done after all: let it retry */
}

/* ---- the answer ---- */

static cJSON *answer(svc_req *r, outcome *o)
{
    cJSON *b = cJSON_CreateObject();

    if (o->http_status != 200) {
        cJSON_AddNumberToObject(b, "code", o->http_status);
        cJSON_AddStringToObject(b, "reason", o->reason);
        cJSON_AddStringToObject(b, "message", o->message);
        cJSON_AddStringToObject(b, "request_id", r->request_id);
        if (store_fault(o))
            cJSON_AddStringToObject(b, "outcome",
                                    o->unknown ? "unknown" : "none");
        return b;
    }
    cJSON_AddNumberToObject(b, "code", pipeline_code(o->reason));
    cJSON_AddStringToObject(b, "reason", o->reason);
    cJSON_AddStringToObject(b, "request_id", r->request_id);
    if (r->grants != NULL) {
        /* "grants" belongs to the host: it replaces a plugin's member of
         * that name rather than making a second one. */
        cJSON_DeleteItemFromObjectCaseSensitive(r->data, "grants");
        cJSON_AddItemToObject(r->data, "grants", r->grants);
        r->grants = NULL;
    }
    cJSON_AddItemToObject(b, "data", r->data);
    r->data = NULL;
    if (o->detail != NULL) {
        cJSON_AddItemToObject(b, "detail", o->detail);
        o->detail = NULL;
    }
    return b;
}

/* The grants request r's method recorded under its request_id in the
 * user's ledger (a new array, or NULL when there are none); -1 with o set
 * on a store fault. */
static int ledger_grants(svc_req *r, outcome *o, cJSON **mine)
{
    cJSON *ledger, *it;
    ams_status st = svc_ledger_read(r, &ledger);

    *mine = NULL;
    if (st != AMS_OK) {
        set_fault(o, st, "ledger", "lookup");
        return -1;
    }
    cJSON_ArrayForEach(it, ledger)
    {
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(it, "request_id"),
                    *m = cJSON_GetObjectItemCaseSensitive(it, "method");
        if (cJSON_IsString(q) && strcmp(q->valuestring, r->request_id) == 0 &&
            cJSON_IsString(m) && strcmp(m->valuestring, r->m->name) == 0) {
            if (*mine == NULL)
                *mine = cJSON_CreateArray();
            cJSON_AddItemToArray(*mine, cJSON_Duplicate(it, 1));
        }
    }
    cJSON_Delete(ledger);
    return 0;
}

/* A retry finds the "p" record of an attempt that did not finish (a
 * store fault or a crash cut it off, or it ran so long that its session
 * lock expired) and holds the session lock.  First that attempt is
 * fenced out: its journal is closed, so none of its writes still on the
 * way can land.  Then the books say what it did.  Its grants in the
 * user's ledger under its request_id mean it finished: the true outcome
 * is "ok" with those grants (recorded now, so later retries replay it).
 * No grants means it never finished: every counter add it made (limits,
 * stock) is given back, and the request runs again as a new attempt, so
 * it ends up done exactly once.  Returns 1 when the answer is decided,
 * 0 to run again. */
static int resolve_interrupted(svc_req *r, outcome *o, pipe_result *res,
                               idem *d)
{
    char jkey[STORE_KEY_MAX], *text;
    store_journal j = {jkey, svc_req_now(r) + svc.idem_ttl_ms};
    cJSON *mine = NULL;
    size_t undone = 0;
    ams_status st;

    if (attempt_journal(r, d->prev, jkey) < 0) {
        set_http(o, 400, "bad_request", "request_id: too long");
        return 1;
    }
    st = store_journal_close(svc.st, &j, 0, svc_req_now(r), NULL);
    if (st == AMS_OK && ledger_grants(r, o, &mine) < 0) {
        o->unknown = 1;
        return 1;
    }
    if (st == AMS_OK && mine == NULL)
        st = store_journal_close(svc.st, &j, 1, svc_req_now(r), &undone);
    if (st != AMS_OK) {
        set_fault(o, st, "interrupted attempt", "recovery");
        o->unknown = 1;
        return 1;
    }
    if (mine == NULL) {
        log_warn("activity %lld method %s: uid=%s request_id=%s: attempt "
                 "%lld was interrupted before it finished; gave back its %zu "
                 "counted write(s), running it again",
                 (long long)r->act->id, r->m->name, r->uid, r->request_id,
                 (long long)d->prev, undone);
        d->attempt = d->prev + 1;
        return 0;
    }
    set_outcome(o, "ok");
    cJSON_Delete(r->grants);
    r->grants = mine;
    res->body = answer(r, o);
    res->http_status = 200;
    text = json_print(res->body);
    if (text == NULL || idem_write(r, d, "d", 200, text) != AMS_OK)
        log_error("activity %lld: cannot record the recovered answer of "
                  "request_id=%s",
                  (long long)r->act->id, r->request_id);
    free(text);
    return 1;
}

/* A method that cannot write: no operations, no limits, and every entry
 * of its crowd, rule and handler declared read-only.  It takes no session
 * lock and commits nothing. */
static int tree_readonly(const rnode *n)
{
    if (n == NULL)
        return 1;
    if (n->kind == RN_LEAF)
        return n->leaf->entry->readonly;
    for (size_t i = 0; i < n->nkids; i++)
        if (!tree_readonly(n->kids[i]))
            return 0;
    return 1;
}

static int method_readonly(const method *m)
{
    const limits *l = &m->lim;

    return m->nops == 0 && l->user_total <= 0 && l->user_daily <= 0 &&
           l->total <= 0 && l->daily <= 0 && tree_readonly(m->rule) &&
           tree_readonly(m->act->crowd) &&
           (m->handler == NULL || m->handler->entry->readonly);
}

/* How often a request whose commit no longer validated (another took
 * what it counted on meanwhile) runs again on fresh state before it is
 * answered busy.  A bound it crossed is seen at once on the rerun (the
 * counter is read afresh), so such reruns end at the next try; only
 * versions and exact counters contended by others can repeat. */
#define PIPE_RERUNS 8

/* The outcome of a run is reset for the next one. */
static void rerun_reset(svc_req *r, outcome *o)
{
    cJSON_Delete(o->detail);
    memset(o, 0, sizeof *o);
    cJSON_Delete(r->data);
    r->data = cJSON_CreateObject();
    cJSON_Delete(r->grants);
    r->grants = NULL;
    cJSON_Delete(r->notes);
    r->notes = NULL;
    svc_req_release_locks(r); /* its run takes them again */
    ws_reset(r->ws);
}

/* A commit that failed: the message names the method's operations, whose
 * writes it carried (the store failed on the set as a whole). */
static void commit_fault(svc_req *r, outcome *o, ams_status st)
{
    char ops[160] = "";
    size_t n = 0;

    for (size_t i = 0; i < r->m->nops && n < sizeof ops; i++)
        n += (size_t)snprintf(ops + n, sizeof ops - n, "%s%s", i ? ", " : ": ",
                              r->m->ops[i]->ref);
    set_fault(o, st, "the commit of", r->m->name);
    if (ops[0] != '\0' && strlen(o->message) > 1)
        snprintf(o->message + strlen(o->message) - 1,
                 sizeof o->message - strlen(o->message) + 1, "%s)", ops);
}

/* Stage the answer and its records in the write set and commit.  Returns
 * 1 when the request is answered (res or o), 0 to run it again. */
static int commit_run(svc_req *r, idem *d, outcome *o, pipe_result *res,
                      int last)
{
    ams_status st = svc_ledger_stage(r); /* before answer() takes grants */
    cJSON *body = st == AMS_OK ? answer(r, o) : NULL;
    char *text = body ? json_print(body) : NULL;
    store_wres wr;

    cJSON_Delete(body);
    memset(&wr, 0, sizeof wr);
    if (st == AMS_OK)
        st = text == NULL ? AMS_ERR_NOMEM : idem_stage(r, d, text);
    if (st == AMS_OK) {
        st = ws_commit(r->ws, svc_req_now(r), &wr);
        ws_learn(r->ws, &wr);
    }
    if (st == AMS_OK) {
        metrics_count_commit("committed", 1);
        res->http_status = 200;
        res->raw = text;
        snprintf(res->reason, sizeof res->reason, "%s", o->reason);
        return 1;
    }
    free(text);
    if (st == AMS_CONFLICT && ws_op(r->ws, wr.at) != NULL &&
        strcmp(ws_op(r->ws, wr.at)->key, d->key) == 0) {
        /* Another attempt of this request_id committed first: its answer
         * is the answer. */
        idem_replay(r, d, o, res);
        return 1;
    }
    if (st == AMS_CONFLICT)
        metrics_count_commit("conflict", 1);
    if (st == AMS_CONFLICT && !last) {
        rerun_reset(r, o);
        return 0;
    }
    rerun_reset(r, o);
    if (st == AMS_CONFLICT) {
        log_warn("activity %lld method %s: uid=%s request_id=%s: still "
                 "contended after %d runs; answered busy",
                 (long long)r->act->id, r->m->name, r->uid ? r->uid : "",
                 r->request_id, PIPE_RERUNS);
        metrics_count_commit("busy", 1);
        set_outcome(o, "busy");
        return 1;
    }
    commit_fault(r, o, st);
    o->unknown = st == AMS_ERR_STORE && wr.unknown;
    return 1;
}

/* Steps 3, 4, 7 and 8 around run_method(). */
static void run_guarded(svc_req *r, outcome *o, pipe_result *res)
{
    idem d = {.attempt = 1};
    int has_uid = r->uid != NULL && r->uid[0] != '\0';
    int found;
    ams_status st;

    /* What this method is known to read, in one store read; on Redis
     * the rate limiter read it already, in its round trip (ratelimit.h). */
    if (r->ws == NULL) {
        if ((r->ws = ws_new(svc.st)) == NULL) {
            set_http(o, 503, "overloaded", "out of memory");
            return;
        }
        if (prefetch_fill(r->ws, svc.st, r->act->id, r->m->name, r->uid,
                          r->request_id, svc_req_now(r), &st) < 0) {
            set_fault(o, st, "request", r->m->name);
            return;
        }
    }
    if ((found = idem_lookup(r, &d, o, res)) < 0)
        return;
    /* The session lock is per user: a request without a uid (a method
     * without login) has no user to protect, and one lock shared by all
     * anonymous callers would make them busy for each other.  A method
     * that cannot write has nothing to protect either. */
    if (has_uid && (found == 1 || !method_readonly(r->m))) {
        st = session_enter(&r->sess, r->act->id, r->m->name, r->uid);
        if (st == AMS_CONFLICT) {
            set_outcome(o, "busy");
            return;
        }
        if (st != AMS_OK) {
            set_http(o, 503, "overloaded", "out of memory");
            return;
        }
    }
    if (found == 1) {
        /* A "p" record: an attempt of the chain before write sets, cut
         * off (it never finishes now). */
        if (!has_uid) {
            set_outcome(o, "busy");
            return;
        }
        if (resolve_interrupted(r, o, res, &d))
            return;
        /* It gave back what the cut-off attempt had counted: what was
         * read ahead is stale. */
        ws_reset(r->ws);
    }
    for (int run = 1;; run++) {
        run_method(r, o);
        if (run == 1)
            prefetch_learn(r->ws, r->act->id, r->m->name, r->uid,
                           r->request_id);
        if (o->http_status != 200 || strcmp(o->reason, "ok") != 0) {
            /* Refusals and faults: nothing was written, nothing is
             * recorded; a retry simply runs again. */
            ws_drop_writes(r->ws);
            return;
        }
        if (ws_writes(r->ws) == 0 && r->grants == NULL)
            return; /* changed nothing: nothing to record */
        if (commit_run(r, &d, o, res, run >= PIPE_RERUNS))
            return;
    }
}

void pipeline_run(svc_req *r, pipe_result *res)
{
    activity *a = r->act;
    int64_t now = r->clock_base_ms;
    outcome o;

    memset(&o, 0, sizeof o);
    memset(res, 0, sizeof *res);
    if (!a->enabled)
        set_outcome(&o, "disabled");
    else if (now < a->start_ms)
        set_outcome(&o, "not_started");
    else if (now >= a->end_ms)
        set_outcome(&o, "ended");
    else if (r->m->login && (r->uid == NULL || r->uid[0] == '\0'))
        set_outcome(&o, "login_required");
    else if (svc.st == NULL)
        set_fault(&o, AMS_ERR_STORE, "request", r->m->name);
    else
        run_guarded(r, &o, res);
    if (res->body == NULL && res->raw == NULL) {
        res->body = answer(r, &o);
        res->http_status = o.http_status;
    }
    cJSON_Delete(o.detail);
}
