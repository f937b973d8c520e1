/*
 * test_plug_tag.c -- tag.match (every op, scopes kept apart, anonymous
 * requests, init refusals, rules that can never pass) and tag.set
 * (default value, TTL, scopes, undo restoring the old value or deleting a
 * new tag, within the request that set it).
 */
#include "phost.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define T0 1767225600000LL

static phost *h;
static plugin *p;
static activity *act, *act2;

static instance *mk_in(activity *a, const char *entry, const char *params)
{
    char err[512];
    instance *in = phost_instance(h, a, p, entry, params, err, sizeof err);
    if (in == NULL)
        printf("# %s %s: %s\n", entry, params, err);
    return in;
}

static instance *mk(const char *entry, const char *params)
{
    return mk_in(act, entry, params);
}

/* "ok", the failure reason, or "err<status>". */
static const char *run_at(instance *in, const char *uid, int64_t now)
{
    static char out[80];
    phost_call c;

    if (in == NULL)
        return "no instance";
    phost_run(h, in, 0, uid, NULL, now, &c);
    if (c.st == AMS_OK)
        snprintf(out, sizeof out, "ok");
    else if (c.st == AMS_FAIL)
        snprintf(out, sizeof out, "%s", c.reason);
    else
        snprintf(out, sizeof out, "err%d", (int)c.st);
    phost_call_free(&c);
    return out;
}

static const char *run(instance *in, const char *uid)
{
    return run_at(in, uid, T0);
}

static void refused(const char *entry, const char *params, const char *why)
{
    char err[512];
    instance *in = phost_instance(h, act, p, entry, params, err, sizeof err);
    ok(in == NULL, "%s refused: %s", entry, params);
    has_str(err, why, "  ... with %s", why);
}

/* Set a tag through tag.set (scope, name, value). */
static void put(activity *a, const char *scope, const char *uid,
                const char *name, const char *value)
{
    char params[256];
    snprintf(params, sizeof params,
             "{\"tag\":\"%s\",\"scope\":\"%s\",\"value\":\"%s\"}", name, scope,
             value);
    is_str(run(mk_in(a, "set", params), uid), "ok", "set %s tag %s=%s (%s)",
           scope, name, value, uid);
}

static void test_refusals(void)
{
    refused("match", "{\"tag\":\"t\",\"scope\":\"global\"}", "bad_scope");
    refused("match", "{\"tag\":\"t\",\"op\":\"like\"}", "unknown_op");
    refused("match", "{\"tag\":\"t\",\"op\":\"equals\"}", "missing_param");
    refused("match", "{\"tag\":\"t\",\"op\":\"in\"}", "missing_param");
    refused("match", "{\"tag\":\"t\",\"op\":\"range\"}", "missing_param");
    refused("match", "{\"tag\":\"t\",\"value\":\"x\"}", "unused_param");
    refused("match",
            "{\"tag\":\"t\",\"op\":\"equals\",\"value\":\"x\","
            "\"values\":[\"x\"]}",
            "unused_param");
    refused("match",
            "{\"tag\":\"t\",\"op\":\"in\",\"values\":[\"x\"],"
            "\"min\":1}",
            "unused_param");
    refused("match", "{\"scope\":\"user\"}", "tag");
    refused("match", "{\"tag\":\"t\",\"min\":\"1\",\"op\":\"range\"}", "min");
    refused("set", "{\"tag\":\"t\",\"scope\":\"global\"}", "bad_scope");
    refused("set", "{\"tag\":\"t\",\"ttl_ms\":-1}", "ttl_ms");
    refused("set", "{\"value\":\"1\"}", "tag");
}

static void test_constant(void)
{
    instance *in = mk("match", "{\"tag\":\"t\",\"op\":\"in\",\"values\":[]}");
    is_int(in ? in->constant : -2, 0, "in with no values never passes");
    in = mk("match", "{\"tag\":\"t\",\"op\":\"range\",\"min\":5,\"max\":1}");
    is_int(in ? in->constant : -2, 0, "range with min > max never passes");
    in = mk("match", "{\"tag\":\"t\",\"op\":\"range\",\"min\":1,\"max\":1}");
    is_int(in ? in->constant : -2, -1, "range min = max may pass");
    in = mk("match", "{\"tag\":\"t\"}");
    is_int(in ? in->constant : -2, -1, "exists may pass");
}

