/*
 * test_plug_credit.c -- credit.add: the user's counter, a budget that is
 * exhausted exactly at its total, the undo reversing both counters, and
 * credit without a budget.
 */
#include "phost.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static phost *H;
static plugin *P;

static const char *RES =
    "{\"budgets\":{\"credit\":{\"name\":\"credit\",\"total\":1000},"
    "\"odd\":{\"name\":\"odd\",\"total\":250},"
    "\"spaced\":{\"name\":\"a b\",\"total\":10}},"
    "\"coupons\":{\"c20\":{\"name\":\"c20\",\"value\":20,"
    "\"expire_days\":30}}}";

static instance *inst(activity *a, const char *params)
{
    char err[512];
    instance *in = phost_instance(H, a, P, "add", params, err, sizeof err);
    if (in == NULL)
        printf("# instance %s: %s\n", params, err);
    return in;
}

/* A counter of the activity (uid NULL) or of user uid. */
static int64_t counter(activity *a, const char *uid, const char *key)
{
    instance in;
    svc_req r;
    ams_ctx ctx;
    int64_t v = -1;

    memset(&in, 0, sizeof in);
    memset(&r, 0, sizeof r);
    in.act = a;
    in.ref = "test.probe";
    r.uid = uid ? uid : "";
    r.request_id = "probe";
    r.act = a;
    svc_req_begin(&r, T0);
    ctx.req = &r;
    ctx.inst = &in;
    services_host.counter_get(&ctx, uid ? AMS_SCOPE_USER : AMS_SCOPE_ACTIVITY,
                              key, AMS_PERIOD_NONE, &v);
    svc_req_end(&r);
    return v;
}

static ams_status add_and_undo(instance *in, const char *uid,
                               ams_status *undo_st)
{
    svc_req r;
    ams_ctx ctx, uctx;
    ams_status st;

    memset(&r, 0, sizeof r);
    r.uid = uid;
    r.request_id = "undo-req";
    r.act = in->act;
    svc_req_begin(&r, T0);
    memset(&ctx, 0, sizeof ctx);
    ctx.req = &r;
    ctx.inst = in;
    uctx = ctx;
    st = svc_call(in->entry->fn, &ctx);
    *undo_st = st == AMS_OK ? svc_call(in->entry->undo, &uctx) : AMS_ERR;
    svc_req_end(&r);
    return st;
}

static void test_init(activity *a)
{
    const plugin_entry *en = plugin_find_entry(P, "add");
    char err[512];
    instance *in;

    ok(en != NULL && en->spec->kind == AMS_OPERATION && en->undo != NULL,
       "credit.add is an operation with an undo");
    in =
        en ? phost_instance(H, a, P, "add", en->spec->example, err, sizeof err)
           : NULL;
    ok(in != NULL, "the manifest's example validates and inits (%s)", err);
    ok(in != NULL && in->nuses == 1 && in->uses[0].per_call == 100 &&
           strcmp(in->uses[0].param, "budget") == 0,
       "with a budget, init declares amount units per call");
    in = inst(a, "{\"key\":\"q\",\"amount\":5}");
    ok(in != NULL && in->nuses == 0, "without a budget, nothing declared");
    ok(phost_instance(H, a, P, "add", "{\"amount\":5}", err, sizeof err) ==
           NULL,
       "key is required");
    ok(phost_instance(H, a, P, "add", "{\"key\":\"q\"}", err, sizeof err) ==
           NULL,
       "amount is required");
    ok(phost_instance(H, a, P, "add", "{\"key\":\"q\",\"amount\":0}", err,
                      sizeof err) == NULL,
       "amount 0 is refused");
    ok(phost_instance(H, a, P, "add",
                      "{\"key\":\"q\",\"amount\":1,\"budget\":\"c20\"}", err,
                      sizeof err) == NULL,
       "a coupon kind is not a budget");
    ok(phost_instance(H, a, P, "add",
                      "{\"key\":\"q\",\"amount\":1,\"budget\":\"nope\"}", err,
                      sizeof err) == NULL,
       "an undeclared budget is refused");
    in = phost_instance(H, a, P, "add", "{\"key\":\"my quota\",\"amount\":1}",
                        err, sizeof err);
    ok(in == NULL && strstr(err, "bad_key") != NULL,
       "a key with a space: bad_key (%s)", err);
    in = phost_instance(H, a, P, "add",
                        "{\"key\":\"q\",\"amount\":1,\"budget\":\"spaced\"}",
                        err, sizeof err);
    ok(in == NULL && strstr(err, "bad_key") != NULL,
       "a budget name that cannot be a store key: bad_key (%s)", err);
}

