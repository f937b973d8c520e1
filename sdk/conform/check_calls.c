/*
 * check_calls.c -- what entries do when called: rules are pure and
 * deterministic, operations undo exactly, do not grant twice for one
 * request and stay within the stock, and no request makes an entry crash
 * or overrun the call budget.
 */
#include "conform.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The (uid, clock) points rules are evaluated at. */
static const struct {
    const char *uid;
    int64_t now;
} points[] = {
    {"u1001", HX_T_MON_EARLY},
    {"u1001", HX_T_FRI},
    {"u1002", HX_T_MON_LATE},
    {"u1002", HX_T_SAT_NIGHT},
    {"conform-user-3", HX_T_MON_EARLY},
    {"conform-user-3", HX_T_MON_LATE},
    {"u666", HX_T_FRI},
    {"u666", HX_T_SAT_NIGHT},
    {"u1001", HX_T_MON_LATE},
    {"u1002", HX_T_FRI},
    {"conform-user-3", HX_T_SAT_NIGHT},
    {"u666", HX_T_MON_EARLY},
};
#define NPOINTS (sizeof points / sizeof points[0])

/* Load the plugin and make an instance of c->entry from its example.
 * Returns NULL with a verdict given when it cannot; *req gets the
 * request params to send (owned). */
static instance *setup(ck *c, hx *h, cJSON **req)
{
    char err[CK_MSG_MAX];
    const plugin_entry *pe;
    instance *in = NULL;
    cJSON *base;
    int rc;

    *req = NULL;
    if (hx_open(h, c, NULL, err, sizeof err) < 0) {
        ck_fail(c, "cannot load: %s", err);
        return NULL;
    }
    pe = hx_entry(h, NULL);
    if (pe == NULL) {
        ck_fail(c, "no entry \"%s\"", c->entry);
        return NULL;
    }
    base = hx_example(c->o, h->p, pe->spec, err, sizeof err);
    if (base == NULL) {
        ck_fail(c, "%s", err);
        return NULL;
    }
    hx_declare(h, pe->spec, base);
    rc = hx_instance(h, pe, base, &in, err, sizeof err);
    cJSON_Delete(base);
    if (rc != HX_OK) {
        ck_fail(c, "the example params do not make an instance: %s", err);
        return NULL;
    }
    *req = hx_request(c->o, h->p, pe->spec);
    if (pe->spec->kind == AMS_OPERATION)
        hx_learn_request(h, in, req);
    return in;
}

static const char *verdict_text(const hx_out *o, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s", hx_status_name(o->st),
             o->reason[0] ? " (reason " : "", o->reason,
             o->reason[0] ? ")" : "");
    return buf;
}

static const char *clock_text(int64_t ms)
{
    return ms == HX_T_MON_EARLY  ? "Mon 2026-01-05 02:00Z"
           : ms == HX_T_MON_LATE ? "Mon 2026-01-05 10:30Z"
           : ms == HX_T_FRI      ? "Fri 2026-01-09 15:00Z"
                                 : "Sat 2026-01-10 23:59:30Z";
}

/* ---- rules ---- */

/* A rule's inputs: the request params to send, and the ones learned
 * from the fields it reads when they differ (a rule that always fails
 * for want of a field shows little of itself). */
static size_t rule_requests(hx *h, instance *in, cJSON *req, cJSON *out[2])
{
    cJSON *learned = cJSON_Duplicate(req, 1);

    out[0] = req;
    hx_learn_request(h, in, &learned);
    if (cJSON_Compare(learned, req, 1)) {
        cJSON_Delete(learned);
        return 1;
    }
    out[1] = learned;
    return 2;
}

