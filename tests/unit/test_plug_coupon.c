/*
 * test_plug_coupon.c -- coupon.grant: the kind's stock given exactly,
 * all-or-nothing for count > 1, sold_out, unlimited kinds, the expiry in
 * each grant, the undo giving the stock back.
 */
#include "phost.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define DAY 86400000LL

static phost *H;
static plugin *P;

static const char *RES =
    "{\"coupons\":{"
    "\"c20\":{\"name\":\"c20\",\"value\":20,\"expire_days\":30,\"stock\":7},"
    "\"c5\":{\"name\":\"c5\",\"value\":5,\"expire_days\":1},"
    "\"bad\":{\"name\":\"two words\",\"value\":1,\"expire_days\":1}},"
    "\"pools\":{\"lottery\":{\"name\":\"lottery\",\"prizes\":[]}}}";

static instance *inst(activity *a, const char *params)
{
    char err[512];
    instance *in = phost_instance(H, a, P, "grant", params, err, sizeof err);
    if (in == NULL)
        printf("# instance %s: %s\n", params, err);
    return in;
}

static int64_t counter(activity *a, const char *key)
{
    instance in;
    svc_req r;
    ams_ctx ctx;
    int64_t v = -1;

    memset(&in, 0, sizeof in);
    memset(&r, 0, sizeof r);
    in.act = a;
    in.ref = "test.probe";
    r.uid = "";
    r.request_id = "probe";
    r.act = a;
    svc_req_begin(&r, T0);
    ctx.req = &r;
    ctx.inst = &in;
    services_host.counter_get(&ctx, AMS_SCOPE_ACTIVITY, key, AMS_PERIOD_NONE,
                              &v);
    svc_req_end(&r);
    return v;
}

/* Grant and undo in one request, as the pipeline does when a later
 * operation of the method fails. */
