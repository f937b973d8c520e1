/*
 * test_plug_board.c -- board.top: the top n best first, ties to whoever
 * reached the score first, the caller's rank and score, null for a caller
 * not on the board or without a uid, boards of other activities unseen.
 */
#include "phost.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static phost *H;
static plugin *P;

static instance *inst(activity *a, const char *params)
{
    char err[512];
    instance *in = phost_instance(H, a, P, "top", params, err, sizeof err);
    if (in == NULL)
        printf("# instance %s: %s\n", params, err);
    return in;
}

/* Put uid on board with score at host time now, through the host API as
 * an operation would. */
static ams_status set_score(activity *a, const char *board, const char *uid,
                            int64_t score, int64_t now)
{
    instance in;
    svc_req r;
    ams_ctx ctx;
    ams_status st;

    memset(&in, 0, sizeof in);
    memset(&r, 0, sizeof r);
    in.act = a;
    in.ref = "test.probe";
    r.uid = uid;
    r.request_id = "probe";
    r.act = a;
    svc_req_begin(&r, now);
    ctx.req = &r;
    ctx.inst = &in;
    st = services_host.board_set(&ctx, board, score);
    svc_req_end(&r);
    return st;
}

/* data.<key> of a call as JSON text (malloc'd), or NULL. */
static char *field(const phost_call *c, const char *key)
{
    cJSON *d = cJSON_Parse(c->data ? c->data : "{}");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    char *s = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(d);
    return s;
}

static void check(instance *in, const char *uid, const char *want_top,
                  const char *want_me, const char *what)
{
    phost_call c;
    ams_status st =
        in ? phost_run(H, in, 0, uid, NULL, T0 + 100, &c) : AMS_ERR;
    char *top = field(&c, "top"), *me = field(&c, "me");

    if (!ok(st == AMS_OK, "%s: AMS_OK", what))
        printf("#   %d %s\n", (int)st, c.reason);
    if (want_top != NULL)
        is_str(top, want_top, "%s: top", what);
    is_str(me, want_me, "%s: me", what);
    free(top);
    free(me);
    phost_call_free(&c);
}

static void test_init(activity *a)
{
    const plugin_entry *en = plugin_find_entry(P, "top");
    char err[512];
    instance *in;

    ok(en != NULL && en->spec->kind == AMS_HANDLER, "board.top is a handler");
    in =
        en ? phost_instance(H, a, P, "top", en->spec->example, err, sizeof err)
           : NULL;
    ok(in != NULL, "the manifest's example validates and inits (%s)", err);
    ok(phost_instance(H, a, P, "top", "{}", err, sizeof err) == NULL,
       "board is required");
    ok(phost_instance(H, a, P, "top", "{\"board\":\"b\",\"top\":0}", err,
                      sizeof err) == NULL,
       "top 0 is refused");
    ok(phost_instance(H, a, P, "top", "{\"board\":\"b\",\"top\":101}", err,
                      sizeof err) == NULL,
       "top 101 is refused");
    in = phost_instance(H, a, P, "top", "{\"board\":\"two words\"}", err,
                        sizeof err);
    ok(in == NULL && strstr(err, "bad_name") != NULL,
       "a board name with a space: bad_name (%s)", err);
}

static void test_top(activity *a, activity *other)
{
    instance *all = inst(a, "{\"board\":\"invites\"}");
    instance *two = inst(a, "{\"board\":\"invites\",\"top\":2}");
    instance *empty = inst(a, "{\"board\":\"nobody\"}");
    instance *elsewhere = inst(other, "{\"board\":\"invites\"}");
    int bad = 0;

    check(empty, "alice", "[]", "null", "an empty board");
    bad += set_score(a, "invites", "alice", 50, T0) != AMS_OK;
    bad += set_score(a, "invites", "bob", 80, T0 + 1) != AMS_OK;
    bad += set_score(a, "invites", "carol", 50, T0 + 2) != AMS_OK;
    bad += set_score(a, "invites", "dave", 10, T0 + 3) != AMS_OK;
    if (!ok(bad == 0, "scores set through the host"))
        return;
    check(all, "carol",
          "[{\"rank\":1,\"uid\":\"bob\",\"score\":80},"
          "{\"rank\":2,\"uid\":\"alice\",\"score\":50},"
          "{\"rank\":3,\"uid\":\"carol\",\"score\":50},"
          "{\"rank\":4,\"uid\":\"dave\",\"score\":10}]",
          "{\"rank\":3,\"score\":50}",
          "best first, a tie to whoever scored first; carol is 3rd");
    check(two, "dave",
          "[{\"rank\":1,\"uid\":\"bob\",\"score\":80},"
          "{\"rank\":2,\"uid\":\"alice\",\"score\":50}]",
          "{\"rank\":4,\"score\":10}",
          "top 2; dave outside the top still gets his rank");
    check(two, "erin", NULL, "null", "a caller not on the board");
    check(two, "", NULL, "null", "a request without a uid");
    check(elsewhere, "bob", "[]", "null",
          "another activity's board of the same name is another board");

    bad = set_score(a, "invites", "carol", 90, T0 + 4) != AMS_OK;
    ok(!bad, "carol's score raised to 90");
    check(two, "carol",
          "[{\"rank\":1,\"uid\":\"carol\",\"score\":90},"
          "{\"rank\":2,\"uid\":\"bob\",\"score\":80}]",
          "{\"rank\":1,\"score\":90}", "the board follows the new score");
}

static void test_default_top(activity *a)
{
    instance *in = inst(a, "{\"board\":\"many\"}");
    phost_call c;
    char uid[16], *top;
    cJSON *arr;
    int bad = 0;

    for (int i = 0; i < 25; i++) {
        snprintf(uid, sizeof uid, "m%02d", i);
        bad += set_score(a, "many", uid, 100 - i, T0 + i) != AMS_OK;
    }
    ok(bad == 0, "25 members");
    if (in == NULL ||
        phost_run(H, in, 0, "m20", NULL, T0 + 100, &c) != AMS_OK) {
        ok(0, "board.top with the default top");
        return;
    }
    top = field(&c, "top");
    arr = cJSON_Parse(top ? top : "null");
    is_int(cJSON_GetArraySize(arr), 10, "top defaults to 10");
    has_str(top, "{\"rank\":10,\"uid\":\"m09\",\"score\":91}",
            "the 10th is m09 with 91");
    cJSON_Delete(arr);
    free(top);
    top = field(&c, "me");
    is_str(top, "{\"rank\":21,\"score\":80}", "m20 is 21st");
    free(top);
    phost_call_free(&c);
}

int main(void)
{
    activity *a, *b;

    H = phost_open("plug_board");
    P = H ? phost_plugin(H, phost_bundled("board")) : NULL;
    if (!ok(P != NULL, "board.so loads"))
        return tap_done();
    a = phost_activity(H, 1, 0, NULL);
    b = phost_activity(H, 2, 0, NULL);
    test_init(a);
    test_top(a, b);
    test_default_top(a);
    phost_close(H);
    return tap_done();
}
