/*
 * test_services.c -- the host table as plugins see it: key namespacing
 * (activities and users cannot see each other's data), per-day periods in
 * the activity's time zone, lock release at the end of a request, reply
 * and reason validation, typed request and config params.
 */
#include "services.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const ams_host *H = &services_host;

typedef struct fixture {
    activity act;
    instance inst;
    svc_req req;
    ams_ctx ctx;
    cJSON *body;
} fixture;

/* A request of user uid to activity id at host time now_ms. */
static void begin(fixture *f, int64_t id, int tz_min, const char *uid,
                  int64_t now_ms, const char *params_json)
{
    memset(f, 0, sizeof *f);
    f->act.id = id;
    f->act.tz_offset_min = tz_min;
    f->inst.act = &f->act;
    f->inst.ref = "test.entry";
    f->inst.params = cJSON_Parse("{\"n\":7,\"x\":2.5,\"s\":\"str\","
                                 "\"b\":true,\"list\":[\"a\",\"b\"],"
                                 "\"obj\":{\"k\":[1,2]}}");
    f->body = cJSON_Parse(params_json ? params_json : "{}");
    f->req.uid = uid;
    f->req.request_id = "r1";
    f->req.params = f->body;
    f->req.act = &f->act;
    svc_req_begin(&f->req, now_ms);
    f->ctx.req = &f->req;
    f->ctx.inst = &f->inst;
}

static void end(fixture *f)
{
    svc_req_end(&f->req);
    cJSON_Delete(f->inst.params);
    cJSON_Delete(f->inst.json_cache);
    cJSON_Delete(f->body);
}

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define HOUR 3600000LL

static void test_namespaces(void)
{
    fixture a, b, c;
    int64_t v = -1;
    const char *s = NULL;

    begin(&a, 1, 0, "alice", T0, NULL);
    is_int(H->counter_add(&a.ctx, AMS_SCOPE_USER, "n", AMS_PERIOD_NONE, 5, 0,
                          100, &v),
           AMS_OK, "user counter add");
    is_int(H->counter_add(&a.ctx, AMS_SCOPE_ACTIVITY, "n", AMS_PERIOD_NONE, 2,
                          0, 100, &v),
           AMS_OK, "activity counter add");
    is_int(H->tag_set(&a.ctx, AMS_SCOPE_CROWD, "old_user", "1", 0), AMS_OK,
           "crowd tag set");
    end(&a);

    begin(&b, 1, 0, "bob", T0, NULL);
    H->counter_get(&b.ctx, AMS_SCOPE_USER, "n", AMS_PERIOD_NONE, &v);
    is_int(v, 0, "another user does not see alice's user counter");
    H->counter_get(&b.ctx, AMS_SCOPE_ACTIVITY, "n", AMS_PERIOD_NONE, &v);
    is_int(v, 2, "another user shares the activity counter");
    is_int(H->tag_get(&b.ctx, AMS_SCOPE_CROWD, "old_user", &s), AMS_NOT_FOUND,
           "crowd tags are per user");
    end(&b);

    begin(&c, 2, 0, "alice", T0, NULL);
    H->counter_get(&c.ctx, AMS_SCOPE_USER, "n", AMS_PERIOD_NONE, &v);
    is_int(v, 0, "another activity does not see alice's user counter");
    H->counter_get(&c.ctx, AMS_SCOPE_ACTIVITY, "n", AMS_PERIOD_NONE, &v);
    is_int(v, 0, "another activity does not see the activity counter");
    is_int(H->tag_get(&c.ctx, AMS_SCOPE_CROWD, "old_user", &s), AMS_OK,
           "crowd tags are shared across activities");
    is_str(s, "1", "crowd tag value");
    end(&c);

    /* A uid with the separator cannot forge another user's key. */
    begin(&a, 3, 0, "a:b", T0, NULL);
    H->counter_add(&a.ctx, AMS_SCOPE_USER, "k", AMS_PERIOD_NONE, 1, 0, 9,
                   NULL);
    end(&a);
    begin(&b, 3, 0, "a", T0, NULL);
    H->counter_get(&b.ctx, AMS_SCOPE_USER, "b:k", AMS_PERIOD_NONE, &v);
    is_int(v, 0, "uid \"a\" + key \"b:k\" is not uid \"a:b\" + key \"k\"");
    end(&b);

    begin(&a, 1, 0, "", T0, NULL);
    is_int(H->counter_add(&a.ctx, AMS_SCOPE_USER, "n", AMS_PERIOD_NONE, 1, 0,
                          9, NULL),
           AMS_ERR, "user scope without a uid is refused");
    is_int(H->counter_add(&a.ctx, AMS_SCOPE_ACTIVITY, "bad key",
                          AMS_PERIOD_NONE, 1, 0, 9, NULL),
           AMS_ERR, "a key with a space is refused");
    is_int(H->counter_add(&a.ctx, (ams_scope)9, "k", AMS_PERIOD_NONE, 1, 0, 9,
                          NULL),
           AMS_ERR, "an unknown scope is refused");
    end(&a);
}