void ck_rule_pure(ck *c)
{
    hx h;
    cJSON *req, *reqs[2] = {NULL, NULL};
    instance *in = setup(c, &h, &req);
    size_t nreq = 0;

    if (in == NULL)
        goto out;
    nreq = rule_requests(&h, in, req, reqs);
    for (size_t i = 0; i < NPOINTS * nreq; i++) {
        hx_req rq = {
            points[i % NPOINTS].uid, "conform-pure", reqs[i / NPOINTS],
            points[i % NPOINTS].now, 100 + i,        NULL};
        const char *uid = rq.uid;
        int64_t now = rq.now_ms;
        uint64_t w0 = hx_writes(&h);
        char *before = hx_dump(&h, now), *after;
        hx_out o;

        hx_call(&h, in, &rq, 0, &o);
        hx_out_free(&o);
        if (hx_writes(&h) != w0) {
            char first[300] = "";
            after = hx_dump(&h, now);
            hx_dump_diff(c, before, after, first, sizeof first);
            ck_fail(c,
                    "wrote to the store (%llu write%s%s%s) when called "
                    "for uid \"%s\" at %s with request params %s: a "
                    "rule must only read; move the write into an "
                    "operation",
                    (unsigned long long)(hx_writes(&h) - w0),
                    hx_writes(&h) - w0 == 1 ? "" : "s", first[0] ? ": " : "",
                    first, uid, clock_text(now), hx_brief(rq.params));
            free(after);
            free(before);
            goto out;
        }
        free(before);
    }
    ck_pass(c, "%zu calls (4 users, 4 clocks%s), no store writes",
            NPOINTS * nreq,
            nreq > 1 ? ", request params as given and as learned" : "");
out:
    cJSON_Delete(reqs[1]);
    cJSON_Delete(req);
    hx_close(&h);
}

void ck_rule_deterministic(ck *c)
{
    hx h;
    cJSON *req, *reqs[2] = {NULL, NULL};
    instance *in = setup(c, &h, &req);
    char v1[128], v2[128];
    size_t nreq = 0;

    if (in == NULL)
        goto out;
    nreq = rule_requests(&h, in, req, reqs);
    for (size_t i = 0; i < NPOINTS * nreq; i++) {
        hx_req rq = {points[i % NPOINTS].uid, "conform-det", reqs[i / NPOINTS],
                     points[i % NPOINTS].now, 1000 + i,      NULL};
        hx_out a, b;
        int same;

        /* Both calls must see the same host time: when the clock passed a
         * millisecond during one, run the pair again (a few times), and
         * compare replies only when it held still. */
        for (int attempt = 0;; attempt++) {
            hx_reset_store(&h);
            hx_tick();
            hx_call(&h, in, &rq, 0, &a);
            hx_reset_store(&h);
            hx_tick();
            hx_call(&h, in, &rq, 0, &b);
            if ((!a.clock_moved && !b.clock_moved) || attempt == 4)
                break;
            hx_out_free(&a);
            hx_out_free(&b);
        }
        same = a.st == b.st && strcmp(a.reason, b.reason) == 0 &&
               (a.clock_moved || b.clock_moved ||
                strcmp(a.data ? a.data : "", b.data ? b.data : "") == 0);
        if (!same) {
            ck_note(c, "first:  %s, reply data %.200s",
                    verdict_text(&a, v1, sizeof v1), a.data ? a.data : "");
            ck_note(c, "second: %s, reply data %.200s",
                    verdict_text(&b, v2, sizeof v2), b.data ? b.data : "");
            ck_fail(c,
                    "the same input gave two verdicts, %s then %s (uid "
                    "\"%s\", %s, request params %s, the same store, "
                    "clock and random seed): a rule may depend only on "
                    "the request, its params, the store and the host's "
                    "clock and random source (ams_api->now_ms, "
                    "random_u64), never on rand(), time() or state it "
                    "changes",
                    v1, v2, rq.uid, clock_text(rq.now_ms),
                    hx_brief(rq.params));
            hx_out_free(&a);
            hx_out_free(&b);
            goto out;
        }
        hx_out_free(&a);
        hx_out_free(&b);
    }
    ck_pass(c,
            "%zu inputs evaluated twice each (fresh store, same clock "
            "and seed): same verdicts",
            NPOINTS * nreq);
out:
    cJSON_Delete(reqs[1]);
    cJSON_Delete(req);
    hx_close(&h);
}

/* ---- read-only entries ---- */

/* An entry declared AMS_EF_READONLY is run by amsd without the session
 * lock and without a commit, and its writes are refused: the check holds
 * it to the declaration before a server does.  Two witnesses, because
 * either alone can miss a write: the store's count (a write the host
 * carried out) and the calls of the writing host functions (a write the
 * host refused, or one that happened to change nothing). */