static ams_status grant_and_undo(instance *in, const char *uid,
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

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_init(activity *a)
{
    const plugin_entry *en = plugin_find_entry(P, "grant");
    char err[512];
    instance *in;

    ok(en != NULL && en->spec->kind == AMS_OPERATION && en->undo != NULL,
       "coupon.grant is an operation with an undo");
    in = en ? phost_instance(H, a, P, "grant", en->spec->example, err,
                             sizeof err)
            : NULL;
    ok(in != NULL, "the manifest's example validates and inits (%s)", err);
    in = inst(a, "{\"coupon\":\"c20\",\"count\":3}");
    ok(in != NULL && in->nuses == 1 && in->uses[0].per_call == 3,
       "init declares count units of the kind per call");
    ok(phost_instance(H, a, P, "grant", "{}", err, sizeof err) == NULL,
       "coupon is required");
    ok(phost_instance(H, a, P, "grant", "{\"coupon\":\"c99\"}", err,
                      sizeof err) == NULL,
       "an undeclared kind is refused");
    ok(phost_instance(H, a, P, "grant", "{\"coupon\":\"lottery\"}", err,
                      sizeof err) == NULL,
       "a pool is not a coupon kind");
    ok(phost_instance(H, a, P, "grant", "{\"coupon\":\"c20\",\"count\":0}",
                      err, sizeof err) == NULL,
       "count 0 is refused");
    ok(phost_instance(H, a, P, "grant", "{\"coupon\":\"c20\",\"count\":101}",
                      err, sizeof err) == NULL,
       "count 101 is refused");
    in = phost_instance(H, a, P, "grant", "{\"coupon\":\"bad\"}", err,
                        sizeof err);
    ok(in == NULL && strstr(err, "bad_name") != NULL,
       "a kind that cannot be a store key: bad_name (%s)", err);
}

static void test_grant_and_expiry(activity *a)
{
    instance *in = inst(a, "{\"coupon\":\"c5\"}");
    phost_call c;
    char want[128];
    ams_status st;

    st = in ? phost_run(H, in, 0, "alice", NULL, T0, &c) : AMS_ERR;
    is_int(st, AMS_OK, "an unlimited kind grants");
    has_str(c.data, "\"coupon\":\"c5\"", "data.coupon is the kind");
    has_str(c.data, "\"count\":1", "data.count defaults to 1");
    snprintf(want, sizeof want, "\"expires_at\":%lld", T0 + DAY);
    has_str(c.data, want, "data.expires_at is now + expire_days");
    snprintf(want, sizeof want,
             "\"kind\":\"coupon\",\"item\":\"c5\",\"amount\":5,"
             "\"extra\":{\"expires_at\":%lld}",
             T0 + DAY);
    has_str(c.grants, want, "the grant carries value and expiry");
    phost_call_free(&c);
    is_int(counter(a, "coupon.c5"), 0, "an unlimited kind keeps no counter");

    /* Many grants of an unlimited kind: never sold out. */
    int fails = 0;
    for (int i = 0; in != NULL && i < 200; i++) {
        fails += phost_run(H, in, 0, "bob", NULL, T0 + i, &c) != AMS_OK;
        phost_call_free(&c);
    }
    is_int(fails, 0, "200 grants of an unlimited kind all succeed");
}

static void test_stock(activity *a)
{
    instance *three = inst(a, "{\"coupon\":\"c20\",\"count\":3}");
    instance *one = inst(a, "{\"coupon\":\"c20\"}");
    phost_call c;
    ams_status st;
    char want[128];

    /* Stock 7: 3 + 3, then 3 does not fit (all or nothing), 1 does. */
    st = three ? phost_run(H, three, 0, "u1", NULL, T0, &c) : AMS_ERR;
    is_int(st, AMS_OK, "3 of 7 given");
    is_int(count_of(c.grants, "\"item\":\"c20\""), 3, "3 grants recorded");
    has_str(c.data, "\"count\":3", "data.count is 3");
    snprintf(want, sizeof want, "{\"expires_at\":%lld}", T0 + 30 * DAY);
    is_int(count_of(c.grants, want), 3, "each expires in 30 days");
    phost_call_free(&c);
    st = three ? phost_run(H, three, 0, "u2", NULL, T0, &c) : AMS_ERR;
    is_int(st, AMS_OK, "6 of 7 given");
    phost_call_free(&c);
    st = three ? phost_run(H, three, 0, "u3", NULL, T0, &c) : AMS_ERR;
    ok(st == AMS_FAIL && strcmp(c.reason, "sold_out") == 0 && c.grants == NULL,
       "3 more do not fit in the 1 left: sold_out, nothing granted");
    phost_call_free(&c);
    is_int(counter(a, "coupon.c20"), 6, "the failed call took nothing");
    st = one ? phost_run(H, one, 0, "u4", NULL, T0, &c) : AMS_ERR;
    is_int(st, AMS_OK, "the last one fits");
    phost_call_free(&c);
    st = one ? phost_run(H, one, 0, "u5", NULL, T0, &c) : AMS_ERR;
    ok(st == AMS_FAIL && strcmp(c.reason, "sold_out") == 0, "then sold_out");
    phost_call_free(&c);
    is_int(counter(a, "coupon.c20"), 7, "exactly the stock of 7 was given");
}

static void test_undo(activity *a)
{
    instance *in = inst(a, "{\"coupon\":\"c20\",\"count\":2}");
    instance *unl = inst(a, "{\"coupon\":\"c5\"}");
    ams_status st, ust = AMS_ERR;
    phost_call c;
    int64_t before;

    before = counter(a, "coupon.c20");
    st = in ? grant_and_undo(in, "v", &ust) : AMS_ERR;
    ok(st == AMS_OK && ust == AMS_OK, "grant 2 and undo in one request");
    is_int(counter(a, "coupon.c20"), before, "the undo gives the stock back");
    st = in ? phost_run(H, in, 0, "w", NULL, T0, &c) : AMS_ERR;
    is_int(st, AMS_OK, "the stock given back can be granted again");
    phost_call_free(&c);
    st = in ? phost_run(H, in, 1, "w", NULL, T0, &c) : AMS_ERR;
    is_int(st, AMS_OK, "an undo in a request that granted nothing: AMS_OK");
    phost_call_free(&c);
    is_int(counter(a, "coupon.c20"), before + 2, "and gives nothing back");
    st = unl ? grant_and_undo(unl, "v", &ust) : AMS_ERR;
    ok(st == AMS_OK && ust == AMS_OK && counter(a, "coupon.c5") == 0,
       "undo of an unlimited kind touches no counter");
}

int main(void)
{
    activity *a, *b;

    H = phost_open("plug_coupon");
    P = H ? phost_plugin(H, phost_bundled("coupon")) : NULL;
    if (!ok(P != NULL, "coupon.so loads"))
        return tap_done();
    a = phost_activity(H, 1, 0, RES);
    b = phost_activity(H, 2, 0, RES);
    test_init(a);
    test_grant_and_expiry(a);
    test_stock(a);
    test_undo(b);
    phost_close(H);
    return tap_done();
}
