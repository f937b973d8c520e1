/*
 * test_idem.c -- idempotency compares requests by their canonical form
 * (pipeline.c, canon.h), through the real pipeline on a store: the same
 * params in another key order replay the recorded answer; other params
 * are 409.  And records written by the version before (hashed over the
 * params as they were sent; compact, and the older JSON records): a
 * retry with the same params replays its answer, the same params in
 * another order are refused 409 -- never run a second time.
 *
 *   AMS_TEST_PLUGINS  directory of testplug.so
 */
#include "digest.h"
#include "fixture.h"
#include "gen.h"
#include "json.h"
#include "pipeline.h"
#include "services.h"
#include "store.h"
#include "tap.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1800000000000LL
#define ACT 9200

static gen *g;

typedef struct run {
    int status;
    char text[1024]; /* the answer as sent */
    char reason[64];
    long long count; /* data.count: the counter after this run's add */
} run;

/* One request of method "inc" by uid u with request_id rid and params
 * (JSON text), as the gateway hands it to the pipeline. */
static void go(const char *rid, const char *params, run *out)
{
    method *m = gen_route(g, ACT, "inc");
    cJSON *p = cJSON_Parse(params), *b;
    const cJSON *v;
    svc_req r;
    pipe_result res;
    char *t;

    memset(out, 0, sizeof *out);
    fx_req(&r, m, "u", rid);
    r.params = p;
    svc_req_begin(&r, NOW);
    pipeline_run(&r, &res);
    svc_req_end(&r);
    t = res.raw ? res.raw : json_print(res.body);
    out->status = res.http_status;
    snprintf(out->text, sizeof out->text, "%s", t ? t : "");
    b = cJSON_Parse(out->text);
    v = cJSON_GetObjectItemCaseSensitive(b, "reason");
    snprintf(out->reason, sizeof out->reason, "%s",
             cJSON_IsString(v) ? v->valuestring : "");
    v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(b, "data"), "count");
    out->count = cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
    cJSON_Delete(b);
    if (t != res.raw)
        free(t);
    free(res.raw);
    cJSON_Delete(res.body);
    cJSON_Delete(p);
}

/* The hash the version before canonical idempotency recorded: method,
 * NUL, the params as cJSON prints them in the order they came. */
static void legacy_hash(const char *params, char out[65])
{
    cJSON *p = cJSON_Parse(params);
    char *t = cJSON_PrintUnformatted(p);

    digest_sha256_hex("inc", 4, t, strlen(t), out);
    free(t);
    cJSON_Delete(p);
}

static void idem_key(const char *rid, char key[STORE_KEY_MAX])
{
    char name[160];

    snprintf(name, sizeof name, "idem:%s", rid);
    svc_host_key(key, STORE_KEY_MAX, ACT, "u", name);
}

static void test_key_order(void)
{
    run a, b, c, d;

    go("R1", "{\"b\":1,\"a\":{\"y\":[1,{\"q\":2,\"p\":3}],\"x\":1}}", &a);
    ok(a.status == 200 && strcmp(a.reason, "ok") == 0 && a.count == 1,
       "first run: ok, counted");
    go("R1", "{\"a\":{\"x\":1.0,\"y\":[1,{\"p\":3,\"q\":2}]},\"b\":1e0}", &b);
    is_int(b.status, 200, "the same params in another key order: 200");
    is_str(b.text, a.text, "... with the recorded answer, byte for byte");
    go("R1", "{\"a\":{\"x\":1,\"y\":[{\"p\":3,\"q\":2},1]},\"b\":1}", &c);
    ok(c.status == 409 && strcmp(c.reason, "request_id_reused") == 0,
       "an array in another order is other params: 409");
    go("R1", "{\"a\":{\"x\":1,\"y\":[1,{\"p\":3,\"q\":2}]},\"b\":2}", &d);
    ok(d.status == 409, "another value: 409");
    go("R1x", "{}", &d);
    is_int(d.count, 2, "the replay counted nothing");
}

