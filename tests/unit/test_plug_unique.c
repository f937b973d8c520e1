/*
 * test_plug_unique.c -- unique.claim: a value is claimed once, then
 * refused with the reason; other values, other activities and (with
 * scope user) other users are independent; integers and their text are
 * one value; bad and missing params; undo releases the claim; init
 * refusals.
 */
#include "phost.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define T0 1767225600000LL

static phost *h;
static plugin *p;
static activity *act, *act2;

static instance *mk_in(activity *a, const char *params)
{
    char err[512];
    instance *in = phost_instance(h, a, p, "claim", params, err, sizeof err);
    if (in == NULL)
        printf("# %s: %s\n", params, err);
    return in;
}

static const char *call(instance *in, int undo, const char *uid,
                        const char *req)
{
    static char out[80];
    phost_call c;

    if (in == NULL)
        return "no instance";
    phost_run(h, in, undo, uid, req, T0, &c);
    if (c.st == AMS_OK)
        snprintf(out, sizeof out, "ok");
    else if (c.st == AMS_FAIL)
        snprintf(out, sizeof out, "%s", c.reason);
    else
        snprintf(out, sizeof out, "err%d", (int)c.st);
    phost_call_free(&c);
    return out;
}

static const char *run(instance *in, const char *uid, const char *req)
{
    return call(in, 0, uid, req);
}

static void refused(const char *params, const char *why)
{
    char err[512];
    ok(phost_instance(h, act, p, "claim", params, err, sizeof err) == NULL,
       "refused: %s", params);
    has_str(err, why, "  ... with %s", why);
}

static void test_once(void)
{
    instance *in = mk_in(act, "{\"field\":\"invitee\"}");
    instance *other = mk_in(act2, "{\"field\":\"invitee\"}");
    instance *phone = mk_in(act, "{\"field\":\"phone\","
                                 "\"reason\":\"already_invited\"}");

    is_str(run(in, "u1", "{\"invitee\":\"p1\"}"), "ok", "first claim of p1");
    is_str(run(in, "u1", "{\"invitee\":\"p1\"}"), "duplicate",
           "p1 again: duplicate");
    is_str(run(in, "u2", "{\"invitee\":\"p1\"}"), "duplicate",
           "p1 by another user: duplicate (activity scope)");
    is_str(run(in, "", "{\"invitee\":\"p1\"}"), "duplicate",
           "p1 without a uid: duplicate");
    is_str(run(in, "u1", "{\"invitee\":\"p2\"}"), "ok", "p2 is another value");
    is_str(run(other, "u1", "{\"invitee\":\"p1\"}"), "ok",
           "p1 in another activity");
    is_str(run(phone, "u1", "{\"phone\":\"p1\"}"), "ok",
           "p1 in another field");
    is_str(run(phone, "u1", "{\"phone\":\"p1\"}"), "already_invited",
           "the configured reason");

    is_str(run(in, "u1", "{\"invitee\":42}"), "ok", "an integer value");
    is_str(run(in, "u1", "{\"invitee\":\"42\"}"), "duplicate",
           "  is the same value as its text");
    is_str(run(in, "u1", "{\"invitee\":-7}"), "ok", "a negative integer");
    is_str(run(in, "u1", "{\"invitee\":\"-7\"}"), "duplicate", "  likewise");
}

static void test_user_scope(void)
{
    instance *in = mk_in(act, "{\"field\":\"order\",\"scope\":\"user\"}");

    is_str(run(in, "u1", "{\"order\":\"o1\"}"), "ok", "user scope: u1 o1");
    is_str(run(in, "u2", "{\"order\":\"o1\"}"), "ok", "user scope: u2 o1");
    is_str(run(in, "u1", "{\"order\":\"o1\"}"), "duplicate",
           "user scope: u1 o1 again");
    is_str(run(in, "", "{\"order\":\"o1\"}"), "err-1",
           "user scope without a uid is a fault");
}