static void test_no_budget(activity *a)
{
    instance *in = inst(a, "{\"key\":\"points\",\"amount\":7}");
    phost_call c;
    ams_status st;

    st = in ? phost_run(H, in, 0, "alice", NULL, T0, &c) : AMS_ERR;
    is_int(st, AMS_OK, "credit without a budget");
    has_str(c.data, "\"points\":7", "data.points is the new total");
    has_str(c.grants, "\"kind\":\"credit\",\"item\":\"points\",\"amount\":7",
            "grant (credit, points, 7)");
    phost_call_free(&c);
    st = in ? phost_run(H, in, 0, "alice", NULL, T0, &c) : AMS_ERR;
    has_str(c.data, "\"points\":14", "a second call: 14");
    phost_call_free(&c);
    is_int(counter(a, "alice", "points"), 14, "alice's counter is 14");
    is_int(counter(a, "bob", "points"), 0, "bob's is untouched");
}

static void test_budget(activity *a)
{
    instance *in = inst(a, "{\"key\":\"credit_quota\",\"amount\":100,"
                           "\"budget\":\"credit\"}");
    instance *odd = inst(a, "{\"key\":\"credit_quota\",\"amount\":100,"
                            "\"budget\":\"odd\"}");
    phost_call c;
    ams_status st = AMS_OK;
    int granted = 0, calls = 0;
    char uid[32];

    /* 1000 / 100: exactly 10 grants, the 11th is budget_exhausted. */
    while (in != NULL && calls < 50) {
        snprintf(uid, sizeof uid, "u%d", calls % 3);
        calls++;
        st = phost_run(H, in, 0, uid, NULL, T0, &c);
        if (st != AMS_OK)
            break;
        granted++;
        phost_call_free(&c);
    }
    is_int(granted, 10, "a budget of 1000 pays exactly 10 x 100");
    ok(st == AMS_FAIL && strcmp(c.reason, "budget_exhausted") == 0 &&
           c.grants == NULL,
       "the 11th call: budget_exhausted, nothing granted (%s)", c.reason);
    phost_call_free(&c);
    is_int(counter(a, NULL, "budget.credit"), 1000,
           "the budget counter stops at the total");
    is_int(counter(a, "u0", "credit_quota") +
               counter(a, "u1", "credit_quota") +
               counter(a, "u2", "credit_quota"),
           1000, "users got 1000 in all");
    is_int(counter(a, "u0", "credit_quota"), 400, "u0: 4 x 100");
    st = in ? phost_run(H, in, 0, "u9", NULL, T0, &c) : AMS_ERR;
    ok(st == AMS_FAIL && counter(a, "u9", "credit_quota") == 0,
       "an exhausted budget adds nothing to the user");
    phost_call_free(&c);

    /* 250 / 100: two fit, the remaining 50 does not pay 100. */
    for (int i = 0; odd != NULL && i < 2; i++) {
        st = phost_run(H, odd, 0, "o", NULL, T0, &c);
        phost_call_free(&c);
    }
    is_int(st, AMS_OK, "250: two grants of 100");
    st = odd ? phost_run(H, odd, 0, "o", NULL, T0, &c) : AMS_ERR;
    ok(st == AMS_FAIL && strcmp(c.reason, "budget_exhausted") == 0,
       "the 50 left cannot pay 100: budget_exhausted");
    phost_call_free(&c);
    is_int(counter(a, NULL, "budget.odd"), 200, "the budget paid 200");
}