static void test_legacy_compact(void)
{
    char key[STORE_KEY_MAX], h[65], *val = NULL;
    size_t len = 0;
    uint64_t ver = 0, nv = 0;
    run a, b, c, d;

    go("R2", "{\"b\":1,\"a\":2}", &a);
    ok(a.status == 200 && a.count == 3, "R2: ok, counted");
    /* Make it a record of the version before: its hash over the params
     * in the order they came. */
    idem_key("R2", key);
    ok(store_value_get(svc.st, key, NOW, &val, &len, &ver) == AMS_OK &&
           len > 68 && val[0] == 0x01,
       "R2's record is compact");
    legacy_hash("{\"b\":1,\"a\":2}", h);
    if (val != NULL && len > 68) {
        memcpy(val + 4, h, 64);
        ok(store_value_cas(svc.st, key, ver, val, len, NOW + 86400000, NOW,
                           &nv) == AMS_OK,
           "... rewritten with the old version's hash");
    }
    free(val);
    go("R2", "{\"b\":1,\"a\":2}", &b);
    is_int(b.status, 200, "old record, same params in the same order: 200");
    is_str(b.text, a.text,
           "... its recorded answer (a retry across the "
           "upgrade is not run twice)");
    go("R2", "{\"a\":2,\"b\":1}", &c);
    ok(c.status == 409,
       "old record, same params in another order: 409, not run again");
    go("R2", "{\"b\":1,\"a\":3}", &d);
    ok(d.status == 409, "old record, other params: 409");
    go("R2x", "{}", &d);
    is_int(d.count, 4, "nothing counted for R2 since its first run");
}

static void test_legacy_json(void)
{
    char key[STORE_KEY_MAX], h[65], rec[512];
    const char *answer = "{\"code\":0,\"reason\":\"ok\",\"request_id\":\"R3\","
                         "\"data\":{\"count\":77}}";
    cJSON *o = cJSON_CreateObject();
    char *text;
    uint64_t v = 0;
    run a, b, c;

    /* The oldest records: JSON, written by the chain before write sets. */
    legacy_hash("{\"z\":1,\"y\":2}", h);
    cJSON_AddStringToObject(o, "s", "d");
    cJSON_AddStringToObject(o, "h", h);
    cJSON_AddNumberToObject(o, "st", 200);
    cJSON_AddStringToObject(o, "b", answer);
    text = cJSON_PrintUnformatted(o);
    snprintf(rec, sizeof rec, "%s", text);
    free(text);
    cJSON_Delete(o);
    idem_key("R3", key);
    ok(store_value_cas(svc.st, key, 0, rec, strlen(rec), NOW + 86400000, NOW,
                       &v) == AMS_OK,
       "a JSON record of an old version stored");
    go("R3", "{\"z\":1,\"y\":2}", &a);
    ok(a.status == 200 && strcmp(a.text, answer) == 0,
       "JSON record, same params as sent: its answer replayed");
    go("R3", "{\"y\":2,\"z\":1}", &b);
    ok(b.status == 409, "JSON record, another order: 409");
    go("R3x", "{}", &c);
    is_int(c.count, 5, "nothing counted for R3");

    /* Params already in canonical order hash the same in both versions:
     * a record of either matches without a second hash. */
    legacy_hash("{\"a\":1}", h);
    go("R4", "{\"a\":1}", &a);
    idem_key("R4", key);
    {
        char *val = NULL;
        size_t len = 0;
        uint64_t ver = 0;
        store_value_get(svc.st, key, NOW, &val, &len, &ver);
        ok(val != NULL && len > 68 && memcmp(val + 4, h, 64) == 0,
           "for sorted params the new hash is the old one");
        free(val);
    }
}

int main(void)
{
    const char *tp = getenv("AMS_TEST_PLUGINS");
    char dir[PATH_MAX], so[PATH_MAX * 2], plug[PATH_MAX * 2 + 16];
    const char *acts, *plugins;
    errs e = {0};

    if (tp == NULL) {
        printf("Bail out! AMS_TEST_PLUGINS must be set\n");
        return 1;
    }
    fx_scratch(dir, sizeof dir, "idem");
    acts = fx_fresh_dir(dir, "activities");
    plugins = fx_fresh_dir(dir, "plugins");
    snprintf(so, sizeof so, "%s/testplug.so", tp);
    snprintf(plug, sizeof plug, "%s/testplug.so", plugins);
    if (symlink(so, plug) < 0)
        printf("# symlink %s: %s\n", plug, strerror(errno));
    fx_put(acts, "inc.conf",
           "activities = ({ id = 9200; name = \"inc\";"
           " start = \"2026-01-01T00:00:00Z\"; end = \"2030-01-01T00:00:00Z\";"
           " methods = ({ name = \"inc\"; login = true;"
           " operations = ({ use = \"testplug.count\";"
           " params = { key = \"n\"; max = 1000; }; }); }); });\n");
    svc.st = fx_store_open("mem:idem", 0, STORE_SYNC_FULL);
    svc.idem_ttl_ms = 86400000;
    svc_seed(1);
    g = fx_gen_build(plugins, acts, 1, &e);
    if (!ok(g != NULL, "an activity that counts")) {
        fx_dump_errs(&e);
        return tap_done();
    }
    errs_free(&e);
    test_key_order();
    test_legacy_compact();
    test_legacy_json();
    gen_unref(g);
    store_close(svc.st);
    svc.st = NULL;
    return tap_done();
}