static void test_params(void)
{
    instance *in = mk_in(act, "{\"field\":\"code\"}");
    char req[300], v[160];

    is_str(run(in, "u1", NULL), "missing_param", "no params");
    is_str(run(in, "u1", "{\"other\":\"x\"}"), "missing_param",
           "no such param");
    is_str(run(in, "u1", "{\"code\":1.5}"), "bad_param", "1.5");
    is_str(run(in, "u1", "{\"code\":true}"), "bad_param", "a bool");
    is_str(run(in, "u1", "{\"code\":null}"), "bad_param", "null");
    is_str(run(in, "u1", "{\"code\":[\"a\"]}"), "bad_param", "a list");
    is_str(run(in, "u1", "{\"code\":\"\"}"), "bad_param", "empty");
    is_str(run(in, "u1", "{\"code\":\"a b\"}"), "bad_param", "a space");
    is_str(run(in, "u1", "{\"code\":\"a\\tb\"}"), "bad_param", "a tab");
    is_str(run(in, "u1", "{\"code\":\"caf\\u00e9\"}"), "bad_param",
           "not ASCII");
    memset(v, 'x', 151);
    v[151] = '\0';
    snprintf(req, sizeof req, "{\"code\":\"%s\"}", v);
    is_str(run(in, "u1", req), "bad_param", "151 characters");
    v[150] = '\0';
    snprintf(req, sizeof req, "{\"code\":\"%s\"}", v);
    is_str(run(in, "u1", req), "ok", "150 characters");
    is_str(run(in, "u1", req), "duplicate", "  claimed once");
    is_str(run(in, "u1", "{\"code\":\"~!{}:@\"}"), "ok", "punctuation");

    /* The longest field and value still make a valid host key. */
    in =
        mk_in(act, "{\"field\":\"ffffffffffffffffffffffffffffffffffffffff\"}");
    snprintf(req, sizeof req,
             "{\"ffffffffffffffffffffffffffffffffffffffff\":\"%s\"}", v);
    is_str(run(in, "u1", req), "ok",
           "40-character field, 150-character value");
}

static void test_undo(void)
{
    instance *in = mk_in(act, "{\"field\":\"invitee\"}");
    instance *mine = mk_in(act, "{\"field\":\"ref\",\"scope\":\"user\"}");

    is_str(run(in, "u1", "{\"invitee\":\"p9\"}"), "ok", "claim p9");
    is_str(call(in, 1, "u1", "{\"invitee\":\"p9\"}"), "ok", "undo");
    is_str(run(in, "u2", "{\"invitee\":\"p9\"}"), "ok",
           "p9 can be claimed again after the undo");
    is_str(run(in, "u3", "{\"invitee\":\"p9\"}"), "duplicate",
           "  and then only once");

    is_str(run(mine, "u1", "{\"ref\":\"r\"}"), "ok", "user scope claim");
    is_str(call(mine, 1, "u1", "{\"ref\":\"r\"}"), "ok", "user scope undo");
    is_str(run(mine, "u1", "{\"ref\":\"r\"}"), "ok", "claimed again");
    is_str(call(in, 1, "u1", "{}"), "err-1",
           "undo without the param is a fault");
}

static void test_refusals(void)
{
    const plugin_entry *en = plugin_find_entry(p, "claim");

    refused("{\"field\":\"x\",\"scope\":\"crowd\"}", "bad_scope");
    refused("{\"field\":\"x\",\"reason\":\"Dup!\"}", "bad_reason");
    refused("{\"field\":\"a b\"}", "bad_field");
    refused("{\"scope\":\"user\"}", "field");
    refused("{\"field\":\"fffffffffffffffffffffffffffffffffffffffff\"}",
            "field");
    refused("{\"field\":\"x\",\"reason\":\"\"}", "reason");
    ok(en && en->spec->example && mk_in(act, en->spec->example),
       "the manifest's example validates and inits");
}

int main(void)
{
    h = phost_open("plug_unique");
    p = h ? phost_plugin(h, phost_bundled("unique")) : NULL;
    act = p ? phost_activity(h, 1, 0, NULL) : NULL;
    act2 = p ? phost_activity(h, 2, 0, NULL) : NULL;
    if (act2 == NULL) {
        ok(0, "phost and unique.so");
        phost_close(h);
        return tap_done();
    }
    test_once();
    test_user_scope();
    test_params();
    test_undo();
    test_refusals();
    phost_close(h);
    return tap_done();
}
