/*
 * main.c -- ams-conform: run the conformance battery on plugin binaries.
 *
 *   ams-conform PLUGIN.so... [--params FILE] [--request FILE]
 *               [--junit FILE] [--tap] [--budget MS] [--cycles N]
 *
 * The runner plans the battery from the plugin's manifest (read by a
 * probe child), runs every check in its own child (child.c), and reports
 * each as pass, fail or skip: as text, as TAP, as JUnit XML.
 */
#include "conform.h"

#include <ams/ams.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef AMSD_VERSION
#define AMSD_VERSION "0"
#endif

static const char usage_text[] =
    "usage: ams-conform [options] PLUGIN.so [PLUGIN.so...]\n"
    "\n"
    "Load each amsd plugin into a harness host (the server's own loader,\n"
    "host table, param validator and request chain over an in-memory store\n"
    "and a fixed clock; no server, no disk) and run the conformance battery.\n"
    "Every check runs in its own child process: a plugin that crashes or\n"
    "hangs fails that check, named with the signal or the timeout, and the\n"
    "battery goes on.  Exit status 0 only when every check passes; 1 when\n"
    "one fails (or could not run); 2 for a usage error.\n"
    "\n"
    "options:\n"
    "  --params FILE   JSON object: entry name (or plugin.entry) -> the\n"
    "                  params to configure it with.  Default: the entry's\n"
    "                  `example` in the manifest, or {} when it has no\n"
    "                  required params.\n"
    "  --request FILE  JSON object: entry name (or plugin.entry) -> request\n"
    "                  params the checks send (default {}): give one that\n"
    "                  makes an operation succeed so its undo is exercised.\n"
    "  --tap           print TAP (plan, ok / not ok per check, # SKIP)\n"
    "  --junit FILE    also write a JUnit XML report: one <testsuite> per\n"
    "                  plugin, one <testcase> per check\n"
    "  --budget MS     time budget of one plugin call (default 1000)\n"
    "  --timeout MS    time limit of one whole check (default 60000)\n"
    "  --cycles N      load/unload cycles of lifecycle.repeat (default 200)\n"
    "  --only TEXT     run only the checks whose name contains TEXT\n"
    "  -v, --verbose   show details of passing checks and debug logs\n"
    "  -h, --help      this text;  --version  the runner's version and ABI\n"
    "\n"
    "The harness declares a small resource for every resource-typed param\n"
    "the params name: a pool of two prizes (stock 3 and 5: 8 units), a\n"
    "coupon kind (value 20, 30 days, stock 4), a budget (total 100).  Host\n"
    "clocks are fixed per call (Mondays, a Friday, a Saturday night of\n"
    "January 2026, UTC) and the host's random source is seeded per call.\n"
    "It watches which request fields an entry reads (req_int, req_number,\n"
    "req_str); when an operation does not succeed with the request params\n"
    "given (and --request has none for it), it tries a string, then an\n"
    "integer, for those fields and keeps what makes it succeed.  Rules run\n"
    "with the given and with such learned params.\n"
    "\n"
    "checks (E is an entry's name; a check whose prerequisite failed is\n"
    "reported as skipped and does not count as passed):\n"
    "  load                 dlopen works and the file exports\n"
    "                       ams_plugin_manifest; without it nothing else "
    "runs\n"
    "  manifest.magic       the manifest starts with AMS_MAGIC\n"
    "  manifest.abi         same ABI major as this host; min_minor <= the\n"
    "                       host's minor (a plugin built for a newer minor "
    "is\n"
    "                       refused unless its min_minor says it only needs\n"
    "                       this host's functions); the manifest's size\n"
    "  manifest.name        [a-z][a-z0-9_]*, equal to the file's stem\n"
    "  manifest.version     MAJOR.MINOR.PATCH\n"
    "  manifest.entries     entry names, kinds, symbols named, undo only on\n"
    "                       operations, examples are JSON objects, entry\n"
    "                       flags known to this host, AMS_EF_READONLY not\n"
    "                       on an operation\n"
    "  manifest.schema      param names, types, flags and bounds are sane\n"
    "  manifest.symbols     every named symbol is exported, defined in the\n"
    "                       plugin itself (not a libc function of the same\n"
    "                       name) and is a function; the manifest is data\n"
    "  manifest.loader      amsd's loader accepts the plugin (its message is\n"
    "                       what the server would log)\n"
    "  params.E.example     the example params (manifest or --params) pass\n"
    "                       the host's validator and init succeeds\n"
    "  params.E.missing     each required param left out,\n"
    "  params.E.mistyped    each param given a value of a wrong JSON type (a\n"
    "                       resource param: an undeclared name; and an\n"
    "                       unknown param),\n"
    "  params.E.bounds      each bounded param at min-1 and max+1 (value,\n"
    "                       length or count): every such variant is refused\n"
    "                       by the host before any plugin code runs (the\n"
    "                       harness counts its calls into the plugin)\n"
    "  params.E.optional    each optional param of the example left out:\n"
    "                       init and a call do not crash\n"
    "  rule.E.pure          a rule writes nothing to the store: 12 calls\n"
    "                       (4 users, 4 clocks) per request params, the\n"
    "                       store's count of writes unchanged\n"
    "  rule.E.deterministic the same input twice (fresh store, same clock,\n"
    "                       same random seed) gives the same verdict, reason\n"
    "                       and reply: rand(), time() or self-modifying "
    "state\n"
    "                       are caught; the host's random_u64 is seeded, so\n"
    "                       rules that draw from it pass\n"
    "  op.E.undo            (operations with an undo) do then undo, in one\n"
    "                       request, leaves the store as it was: on an empty\n"
    "                       store, beside another user's kept grant, and on\n"
    "                       top of the same user's; the undo answers AMS_OK.\n"
    "                       Not compared, as ABI 1.0 gives an undo no way\n"
    "                       to restore them: leaderboards, a tag's expiry,\n"
    "                       a value's version\n"
    "  op.E.idempotent      does not grant twice for the same request: the\n"
    "                       operation runs as the only one of a method in "
    "the\n"
    "                       real chain (pipeline_run), then the identical\n"
    "                       request (same uid, request_id, params) again; "
    "the\n"
    "                       second answer must be the first one replayed "
    "from\n"
    "                       the idempotency record, with no plugin code run\n"
    "                       and no store record changed -- the plugin's\n"
    "                       effects all happen inside the recorded request\n"
    "  op.E.bounds          respects counter bounds: 200 calls in the chain\n"
    "                       (100 users once, one user 100 times); none may\n"
    "                       fault; for each resource param, successes x "
    "units\n"
    "                       per call (declare_use, at least 1) must not pass\n"
    "                       the resource's stock.  An entry without resource\n"
    "                       params is only checked for faults\n"
    "  readonly.E           (entries declared AMS_EF_READONLY) the entry\n"
    "                       writes nothing: 12 calls (4 users, 4 clocks) and\n"
    "                       one without a uid, per request params (given and\n"
    "                       learned), make no store write and call none of\n"
    "                       the writing host functions (counter_add, lock,\n"
    "                       unlock, tag_set, tag_del, value_cas, board_set,\n"
    "                       grant), whatever they would answer; amsd refuses\n"
    "                       such a write with AMS_ERR\n"
    "  robust.E             no request crashes the entry or overruns the "
    "call\n"
    "                       budget: params absent, {}, each field it reads\n"
    "                       (found by watching req_int/req_number/req_str)\n"
    "                       missing, a 1 MiB string, invalid UTF-8, empty,\n"
    "                       900-deep nesting, null, true, 1e308, -1, 0.5, an\n"
    "                       object; unknown huge fields; uids \"\", 128\n"
    "                       characters and invalid UTF-8.  Faults (AMS_ERR)\n"
    "                       are acceptable answers\n"
    "  lifecycle.repeat     load, init every entry, call each, destroy,\n"
    "                       unload, repeated --cycles times after a warm-up:\n"
    "                       no crash, no growth of open file descriptors or\n"
    "                       heap in use (mallinfo2; AddressSanitizer's\n"
    "                       allocator statistics in sanitizer builds)\n"
    "  lifecycle.reload     a second copy loaded beside the first (as a hot\n"
    "                       reload does): both init and answer alike; the\n"
    "                       second keeps working after the first is "
    "destroyed\n"
    "                       and unloaded\n"
    "\n"
    "Every plugin call runs under the budget: one that overruns it fails its\n"
    "check with \"timed out after N ms\"; a crash fails it with the signal\n"
    "(\"crashed with SIGSEGV while calling ...\").  The plugin's and the\n"
    "host's log lines are shown under a failing check.\n";