void ck_readonly(ck *c)
{
    hx h;
    cJSON *req, *reqs[2] = {NULL, NULL};
    instance *in = setup(c, &h, &req);
    size_t nreq = 0, ncalls = 0;

    if (in == NULL)
        goto out;
    nreq = rule_requests(&h, in, req, reqs);
    for (size_t r = 0; r < nreq; r++)
        for (size_t i = 0; i <= NPOINTS; i++) {
            /* The points, then one call without a uid (a handler may take
             * another path for anonymous callers). */
            hx_req rq = {i < NPOINTS ? points[i].uid : "",
                         "conform-readonly",
                         reqs[r],
                         i < NPOINTS ? points[i].now : HX_T_MON_LATE,
                         200 + i,
                         NULL};
            uint64_t w0 = hx_writes(&h), stored;
            unsigned long asked;
            char *before = hx_dump(&h, rq.now_ms), *after;
            char first[300] = "", what[200], writes[360] = "";
            hx_out o;

            hx_write_calls_reset();
            hx_call(&h, in, &rq, 0, &o);
            hx_out_free(&o);
            ncalls++;
            stored = hx_writes(&h) - w0;
            asked = hx_write_calls();
            if (stored == 0 && asked == 0) {
                free(before);
                continue;
            }
            after = hx_dump(&h, rq.now_ms);
            hx_dump_diff(c, before, after, first, sizeof first);
            if (asked > 0 && stored == 0)
                snprintf(what, sizeof what,
                         "called %s%s (no record changed this time, but the "
                         "call itself is the write amsd refuses)",
                         hx_first_write_call(),
                         asked > 1 ? " and more writing functions" : "");
            else if (asked > 0)
                snprintf(what, sizeof what,
                         "called %s%s, and the store changed",
                         hx_first_write_call(),
                         asked > 1 ? " and more writing functions" : "");
            else
                snprintf(what, sizeof what, "wrote to the store");
            if (stored > 0)
                snprintf(writes, sizeof writes, " (%llu write%s%s%s)",
                         (unsigned long long)stored, stored == 1 ? "" : "s",
                         first[0] ? ": " : "", first);
            ck_fail(c,
                    "declared read-only (AMS_EF_READONLY) but %s%s when "
                    "called for uid \"%s\" at %s with request params %s.  "
                    "amsd runs a read-only entry without the session lock "
                    "and refuses its writes with AMS_ERR: drop "
                    "AMS_EF_READONLY from its entry_flags, or move the write "
                    "into an operation",
                    what, writes, rq.uid, clock_text(rq.now_ms),
                    hx_brief(rq.params));
            free(after);
            free(before);
            goto out;
        }
    ck_pass(c,
            "%zu calls (4 users, 4 clocks, one without a uid%s): no store "
            "write, no writing host function called",
            ncalls,
            nreq > 1 ? "; request params as given and as learned" : "");
out:
    cJSON_Delete(reqs[1]);
    cJSON_Delete(req);
    hx_close(&h);
}

/* ---- operations ---- */