static void test_periods(void)
{
    fixture f;
    int64_t v = -1;
    /* UTC+8: a new day starts at 16:00 UTC. */
    int64_t before = T0 + 15 * HOUR + 59 * 60000; /* 23:59 in UTC+8 */
    int64_t after = T0 + 16 * HOUR + 60000;       /* 00:01 next day */

    begin(&f, 10, 8 * 60, "u", before, NULL);
    is_int(H->counter_add(&f.ctx, AMS_SCOPE_USER, "daily", AMS_PERIOD_DAY, 3,
                          0, 3, &v),
           AMS_OK, "daily counter to its bound");
    is_int(H->counter_add(&f.ctx, AMS_SCOPE_USER, "daily", AMS_PERIOD_DAY, 1,
                          0, 3, &v),
           AMS_CONFLICT, "the bound holds within the day");
    end(&f);

    begin(&f, 10, 8 * 60, "u", after, NULL);
    H->counter_get(&f.ctx, AMS_SCOPE_USER, "daily", AMS_PERIOD_DAY, &v);
    is_int(v, 0, "a new day in the activity's time zone starts at zero");
    is_int(H->counter_add(&f.ctx, AMS_SCOPE_USER, "daily", AMS_PERIOD_DAY, 1,
                          0, 3, &v),
           AMS_OK, "and can be added to again");
    end(&f);

    /* Same instants in UTC: both fall on the same UTC day. */
    begin(&f, 11, 0, "u", before, NULL);
    H->counter_add(&f.ctx, AMS_SCOPE_USER, "daily", AMS_PERIOD_DAY, 3, 0, 3,
                   NULL);
    end(&f);
    begin(&f, 11, 0, "u", after, NULL);
    H->counter_get(&f.ctx, AMS_SCOPE_USER, "daily", AMS_PERIOD_DAY, &v);
    is_int(v, 3, "in UTC the two instants are one day");
    end(&f);

    /* Three days later the old period's record has expired. */
    begin(&f, 10, 8 * 60, "u", before + 72 * HOUR, NULL);
    {
        size_t removed = 0;
        store_sweep(svc.st, before + 72 * HOUR, 1000, &removed);
        ok(removed >= 2, "sweep removes old daily counters (%zu)", removed);
    }
    end(&f);
}

static void test_locks(void)
{
    fixture a, b;
    char t1[AMS_TOKEN_LEN], t2[AMS_TOKEN_LEN];

    begin(&a, 20, 0, "u", T0, NULL);
    is_int(H->lock(&a.ctx, AMS_SCOPE_ACTIVITY, "l", 60000, t1), AMS_OK,
           "lock taken");
    is_int(strlen(t1), 32, "token is 32 hex digits");
    begin(&b, 20, 0, "v", T0, NULL);
    is_int(H->lock(&b.ctx, AMS_SCOPE_ACTIVITY, "l", 60000, t2), AMS_CONFLICT,
           "a second request cannot take it");
    is_int(H->unlock(&b.ctx, AMS_SCOPE_ACTIVITY, "l", t2), AMS_CONFLICT,
           "nor release it with its own token");
    end(&a); /* request a ends without unlocking */
    is_int(H->lock(&b.ctx, AMS_SCOPE_ACTIVITY, "l", 60000, t2), AMS_OK,
           "the host released it when the holder's request ended");
    is_int(H->unlock(&b.ctx, AMS_SCOPE_ACTIVITY, "l", t2), AMS_OK,
           "released by its token");
    end(&b);

    begin(&a, 20, 0, "u", T0, NULL);
    H->lock(&a.ctx, AMS_SCOPE_ACTIVITY, "ttl", 1000, t1);
    end(&a);
    begin(&a, 20, 0, "u", T0, NULL);
    is_int(H->lock(&a.ctx, AMS_SCOPE_ACTIVITY, "ttl", 0, t1), AMS_ERR,
           "a lock needs a positive TTL");
    end(&a);
}

