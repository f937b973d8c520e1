/*
 * test_plug_status.c -- status.show: the user's ledger after pool.draw
 * and coupon.grant calls, what is left of each prize and of a coupon
 * kind, a kind without stock, a request without a uid.
 */
#include "phost.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static phost *H;
static plugin *STATUS, *POOL, *COUPON;

static const char *RES =
    "{\"pools\":{\"lottery\":{\"name\":\"lottery\",\"stock\":13,"
    "\"prizes\":[{\"name\":\"phone\",\"stock\":1,\"weight\":1,"
    "\"value\":5000},{\"name\":\"pen\",\"stock\":12,\"weight\":1,"
    "\"value\":5}]},"
    "\"empty\":{\"name\":\"empty\",\"prizes\":[]},"
    "\"odd\":{\"name\":\"odd\",\"stock\":3,\"prizes\":[{\"name\":"
    "\"say\\\"hi\\\"\\\\\",\"stock\":3,\"weight\":1,\"value\":1}]}},"
    "\"coupons\":{\"c20\":{\"name\":\"c20\",\"value\":20,\"expire_days\":30,"
    "\"stock\":100},"
    "\"free\":{\"name\":\"free\",\"value\":1,\"expire_days\":7}}}";

static instance *inst(activity *a, plugin *p, const char *entry,
                      const char *params)
{
    char err[512];
    instance *in = phost_instance(H, a, p, entry, params, err, sizeof err);
    if (in == NULL)
        printf("# instance %s %s: %s\n", entry, params, err);
    return in;
}

/* data.<key> of a status call as JSON text (malloc'd), or NULL. */
static char *field(const phost_call *c, const char *key)
{
    cJSON *d = cJSON_Parse(c->data ? c->data : "{}");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    char *s = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(d);
    return s;
}

static void test_init(activity *a)
{
    const plugin_entry *en = plugin_find_entry(STATUS, "show");
    char err[512];
    instance *in;

    ok(en != NULL && en->spec->kind == AMS_HANDLER,
       "status.show is a handler");
    in = en ? phost_instance(H, a, STATUS, "show", en->spec->example, err,
                             sizeof err)
            : NULL;
    ok(in != NULL, "the manifest's example validates and inits (%s)", err);
    ok(inst(a, STATUS, "show", "{}") != NULL, "every param is optional");
    ok(phost_instance(H, a, STATUS, "show", "{\"pool\":\"c20\"}", err,
                      sizeof err) == NULL,
       "a coupon kind is not a pool");
    in = phost_instance(H, a, STATUS, "show", "{\"pool\":\"empty\"}", err,
                        sizeof err);
    ok(in == NULL && strstr(err, "no_prizes") != NULL,
       "a pool without prizes: no_prizes (%s)", err);
}