void ck_op_undo(ck *c)
{
    static const struct {
        const char *keep; /* a successful call kept before, or NULL */
        const char *uid;  /* the do+undo */
        int fresh;
    } rounds[] = {
        {NULL, "u1001", 1}, {"u1002", "u1003", 1}, {NULL, "u1002", 0}};
    hx h;
    cJSON *req;
    instance *in = setup(c, &h, &req);
    size_t done = 0, loose = 0;
    char last[128] = "";
    int64_t now = HX_T_MON_LATE;

    if (in == NULL)
        goto out;
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        hx_req rq = {rounds[i].uid, "conform-undo", req, now, 50 + i, NULL};
        char *before, *after;
        char *rb = NULL, *ra = NULL, first[300] = "";
        hx_out o;
        size_t diff;

        if (rounds[i].fresh)
            hx_reset_store(&h);
        if (rounds[i].keep != NULL) {
            hx_req keep = {
                rounds[i].keep, "conform-keep", req, now, 40 + i, NULL};
            hx_call(&h, in, &keep, 0, &o);
            hx_out_free(&o);
        }
        before = hx_dump(&h, now);
        hx_call(&h, in, &rq, 1, &o);
        if (o.st != AMS_OK) {
            verdict_text(&o, last, sizeof last);
            hx_out_free(&o);
            free(before);
            continue;
        }
        done++;
        after = hx_dump(&h, now);
        if (o.undo_st != AMS_OK) {
            ck_fail(c,
                    "the undo answered %s after a successful call for uid "
                    "\"%s\": an undo must not fail (it runs when a later "
                    "operation failed, with nobody to retry it)",
                    hx_status_name(o.undo_st), rounds[i].uid);
        } else if ((rb = hx_dump_restorable(before)) == NULL ||
                   (ra = hx_dump_restorable(after)) == NULL) {
            ck_fail(c, "out of memory");
        } else if ((diff = hx_dump_diff(c, rb, ra, first, sizeof first)) > 0) {
            ck_fail(c,
                    "after do + undo for uid \"%s\" the store differs "
                    "from before in %zu line%s (- before, + after; "
                    "first: %s): the undo must give back exactly what "
                    "the call took",
                    rounds[i].uid, diff, diff == 1 ? "" : "s", first);
        } else if (strcmp(before, after) != 0) {
            loose++;
            hx_dump_diff(c, before, after, NULL, 0);
        }
        free(rb);
        free(ra);
        hx_out_free(&o);
        free(before);
        free(after);
        if (c->sh->done)
            goto out;
    }
    if (done == 0)
        ck_fail(c,
                "the operation never succeeded (last answer: %s), so its "
                "undo could not be checked: pass request params that make "
                "it succeed with --request FILE",
                last);
    else
        ck_pass(c, "%zu do + undo round%s left the store as it was%s", done,
                done == 1 ? "" : "s",
                loose ? " in all an undo can restore (not compared: "
                        "leaderboards, tag expiry, value versions, which "
                        "ABI 1.0 gives no way to restore)"
                      : "");
out:
    cJSON_Delete(req);
    hx_close(&h);
}

static const char *reason_of(const char *body, char *buf, size_t len)
{
    cJSON *j = cJSON_Parse(body ? body : "");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reason");

    snprintf(buf, len, "%s", cJSON_IsString(r) ? r->valuestring : "?");
    cJSON_Delete(j);
    return buf;
}

void ck_op_idempotent(ck *c)
{
    hx h;
    cJSON *req;
    instance *in = setup(c, &h, &req);
    hx_req rq = {"u1001", "conform-idem-1", NULL, HX_T_MON_LATE, 9, NULL};
    char *b1 = NULL, *b2 = NULL, *d1 = NULL, *d2 = NULL, reason[80];
    int rep1 = 0, rep2 = 0, http;
    unsigned long calls;

    if (in == NULL)
        goto out;
    rq.params = req;
    hx_reset_store(&h);
    http = hx_pipeline(&h, in, &rq, &b1, &rep1);
    if (http != 200) {
        ck_fail(c,
                "the first call was answered HTTP %d (%.300s): a fault is "
                "not recorded, so a retry runs the operation again; it "
                "must not fault on the example request",
                http, b1 ? b1 : "");
        goto out;
    }
    d1 = hx_dump(&h, HX_T_MON_LATE);
    calls = hx_plugin_calls;
    rq.seed = 10; /* a replay must not depend on the random source */
    hx_pipeline(&h, in, &rq, &b2, &rep2);
    d2 = hx_dump(&h, HX_T_MON_LATE);
    if (!rep2 || strcmp(b1, b2 ? b2 : "") != 0) {
        ck_note(c, "first:  %.300s", b1);
        ck_note(c, "second: %.300s", b2 ? b2 : "");
        ck_fail(c, "the same request (uid, request_id, params) twice did not "
                   "get the first answer back");
    } else if (calls != hx_plugin_calls) {
        ck_fail(c, "the operation ran again for a request_id already "
                   "answered");
    } else if (strcmp(d1, d2) != 0) {
        char first[300] = "";
        size_t n = hx_dump_diff(c, d1, d2, first, sizeof first);
        ck_fail(c,
                "replaying the request changed %zu store line%s (first: "
                "%s): effects outside the recorded request",
                n, n == 1 ? "" : "s", first);
    } else {
        ck_pass(c,
                "the same request twice: the second answer was the first "
                "one replayed (reason %s), no plugin code ran, the store "
                "did not change",
                reason_of(b1, reason, sizeof reason));
    }
out:
    free(b1);
    free(b2);
    free(d1);
    free(d2);
    cJSON_Delete(req);
    hx_close(&h);
}