#define MAX_CHECKS 1024

typedef struct planned {
    char name[160];
    char entry[128]; /* "" for plugin-wide checks */
    ck_fn fn;
    char needs[2][160];
} planned;

typedef struct plan {
    conform_opts o;
    planned *p;
    size_t n;
    report_suite suite;
    int probe_failed;
    char *dotpath; /* "./NAME.so" for a bare file name */
} plan;

static void add(plan *pl, const char *name, const char *entry, ck_fn fn,
                const char *need1, const char *need2)
{
    planned *p;

    if (pl->n == MAX_CHECKS)
        return;
    p = &pl->p[pl->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->entry, sizeof p->entry, "%s", entry ? entry : "");
    p->fn = fn;
    if (need1)
        snprintf(p->needs[0], sizeof p->needs[0], "%s", need1);
    if (need2)
        snprintf(p->needs[1], sizeof p->needs[1], "%s", need2);
}

/* The checks of one entry, named by probe data. */
static void add_entry(plan *pl, const char *e, int kind, int undo,
                      int readonly)
{
    char name[160], ex[160];

    snprintf(ex, sizeof ex, "params.%s.example", e);
    add(pl, ex, e, ck_params_example, "manifest.loader", NULL);
#define ADD(fmt, fn)                                                          \
    do {                                                                      \
        snprintf(name, sizeof name, fmt, e);                                  \
        add(pl, name, e, fn, ex, NULL);                                       \
    } while (0)
    ADD("params.%s.missing", ck_params_missing);
    ADD("params.%s.mistyped", ck_params_mistyped);
    ADD("params.%s.bounds", ck_params_bounds);
    ADD("params.%s.optional", ck_params_optional);
    if (kind == AMS_RULE) {
        ADD("rule.%s.pure", ck_rule_pure);
        ADD("rule.%s.deterministic", ck_rule_deterministic);
    }
    if (kind == AMS_OPERATION) {
        if (undo)
            ADD("op.%s.undo", ck_op_undo);
        ADD("op.%s.idempotent", ck_op_idempotent);
        ADD("op.%s.bounds", ck_op_bounds);
    }
    if (readonly)
        ADD("readonly.%s", ck_readonly);
    ADD("robust.%s", ck_robust);
#undef ADD
}

