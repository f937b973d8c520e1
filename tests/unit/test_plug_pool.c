/*
 * test_plug_pool.c -- pool.draw: weighted odds, absolute probabilities,
 * stock that is never exceeded, sold-out prizes that stay out of the
 * draw, lost races (a stale stock read), the undo giving back exactly the
 * prize drawn, grants and the ledger.
 *
 * Stock exactness is tested sequentially here, and against lost races by
 * a host table whose stock reads are stale; concurrent processes drawing
 * from one store belong to the end-to-end tests.
 */
#include "phost.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static phost *H;
static plugin *P;

/* ---- helpers ---- */

static instance *draw_inst(activity *a, const char *params)
{
    char err[512];
    instance *in = phost_instance(H, a, P, "draw", params, err, sizeof err);
    if (in == NULL)
        printf("# instance: %s\n", err);
    return in;
}

/* A draw by uid; returns the prize name in buf ("" when none) and the
 * status; reason in c->reason. */
static ams_status draw(instance *in, const char *uid, phost_call *c, char *buf,
                       size_t len)
{
    ams_status st = phost_run(H, in, 0, uid, NULL, T0, c);
    cJSON *d = cJSON_Parse(c->data ? c->data : "{}");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "prize");
    snprintf(buf, len, "%s", cJSON_IsString(p) ? p->valuestring : "");
    cJSON_Delete(d);
    return st;
}

/* A host context for checks: activity a, user uid, host time T0. */
typedef struct probe {
    instance in;
    svc_req r;
    ams_ctx ctx;
} probe;

static void probe_begin(probe *p, activity *a, const char *uid)
{
    memset(p, 0, sizeof *p);
    p->in.act = a;
    p->in.ref = "test.probe";
    p->r.uid = uid ? uid : "";
    p->r.request_id = "probe";
    p->r.act = a;
    svc_req_begin(&p->r, T0);
    p->ctx.req = &p->r;
    p->ctx.inst = &p->in;
}

static int64_t counter(activity *a, const char *key)
{
    probe p;
    int64_t v = -1;
    probe_begin(&p, a, NULL);
    services_host.counter_get(&p.ctx, AMS_SCOPE_ACTIVITY, key, AMS_PERIOD_NONE,
                              &v);
    svc_req_end(&p.r);
    return v;
}

/* The user's ledger (malloc'd). */
static char *ledger(activity *a, const char *uid)
{
    probe p;
    const char *out = NULL;
    char *copy;
    probe_begin(&p, a, uid);
    services_host.ledger_json(&p.ctx, &out);
    copy = strdup(out ? out : "");
    svc_req_end(&p.r);
    return copy;
}

/* One request that draws and then undoes the draw, as the pipeline does
 * when a later operation of the method fails.  Returns the draw's status;
 * the undo's goes to *undo_st, the prize to buf. */
static ams_status draw_and_undo(instance *in, const char *uid,
                                ams_status *undo_st, char *buf, size_t len)
{
    svc_req r;
    ams_ctx ctx, uctx;
    ams_status st;
    const cJSON *prize;

    memset(&r, 0, sizeof r);
    r.uid = uid;
    r.request_id = "undo-req";
    r.client_ip = "127.0.0.1";
    r.act = in->act;
    svc_req_begin(&r, T0);
    memset(&ctx, 0, sizeof ctx);
    ctx.req = &r;
    ctx.inst = in;
    uctx = ctx;
    st = svc_call(in->entry->fn, &ctx);
    prize = cJSON_GetObjectItemCaseSensitive(r.data, "prize");
    snprintf(buf, len, "%s", cJSON_IsString(prize) ? prize->valuestring : "");
    *undo_st = st == AMS_OK ? svc_call(in->entry->undo, &uctx) : AMS_ERR;
    svc_req_end(&r);
    return st;
}

static const char *uid_of(int i)
{
    static char b[32];
    snprintf(b, sizeof b, "u%d", i);
    return b;
}

