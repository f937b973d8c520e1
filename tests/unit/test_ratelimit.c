/*
 * test_ratelimit.c -- GCRA rate limits (ratelimit.h, rlconf.h) on a fake
 * clock: exact admissions for a rate and a burst at their edges, the
 * Retry-After / RateLimit-* figures, the `rate_limits` syntax and its
 * file:line errors, the pre-filter, and the node's shared-memory table
 * counting exactly across processes that hit one bucket at once.
 *
 *   AMS_TEST_TMP  scratch directory for the config files written here
 */
#include "conf.h"
#include "fixture.h"
#include "metrics.h"
#include "ratelimit.h"
#include "siphash.h"
#include "tap.h"

#include <stdlib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[1024];

#define S 1000000LL /* a second in microseconds */
#define T0 (1767225600LL * S)

/* How many of k attempts at now conform, each one after the other. */
static int admitted(int64_t *tat, int64_t now, int64_t t, int64_t tau, int k)
{
    int n = 0;

    for (int i = 0; i < k; i++)
        n += rl_gcra(tat, now, t, tau);
    return n;
}

static void test_gcra_edges(void)
{
    /* 5/s, burst 10: t = 200 ms, tau = 9 t. */
    int64_t t = S / 5, tau = 9 * t, tat = 0, rem, reset, retry;

    is_int(admitted(&tat, T0, t, tau, 100), 10,
           "5/s burst 10: a burst of 100 at one instant admits exactly 10");
    is_int(tat, T0 + 10 * t, "TAT: ten intervals ahead");
    rl_figures(tat, T0, t, tau, &rem, &reset, &retry);
    is_int(rem, 0, "remaining 0 after the burst");
    is_int(reset, 2, "reset: the bucket is full again in 2 s");
    is_int(retry, 1, "Retry-After: 200 ms rounded up to 1 s");
    is_int(rl_gcra(&tat, T0 + t - 1, t, tau), 0,
           "1 us before one interval has passed: refused");
    is_int(rl_gcra(&tat, T0 + t, t, tau), 1,
           "exactly one interval later: admitted");
    is_int(rl_gcra(&tat, T0 + t, t, tau), 0, "and only that one");
    is_int(admitted(&tat, T0 + 3 * S, t, tau, 100), 10,
           "3 s later: 10 again (2 s refill the whole burst, no more)");

    /* 1/s, burst 1: one a second, never two. */
    t = S;
    tau = 0;
    tat = 0;
    is_int(admitted(&tat, T0, t, tau, 5), 1, "1/s burst 1: one at once");
    rl_figures(tat, T0 + 1, t, tau, &rem, &reset, &retry);
    is_int(retry, 1, "Retry-After of 1 s less 1 us: 1 s");
    is_int(rl_gcra(&tat, T0 + S - 1, t, tau), 0, "999999 us later: refused");
    is_int(rl_gcra(&tat, T0 + S, t, tau), 1, "1 s later: admitted");

    /* 3/min burst 3: Retry-After counts whole seconds, rounded up. */
    t = 20 * S;
    tau = 2 * t;
    tat = 0;
    is_int(admitted(&tat, T0, t, tau, 4), 3, "3/m burst 3: three at once");
    rl_figures(tat, T0 + S / 2, t, tau, &rem, &reset, &retry);
    is_int(retry, 20, "Retry-After 19.5 s: 20");
    is_int(reset, 60, "reset 59.5 s: 60");

    /* Remaining counts down through a burst. */
    t = S / 10;
    tau = 4 * t;
    tat = 0;
    for (int k = 1; k <= 5; k++) {
        rl_gcra(&tat, T0, t, tau);
        rl_figures(tat, T0, t, tau, &rem, &reset, &retry);
        is_int(rem, 5 - k, "10/s burst 5: remaining after %d: %d", k, 5 - k);
    }
    /* A refused attempt changes nothing: the bucket admits on time. */
    tat = 0;
    admitted(&tat, T0, S, 0, 1);
    for (int i = 0; i < 1000; i++)
        rl_gcra(&tat, T0 + i, S, 0);
    is_int(rl_gcra(&tat, T0 + S, S, 0), 1,
           "1000 refused attempts do not push the next admission back");
}