static void test_show(activity *a)
{
    instance *show =
        inst(a, STATUS, "show", "{\"pool\":\"lottery\",\"coupon\":\"c20\"}");
    instance *bare = inst(a, STATUS, "show", "{}");
    instance *unl = inst(a, STATUS, "show", "{\"coupon\":\"free\"}");
    instance *draw = inst(a, POOL, "draw", "{\"pool\":\"lottery\"}");
    instance *give =
        inst(a, COUPON, "grant", "{\"coupon\":\"c20\",\"count\":2}");
    phost_call c;
    ams_status st;
    char *s;
    int phone = 0, pen = 0;

    if (!ok(show && bare && unl && draw && give, "instances"))
        return;
    st = phost_run(H, show, 0, "alice", NULL, T0, &c);
    is_int(st, AMS_OK, "status before anything happened");
    s = field(&c, "ledger");
    is_str(s, "[]", "no grants yet");
    free(s);
    s = field(&c, "pool");
    is_str(s, "{\"phone\":1,\"pen\":12}", "every prize at its stock");
    free(s);
    s = field(&c, "coupon");
    is_str(s, "{\"kind\":\"c20\",\"remaining\":100}", "100 coupons left");
    free(s);
    phost_call_free(&c);

    /* A prize name that needs escaping is escaped in the answer. */
    {
        instance *odd = inst(a, STATUS, "show", "{\"pool\":\"odd\"}");
        st = odd ? phost_run(H, odd, 0, "alice", NULL, T0, &c) : AMS_ERR;
        is_int(st, AMS_OK, "status of a pool with an odd prize name");
        s = field(&c, "pool");
        is_str(s, "{\"say\\\"hi\\\"\\\\\":3}", "  its name escaped");
        free(s);
        phost_call_free(&c);
    }

    /* alice draws three times and takes 2 coupons; bob draws once. */
    for (int i = 0; i < 3; i++) {
        phost_run(H, draw, 0, "alice", NULL, T0 + i, &c);
        phone += c.data && strstr(c.data, "\"phone\"") != NULL;
        pen += c.data && strstr(c.data, "\"pen\"") != NULL;
        phost_call_free(&c);
    }
    phost_run(H, give, 0, "alice", NULL, T0 + 10, &c);
    phost_call_free(&c);
    phost_run(H, draw, 0, "bob", NULL, T0 + 20, &c);
    phone += c.data && strstr(c.data, "\"phone\"") != NULL;
    pen += c.data && strstr(c.data, "\"pen\"") != NULL;
    phost_call_free(&c);
    is_int(phone + pen, 4, "4 prizes drawn");

    st = phost_run(H, show, 0, "alice", NULL, T0 + 30, &c);
    is_int(st, AMS_OK, "status after");
    s = field(&c, "ledger");
    {
        cJSON *g = cJSON_Parse(s ? s : "null");
        int prizes = 0, coupons = 0, ordered = 1;
        double last = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, g)
        {
            const cJSON *kind = cJSON_GetObjectItemCaseSensitive(it, "kind");
            const cJSON *ts = cJSON_GetObjectItemCaseSensitive(it, "ts");
            prizes += cJSON_IsString(kind) &&
                      strcmp(kind->valuestring, "prize") == 0;
            coupons += cJSON_IsString(kind) &&
                       strcmp(kind->valuestring, "coupon") == 0;
            if (!cJSON_IsNumber(ts) || ts->valuedouble < last)
                ordered = 0;
            last = cJSON_IsNumber(ts) ? ts->valuedouble : last;
        }
        is_int(cJSON_GetArraySize(g), 5, "alice's ledger: 5 grants");
        ok(prizes == 3 && coupons == 2, "3 prizes and 2 coupons (%d %d)",
           prizes, coupons);
        ok(ordered, "oldest first");
        cJSON_Delete(g);
    }
    has_str(s, "\"extra\":{\"expires_at\":", "coupon grants keep the expiry");
    free(s);
    s = field(&c, "pool");
    {
        char want[64];
        snprintf(want, sizeof want, "{\"phone\":%d,\"pen\":%d}", 1 - phone,
                 12 - pen);
        is_str(s, want, "remaining = stock - drawn, per prize");
    }
    free(s);
    s = field(&c, "coupon");
    is_str(s, "{\"kind\":\"c20\",\"remaining\":98}", "98 coupons left");
    free(s);
    phost_call_free(&c);

    st = phost_run(H, show, 0, "bob", NULL, T0 + 40, &c);
    s = field(&c, "ledger");
    {
        cJSON *g = cJSON_Parse(s ? s : "null");
        is_int(cJSON_GetArraySize(g), 1, "bob's ledger: his one prize");
        cJSON_Delete(g);
    }
    free(s);
    phost_call_free(&c);

    st = phost_run(H, bare, 0, "alice", NULL, T0, &c);
    {
        cJSON *d = cJSON_Parse(c.data ? c.data : "null");
        ok(st == AMS_OK && cJSON_GetArraySize(d) == 1 &&
               cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(d, "ledger")),
           "no params: only the grants");
        cJSON_Delete(d);
    }
    phost_call_free(&c);

    st = phost_run(H, unl, 0, "alice", NULL, T0, &c);
    s = field(&c, "coupon");
    is_str(s, "{\"kind\":\"free\",\"remaining\":null}",
           "a kind without stock: remaining null");
    free(s);
    phost_call_free(&c);

    st = phost_run(H, show, 0, "", NULL, T0, &c);
    is_int(st, AMS_OK, "status without a uid");
    s = field(&c, "ledger");
    is_str(s, "[]", "without a uid: no grants");
    free(s);
    phost_call_free(&c);

    /* Sell the pool out: remaining 0, never negative. */
    for (int i = 0; i < 20; i++) {
        char uid[16];
        snprintf(uid, sizeof uid, "x%d", i);
        phost_run(H, draw, 0, uid, NULL, T0, &c);
        phost_call_free(&c);
    }
    phost_run(H, show, 0, "alice", NULL, T0, &c);
    s = field(&c, "pool");
    is_str(s, "{\"phone\":0,\"pen\":0}", "sold out: 0 left of each");
    free(s);
    phost_call_free(&c);
}

int main(void)
{
    activity *a;

    H = phost_open("plug_status");
    STATUS = H ? phost_plugin(H, phost_bundled("status")) : NULL;
    POOL = H ? phost_plugin(H, phost_bundled("pool")) : NULL;
    COUPON = H ? phost_plugin(H, phost_bundled("coupon")) : NULL;
    if (!ok(STATUS && POOL && COUPON, "status.so, pool.so, coupon.so load"))
        return tap_done();
    a = phost_activity(H, 1, 0, RES);
    test_init(a);
    test_show(a);
    phost_close(H);
    return tap_done();
}