static int index_of(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

/* |got - n p| within 5 standard deviations of a binomial count. */
static int near(long got, long n, double p)
{
    double sd = sqrt((double)n * p * (1 - p));
    return fabs((double)got - (double)n * p) <= 5 * sd + 1e-9;
}

/* ---- the manifest and init ---- */

static void test_init(void)
{
    activity *a = phost_activity(
        H, 1, 0,
        "{\"pools\":{\"lottery\":{\"name\":\"lottery\",\"stock\":11,"
        "\"prizes\":[{\"name\":\"phone\",\"stock\":1,\"weight\":1,"
        "\"value\":5000},{\"name\":\"pen\",\"stock\":10,\"weight\":9,"
        "\"value\":5}]},"
        "\"mixed\":{\"name\":\"mixed\",\"prizes\":[{\"name\":\"a\","
        "\"stock\":1,\"weight\":1,\"value\":1},{\"name\":\"b\",\"stock\":1,"
        "\"probability\":0.5,\"value\":1}]},"
        "\"spaced\":{\"name\":\"spaced\",\"prizes\":[{\"name\":\"big tv\","
        "\"stock\":1,\"weight\":1,\"value\":1}]},"
        "\"empty\":{\"name\":\"empty\",\"prizes\":[]}},"
        "\"coupons\":{\"c20\":{\"name\":\"c20\",\"value\":20,"
        "\"expire_days\":30}}}");
    const plugin_entry *en = plugin_find_entry(P, "draw");
    char err[512];
    instance *in;

    ok(en != NULL && en->spec->kind == AMS_OPERATION && en->undo != NULL,
       "pool.draw is an operation with an undo");
    in = en ? phost_instance(H, a, P, "draw", en->spec->example, err,
                             sizeof err)
            : NULL;
    ok(in != NULL, "the manifest's example validates and inits (%s)", err);
    ok(in != NULL && in->nuses == 1 && in->uses[0].per_call == 1 &&
           strcmp(in->uses[0].param, "pool") == 0,
       "init declares 1 unit of the pool per call");
    ok(phost_instance(H, a, P, "draw", "{}", err, sizeof err) == NULL,
       "pool is required");
    ok(phost_instance(H, a, P, "draw", "{\"pool\":\"nope\"}", err,
                      sizeof err) == NULL,
       "an undeclared pool is refused");
    ok(phost_instance(H, a, P, "draw", "{\"pool\":\"c20\"}", err,
                      sizeof err) == NULL,
       "a coupon kind is not a pool");
    in = phost_instance(H, a, P, "draw", "{\"pool\":\"mixed\"}", err,
                        sizeof err);
    ok(in == NULL && strstr(err, "mixed_odds") != NULL,
       "weights and probabilities in one pool: mixed_odds (%s)", err);
    in = phost_instance(H, a, P, "draw", "{\"pool\":\"spaced\"}", err,
                        sizeof err);
    ok(in == NULL && strstr(err, "bad_name") != NULL,
       "a prize name that cannot be a store key: bad_name (%s)", err);
    in = phost_instance(H, a, P, "draw", "{\"pool\":\"empty\"}", err,
                        sizeof err);
    ok(in == NULL && strstr(err, "no_prizes") != NULL,
       "a pool without prizes: no_prizes (%s)", err);
    ok(phost_instance(H, a, P, "draw", "{\"pool\":\"lottery\",\"miss_ok\":1}",
                      err, sizeof err) == NULL,
       "miss_ok must be a bool");
}

/* ---- weights ---- */

static void test_weighted_distribution(void)
{
    static const char *const names[] = {"w1", "w2", "w3", "w4"};
    activity *a = phost_activity(
        H, 2, 0,
        "{\"pools\":{\"w\":{\"name\":\"w\",\"prizes\":["
        "{\"name\":\"w1\",\"stock\":100000,\"weight\":1,\"value\":1},"
        "{\"name\":\"w2\",\"stock\":100000,\"weight\":2,\"value\":2},"
        "{\"name\":\"w3\",\"stock\":100000,\"weight\":3,\"value\":3},"
        "{\"name\":\"w4\",\"stock\":100000,\"weight\":4,\"value\":4}]}}}");
    instance *in = draw_inst(a, "{\"pool\":\"w\"}");
    long count[4] = {0}, n = 20000, bad = 0, good_counters = 0;
    double chi2 = 0;
    char prize[64];
    phost_call c;

    for (long i = 0; in != NULL && i < n; i++) {
        int k;
        if (draw(in, uid_of((int)i), &c, prize, sizeof prize) != AMS_OK ||
            (k = index_of(names, 4, prize)) < 0)
            bad++;
        else
            count[k]++;
        phost_call_free(&c);
    }
    is_int(bad, 0, "%ld draws with ample stock all give a prize", n);
    for (int k = 0; k < 4; k++) {
        double p = (k + 1) / 10.0, e = (double)n * p;
        chi2 += ((double)count[k] - e) * ((double)count[k] - e) / e;
        ok(near(count[k], n, p),
           "weight %d of 10: %ld draws of %ld (expected %.0f +- 5 sd)", k + 1,
           count[k], n, e);
        good_counters +=
            counter(a, (const char *[]){"pool.w.w1", "pool.w.w2", "pool.w.w3",
                                        "pool.w.w4"}[k]) == count[k];
    }
    printf("# weighted 1:2:3:4 over %ld draws: %ld %ld %ld %ld, "
           "chi-square %.2f (3 df)\n",
           n, count[0], count[1], count[2], count[3], chi2);
    ok(chi2 < 30, "chi-square %.2f < 30 (3 df, p < 1e-5)", chi2);
    is_int(good_counters, 4, "each prize's counter equals the prizes drawn");
}

static void test_stock_exact(void)
{
    static const char *const names[] = {"a", "b", "c"};
    static const long stock[] = {3, 5, 2};
    activity *a = phost_activity(
        H, 3, 0,
        "{\"pools\":{\"s\":{\"name\":\"s\",\"stock\":10,\"prizes\":["
        "{\"name\":\"a\",\"stock\":3,\"weight\":5,\"value\":1},"
        "{\"name\":\"b\",\"stock\":5,\"weight\":1,\"value\":1},"
        "{\"name\":\"c\",\"stock\":2,\"weight\":1,\"value\":1}]}}}");
    instance *in = draw_inst(a, "{\"pool\":\"s\"}");
    long count[3] = {0}, won = 0, calls = 0;
    char prize[64];
    phost_call c;
    ams_status st = AMS_OK;

    while (in != NULL && calls < 100) {
        int k;
        calls++;
        st = draw(in, uid_of((int)calls), &c, prize, sizeof prize);
        if (st == AMS_OK && (k = index_of(names, 3, prize)) >= 0) {
            count[k]++;
            won++;
        }
        if (st != AMS_OK)
            break;
        phost_call_free(&c);
    }
    is_int(won, 10, "exactly the pool's 10 prizes are given");
    is_int(calls, 11, "the 11th draw is the first that fails");
    ok(st == AMS_FAIL && strcmp(c.reason, "sold_out") == 0,
       "then: sold_out (%d %s)", (int)st, c.reason);
    phost_call_free(&c);
    for (int k = 0; k < 3; k++) {
        is_int(count[k], stock[k], "prize %s given exactly its stock",
               names[k]);
        is_int(counter(
                   a, (const char *[]){"pool.s.a", "pool.s.b", "pool.s.c"}[k]),
               stock[k], "prize %s's counter stops at its stock", names[k]);
    }
    st = in ? draw(in, "late", &c, prize, sizeof prize) : AMS_ERR;
    ok(st == AMS_FAIL && strcmp(c.reason, "sold_out") == 0 && c.grants == NULL,
       "a sold-out pool stays sold out, with no grant");
    phost_call_free(&c);
}

static void test_sold_out_leaves_the_draw(void)
{
    activity *a = phost_activity(
        H, 4, 0,
        "{\"pools\":{\"p\":{\"name\":\"p\",\"prizes\":["
        "{\"name\":\"rare\",\"stock\":3,\"weight\":50,\"value\":100},"
        "{\"name\":\"b\",\"stock\":100000,\"weight\":1,\"value\":1},"
        "{\"name\":\"c\",\"stock\":100000,\"weight\":1,\"value\":1}]}}}");
    instance *in = draw_inst(a, "{\"pool\":\"p\"}");
    long rare = 0, b = 0, cc = 0, other = 0, n = 4000, i = 0;
    char prize[64];
    phost_call c;

    /* Weight 50 of 52: the rare prize goes within the first few draws. */
    for (; in != NULL && rare < 3 && i < 1000; i++) {
        draw(in, uid_of((int)i), &c, prize, sizeof prize);
        rare += strcmp(prize, "rare") == 0;
        phost_call_free(&c);
    }
    is_int(rare, 3, "the heavy prize sells out first (after %ld draws)", i);
    for (i = 0; in != NULL && i < n; i++) {
        draw(in, uid_of(10000 + (int)i), &c, prize, sizeof prize);
        if (strcmp(prize, "b") == 0)
            b++;
        else if (strcmp(prize, "c") == 0)
            cc++;
        else
            other++;
        phost_call_free(&c);
    }
    is_int(other, 0, "a sold-out prize is never drawn again (%ld draws)", n);
    printf("# after the rare prize sold out: b %ld, c %ld of %ld\n", b, cc, n);
    ok(near(b, n, 0.5) && b + cc == n,
       "the others keep their relative odds 1:1 (%ld : %ld)", b, cc);
    is_int(counter(a, "pool.p.rare"), 3, "the rare prize's counter stays 3");
}

/* ---- probabilities ---- */

static void test_probability(void)
{
    activity *a = phost_activity(
        H, 5, 0,
        "{\"pools\":{\"p\":{\"name\":\"p\",\"prizes\":["
        "{\"name\":\"ten\",\"stock\":100000,\"probability\":0.1,"
        "\"value\":10},"
        "{\"name\":\"twenty\",\"stock\":100000,\"probability\":0.2,"
        "\"value\":20}]}}}");
    instance *in = draw_inst(a, "{\"pool\":\"p\"}");
    long ten = 0, twenty = 0, miss = 0, other = 0, n = 20000, grants = 0;
    char prize[64];
    phost_call c;

    for (long i = 0; in != NULL && i < n; i++) {
        ams_status st = draw(in, uid_of((int)i), &c, prize, sizeof prize);
        if (st == AMS_OK && strcmp(prize, "ten") == 0)
            ten++;
        else if (st == AMS_OK && strcmp(prize, "twenty") == 0)
            twenty++;
        else if (st == AMS_FAIL && strcmp(c.reason, "no_prize") == 0) {
            miss++;
            grants += c.grants != NULL;
        } else
            other++;
        phost_call_free(&c);
    }
    printf("# probabilities 0.1, 0.2 over %ld draws: %ld, %ld, %ld misses\n",
           n, ten, twenty, miss);
    is_int(other, 0, "every draw is a prize or no_prize");
    ok(near(ten, n, 0.1), "p = 0.1: %ld of %ld", ten, n);
    ok(near(twenty, n, 0.2), "p = 0.2: %ld of %ld", twenty, n);
    ok(near(miss, n, 0.7), "the remainder 0.7 misses: %ld of %ld", miss, n);
    is_int(grants, 0, "a miss grants nothing");
    is_int(counter(a, "pool.p.ten") + counter(a, "pool.p.twenty"),
           ten + twenty, "only prizes given are counted");
}

/* A sold-out prize's absolute share becomes misses; the others keep
 * exactly their odds; with nothing left, sold_out. */
static void test_probability_sold_out(void)
{
    activity *a = phost_activity(
        H, 6, 0,
        "{\"pools\":{\"p\":{\"name\":\"p\",\"prizes\":["
        "{\"name\":\"half\",\"stock\":5,\"probability\":0.5,\"value\":1},"
        "{\"name\":\"fifth\",\"stock\":100000,\"probability\":0.2,"
        "\"value\":1}]},"
        "\"tiny\":{\"name\":\"tiny\",\"prizes\":["
        "{\"name\":\"x\",\"stock\":2,\"probability\":1,\"value\":1}]}}}");
    instance *in = draw_inst(a, "{\"pool\":\"p\"}");
    instance *tiny = draw_inst(a, "{\"pool\":\"tiny\"}");
    long half = 0, fifth = 0, miss = 0, n = 5000, i = 0;
    char prize[64];
    phost_call c;
    ams_status st;

    for (; in != NULL && half < 5 && i < 1000; i++) {
        draw(in, uid_of((int)i), &c, prize, sizeof prize);
        half += strcmp(prize, "half") == 0;
        phost_call_free(&c);
    }
    is_int(half, 5, "the 0.5 prize sells out (after %ld draws)", i);
    half = 0;
    for (i = 0; in != NULL && i < n; i++) {
        st = draw(in, uid_of(20000 + (int)i), &c, prize, sizeof prize);
        if (st == AMS_OK && strcmp(prize, "fifth") == 0)
            fifth++;
        else if (st == AMS_OK)
            half++;
        else if (strcmp(c.reason, "no_prize") == 0)
            miss++;
        phost_call_free(&c);
    }
    printf("# after the 0.5 prize sold out: 0.2 prize %ld, misses %ld of "
           "%ld\n",
           fifth, miss, n);
    is_int(half, 0, "the sold-out prize is never given");
    ok(near(fifth, n, 0.2),
       "the 0.2 prize keeps its absolute odds: %ld of %ld", fifth, n);
    ok(near(miss, n, 0.8), "misses take the sold-out share: %ld of %ld", miss,
       n);

    for (i = 0; tiny != NULL && i < 2; i++) {
        draw(tiny, uid_of(30000 + (int)i), &c, prize, sizeof prize);
        phost_call_free(&c);
    }
    st = tiny ? draw(tiny, "last", &c, prize, sizeof prize) : AMS_ERR;
    ok(st == AMS_FAIL && strcmp(c.reason, "sold_out") == 0,
       "probability mode with every prize gone: sold_out, not no_prize "
       "(%s)",
       c.reason);
    phost_call_free(&c);
}

static void test_miss_ok(void)
{
    activity *a =
        phost_activity(H, 7, 0,
                       "{\"pools\":{\"p\":{\"name\":\"p\",\"prizes\":["
                       "{\"name\":\"x\",\"stock\":1000,\"probability\":0.25,"
                       "\"value\":7}]}}}");
    instance *in = draw_inst(a, "{\"pool\":\"p\",\"miss_ok\":true}");
    long won = 0, miss = 0, other = 0, n = 400, undo_bad = 0;
    char prize[64];
    phost_call c;

    for (long i = 0; in != NULL && i < n; i++) {
        ams_status st = draw(in, uid_of((int)i), &c, prize, sizeof prize);
        if (st == AMS_OK && strcmp(prize, "x") == 0 && c.grants != NULL)
            won++;
        else if (st == AMS_OK && c.grants == NULL &&
                 strstr(c.data, "\"prize\":null") != NULL &&
                 strstr(c.data, "\"value\":0") != NULL)
            miss++;
        else
            other++;
        phost_call_free(&c);
    }
    is_int(other, 0, "miss_ok: every draw succeeds, with a prize or null");
    ok(near(won, n, 0.25) && won + miss == n,
       "miss_ok: prizes at their odds (%ld of %ld)", won, n);
    /* Undo after a miss gives nothing back. */
    for (long i = 0; in != NULL && i < 50; i++) {
        ams_status ust;
        int64_t before = counter(a, "pool.p.x");
        if (draw_and_undo(in, "undoer", &ust, prize, sizeof prize) != AMS_OK ||
            ust != AMS_OK || counter(a, "pool.p.x") != before)
            undo_bad++;
    }
    is_int(undo_bad, 0, "undo after a prize or a miss restores the counter");
}

/* ---- undo, grants, ledger ---- */

static void test_undo(void)
{
    static const char *const keys[] = {"pool.u.a", "pool.u.b", "pool.u.c"};
    static const char *const names[] = {"a", "b", "c"};
    activity *a = phost_activity(
        H, 8, 0,
        "{\"pools\":{\"u\":{\"name\":\"u\",\"prizes\":["
        "{\"name\":\"a\",\"stock\":100,\"weight\":1,\"value\":1},"
        "{\"name\":\"b\",\"stock\":100,\"weight\":1,\"value\":2},"
        "{\"name\":\"c\",\"stock\":100,\"weight\":1,\"value\":3}]}}}");
    instance *in = draw_inst(a, "{\"pool\":\"u\"}");
    char prize[64];
    int64_t before[3];
    long wrong = 0, seen[3] = {0};
    phost_call c;
    ams_status st, ust = AMS_ERR;

    /* Some draws that stay, so the counters are not all 0. */
    for (int i = 0; in != NULL && i < 30; i++) {
        draw(in, uid_of(i), &c, prize, sizeof prize);
        phost_call_free(&c);
    }
    for (int i = 0; in != NULL && i < 60; i++) {
        int k;
        for (k = 0; k < 3; k++)
            before[k] = counter(a, keys[k]);
        st = draw_and_undo(in, "undoer", &ust, prize, sizeof prize);
        k = index_of(names, 3, prize);
        if (st != AMS_OK || ust != AMS_OK || k < 0) {
            wrong++;
            continue;
        }
        seen[k]++;
        for (int j = 0; j < 3; j++)
            if (counter(a, keys[j]) != before[j])
                wrong++;
    }
    is_int(wrong, 0,
           "60 draws undone in their request: every counter "
           "back where it was");
    ok(seen[0] && seen[1] && seen[2],
       "the undone draws covered every prize (%ld %ld %ld)", seen[0], seen[1],
       seen[2]);

    /* An undo in a request that drew nothing changes nothing. */
    for (int k = 0; k < 3; k++)
        before[k] = counter(a, keys[k]);
    st = in ? phost_run(H, in, 1, "nobody", NULL, T0, &c) : AMS_ERR;
    is_int(st, AMS_OK, "undo without a draw in the request: AMS_OK");
    phost_call_free(&c);
    ok(counter(a, keys[0]) == before[0] && counter(a, keys[1]) == before[1] &&
           counter(a, keys[2]) == before[2],
       "and changes no counter");
}

/* Undo makes a sold-out prize available again. */
static void test_undo_restocks(void)
{
    activity *a = phost_activity(
        H, 9, 0,
        "{\"pools\":{\"one\":{\"name\":\"one\",\"prizes\":["
        "{\"name\":\"only\",\"stock\":1,\"weight\":1,\"value\":9}]}}}");
    instance *in = draw_inst(a, "{\"pool\":\"one\"}");
    char prize[64];
    phost_call c;
    ams_status st, ust = AMS_ERR;

    st = in ? draw_and_undo(in, "x", &ust, prize, sizeof prize) : AMS_ERR;
    ok(st == AMS_OK && ust == AMS_OK && strcmp(prize, "only") == 0,
       "the only prize drawn and undone");
    st = in ? draw(in, "y", &c, prize, sizeof prize) : AMS_ERR;
    ok(st == AMS_OK && strcmp(prize, "only") == 0,
       "after the undo it can be drawn again");
    phost_call_free(&c);
    st = in ? draw(in, "z", &c, prize, sizeof prize) : AMS_ERR;
    ok(st == AMS_FAIL && strcmp(c.reason, "sold_out") == 0,
       "and then it is sold out");
    phost_call_free(&c);
}

static void test_grants_and_ledger(void)
{
    activity *a = phost_activity(
        H, 10, 0,
        "{\"pools\":{\"g\":{\"name\":\"g\",\"prizes\":["
        "{\"name\":\"phone\",\"stock\":2,\"weight\":1,\"value\":5000}]}}}");
    instance *in = draw_inst(a, "{\"pool\":\"g\"}");
    char prize[64], *l;
    phost_call c;
    ams_status st;

    st = in ? draw(in, "alice", &c, prize, sizeof prize) : AMS_ERR;
    is_int(st, AMS_OK, "alice draws");
    has_str(c.data, "\"prize\":\"phone\"", "data.prize");
    has_str(c.data, "\"value\":5000", "data.value");
    has_str(c.grants, "\"kind\":\"prize\",\"item\":\"phone\",\"amount\":5000",
            "the grant: (prize, phone, 5000)");
    phost_call_free(&c);
    l = ledger(a, "alice");
    has_str(l, "\"kind\":\"prize\",\"item\":\"phone\",\"amount\":5000",
            "alice's ledger lists the prize");
    free(l);
    l = ledger(a, "bob");
    is_str(l, "[]", "bob's ledger is empty");
    free(l);
}

/* ---- lost races ----
 * A host table whose stock reads are stale (always 0 given), as when
 * other workers take the last units between this request's read and its
 * add.  The bounded add must still hold, and the plugin must redraw
 * (weights) or miss (probabilities). */

static ams_status stale_counter_get(ams_ctx *ctx, ams_scope scope,
                                    const char *key, ams_period period,
                                    int64_t *out)
{
    (void)ctx;
    (void)scope;
    (void)key;
    (void)period;
    *out = 0;
    return AMS_OK;
}

static void test_lost_races(void)
{
    activity *a = phost_activity(
        H, 11, 0,
        "{\"pools\":{\"w\":{\"name\":\"w\",\"prizes\":["
        "{\"name\":\"gone\",\"stock\":1,\"weight\":1000,\"value\":1},"
        "{\"name\":\"plenty\",\"stock\":100000,\"weight\":1,\"value\":1}]},"
        "\"p\":{\"name\":\"p\",\"prizes\":["
        "{\"name\":\"gone\",\"stock\":1,\"probability\":0.5,\"value\":1},"
        "{\"name\":\"plenty\",\"stock\":100000,\"probability\":0.5,"
        "\"value\":1}]},"
        "\"all\":{\"name\":\"all\",\"prizes\":["
        "{\"name\":\"x\",\"stock\":1,\"weight\":1,\"value\":1},"
        "{\"name\":\"y\",\"stock\":1,\"weight\":1,\"value\":1}]}}}");
    instance *w = draw_inst(a, "{\"pool\":\"w\"}");
    instance *p = draw_inst(a, "{\"pool\":\"p\"}");
    instance *all = draw_inst(a, "{\"pool\":\"all\"}");
    static ams_host stale;
    long plenty = 0, miss = 0, other = 0, n = 2000, i = 0;
    char prize[64];
    phost_call c;
    ams_status st;

    /* Take the "gone" prizes with the real table first. */
    for (; w != NULL && counter(a, "pool.w.gone") < 1 && i < 100; i++) {
        draw(w, uid_of((int)i), &c, prize, sizeof prize);
        phost_call_free(&c);
    }
    for (i = 0; p != NULL && counter(a, "pool.p.gone") < 1 && i < 1000; i++) {
        draw(p, uid_of((int)i), &c, prize, sizeof prize);
        phost_call_free(&c);
    }
    ok(counter(a, "pool.w.gone") == 1 && counter(a, "pool.p.gone") == 1,
       "the single prizes are taken");
    stale = services_host;
    stale.counter_get = stale_counter_get;
    *P->m->host = &stale;

    for (i = 0; w != NULL && i < n; i++) {
        st = draw(w, uid_of((int)i), &c, prize, sizeof prize);
        if (st == AMS_OK && strcmp(prize, "plenty") == 0)
            plenty++;
        else
            other++;
        phost_call_free(&c);
    }
    is_int(plenty, n,
           "weights, stale stock: the lost race is drawn again without it");
    is_int(counter(a, "pool.w.gone"), 1, "and its stock is not exceeded");

    plenty = other = 0;
    for (i = 0; p != NULL && i < n; i++) {
        st = draw(p, uid_of((int)i), &c, prize, sizeof prize);
        if (st == AMS_OK && strcmp(prize, "plenty") == 0)
            plenty++;
        else if (st == AMS_FAIL && strcmp(c.reason, "no_prize") == 0)
            miss++;
        else
            other++;
        phost_call_free(&c);
    }
    printf("# probabilities, stale stock: 0.5 prize %ld, misses %ld of %ld\n",
           plenty, miss, n);
    ok(other == 0 && near(plenty, n, 0.5),
       "probabilities, stale stock: a lost race is a miss, not a second "
       "roll (%ld of %ld keep p = 0.5)",
       plenty, n);
    is_int(counter(a, "pool.p.gone"), 1, "and its stock is not exceeded");

    long got = 0;
    for (i = 0; all != NULL && i < 4; i++) {
        st = draw(all, uid_of((int)i), &c, prize, sizeof prize);
        got += st == AMS_OK;
        if (i == 3)
            ok(st == AMS_FAIL && strcmp(c.reason, "sold_out") == 0,
               "stale stock, every prize gone: sold_out after redraws (%s)",
               c.reason);
        phost_call_free(&c);
    }
    is_int(got, 2, "stale stock: still exactly 2 prizes of 2");
    *P->m->host = &services_host;
}

int main(void)
{
    H = phost_open("plug_pool");
    P = H ? phost_plugin(H, phost_bundled("pool")) : NULL;
    if (!ok(P != NULL, "pool.so loads"))
        return tap_done();
    test_init();
    test_weighted_distribution();
    test_stock_exact();
    test_sold_out_leaves_the_draw();
    test_probability();
    test_probability_sold_out();
    test_miss_ok();
    test_undo();
    test_undo_restocks();
    test_grants_and_ledger();
    test_lost_races();
    phost_close(H);
    return tap_done();
}