static void test_scopes(void)
{
    instance *crowd = mk("match", "{\"tag\":\"level\"}");
    instance *user = mk("match", "{\"tag\":\"level\",\"scope\":\"user\"}");
    instance *actv = mk("match", "{\"tag\":\"level\",\"scope\":\"activity\"}");
    instance *crowd2 = mk_in(act2, "match", "{\"tag\":\"level\"}");
    instance *user2 =
        mk_in(act2, "match", "{\"tag\":\"level\",\"scope\":\"user\"}");

    is_str(run(crowd, "u1"), "tag_missing", "no tag yet");
    put(act, "crowd", "u1", "level", "gold");
    is_str(run(crowd, "u1"), "ok", "crowd tag exists");
    is_str(run(crowd, "u2"), "tag_missing", "not for another user");
    is_str(run(user, "u1"), "tag_missing", "a crowd tag is not a user tag");
    is_str(run(actv, "u1"), "tag_missing", "nor an activity tag");
    is_str(run(crowd2, "u1"), "ok", "crowd tags span activities");

    put(act, "user", "u2", "level", "silver");
    is_str(run(user, "u2"), "ok", "user tag exists");
    is_str(run(crowd, "u2"), "tag_missing", "a user tag is not a crowd tag");
    is_str(run(user2, "u2"), "tag_missing",
           "user tags belong to their activity");

    put(act, "activity", "u3", "level", "open");
    is_str(run(actv, "u9"), "ok", "an activity tag is there for everyone");
    is_str(run(actv, ""), "ok", "... even without a uid");
    is_str(run(user, "u3"), "tag_missing", "... and is not a user tag");
    is_str(run(crowd, ""), "tag_missing", "no uid: no crowd tag");
    is_str(run(user, ""), "tag_missing", "no uid: no user tag");
}

static void test_ops(void)
{
    instance *eq = mk("match", "{\"tag\":\"level\",\"op\":\"equals\","
                               "\"value\":\"gold\"}");
    instance *in = mk("match", "{\"tag\":\"level\",\"op\":\"in\","
                               "\"values\":[\"vip\",\"gold\"]}");
    instance *none = mk("match", "{\"tag\":\"level\",\"op\":\"in\","
                                 "\"values\":[]}");
    instance *r = mk("match", "{\"tag\":\"score\",\"op\":\"range\","
                              "\"min\":10,\"max\":50}");
    instance *lo = mk("match", "{\"tag\":\"score\",\"op\":\"range\","
                               "\"min\":42}");
    instance *hi = mk("match", "{\"tag\":\"score\",\"op\":\"range\","
                               "\"max\":41.5}");
    instance *exact = mk("match", "{\"tag\":\"score\",\"op\":\"range\","
                                  "\"min\":42,\"max\":42}");

    /* u1 has crowd level=gold from test_scopes. */
    is_str(run(eq, "u1"), "ok", "equals gold");
    is_str(run(eq, "u9"), "tag_missing", "equals: missing tag");
    put(act, "crowd", "u4", "level", "golden");
    is_str(run(eq, "u4"), "tag_mismatch", "equals: golden is not gold");
    is_str(run(in, "u1"), "ok", "in: gold is listed");
    is_str(run(in, "u4"), "tag_mismatch", "in: golden is not");
    is_str(run(none, "u1"), "tag_mismatch", "in []: never");

    put(act, "crowd", "u5", "score", "42");
    is_str(run(r, "u5"), "ok", "range 10..50: 42");
    is_str(run(lo, "u5"), "ok", "range min 42 is inclusive");
    is_str(run(exact, "u5"), "ok", "range 42..42");
    is_str(run(hi, "u5"), "tag_mismatch", "range max 41.5: 42 is above");
    put(act, "crowd", "u6", "score", "50");
    is_str(run(r, "u6"), "ok", "range max 50 is inclusive");
    put(act, "crowd", "u6", "score", "50.01");
    is_str(run(r, "u6"), "tag_mismatch", "50.01 is above 50");
    put(act, "crowd", "u6", "score", "-3e1");
    is_str(run(hi, "u6"), "ok", "-3e1 is a number below 41.5");
    put(act, "crowd", "u6", "score", "abc");
    is_str(run(r, "u6"), "tag_mismatch", "not a number");
    put(act, "crowd", "u6", "score", "42x");
    is_str(run(r, "u6"), "tag_mismatch", "a number with trailing junk");
    put(act, "crowd", "u6", "score", "nan");
    is_str(run(lo, "u6"), "tag_mismatch", "nan is not a number here");
    put(act, "crowd", "u6", "score", "");
    is_str(run(lo, "u6"), "tag_mismatch", "empty is not a number");
    is_str(run(r, "u7"), "tag_missing", "range: missing tag");
}