void ck_op_bounds(ck *c)
{
    enum { CALLS = 200 };
    hx h;
    cJSON *req;
    instance *in = setup(c, &h, &req);
    int64_t ok = 0;
    size_t nres = 0;
    char reason[80], line[CK_MSG_MAX] = "";

    if (in == NULL)
        goto out;
    hx_reset_store(&h);
    for (int i = 0; i < CALLS; i++) {
        char uid[32], rid[48], *body = NULL;
        int rep, http;
        hx_req rq = {uid, rid, req, HX_T_MON_LATE + i, 0, NULL};

        /* Half the calls from 100 users, half from one user. */
        if (i < CALLS / 2)
            snprintf(uid, sizeof uid, "u%03d", i);
        else
            snprintf(uid, sizeof uid, "conform-same-user");
        snprintf(rid, sizeof rid, "conform-bound-%d", i);
        http = hx_pipeline(&h, in, &rq, &body, &rep);
        if (http != 200) {
            ck_fail(c,
                    "call %d of %d (uid \"%s\") was answered HTTP %d: "
                    "%.300s",
                    i + 1, CALLS, uid, http, body ? body : "");
            free(body);
            goto out;
        }
        if (strcmp(reason_of(body, reason, sizeof reason), "ok") == 0)
            ok++;
        free(body);
    }
    for (const ams_param *q = in->entry->spec->params; q && q->name; q++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(in->params, q->name);
        int64_t stock = hx_stock(q->type), per = 1;
        size_t used;

        if (stock == 0 || !cJSON_IsString(v))
            continue;
        for (size_t k = 0; k < in->nuses; k++)
            if (strcmp(in->uses[k].param, q->name) == 0 &&
                in->uses[k].per_call > per)
                per = in->uses[k].per_call;
        nres++;
        if (ok * per > stock) {
            ck_fail(c,
                    "%lld of %d calls succeeded, taking %lld unit%s each "
                    "(declare_use) from %s \"%s\" whose stock is %lld: it "
                    "oversells by %lld",
                    (long long)ok, CALLS, (long long)per, per == 1 ? "" : "s",
                    q->type == AMS_T_POOL     ? "pool"
                    : q->type == AMS_T_COUPON ? "coupon kind"
                                              : "budget",
                    v->valuestring, (long long)stock,
                    (long long)(ok * per - stock));
            goto out;
        }
        used = strlen(line);
        snprintf(line + used, sizeof line - used, "; %s: %lld x %lld <= %lld",
                 v->valuestring, (long long)ok, (long long)per,
                 (long long)stock);
    }
    if (nres == 0)
        ck_pass(c,
                "%d calls (100 users once, one user 100 times), %lld "
                "succeeded, none faulted (no resource params: nothing "
                "else to bound)",
                CALLS, (long long)ok);
    else
        ck_pass(c,
                "%d calls (100 users once, one user 100 times), %lld "
                "succeeded, none faulted, within the stock%s",
                CALLS, (long long)ok, line);
out:
    cJSON_Delete(req);
    hx_close(&h);
}

/* ---- robustness ---- */

static cJSON *nested(int depth)
{
    cJSON *v = cJSON_CreateNumber(1);
    for (int i = 0; v != NULL && i < depth; i++) {
        cJSON *a = cJSON_CreateArray();
        if (a == NULL) {
            cJSON_Delete(v);
            return NULL;
        }
        cJSON_AddItemToArray(a, v);
        v = a;
    }
    return v;
}

static cJSON *big_string(void)
{
    size_t n = 1 << 20;
    char *s = malloc(n + 1);
    cJSON *v;

    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    s[n] = '\0';
    v = cJSON_CreateString(s);
    free(s);
    return v;
}

typedef struct robust_run {
    ck *c;
    hx *h;
    instance *in;
    size_t calls, faults;
    double slowest;
    int seq;
} robust_run;

static void try_one(robust_run *rr, const char *uid, const cJSON *params,
                    const char *what)
{
    char rid[32];
    hx_req rq = {uid, rid, params, HX_T_MON_LATE, 77, what};
    hx_out o;

    snprintf(rid, sizeof rid, "conform-robust-%d", rr->seq++);
    hx_call(rr->h, rr->in, &rq, 1, &o);
    rr->calls++;
    if (o.st < 0)
        rr->faults++;
    if (o.ms > rr->slowest)
        rr->slowest = o.ms;
    hx_out_free(&o);
}

