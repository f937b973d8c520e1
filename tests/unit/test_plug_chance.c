/*
 * test_plug_chance.c -- chance.roll: observed odds over 10,000 calls close
 * to the configured chance, 0 never and 1 always (and known constant at
 * load), the same seed giving the same draws, and the schema's bounds.
 */
#include "phost.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define T0 1767225600000LL
#define N 10000

static phost *h;
static plugin *p;
static activity *act;

static instance *roll(const char *params)
{
    char err[512];
    instance *in = phost_instance(h, act, p, "roll", params, err, sizeof err);
    if (in == NULL)
        printf("# %s: %s\n", params, err);
    return in;
}

/* Passes out of n calls; every failure must say "unlucky". */
static int passes(instance *in, int n, int *bad_reason)
{
    int hits = 0;
    *bad_reason = 0;
    for (int i = 0; in != NULL && i < n; i++) {
        phost_call c;
        phost_run(h, in, 0, "u1", NULL, T0, &c);
        if (c.st == AMS_OK)
            hits++;
        else if (c.st != AMS_FAIL || strcmp(c.reason, "unlucky") != 0)
            (*bad_reason)++;
        phost_call_free(&c);
    }
    return hits;
}

static void odds(const char *chance, double want)
{
    char params[64];
    int bad, hits;
    instance *in;

    snprintf(params, sizeof params, "{\"chance\":%s}", chance);
    in = roll(params);
    hits = passes(in, N, &bad);
    ok(in != NULL && hits >= (int)((want - 0.03) * N) &&
           hits <= (int)((want + 0.03) * N),
       "chance %s: %d of %d pass (want %g +/- 0.03)", chance, hits, N, want);
    is_int(bad, 0, "  every failure says unlucky");
}

static void test_odds(void)
{
    int bad;
    instance *never = roll("{\"chance\":0}");
    instance *always = roll("{\"chance\":1}");
    instance *some = roll("{\"chance\":0.3}");

    is_int(passes(never, N, &bad), 0, "chance 0 never passes");
    is_int(bad, 0, "  and says unlucky");
    is_int(passes(always, N, &bad), N, "chance 1 always passes");
    is_int(never ? never->constant : -2, 0, "chance 0 is constant 0");
    is_int(always ? always->constant : -2, 1, "chance 1 is constant 1");
    is_int(some ? some->constant : -2, -1, "chance 0.3 is not constant");
    odds("0.3", 0.3);
    odds("0.5", 0.5);
    odds("0.05", 0.05);
    odds("0.99", 0.99);
}

static void test_seed(void)
{
    instance *in = roll("{\"chance\":0.5}");
    char a[65], b[65];

    for (int pass = 0; pass < 2; pass++) {
        char *out = pass ? b : a;
        svc_seed(777);
        for (int i = 0; in != NULL && i < 64; i++) {
            phost_call c;
            phost_run(h, in, 0, "u1", NULL, T0, &c);
            out[i] = c.st == AMS_OK ? '1' : '0';
            phost_call_free(&c);
        }
        out[64] = '\0';
    }
    is_str(b, a, "the same seed draws the same sequence");
    ok(strchr(a, '0') && strchr(a, '1'), "  and it is not all one outcome");
}

static void test_schema(void)
{
    static const char *const bad[] = {
        "{\"chance\":-0.01}", "{\"chance\":1.01}", "{}",
        "{\"chance\":\"0.5\"}", "{\"chance\":0.5,\"seed\":1}"};
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok(phost_instance(h, act, p, "roll", bad[i], err, sizeof err) == NULL,
           "refused: %s (%s)", bad[i], err);
    const plugin_entry *en = plugin_find_entry(p, "roll");
    ok(en && en->spec->example && roll(en->spec->example),
       "the manifest's example validates and inits");
}

int main(void)
{
    h = phost_open("plug_chance");
    p = h ? phost_plugin(h, phost_bundled("chance")) : NULL;
    act = p ? phost_activity(h, 1, 0, NULL) : NULL;
    if (act == NULL) {
        ok(0, "phost and chance.so");
        phost_close(h);
        return tap_done();
    }
    test_odds();
    test_seed();
    test_schema();
    phost_close(h);
    return tap_done();
}