static void test_set(void)
{
    instance *set = mk("set", "{\"tag\":\"joined\"}");
    instance *is1 = mk("match", "{\"tag\":\"joined\",\"scope\":\"user\","
                                "\"op\":\"equals\",\"value\":\"1\"}");
    instance *tmp = mk("set", "{\"tag\":\"promo\",\"value\":\"x\","
                              "\"ttl_ms\":1000}");
    instance *has = mk("match", "{\"tag\":\"promo\",\"scope\":\"user\"}");

    is_str(run(is1, "u1"), "tag_missing", "not joined yet");
    is_str(run(set, "u1"), "ok", "tag.set with defaults");
    is_str(run(is1, "u1"), "ok", "user scope, value \"1\" by default");
    is_str(run(set, ""), "err-1", "user scope without a uid is a fault");

    is_str(run_at(tmp, "u1", T0), "ok", "set with ttl_ms 1000");
    is_str(run_at(has, "u1", T0 + 999), "ok", "there before its TTL");
    is_str(run_at(has, "u1", T0 + 1000), "tag_missing", "gone after it");
}

/* tag.set and its undo in one request, as the pipeline runs them; *mid
 * gets the tag's value between the two ("-" when absent). */
static int set_and_undo(instance *in, ams_scope scope, const char *name,
                        const char *uid, char *mid, size_t midlen)
{
    svc_req r;
    ams_ctx c1, c2;
    const char *v = NULL;
    ams_status st1, st2;

    memset(&r, 0, sizeof r);
    r.uid = uid;
    r.request_id = "pair";
    r.client_ip = "127.0.0.1";
    r.act = in->act;
    svc_req_begin(&r, T0);
    memset(&c1, 0, sizeof c1);
    c1.req = &r;
    c1.inst = in;
    st1 = svc_call(in->entry->fn, &c1);
    snprintf(mid, midlen, "%s",
             services_host.tag_get(&c1, scope, name, &v) == AMS_OK ? v : "-");
    c2 = c1;
    c2.reason[0] = '\0';
    st2 = svc_call(in->entry->undo, &c2);
    svc_req_end(&r);
    return st1 == AMS_OK && st2 == AMS_OK;
}

static void test_undo(void)
{
    instance *set = mk("set", "{\"tag\":\"level\",\"scope\":\"crowd\","
                              "\"value\":\"bronze\"}");
    instance *eq = mk("match", "{\"tag\":\"level\",\"op\":\"equals\","
                               "\"value\":\"gold\"}");
    instance *newtag = mk("set", "{\"tag\":\"fresh\",\"scope\":\"activity\"}");
    instance *fresh =
        mk("match", "{\"tag\":\"fresh\",\"scope\":\"activity\"}");
    instance *bare = mk("set", "{\"tag\":\"e\",\"value\":\"\"}");
    instance *ebare = mk("match", "{\"tag\":\"e\",\"scope\":\"user\","
                                  "\"op\":\"equals\",\"value\":\"\"}");
    char mid[128];
    phost_call c;

    /* u1's crowd level is gold (test_scopes). */
    ok(set &&
           set_and_undo(set, AMS_SCOPE_CROWD, "level", "u1", mid, sizeof mid),
       "set + undo over an old value");
    is_str(mid, "bronze", "  the set took effect");
    is_str(run(eq, "u1"), "ok", "  undo restored gold");

    ok(newtag && set_and_undo(newtag, AMS_SCOPE_ACTIVITY, "fresh", "u1", mid,
                              sizeof mid),
       "set + undo of a new tag");
    is_str(mid, "1", "  the set took effect");
    is_str(run(fresh, "u1"), "tag_missing", "  undo deleted it");

    put(act, "user", "u8", "e", "");
    ok(bare && set_and_undo(bare, AMS_SCOPE_USER, "e", "u8", mid, sizeof mid),
       "set + undo over an empty value");
    is_str(run(ebare, "u8"), "ok", "  the empty value is back, not deleted");

    /* An undo in a request that never set the tag has nothing to restore. */
    phost_run(h, set, 1, "u1", NULL, T0, &c);
    is_int(c.st, AMS_ERR, "undo without the call's note is a fault");
    phost_call_free(&c);
    is_str(run(eq, "u1"), "ok", "  and changes nothing");
}

static void test_examples(void)
{
    const char *names[] = {"match", "set"};
    for (int i = 0; i < 2; i++) {
        const plugin_entry *en = plugin_find_entry(p, names[i]);
        ok(en && en->spec->example && mk(names[i], en->spec->example),
           "tag.%s: the manifest's example validates and inits", names[i]);
    }
}

int main(void)
{
    h = phost_open("plug_tag");
    p = h ? phost_plugin(h, phost_bundled("tag")) : NULL;
    act = p ? phost_activity(h, 1, 0, NULL) : NULL;
    act2 = p ? phost_activity(h, 2, 0, NULL) : NULL;
    if (act2 == NULL) {
        ok(0, "phost and tag.so");
        phost_close(h);
        return tap_done();
    }
    test_refusals();
    test_constant();
    test_scopes();
    test_ops();
    test_set();
    test_undo();
    test_examples();
    phost_close(h);
    return tap_done();
}