/* base with field set to v (owned), tried under the description. */
static void try_field(robust_run *rr, const cJSON *base, const char *field,
                      cJSON *v, const char *desc)
{
    cJSON *p = cJSON_Duplicate(base, 1);
    char what[300];

    if (p == NULL || v == NULL) {
        cJSON_Delete(p);
        cJSON_Delete(v);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(p, field);
    if (v != NULL)
        cJSON_AddItemToObject(p, field, v);
    snprintf(what, sizeof what, "%s in field \"%.60s\"", desc, field);
    try_one(rr, "u1001", p, what);
    cJSON_Delete(p);
}

void ck_robust(ck *c)
{
    hx h;
    cJSON *req, *p;
    instance *in = setup(c, &h, &req);
    robust_run rr = {c, &h, in, 0, 0, 0, 0};
    char *names[40];
    size_t nnames = 0;
    char uid128[129], fields[300] = "";
    const cJSON *it;

    if (in == NULL)
        goto out;
    /* Learn which request fields the entry reads. */
    hx_fields_reset();
    try_one(&rr, "u1001", req, NULL);
    for (size_t i = 0; i < hx_fields_count() && nnames < 32; i++)
        names[nnames++] = strdup(hx_field(i));
    cJSON_ArrayForEach(it, req)
    {
        int known = 0;
        for (size_t i = 0; i < nnames; i++)
            known |= strcmp(names[i], it->string) == 0;
        if (!known && nnames < 40)
            names[nnames++] = strdup(it->string);
    }
    try_one(&rr, "u1001", NULL, "absent (no \"params\" member)");
    p = cJSON_CreateObject();
    try_one(&rr, "u1001", p, "{} (every field missing)");
    cJSON_Delete(p);
    for (size_t i = 0; i < nnames; i++) {
        const char *f = names[i];
        p = cJSON_Duplicate(req, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(p, f);
        {
            char what[200];
            snprintf(what, sizeof what, "field \"%.60s\" missing", f);
            try_one(&rr, "u1001", p, what);
        }
        cJSON_Delete(p);
        try_field(&rr, req, f, big_string(), "a 1 MiB string");
        try_field(&rr, req, f, cJSON_CreateString("\xff\xfe\xc3\x28 \xe2\x82"),
                  "invalid UTF-8");
        try_field(&rr, req, f, cJSON_CreateString(""), "an empty string");
        try_field(&rr, req, f, nested(900), "an array nested 900 deep");
        try_field(&rr, req, f, cJSON_CreateNull(), "null");
        try_field(&rr, req, f, cJSON_CreateTrue(), "true");
        try_field(&rr, req, f, cJSON_CreateNumber(1e308), "1e308");
        try_field(&rr, req, f, cJSON_CreateNumber(-1), "-1");
        try_field(&rr, req, f, cJSON_CreateNumber(0.5), "0.5");
        try_field(&rr, req, f, cJSON_CreateObject(), "an object");
        snprintf(fields + strlen(fields), sizeof fields - strlen(fields),
                 "%s%.40s", i ? ", " : "", f);
    }
    /* For entries that read the whole request as JSON. */
    p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "conform_big", big_string());
    cJSON_AddItemToObject(p, "conform_deep", nested(900));
    cJSON_AddStringToObject(p, "conform_bad_utf8", "\xc0\x80\xff");
    try_one(&rr, "u1001", p, "unknown fields: 1 MiB, 900 deep, bad UTF-8");
    cJSON_Delete(p);
    memset(uid128, 'u', 128);
    uid128[128] = '\0';
    try_one(&rr, "", req, NULL);
    try_one(&rr, uid128, req, NULL);
    try_one(&rr, "\xff\xfe-bad-utf8-uid", req, NULL);
    ck_pass(c,
            "%zu calls (absent, empty, 1 MiB, invalid UTF-8, 900-deep, "
            "mistyped request fields%s%s%s; uids \"\", 128 chars, bad "
            "UTF-8): none crashed or overran the %lld ms budget; slowest "
            "%.1f ms; %zu answered a fault (acceptable)",
            rr.calls, fields[0] ? " [" : "", fields, fields[0] ? "]" : "",
            (long long)c->o->budget_ms, rr.slowest, rr.faults);
out:
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    cJSON_Delete(req);
    hx_close(&h);
}