static void stem_of(const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/');
    size_t n;

    base = base ? base + 1 : path;
    n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".so") == 0)
        n -= 3;
    snprintf(out, len, "%.*s", (int)n, base);
}

/* Probe the plugin and plan its battery. */
static void plan_plugin(plan *pl)
{
    report_check *probe;
    cJSON *j;
    const cJSON *entries, *name, *it;

    pl->p = calloc(MAX_CHECKS, sizeof *pl->p);
    pl->suite.checks = calloc(MAX_CHECKS, sizeof *pl->suite.checks);
    if (pl->p == NULL || pl->suite.checks == NULL) {
        fprintf(stderr, "ams-conform: out of memory\n");
        exit(2);
    }
    snprintf(pl->suite.plugin, sizeof pl->suite.plugin, "%s", pl->o.path);
    snprintf(pl->suite.name, sizeof pl->suite.name, "%s", pl->o.stem);
    add(pl, "load", NULL, ck_probe, NULL, NULL);
    probe = &pl->suite.checks[0];
    snprintf(probe->name, sizeof probe->name, "load");
    ck_run(&pl->o, NULL, ck_probe, &probe->r);
    if (probe->r.status != CK_PASS || probe->r.data == NULL) {
        pl->probe_failed = 1;
        return;
    }
    add(pl, "manifest.magic", NULL, ck_manifest_magic, NULL, NULL);
    add(pl, "manifest.abi", NULL, ck_manifest_abi, NULL, NULL);
    add(pl, "manifest.name", NULL, ck_manifest_name, NULL, NULL);
    add(pl, "manifest.version", NULL, ck_manifest_version, NULL, NULL);
    add(pl, "manifest.entries", NULL, ck_manifest_entries, NULL, NULL);
    add(pl, "manifest.schema", NULL, ck_manifest_schema, NULL, NULL);
    add(pl, "manifest.symbols", NULL, ck_manifest_symbols, NULL, NULL);
    add(pl, "manifest.loader", NULL, ck_manifest_loader, NULL, NULL);
    j = cJSON_Parse(probe->r.data);
    name = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (cJSON_IsString(name) && name->valuestring[0] != '\0')
        snprintf(pl->suite.name, sizeof pl->suite.name, "%s",
                 name->valuestring);
    entries = cJSON_GetObjectItemCaseSensitive(j, "entries");
    cJSON_ArrayForEach(it, entries)
    {
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(it, "kind");
        const cJSON *undo = cJSON_GetObjectItemCaseSensitive(it, "undo");
        const cJSON *ro = cJSON_GetObjectItemCaseSensitive(it, "readonly");
        if (cJSON_IsString(en) && cJSON_IsNumber(kind))
            add_entry(pl, en->valuestring, kind->valueint, cJSON_IsTrue(undo),
                      cJSON_IsTrue(ro));
    }
    if (cJSON_GetArraySize(entries) > 0) {
        add(pl, "lifecycle.repeat", NULL, ck_lifecycle_repeat,
            "manifest.loader", NULL);
        add(pl, "lifecycle.reload", NULL, ck_lifecycle_reload,
            "manifest.loader", NULL);
    }
    cJSON_Delete(j);
}