static void test_rates(void)
{
    static const struct {
        const char *text;
        int64_t count, per_ms;
    } good[] = {{"5/s", 5, 1000},     {"100/10s", 100, 10000},
                {"3/m", 3, 60000},    {"1/h", 1, 3600000},
                {"2/d", 2, 86400000}, {"1000000/s", 1000000, 1000}};
    static const char *const bad[] = {
        "",     "5",    "5/",   "/s",    "0/s",       "5/x",    "5/s ",
        "-1/s", "5/0s", "5/ss", "1e3/s", "2000000/s", "1/400d", "5/1000001s"};
    const char *why;
    int64_t c, p;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = rlconf_rate(good[i].text, &c, &p, &why);
        ok(rc == 0 && c == good[i].count && p == good[i].per_ms,
           "rate \"%s\" is %lld per %lld ms", good[i].text,
           (long long)good[i].count, (long long)good[i].per_ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok(rlconf_rate(bad[i], &c, &p, &why) < 0 && why != NULL,
           "rate \"%s\" refused", bad[i]);
}

static void test_conf_syntax(void)
{
    const char *path;
    conf c;
    errs e = {0};

    path = fx_put(tmpdir, "rl-good.conf",
                  "rate_limits = (\n"
                  "  { key = \"uid\"; rate = \"5/s\"; burst = 10; },\n"
                  "  { name = \"ip_soft\"; key = \"ip\"; rate = \"100/10s\";\n"
                  "    shadow = true; }\n"
                  ");\n"
                  "rate_limit_table = 4096;\n");
    conf_load(&c, path, &e);
    if (!ok(e.n == 0, "good rate_limits: no messages"))
        fx_dump_errs(&e);
    is_int(c.rate_limits.n, 2, "two limits");
    is_str(c.rate_limits.v[0].label, "uid", "the first is named by its key");
    is_int(c.rate_limits.v[0].t_us, 200000, "5/s: 200 ms apart");
    is_int(c.rate_limits.v[0].tau_us, 9 * 200000 + RL_JITTER_US,
           "burst 10: tau 9 t, and the clock allowance");
    is_str(c.rate_limits.v[1].label, "ip_soft", "the second by its name");
    is_int(c.rate_limits.v[1].burst, 100, "burst defaults to the count");
    ok(c.rate_limits.v[1].shadow, "shadow");
    is_int(c.rl_table_slots, 4096, "rate_limit_table");
    {
        /* Attempts whose host clocks differ by a millisecond either way
         * (workers, nodes): the burst is still exactly 10, not 9. */
        const rl_limit *l = &c.rate_limits.v[0];
        int64_t tat = 0, tat0 = 0;
        int got = 0, bare = 0;
        for (int i = 0; i < 100; i++) {
            int64_t now = T0 + (i == 0 ? 1000 : i % 2 ? -1000 : 0);
            got += rl_gcra(&tat, now, l->t_us, l->tau_us);
            bare += rl_gcra(&tat0, now, l->t_us, l->tau_us - RL_JITTER_US);
        }
        is_int(got, 10, "clocks 1 ms apart: exactly the burst of 10");
        is_int(bare, 9, "(without the clock allowance the 10th is lost)");
    }
    {
        /* What a reload hands to the workers comes back the same. */
        cJSON *j = rlconf_to_json(&c.rate_limits);
        rl_set back;
        ok(rlconf_from_json(j, &back) == 0 && back.n == 2 &&
               back.v[1].shadow &&
               back.v[0].tau_us == 9 * 200000 + RL_JITTER_US &&
               strcmp(back.v[1].label, "ip_soft") == 0,
           "rate_limits survive the reload's JSON");
        cJSON_Delete(j);
    }
    conf_free(&c);
    errs_free(&e);

    path = fx_put(tmpdir, "rl-bad.conf",
                  "rate_limits = (\n"
                  "  { key = \"user\"; rate = \"5/s\"; },\n"           /* 2 */
                  "  { key = \"uid\"; rate = \"five a second\"; },\n"  /* 3 */
                  "  { key = \"ip\"; rate = \"5/s\"; burst = 0; },\n"  /* 4 */
                  "  { key = \"ip\"; rate = \"5/s\"; colour = 1; },\n" /* 5 */
                  "  { key = \"app\"; rate = \"1/s\"; },\n"            /* 6 */
                  "  { key = \"app\"; rate = \"2/s\"; }\n"             /* 7 */
                  ");\n");
    conf_load(&c, path, &e);
    fx_expect_at(&e, path, 2, "key \"user\" is not one of uid, ip");
    fx_expect_at(&e, path, 3, "rate \"five a second\": expected \"N/s\"");
    fx_expect_at(&e, path, 4, "burst");
    fx_expect_at(&e, path, 5, "unknown setting \"colour\"");
    fx_expect_at(&e, path, 7, "\"app\" given twice (first at line 6)");
    conf_free(&c);
    errs_free(&e);

    path =
        fx_put(tmpdir, "rl-bad3.conf",
               "rate_limits = (\n"
               "  { key = \"uid\"; name = \"Bad-Name\"; rate = \"1/s\"; },\n"
               "  { key = \"uid\"; },\n" /* 3 */
               "  \"uid\" );\n");        /* 4 */
    conf_load(&c, path, &e);
    fx_expect_at(&e, path, 2, "name \"Bad-Name\" must match");
    fx_expect_at(&e, path, 3, "rate: missing");
    fx_expect_at(&e, path, 4, "expected groups");
    conf_free(&c);
    errs_free(&e);

    {
        char text[2048] = "rate_limits = (\n";
        for (int i = 0; i < RL_LIST_MAX + 1; i++)
            snprintf(
                text + strlen(text), sizeof text - strlen(text),
                "  { name = \"l%d\"; key = \"uid\"; rate = \"1/s\"; }%s\n", i,
                i < RL_LIST_MAX ? "," : "");
        snprintf(text + strlen(text), sizeof text - strlen(text), ");\n");
        path = fx_put(tmpdir, "rl-bad4.conf", text);
        conf_load(&c, path, &e);
        fx_expect_at(&e, path, 1, "9 limits, at most 8 in one list");
        conf_free(&c);
        errs_free(&e);
    }

    path = fx_put(tmpdir, "rl-bad2.conf",
                  "rate_limits = { key = \"uid\"; rate = \"5/s\"; };\n");
    conf_load(&c, path, &e);
    fx_expect_at(&e, path, 1, "rate_limits: expected a list");
    conf_free(&c);
    errs_free(&e);
}

/* ---- requests against the node table ---- */

static activity act = {.id = 7};
static method meth = {.name = "grab", .act = &act};

/* A request of uid at host time now_ms (the clock stands still). */
static void req_at(svc_req *r, const char *uid, int64_t now_ms)
{
    memset(r, 0, sizeof *r);
    r->uid = uid;
    r->request_id = "r";
    r->client_ip = "10.0.0.1";
    r->act = &act;
    r->m = &meth;
    r->clock_base_ms = now_ms;
    r->mono_start_ms = clock_mono_ms();
}

static uint64_t series(metrics_family f, const char *a, const char *b)
{
    const char *labels[2] = {a, b};
    metrics_series *s = metrics_table_get(metrics_worker_table(), f, labels);
    return s ? s->v[0] : 0;
}

static void limit(rl_limit *l, const char *label, rl_keykind key,
                  int64_t count, int64_t per_ms, int64_t burst, int shadow)
{
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", label);
    snprintf(l->label, sizeof l->label, "%s", label);
    l->key = key;
    l->count = count;
    l->per_ms = per_ms;
    l->burst = burst;
    l->shadow = shadow;
    l->t_us = per_ms * 1000 / count;
    l->tau_us = (burst - 1) * l->t_us;
}

static void test_requests(void)
{
    rl_set global = {0};
    svc_req r;
    rl_verdict v;
    int64_t now = T0 / 1000;
    int n = 0;
    uint64_t pf0;

    limit(&global.v[global.n++], "uid", RL_KEY_UID, 1, 3600000, 3, 0);
    limit(&global.v[global.n++], "soft", RL_KEY_IP, 1, 3600000, 2, 1);
    for (int i = 0; i < 10; i++) {
        req_at(&r, "alice", now);
        rl_check(&r, &global, &v);
        n += !v.refused;
        if (i == 2)
            ok(!v.refused && v.headers && v.remaining == 0 &&
                   strcmp(v.lim.label, "uid") == 0,
               "the 3rd attempt: admitted, RateLimit-Remaining 0 (shadow "
               "limits are not described)");
        if (i == 3)
            ok(v.refused && v.retry_s == 3600 && v.reset_s == 3 * 3600 &&
                   v.remaining == 0,
               "the 4th: refused, Retry-After 3600, reset 10800 (got "
               "retry %lld reset %lld)",
               (long long)v.retry_s, (long long)v.reset_s);
    }
    is_int(n, 3, "1/h burst 3: 3 of 10 attempts admitted");
    is_int(series(MF_RATELIMIT, "uid", "allowed"), 3, "metrics: 3 allowed");
    is_int(series(MF_RATELIMIT, "uid", "refused"), 7, "metrics: 7 refused");
    /* The shadow limit saw only the first refusal's attempt and the 3
     * admitted; the refusals after it came from the pre-filter, which
     * ends the check before the other limits. */
    is_int(series(MF_RATELIMIT, "soft", "allowed"), 2,
           "shadow limit: 2 allowed");
    ok(series(MF_RATELIMIT, "soft", "shadow_refused") >= 1,
       "shadow limit: counts what it would have refused");
    pf0 = series(MF_RATELIMIT_EV, "prefilter", NULL);
    ok(pf0 >= 5, "the pre-filter answered the flood (%llu)",
       (unsigned long long)pf0);
    req_at(&r, "bob", now);
    rl_check(&r, &global, &v);
    ok(!v.refused, "another uid has a bucket of its own");
    req_at(&r, "", now);
    rl_check(&r, &global, &v);
    ok(!v.refused && v.headers == 0,
       "no uid: the uid limit does not apply (and the shadow refuses "
       "nothing)");
    req_at(&r, "alice", now + 3600 * 1000);
    rl_check(&r, &global, &v);
    ok(!v.refused, "an hour later alice is admitted again (the pre-filter "
                   "let go)");

    /* An activity's limit of the same name replaces amsd.conf's; a
     * method's rate = "off" drops it. */
    limit(&act.rl.v[act.rl.n++], "uid", RL_KEY_UID, 1, 3600000, 1, 0);
    snprintf(act.rl.v[0].label, sizeof act.rl.v[0].label, "7:uid");
    req_at(&r, "carol", now);
    rl_check(&r, &global, &v);
    req_at(&r, "carol", now);
    rl_check(&r, &global, &v);
    ok(v.refused && strcmp(v.lim.label, "7:uid") == 0,
       "the activity's uid limit (burst 1) replaces amsd.conf's");
    meth.rl.v[meth.rl.n] = act.rl.v[0];
    meth.rl.v[meth.rl.n++].off = 1;
    req_at(&r, "carol", now);
    rl_check(&r, &global, &v);
    ok(!v.refused && v.headers == 0,
       "a method's rate = \"off\" drops the limit of that name");
    meth.rl.n = 0;
    act.rl.n = 0;
}

/* Processes hitting one bucket at once: exactly burst admitted. */
static void test_table_processes(void)
{
    enum { PROCS = 4, EACH = 3000, BURST = 1000 };
    rl_set global = {0};
    int fds[2], total = 0, got = 0;
    pid_t pids[PROCS];

    limit(&global.v[global.n++], "shared", RL_KEY_ACTIVITY, 1, 3600000, BURST,
          0);
    if (pipe(fds) < 0)
        return;
    for (int p = 0; p < PROCS; p++) {
        if ((pids[p] = fork()) == 0) {
            svc_req r;
            rl_verdict v;
            int n = 0;
            close(fds[0]);
            for (int i = 0; i < EACH; i++) {
                req_at(&r, "u", T0 / 1000);
                rl_prefilter_clear(); /* every attempt to the table */
                rl_check(&r, &global, &v);
                n += !v.refused;
            }
            if (write(fds[1], &n, sizeof n) != sizeof n)
                _exit(2);
            _exit(0);
        }
    }
    close(fds[1]);
    for (int p = 0; p < PROCS; p++) {
        int n, st;
        if (read(fds[0], &n, sizeof n) == sizeof n) {
            total += n;
            got++;
        }
        waitpid(pids[p], &st, 0);
    }
    close(fds[0]);
    is_int(got, PROCS, "every process answered");
    is_int(total, BURST,
           "%d processes x %d attempts on one bucket of the node table: "
           "exactly %d admitted",
           PROCS, EACH, BURST);
}

/* A process killed (SIGKILL) while it hammers the table, many times, at
 * random moments: some of those kills land while it holds a set's lock
 * (robust mutexes: the next locker takes it over), and the table must
 * go on answering, not hang (alarm). */
static void test_table_kill9(void)
{
    rl_set global = {0};
    svc_req r;
    rl_verdict v;
    int n = 0;

    /* 10^6/s, burst 10^9: the children never exhaust it. */
    limit(&global.v[global.n++], "k9", RL_KEY_ACTIVITY, 1000000, 1000,
          1000000000, 0);
    alarm(60);
    for (int k = 0; k < 200; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (;;) {
                req_at(&r, "u", T0 / 1000);
                rl_check(&r, &global, &v);
            }
        }
        usleep(1000 + (useconds_t)(k * 137 % 2000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        req_at(&r, "u", T0 / 1000);
        rl_check(&r, &global, &v);
        n += !v.refused;
    }
    alarm(0);
    is_int(n, 200,
           "200 processes killed -9 while counting on one bucket: the "
           "table still answers (and admits) after each");
}

/* The reference vectors of SipHash-2-4 (key 00..0f, message 00..n-1). */
static void test_siphash(void)
{
    unsigned char kb[16], m[16];
    uint64_t k[2];

    for (int i = 0; i < 16; i++)
        kb[i] = m[i] = (unsigned char)i;
    k[0] = siphash_le64(kb);
    k[1] = siphash_le64(kb + 8);
    ok(siphash24(k, m, 0) == 0x726fdb47dd0e0e31ULL, "siphash: empty");
    ok(siphash24(k, m, 8) == 0x93f5f5799a932462ULL, "siphash: 8 bytes");
    ok(siphash24(k, m, 15) == 0xa129ca6149be45e5ULL, "siphash: 15 bytes");
}

int main(void)
{
    fx_scratch(tmpdir, sizeof tmpdir, "ratelimit");
    test_siphash();
    test_gcra_edges();
    test_rates();
    test_conf_syntax();
    if (!ok(rl_node_init(0, 4096) == 0, "the node table maps"))
        return tap_done();
    test_requests();
    test_table_processes();
    test_table_kill9();
    return tap_done();
}