static void test_undo(activity *a)
{
    instance *in = inst(a, "{\"key\":\"q\",\"amount\":30,"
                           "\"budget\":\"credit\"}");
    instance *nob = inst(a, "{\"key\":\"q\",\"amount\":5}");
    ams_status st, ust = AMS_ERR;
    phost_call c;

    st = in ? phost_run(H, in, 0, "carol", NULL, T0, &c) : AMS_ERR;
    phost_call_free(&c);
    is_int(counter(a, "carol", "q"), 30, "carol has 30");
    is_int(counter(a, NULL, "budget.credit"), 30, "the budget paid 30");
    st = in ? add_and_undo(in, "carol", &ust) : AMS_ERR;
    ok(st == AMS_OK && ust == AMS_OK, "add and undo in one request");
    is_int(counter(a, "carol", "q"), 30, "the undo takes the credit back");
    is_int(counter(a, NULL, "budget.credit"), 30,
           "and returns it to the budget");
    st = nob ? add_and_undo(nob, "carol", &ust) : AMS_ERR;
    ok(st == AMS_OK && ust == AMS_OK && counter(a, "carol", "q") == 30 &&
           counter(a, NULL, "budget.credit") == 30,
       "undo without a budget reverses only the user counter");
    st = in ? phost_run(H, in, 1, "carol", NULL, T0, &c) : AMS_ERR;
    is_int(st, AMS_OK, "an undo in a request that added nothing: AMS_OK");
    phost_call_free(&c);
    ok(counter(a, "carol", "q") == 30 &&
           counter(a, NULL, "budget.credit") == 30,
       "and changes nothing");

    /* Budget at its total: an undo makes room again. */
    for (int i = 0; in != NULL && i < 40; i++) {
        phost_run(H, in, 0, "dave", NULL, T0, &c);
        phost_call_free(&c);
    }
    is_int(counter(a, NULL, "budget.credit"), 990,
           "30 + 32 x 30 = 990 of 1000");
    st = in ? add_and_undo(in, "erin", &ust) : AMS_ERR;
    ok(st == AMS_FAIL, "no room for 30 more");
    instance *ten = inst(a, "{\"key\":\"q\",\"amount\":10,"
                            "\"budget\":\"credit\"}");
    st = ten ? add_and_undo(ten, "erin", &ust) : AMS_ERR;
    ok(st == AMS_OK && ust == AMS_OK &&
           counter(a, NULL, "budget.credit") == 990 &&
           counter(a, "erin", "q") == 0,
       "the last 10 taken and undone: 990 again, erin at 0");
    st = ten ? phost_run(H, ten, 0, "erin", NULL, T0, &c) : AMS_ERR;
    ok(st == AMS_OK && counter(a, NULL, "budget.credit") == 1000,
       "the undone 10 can be paid again: the budget reaches exactly 1000");
    phost_call_free(&c);
}

static void test_no_uid(activity *a)
{
    instance *in = inst(a, "{\"key\":\"q\",\"amount\":1,"
                           "\"budget\":\"odd\"}");
    phost_call c;
    ams_status st;
    int64_t before = counter(a, NULL, "budget.odd");

    st = in ? phost_run(H, in, 0, "", NULL, T0, &c) : AMS_ERR;
    ok(st < 0, "without a uid there is no user counter: a fault (%d)",
       (int)st);
    phost_call_free(&c);
    is_int(counter(a, NULL, "budget.odd"), before,
           "and the budget is given back");
}

int main(void)
{
    activity *a, *b;

    H = phost_open("plug_credit");
    P = H ? phost_plugin(H, phost_bundled("credit")) : NULL;
    if (!ok(P != NULL, "credit.so loads"))
        return tap_done();
    a = phost_activity(H, 1, 0, RES);
    b = phost_activity(H, 2, 0, RES);
    test_init(a);
    test_no_budget(a);
    test_budget(a);
    test_undo(b);
    test_no_uid(b);
    phost_close(H);
    return tap_done();
}