/* ---- output ---- */

typedef struct out_state {
    int tap;
    int verbose;
    size_t seq;
} out_state;

static void print_detail(const out_state *os, const char *detail,
                         const char *indent)
{
    char line[1200];
    const char *p = detail;

    while (p != NULL && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char raw[1000];
        snprintf(raw, sizeof raw, "%.*s", (int)(len < 999 ? len : 999), p);
        report_line(raw, line, sizeof line, os->tap);
        printf("%s%s\n", os->tap ? "# " : indent, line);
        p = nl ? nl + 1 : NULL;
    }
}

static void print_check(out_state *os, const report_suite *s,
                        const report_check *c)
{
    char msg[CK_MSG_MAX * 4], name[400];

    report_line(c->r.msg, msg, sizeof msg, os->tap);
    report_line(c->name, name, sizeof name, os->tap);
    os->seq++;
    if (os->tap) {
        if (c->r.status == CK_SKIP)
            printf("ok %zu - %s: %s # SKIP %s\n", os->seq, s->name, name, msg);
        else
            printf("%s %zu - %s: %s: %s\n",
                   c->r.status == CK_PASS ? "ok" : "not ok", os->seq, s->name,
                   name, msg);
    } else {
        printf("  %-5s %-28s %s\n",
               c->r.status == CK_PASS   ? "ok"
               : c->r.status == CK_FAIL ? "FAIL"
                                        : "skip",
               name, msg);
    }
    if (c->r.detail != NULL && (c->r.status == CK_FAIL || os->verbose))
        print_detail(os, c->r.detail, "          ");
    fflush(stdout);
}