static void test_values_and_tags(void)
{
    fixture f;
    const char *v = NULL;
    size_t len = 0;
    uint64_t ver = 99;

    begin(&f, 30, 0, "u", T0, NULL);
    is_int(H->value_get(&f.ctx, AMS_SCOPE_USER, "doc", &v, &len, &ver),
           AMS_NOT_FOUND, "absent value");
    is_int(ver, 0, "absent value has version 0");
    is_int(H->value_cas(&f.ctx, AMS_SCOPE_USER, "doc", 0, "one", 3, 0, &ver),
           AMS_OK, "cas from version 0");
    is_int(H->value_cas(&f.ctx, AMS_SCOPE_USER, "doc", 0, "two", 3, 0, NULL),
           AMS_CONFLICT, "stale version conflicts");
    is_int(H->value_get(&f.ctx, AMS_SCOPE_USER, "doc", &v, &len, &ver), AMS_OK,
           "value read back");
    ok(len == 3 && memcmp(v, "one", 3) == 0, "value is the first write");
    is_int(H->tag_set(&f.ctx, AMS_SCOPE_USER, "t", "x", 1000), AMS_OK,
           "tag with TTL");
    end(&f);
    begin(&f, 30, 0, "u", T0 + 2000, NULL);
    is_int(H->tag_get(&f.ctx, AMS_SCOPE_USER, "t", &v), AMS_NOT_FOUND,
           "tag expired on the host clock");
    end(&f);
}

static void test_params_and_reply(void)
{
    fixture f;
    int64_t i = 0;
    double d = 0;
    const char *s = NULL;
    int b = 0;
    char *out;

    begin(&f, 40, 0, "u", T0, "{\"amount\":500,\"rate\":0.5,\"name\":\"x\"}");
    is_int(H->req_int(&f.ctx, "amount", &i), AMS_OK, "req_int");
    is_int(i, 500, "req_int value");
    is_int(H->req_int(&f.ctx, "rate", &i), AMS_ERR, "0.5 is not an int");
    is_int(H->req_number(&f.ctx, "amount", &d), AMS_OK, "int as number");
    is_int(H->req_str(&f.ctx, "amount", &s), AMS_ERR, "number is not string");
    is_int(H->req_str(&f.ctx, "missing", &s), AMS_NOT_FOUND, "absent field");
    is_str(H->req_json(&f.ctx), "{\"amount\":500,\"rate\":0.5,\"name\":\"x\"}",
           "req_json");
    is_int(H->conf_int(&f.ctx, "n", &i), AMS_OK, "conf_int");
    is_int(H->conf_bool(&f.ctx, "b", &b), AMS_OK, "conf_bool");
    ok(b == 1, "conf_bool value");
    is_int(H->conf_count(&f.ctx, "list"), 2, "conf_count");
    H->conf_item(&f.ctx, "list", 1, &s);
    is_str(s, "b", "conf_item");
    is_str(H->conf_json(&f.ctx, "obj"), "{\"k\":[1,2]}", "conf_json");
    ok(H->conf_json(&f.ctx, "obj") == H->conf_json(&f.ctx, "obj"),
       "conf_json is cached (stable pointer)");

    is_int(H->set_reason(&f.ctx, "Sold Out"), AMS_ERR,
           "a reason must be [a-z0-9_]");
    is_int(H->set_reason(&f.ctx, "sold_out"), AMS_OK, "good reason");
    is_str(f.ctx.reason, "sold_out", "reason stored");
    is_int(H->reply_json(&f.ctx, "j", "{bad"), AMS_ERR,
           "reply_json refuses invalid JSON");
    H->reply_int(&f.ctx, "a", 1);
    H->reply_int(&f.ctx, "a", 2);
    H->reply_str(&f.ctx, "s", "v");
    out = cJSON_PrintUnformatted(f.req.data);
    is_str(out, "{\"a\":2,\"s\":\"v\"}", "a key set twice keeps the last");
    free(out);
    is_int(H->activity_id(&f.ctx), 40, "activity_id");
    is_int(H->now_ms(&f.ctx) - T0 < 1000, 1,
           "now_ms follows the request clock");
    end(&f);
}

int main(void)
{
    char dir[512], uri[600], err[256];
    const char *tmp = getenv("AMS_TEST_TMP");
    store_options so = {0};

    snprintf(dir, sizeof dir, "%s/svc.XXXXXX", tmp ? tmp : "/tmp");
    if (tmp)
        mkdir(tmp, 0700);
    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp %s\n", dir);
        return 1;
    }
    snprintf(uri, sizeof uri, "lmdb:%s", dir);
    so.uri = uri;
    so.lmdb_sync = STORE_SYNC_NONE;
    svc.st = store_open(&so, err, sizeof err);
    if (svc.st == NULL) {
        printf("Bail out! %s\n", err);
        return 1;
    }
    svc_seed(1);
    test_namespaces();
    test_periods();
    test_locks();
    test_values_and_tags();
    test_params_and_reply();
    store_close(svc.st);
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", dir);
    }
    return tap_done();
}
