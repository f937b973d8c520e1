/*
 * test_plug_uid.c -- uid.allow and uid.deny with long unsorted lists
 * (every listed uid found, near misses not), empty lists known constant
 * at load, requests without a uid, and the schema.
 */
#include "phost.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767225600000LL
#define NUIDS 2000

static phost *h;
static plugin *p;
static activity *act;

static instance *mk(const char *entry, const char *params)
{
    char err[512];
    instance *in = phost_instance(h, act, p, entry, params, err, sizeof err);
    if (in == NULL)
        printf("# %s: %s\n", entry, err);
    return in;
}

static const char *run(instance *in, const char *uid)
{
    static char out[80];
    phost_call c;

    if (in == NULL)
        return "no instance";
    phost_run(h, in, 0, uid, NULL, T0, &c);
    if (c.st == AMS_OK)
        snprintf(out, sizeof out, "ok");
    else if (c.st == AMS_FAIL)
        snprintf(out, sizeof out, "%s", c.reason);
    else
        snprintf(out, sizeof out, "err%d", (int)c.st);
    phost_call_free(&c);
    return out;
}

/* {"uids":["u<even>", ...]}: NUIDS even numbers in a scrambled order,
 * plus a duplicate.  Caller frees. */
static char *big_list(void)
{
    size_t cap = NUIDS * 16 + 64, n;
    char *s = malloc(cap);

    n = (size_t)snprintf(s, cap, "{\"uids\":[\"u0\"");
    for (int i = 0; i < NUIDS; i++) {
        int k = (i * 7919) % NUIDS; /* 7919 is prime: a permutation */
        n += (size_t)snprintf(s + n, cap - n, ",\"u%d\"", 2 * k);
    }
    snprintf(s + n, cap - n, "]}");
    return s;
}

static void test_lists(void)
{
    char *list = big_list(), uid[32];
    instance *allow = mk("allow", list), *deny = mk("deny", list);
    int allowed = 0, denied = 0, others = 0;

    free(list);
    for (int i = 0; i < 2 * NUIDS; i++) {
        snprintf(uid, sizeof uid, "u%d", i);
        if (i % 2 == 0) {
            allowed += strcmp(run(allow, uid), "ok") == 0;
            denied += strcmp(run(deny, uid), "denied") == 0;
        } else {
            others += strcmp(run(allow, uid), "not_listed") == 0 &&
                      strcmp(run(deny, uid), "ok") == 0;
        }
    }
    is_int(allowed, NUIDS, "allow: every listed uid passes");
    is_int(denied, NUIDS, "deny: every listed uid fails with denied");
    is_int(others, NUIDS, "every other uid: not_listed / passes deny");
    is_str(run(allow, "u"), "not_listed", "allow: a prefix is not a match");
    is_str(run(allow, "u00"), "not_listed", "allow: nor a look-alike");
    is_str(run(allow, "U2"), "not_listed", "allow: case matters");
    is_str(run(allow, "u39980"), "not_listed", "allow: past the end");
    is_str(run(allow, ""), "not_listed", "allow: no uid is not listed");
    is_str(run(deny, ""), "ok", "deny: no uid passes");
    is_int(allow ? allow->constant : -2, -1, "a list is not constant");
}

static void test_small(void)
{
    instance *allow = mk("allow", "{\"uids\":[\"zed\",\"amy\",\"bob\"]}");
    instance *deny = mk("deny", "{\"uids\":[\"mallory\"]}");

    is_str(run(allow, "amy"), "ok", "allow amy");
    is_str(run(allow, "zed"), "ok", "allow zed (last after sorting)");
    is_str(run(allow, "carl"), "not_listed", "carl is not listed");
    is_str(run(deny, "mallory"), "denied", "deny mallory");
    is_str(run(deny, "amy"), "ok", "amy is not denied");
}

static void test_empty(void)
{
    instance *allow = mk("allow", "{\"uids\":[]}");
    instance *deny = mk("deny", "{\"uids\":[]}");

    is_int(allow ? allow->constant : -2, 0, "empty allow never passes");
    is_str(run(allow, "u1"), "not_listed", "  and fails not_listed");
    is_int(deny ? deny->constant : -2, 1, "empty deny always passes");
    is_str(run(deny, "u1"), "ok", "  and passes");
}

static void test_schema(void)
{
    char err[512];
    const char *names[] = {"allow", "deny"};

    ok(phost_instance(h, act, p, "allow", "{}", err, sizeof err) == NULL,
       "allow without uids refused (%s)", err);
    ok(phost_instance(h, act, p, "deny", "{\"uids\":[1,2]}", err,
                      sizeof err) == NULL,
       "deny with numbers refused (%s)", err);
    ok(phost_instance(h, act, p, "allow", "{\"uids\":\"u1\"}", err,
                      sizeof err) == NULL,
       "a string instead of a list refused (%s)", err);
    for (int i = 0; i < 2; i++) {
        const plugin_entry *en = plugin_find_entry(p, names[i]);
        ok(en && en->spec->example && mk(names[i], en->spec->example),
           "uid.%s: the manifest's example validates and inits", names[i]);
    }
}

int main(void)
{
    h = phost_open("plug_uid");
    p = h ? phost_plugin(h, phost_bundled("uid")) : NULL;
    act = p ? phost_activity(h, 1, 0, NULL) : NULL;
    if (act == NULL) {
        ok(0, "phost and uid.so");
        phost_close(h);
        return tap_done();
    }
    test_lists();
    test_small();
    test_empty();
    test_schema();
    phost_close(h);
    return tap_done();
}