/* Run the planned checks of one plugin, in order. */
static void run_plan(plan *pl, out_state *os, const char *only)
{
    report_suite *s = &pl->suite;
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    s->n = 1; /* the probe already ran */
    if (!os->tap)
        printf("%s (%s)\n", pl->o.path, s->name);
    print_check(os, s, &s->checks[0]);
    for (size_t i = 1; i < pl->n; i++) {
        planned *p = &pl->p[i];
        report_check *c;
        const char *blocked = NULL;

        if (only != NULL && strstr(p->name, only) == NULL)
            continue;
        c = &s->checks[s->n++];
        snprintf(c->name, sizeof c->name, "%s", p->name);
        for (int k = 0; k < 2 && !blocked; k++) {
            if (p->needs[k][0] == '\0')
                continue;
            for (size_t j = 0; j + 1 < s->n; j++)
                if (strcmp(s->checks[j].name, p->needs[k]) == 0 &&
                    s->checks[j].r.status != CK_PASS)
                    blocked = p->needs[k];
        }
        if (blocked != NULL) {
            memset(&c->r, 0, sizeof c->r);
            c->r.status = CK_SKIP;
            snprintf(c->r.msg, sizeof c->r.msg, "not run: %s did not pass",
                     blocked);
        } else {
            ck_run(&pl->o, p->entry[0] ? p->entry : NULL, p->fn, &c->r);
        }
        print_check(os, s, c);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 +
                 s->checks[0].r.seconds;
}

/* ---- arguments ---- */

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    cJSON *j;

    if (f == NULL) {
        fprintf(stderr, "ams-conform: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    for (;;) {
        if (len + 4096 > cap) {
            char *b = realloc(buf, cap = cap * 2 + 8192);
            if (b == NULL) {
                fprintf(stderr, "ams-conform: out of memory\n");
                exit(2);
            }
            buf = b;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    buf[len] = '\0';
    j = cJSON_Parse(buf);
    free(buf);
    if (!cJSON_IsObject(j)) {
        fprintf(stderr,
                "ams-conform: %s: expected a JSON object mapping entry names "
                "to objects\n",
                path);
        exit(2);
    }
    return j;
}

static long long number_arg(const char *opt, const char *v, long long lo,
                            long long hi)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < lo || n > hi) {
        fprintf(stderr, "ams-conform: %s: expected a number in %lld..%lld\n",
                opt, lo, hi);
        exit(2);
    }
    return n;
}

/* glibc's per-thread cache keeps freed chunks counted as in use, which
 * blurs lifecycle.repeat's heap measurement by kilobytes.  Run without
 * it: set the tunable and start again, once (sanitizer builds have their
 * own allocator and count exactly). */
static void exact_heap_counts(char **argv)
{
#if !defined(__SANITIZE_ADDRESS__)
    const char *t = getenv("GLIBC_TUNABLES");
    char *value;

    if (getenv("AMS_CONFORM_REEXEC") != NULL ||
        (t != NULL && strstr(t, "glibc.malloc.tcache_count=0") != NULL))
        return;
    if (asprintf(&value, "%s%sglibc.malloc.tcache_count=0", t ? t : "",
                 t && *t ? ":" : "") < 0)
        return;
    setenv("GLIBC_TUNABLES", value, 1);
    setenv("AMS_CONFORM_REEXEC", "1", 1);
    free(value);
    execv("/proc/self/exe", argv);
    /* No exec: carry on with the cache (lifecycle allows for it). */
#else
    (void)argv;
#endif
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"params", required_argument, NULL, 'p'},
        {"request", required_argument, NULL, 'r'},
        {"junit", required_argument, NULL, 'j'},
        {"tap", no_argument, NULL, 't'},
        {"budget", required_argument, NULL, 'b'},
        {"timeout", required_argument, NULL, 'T'},
        {"cycles", required_argument, NULL, 'c'},
        {"only", required_argument, NULL, 'o'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    conform_opts base = {0};
    cJSON *params = NULL, *requests = NULL;
    const char *junit = NULL, *only = NULL;
    out_state os = {0, 0, 0};
    plan *plans;
    size_t nplans, total = 0, passed = 0, failed = 0, skipped = 0;
    int ch;

    exact_heap_counts(argv);
    base.budget_ms = 1000;
    base.check_timeout_ms = 60000;
    base.cycles = 200;
    while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            cJSON_Delete(params);
            params = read_json(optarg);
            break;
        case 'r':
            cJSON_Delete(requests);
            requests = read_json(optarg);
            break;
        case 'j':
            junit = optarg;
            break;
        case 't':
            os.tap = 1;
            break;
        case 'b':
            base.budget_ms = number_arg("--budget", optarg, 1, 600000);
            break;
        case 'T':
            base.check_timeout_ms =
                number_arg("--timeout", optarg, 100, 3600000);
            break;
        case 'c':
            base.cycles = (int)number_arg("--cycles", optarg, 2, 100000);
            break;
        case 'o':
            only = optarg;
            break;
        case 'v':
            os.verbose = base.verbose = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            printf("ams-conform %s (plugin ABI %d.%d)\n", AMSD_VERSION,
                   AMS_ABI_MAJOR, AMS_ABI_MINOR);
            return 0;
        default:
            fprintf(stderr, "try ams-conform --help\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (base.check_timeout_ms < base.budget_ms * 2)
        base.check_timeout_ms = base.budget_ms * 2;
    base.params = params;
    base.requests = requests;
    nplans = (size_t)(argc - optind);
    plans = calloc(nplans, sizeof *plans);
    if (plans == NULL)
        return 2;
    for (size_t i = 0; i < nplans; i++) {
        plans[i].o = base;
        plans[i].o.path = argv[optind + (int)i];
        /* dlopen searches the library path for a name without a '/' */
        if (strchr(plans[i].o.path, '/') == NULL &&
            asprintf(&plans[i].dotpath, "./%s", plans[i].o.path) > 0)
            plans[i].o.path = plans[i].dotpath;
        stem_of(plans[i].o.path, plans[i].o.stem, sizeof plans[i].o.stem);
        plan_plugin(&plans[i]);
        total += plans[i].n;
    }
    if (os.tap) {
        printf("TAP version 13\n");
        if (only == NULL)
            printf("1..%zu\n", total);
        fflush(stdout);
    }
    for (size_t i = 0; i < nplans; i++)
        run_plan(&plans[i], &os, only);
    for (size_t i = 0; i < nplans; i++) {
        size_t p = 0, f = 0, s = 0;
        for (size_t k = 0; k < plans[i].suite.n; k++) {
            ck_status st = plans[i].suite.checks[k].r.status;
            p += st == CK_PASS;
            f += st == CK_FAIL;
            s += st == CK_SKIP;
        }
        if (!os.tap)
            printf("%s: %zu passed, %zu failed, %zu skipped (%.1f s)\n",
                   plans[i].suite.name, p, f, s, plans[i].suite.seconds);
        passed += p;
        failed += f;
        skipped += s;
    }
    if (os.tap && only)
        printf("1..%zu\n", os.seq);
    if (os.tap)
        printf("# %zu passed, %zu failed, %zu skipped\n", passed, failed,
               skipped);
    else if (nplans > 1)
        printf("%zu passed, %zu failed, %zu skipped\n", passed, failed,
               skipped);
    if (junit != NULL) {
        report_suite *suites = calloc(nplans, sizeof *suites);
        for (size_t i = 0; suites != NULL && i < nplans; i++)
            suites[i] = plans[i].suite;
        if (suites == NULL || report_junit(junit, suites, nplans) < 0) {
            fprintf(stderr, "ams-conform: cannot write %s: %s\n", junit,
                    strerror(errno));
            failed++;
        }
        free(suites);
    }
    for (size_t i = 0; i < nplans; i++) {
        for (size_t k = 0; k < plans[i].suite.n; k++)
            ck_result_free(&plans[i].suite.checks[k].r);
        free(plans[i].suite.checks);
        free(plans[i].p);
        free(plans[i].dotpath);
    }
    free(plans);
    cJSON_Delete(params);
    cJSON_Delete(requests);
    return failed == 0 && skipped == 0 ? 0 : 1;
}
