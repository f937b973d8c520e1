/*
 * test_activity.c -- activity files as an operator writes them, built into
 * a generation exactly as a worker builds one: what a good file compiles
 * to, the "file:line: field: message" of every mistake (all of them in one
 * build), and the rule tree and operations run against a real store.
 *
 *   AMS_TEST_PLUGINS  directory of the test plugins; the bundled plugins
 *                     are in AMS_TEST_PLUGINS/../../plugins
 *   AMS_SOURCE        source root (for conf/activities/demo.conf)
 *   AMS_TEST_TMP      scratch directory
 *
 * The test plugin directory also holds the deliberately broken plugins,
 * which a generation would refuse, so the generations here load from
 * directories of symlinks to only the plugins they need.
 */
#include "fixture.h"
#include "gen.h"
#include "log.h"
#include "pipeline.h"
#include "services.h"
#include "store.h"
#include "tap.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[1024];
static char testplugs[1024];     /* AMS_TEST_PLUGINS */
static char plugdir[PATH_MAX];   /* testplug.so only */
static char bundledir[PATH_MAX]; /* counter.so, param.so */
static char bundled[PATH_MAX];   /* every bundled plugin (build tree) */

#define NOW 1780272000000LL /* 2026-06-01T00:00:00Z */

/* ---- helpers ---- */

/* 1-based line of the first occurrence of marker in text (0: absent). */
static int line_of(const char *text, const char *marker)
{
    const char *at = strstr(text, marker);
    int line = 1;

    if (at == NULL) {
        printf("# test bug: marker \"%s\" not in the file\n", marker);
        return 0;
    }
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

/* A generation of acts with testplug.so as its only plugin. */
static gen *build(const char *acts, int run_init, errs *e)
{
    return fx_gen_build(plugdir, acts, run_init, e);
}

static void link_plugin(const char *from_dir, const char *name,
                        const char *to_dir)
{
    char src[PATH_MAX], dst[PATH_MAX + 64];

    snprintf(src, sizeof src, "%s/%s.so", from_dir, name);
    snprintf(dst, sizeof dst, "%s/%s.so", to_dir, name);
    if (symlink(src, dst) != 0)
        printf("# symlink %s -> %s: %s\n", dst, src, strerror(errno));
}

/* Leaves of the rule-tree tests: testplug.flag counting its calls. */
#define PASS(n)                                                               \
    "{ use = \"testplug.flag\"; params = { pass = true; name = \"" n "\"; "   \
    "}; }"
#define FAIL(n, r)                                                            \
    "{ use = \"testplug.flag\"; params = { pass = false; name = \"" n         \
    "\"; reason = \"" r "\"; }; }"
#define COUNT(k, max)                                                         \
    "{ use = \"testplug.count\"; params = { key = \"" k "\"; max = " #max     \
    "; }; }"
#define WINDOW                                                                \
    "start = \"2026-01-01T00:00:00Z\"; end = \"2026-12-01T00:00:00Z\";\n"

/* ---- a good file ---- */

static const char good_text[] =
    "# a good activity file\n"
    "activities = (\n"
    "  {\n"
    "    id = 101;\n"
    "    name = \"good\";\n"
    "    tenant = \"qa\";\n"
    "    start = \"2026-01-01T00:00:00+08:00\";\n"
    "    end = \"2030-02-01T00:00:00+08:00\";\n"
    "    timezone = \"-05:30\";\n"
    "    crowd = { use = \"testplug.flag\"; params = { pass = true; }; };\n"
    "    methods = (\n"
    "      { name = \"take\"; login = true;\n"
    "        rule = { all = ( { use = \"testplug.flag\"; },\n"
    "                         { not = { use = \"testplug.flag\";\n"
    "                                   params = { pass = false; }; }; } ); "
    "};\n"
    "        operations = (\n"
    "          { use = \"testplug.count\"; params = { key = \"stock\"; "
    "max = 5; }; },\n"
    "          { use = \"testplug.fail\"; params = { reason = \"x\"; }; } );\n"
    "      },\n"
    "      { name = \"show\";\n"
    "        handler = { use = \"testplug.stateful\";\n"
    "                    params = { value = 7; tags = [ \"a\", \"b\" ]; "
    "ratio = 0.5;\n"
    "                               table = ( { p = 1; } ); }; }; }\n"
    "    );\n"
    "  },\n"
    "  {\n"
    "    id = 102; name = \"second\"; enabled = false;\n"
    "    start = \"2026-01-01T00:00:00Z\"; end = \"2030-01-02T00:00:00Z\";\n"
    "    methods = ( { name = \"take\"; handler = { use = \"testplug.echo\"; "
    "}; } );\n"
    "  }\n"
    ");\n";

static void test_good(void)
{
    const char *dir = fx_fresh_dir(tmpdir, "acts-good");
    const char *path = fx_put(dir, "a.conf", good_text);
    char other[PATH_MAX];
    errs e = {0};
    gen *g;
    activity *a, *b;
    method *take, *show, *take2;

    snprintf(other, sizeof other, "%s",
             fx_put(dir, "b.conf",
                    "activities = ( { id = 103; name = \"b\"; "
                    "start = \"2026-01-01T00:00:00+08:00\"; "
                    "end = \"2030-12-01T00:00:00Z\"; "
                    "methods = ( { name = \"take\"; "
                    "handler = { use = \"testplug.echo\"; }; } "
                    "); } );\n"));
    fx_put(dir, "notes.txt", "not an activity file: ignored\n");
    g = build(dir, 1, &e);
    if (!ok(g != NULL && e.n == 0, "a good directory builds with no "
                                   "messages")) {
        fx_dump_errs(&e);
        errs_free(&e);
        gen_unref(g);
        return;
    }
    is_int(g->number, 1, "generation number");
    is_int(g->refs, 1, "one reference, the caller's");
    is_int(g->nplugins, 1, "one plugin loaded");
    is_str(g->plugins[0]->name, "testplug", "  testplug");
    is_int(g->nacts, 3, "three activities from two .conf files");
    ok(g->acts[0]->id == 101 && g->acts[1]->id == 102 && g->acts[2]->id == 103,
       "files load in name order, activities in file order");

    a = gen_activity(g, 101);
    b = gen_activity(g, 102);
    ok(a != NULL && b != NULL, "gen_activity finds 101 and 102");
    ok(gen_activity(g, 999) == NULL, "gen_activity(999) is NULL");
    if (a == NULL || b == NULL)
        goto out;
    is_str(a->name, "good", "name");
    is_str(a->tenant, "qa", "tenant");
    ok(b->tenant == NULL, "tenant is optional");
    is_int(a->enabled, 1, "enabled defaults to true");
    is_int(b->enabled, 0, "enabled = false");
    is_int(a->start_ms, 1767196800000LL, "start with +08:00 offset");
    is_int(a->end_ms, 1896105600000LL, "end with +08:00 offset");
    is_int(a->tz_offset_min, -330, "timezone -05:30 wins over start's");
    is_int(b->tz_offset_min, 0, "timezone defaults to start's (Z)");
    ok(gen_activity(g, 103) != NULL &&
           gen_activity(g, 103)->tz_offset_min == 480,
       "timezone defaults to start's (+08:00)");
    is_str(a->file, path, "activity file");
    is_int(a->line, line_of(good_text, "  {\n    id = 101"),
           "activity "
           "line: its opening brace");
    is_int(a->nmethods, 2, "two methods");
    ok(a->crowd != NULL && a->crowd->kind == RN_LEAF, "crowd is a leaf");

    take = gen_route(g, 101, "take");
    show = gen_route(g, 101, "show");
    take2 = gen_route(g, 102, "take");
    ok(take != NULL && take == &a->methods[0], "route 101/take");
    ok(show != NULL && show == &a->methods[1], "route 101/show");
    ok(take2 != NULL && take2 == &b->methods[0] && take2 != take,
       "route 102/take is 102's own");
    ok(gen_activity(g, 103) != NULL &&
           gen_route(g, 103, "take") == &gen_activity(g, 103)->methods[0],
       "route 103/take from the second file");
    ok(gen_activity(g, 103) != NULL &&
           strcmp(gen_activity(g, 103)->file, other) == 0,
       "  its activity knows its file");
    ok(gen_route(g, 101, "nope") == NULL, "unknown method: NULL");
    ok(gen_route(g, 101, "Take") == NULL, "method names are case-sensitive");
    ok(gen_route(g, 999, "take") == NULL, "unknown activity: NULL");
    ok(gen_route(g, 0, "take") == NULL, "activity 0: NULL");
    if (take == NULL || show == NULL)
        goto out;

    is_int(take->login, 1, "login = true");
    is_int(show->login, 0, "login defaults to false");
    ok(take->rule != NULL && take->rule->kind == RN_ALL &&
           take->rule->nkids == 2,
       "rule: all of two");
    ok(take->rule && take->rule->nkids == 2 &&
           take->rule->kids[0]->kind == RN_LEAF &&
           take->rule->kids[1]->kind == RN_NOT &&
           take->rule->kids[1]->nkids == 1 &&
           take->rule->kids[1]->kids[0]->kind == RN_LEAF,
       "  a leaf and not(leaf)");
    is_int(take->nops, 2, "two operations");
    if (take->nops == 2) {
        instance *op = take->ops[0];
        is_str(op->ref, "testplug.count", "op 1 ref");
        ok(op->entry == plugin_find_entry(g->plugins[0], "count"),
           "op 1 resolved to testplug's count entry");
        ok(op->entry->undo != NULL, "  with its undo");
        ok(op->act == a, "  belongs to its activity");
        is_str(op->file, path, "  file");
        is_int(op->line, line_of(good_text, "{ use = \"testplug.count\""),
               "  line of its group");
        {
            char *j = cJSON_PrintUnformatted(op->params);
            is_str(j, "{\"key\":\"stock\",\"max\":5}", "  params as JSON");
            free(j);
        }
        is_str(take->ops[1]->ref, "testplug.fail", "op 2 ref");
    }
    ok(take->handler == NULL, "no handler");
    ok(show->nops == 0 && show->handler != NULL, "show: handler only");
    if (show->handler != NULL) {
        instance *h = show->handler;
        char *j = cJSON_PrintUnformatted(h->params);
        is_str(h->ref, "testplug.stateful", "handler ref");
        is_str(j,
               "{\"value\":7,\"tags\":[\"a\",\"b\"],\"ratio\":0.5,"
               "\"table\":[{\"p\":1}]}",
               "handler params of every type, as JSON");
        free(j);
        ok(h->inited && h->state != NULL && *(int64_t *)h->state == 7,
           "init ran with the validated params (state 7)");
    }
    ok(take2 && take2->handler && take2->handler->params &&
           cJSON_IsObject(take2->handler->params) &&
           cJSON_GetArraySize(take2->handler->params) == 0,
       "no params: an empty object, never NULL");

    gen_ref(g);
    is_int(g->refs, 2, "gen_ref");
    gen_unref(g);
    is_int(g->refs, 1, "gen_unref keeps it while referenced");
out:
    gen_unref(g);
    errs_free(&e);

    /* Without run_init the same files build and no init runs. */
    g = build(dir, 0, &e);
    ok(g != NULL && e.n == 0, "builds without init");
    if (g != NULL) {
        method *m = gen_route(g, 101, "show");
        ok(m && m->handler && !m->handler->inited && m->handler->state == NULL,
           "  init did not run");
    }
    gen_unref(g);
    errs_free(&e);
}

/* Many activities: every route resolves to its own method. */
static void test_many_routes(void)
{
    const char *dir = fx_fresh_dir(tmpdir, "acts-many");
    size_t cap = 64 * 1024, len = 0;
    char *text = malloc(cap);
    errs e = {0};
    gen *g;
    int found = 0, right = 0;

    len += (size_t)snprintf(text + len, cap - len, "activities = (\n");
    for (int i = 0; i < 40; i++)
        len += (size_t)snprintf(
            text + len, cap - len,
            "%s{ id = %d; name = \"a%d\"; " WINDOW
            "  methods = ( { name = \"m0\"; handler = { use = "
            "\"testplug.echo\"; }; }, { name = \"m1\"; handler = { use = "
            "\"testplug.echo\"; }; }, { name = \"m2\"; handler = { use = "
            "\"testplug.echo\"; }; } ); }\n",
            i ? "," : "", 1000 + i * 7, i);
    snprintf(text + len, cap - len, ");\n");
    fx_put(dir, "many.conf", text);
    free(text);
    g = build(dir, 1, &e);
    if (!ok(g != NULL, "40 activities with 3 methods each build")) {
        fx_dump_errs(&e);
        errs_free(&e);
        return;
    }
    for (int i = 0; i < 40; i++)
        for (int k = 0; k < 3; k++) {
            char name[8];
            method *m;
            snprintf(name, sizeof name, "m%d", k);
            m = gen_route(g, 1000 + i * 7, name);
            found += m != NULL;
            right += m != NULL && m->act->id == 1000 + i * 7 &&
                     strcmp(m->name, name) == 0;
        }
    is_int(found, 120, "all 120 routes found");
    is_int(right, 120, "each to its own activity and method");
    ok(gen_route(g, 1001, "m0") == NULL && gen_route(g, 1000, "m3") == NULL,
       "near misses are NULL");
    ok(g->nroutes >= 240 && (g->nroutes & (g->nroutes - 1)) == 0,
       "route table: a power of two at load <= 1/2 (%zu)", g->nroutes);
    gen_unref(g);
    errs_free(&e);
}

/* ---- every mistake of one file, in one build ---- */

static const char broken_text[] =
    "# every mistake below is reported in one build\n"
    "activities = (\n"
    "  {\n"
    "    id = 201;\n"
    "    name = \"broken\";\n"
    "    colour = \"red\";\n"
    "    start = \"2026-13-01T00:00:00+08:00\";\n"
    "    end = \"2026-01-01T00:00:00+08:00\";\n"
    "    timezone = \"+25:00\";\n"
    "    methods = (\n"
    "      { name = \"a\"; operations = ( { use = \"nope.x\"; } ); },\n"
    "      { name = \"b\"; operations = ( { use = \"testplug.nope\"; } ); },\n"
    "      { name = \"c\"; handler = { use = \"testplug.echo\"; };\n"
    "        rule = { use = \"testplug.count\"; params = { key = \"k\"; max = "
    "1; }; }; },\n"
    "      { name = \"d\"; operations = ( { use = \"testplug.count\"; "
    "params = { key = \"k\"; }; } ); },\n"
    "      { name = \"e\"; handler = { use = \"testplug.stateful\"; params = "
    "{\n"
    "          value = 5000; }; }; },\n"
    "      { name = \"f\"; },\n"
    "      { name = \"a\"; handler = { use = \"testplug.echo\"; }; },\n"
    "      { name = \"g\"; handler = { use = \"testplug.echo\"; };\n"
    "        rule = { all = ( " PASS("x") " ); any = ( " PASS(
        "y") " ); }; },\n"
             "      { name = \"h\"; operations = { use = \"testplug.count\"; "
             "params = "
             "{ key = \"k\"; max = 1; }; }; },\n"
             "      { name = \"i\"; handler = { use = \"testplug.echo\"; "
             "params = { "
             "loud = true; }; }; },\n"
             "      { name = \"j\"; handler = { use = \"testplug.fail\"; "
             "params = { "
             "reason = \"r\"; }; }; },\n"
             "      { name = \"Bad-Name\"; handler = { use = "
             "\"testplug.echo\"; }; }\n"
             "    );\n"
             "  },\n"
             "  { id = 202; name = \"backwards\"; start = "
             "\"2026-02-01T00:00:00Z\";\n"
             "    end = \"2026-01-01T00:00:00Z\";\n"
             "    methods = ( { name = \"m\"; handler = { use = "
             "\"testplug.echo\"; }; "
             "} ); },\n"
             "  { name = \"no id\"; start = \"2026-02-01T00:00:00Z\";\n"
             "    end = \"2026-03-01T00:00:00Z\"; methods = ();\n"
             "  }\n"
             ");\n";

static void test_broken(void)
{
    const char *dir = fx_fresh_dir(tmpdir, "acts-broken");
    const char *path = fx_put(dir, "broken.conf", broken_text);
    errs e = {0};
    gen *g = build(dir, 1, &e);
#define L(marker) line_of(broken_text, marker)

    ok(g == NULL, "a broken file: no generation");
    fx_expect_at(&e, path, L("colour"),
                 "activity: unknown setting \"colour\"");
    fx_expect_at(&e, path, L("2026-13-01"),
                 "start: \"2026-13-01T00:00:00+08:00\" is not "
                 "YYYY-MM-DDTHH:MM:SS+HH:MM");
    fx_expect_at(&e, path, L("+25:00"),
                 "timezone: \"+25:00\" is not +HH:MM, -HH:MM or Z");
    fx_expect_at(&e, path, L("nope.x"),
                 "operations: use: unknown plugin \"nope\" (in \"nope.x\")");
    fx_expect_at(&e, path, L("testplug.nope"),
                 "operations: use: plugin \"testplug\" has no entry \"nope\"");
    fx_expect_at(&e, path, L("rule = { use = \"testplug.count\""),
                 "rule: use: \"testplug.count\" is a");
    fx_expect_at(&e, path, L("rule = { use = \"testplug.count\""),
                 "operation, a rule is needed here");
    fx_expect_at(&e, path, L("params = { key = \"k\"; }"),
                 "testplug.count: params.max: missing (required integer)");
    fx_expect_at(&e, path, L("value = 5000"),
                 "testplug.stateful: params.value: value 5000 is above the "
                 "maximum 1000");
    fx_expect_at(&e, path, L("{ name = \"f\"; }"),
                 "method \"f\": has no operations and no handler");
    {
        char frag[128];
        snprintf(frag, sizeof frag,
                 "method \"a\" defined twice in activity "
                 "201 (first at line %d)",
                 L("{ name = \"a\"; operations"));
        fx_expect_at(&e, path, L("{ name = \"a\"; handler"), frag);
    }
    fx_expect_at(
        &e, path, L("rule = { all = "),
        "rule: a rule has exactly one of use, all, any, not (found 2)");
    fx_expect_at(&e, path, L("{ name = \"h\""),
                 "operations: expected a list ( {...}, {...} )");
    fx_expect_at(&e, path, L("loud = true"),
                 "testplug.echo: params.loud: unknown parameter");
    fx_expect_at(&e, path, L("{ name = \"j\""),
                 "handler: use: \"testplug.fail\" is a");
    fx_expect_at(&e, path, L("{ name = \"j\""),
                 "operation, a handler is needed here");
    fx_expect_at(&e, path, L("Bad-Name"),
                 "method name \"Bad-Name\" must match [a-z][a-z0-9_]*");
    fx_expect_at(&e, path, L("end = \"2026-01-01T00:00:00Z\""),
                 "end: 2026-01-01T00:00:00Z is not after start "
                 "2026-02-01T00:00:00Z");
    fx_expect_at(&e, path, L("{ name = \"no id\""), "id: missing (required)");
    fx_expect_at(&e, path, L("methods = ();"),
                 "methods: expected a non-empty list");
    if (!ok(e.nerrors == 18 && e.n == 18,
            "exactly these 18 errors, "
            "nothing else (%zu)",
            e.nerrors))
        fx_dump_errs(&e);
    gen_unref(g);
    errs_free(&e);
#undef L
}

/* Mistakes in the shape of the file and its rules. */
static const char shape_text[] =
    "activities = (\n"
    "  { id = 301; name = \"shapes\"; " WINDOW "    methods = (\n"
    "      { name = \"a\"; operations = ( { use = \"testplug\"; } ); },\n"
    "      { name = \"b\"; operations = ( { use = \".count\"; } ); },\n"
    "      { name = \"c\"; operations = ( { params = { key = \"k\"; }; } ); "
    "},\n"
    "      { name = \"d\"; operations = ( { use = \"testplug.count\"; "
    "params = 5; } ); },\n"
    "      { name = \"e\"; handler = { use = \"testplug.echo\"; };\n"
    "        rule = \"testplug.flag\"; },\n"
    "      { name = \"f\"; handler = { use = \"testplug.echo\"; };\n"
    "        rule = { all = (); }; },\n"
    "      { name = \"g\"; handler = { use = \"testplug.echo\"; };\n"
    "        rule = { not = " PASS(
        "n") "; extra = 1; }; },\n"
             "      { name = \"h\"; handler = { use = \"testplug.echo\"; };\n"
             "        rule = { }; },\n"
             "      { name = \"i\"; handler = { use = \"testplug.echo\"; };\n"
             "        rule = { use = \"testplug.flag\"; colour = 1; }; },\n"
             "      { name = \"j\"; operations = ( \"testplug.count\" ); },\n"
             "      { name = \"k\"; handler = { use = \"testplug.stateful\"; "
             "params = "
             "{ value = 1; tags = [ \"a\", \"b\", \"c\", \"d\" ]; ratio = 2; "
             "}; }; "
             "},\n"
             "      \"not a group\" ); }\n"
             ");\n"
             "activity = 1;\n";

static void test_shapes(void)
{
    const char *dir = fx_fresh_dir(tmpdir, "acts-shape");
    const char *path = fx_put(dir, "shape.conf", shape_text);
    errs e = {0};
    gen *g = build(dir, 1, &e);
#define L(marker) line_of(shape_text, marker)

    ok(g == NULL, "shape mistakes: no generation");
    fx_expect_at(&e, path, L("\"testplug\"; }"),
                 "operations: use: \"testplug\" is not \"plugin.entry\"");
    fx_expect_at(&e, path, L("\".count\""),
                 "operations: use: \".count\" is not \"plugin.entry\"");
    fx_expect_at(&e, path, L("{ params = { key"), "use: missing (required)");
    fx_expect_at(&e, path, L("params = 5"),
                 "testplug.count: params: expected a group");
    fx_expect_at(&e, path, L("rule = \"testplug.flag\""),
                 "rule: expected a group with one of use, all, any, not");
    fx_expect_at(&e, path, L("all = ()"), "all: expected a non-empty list");
    fx_expect_at(&e, path, L("extra = 1"), "rule: unknown setting \"extra\"");
    fx_expect_at(
        &e, path, L("rule = { };"),
        "rule: a rule has exactly one of use, all, any, not (found 0)");
    fx_expect_at(&e, path, L("colour = 1"),
                 "rule: unknown setting \"colour\"");
    fx_expect_at(&e, path, L("( \"testplug.count\" )"),
                 "operations: expected a group { use = \"plugin.entry\"");
    fx_expect_at(&e, path, L("tags = [ \"a\""),
                 "testplug.stateful: params.tags: count 4 is above the "
                 "maximum 3");
    fx_expect_at(&e, path, L("tags = [ \"a\""),
                 "testplug.stateful: params.ratio: value 2 is above the "
                 "maximum 1");
    fx_expect_at(&e, path, L("\"not a group\""), "methods: expected groups");
    fx_expect_at(&e, path, L("activity = 1"),
                 "file: unknown setting \"activity\"");
    if (!ok(e.nerrors == 14 && e.n == 14, "exactly these 14 errors (%zu)",
            e.nerrors))
        fx_dump_errs(&e);
    gen_unref(g);
    errs_free(&e);
#undef L

    /* File-level shape. */
    dir = fx_fresh_dir(tmpdir, "acts-shape2");
    path = fx_put(dir, "a.conf", "activities = { id = 1; };\n");
    g = build(dir, 1, &e);
    ok(g == NULL, "activities as a group: refused");
    fx_expect_at(&e, path, 1,
                 "activities: expected a list: activities = ( "
                 "{...} );");
    gen_unref(g);
    errs_free(&e);

    dir = fx_fresh_dir(tmpdir, "acts-shape3");
    path = fx_put(dir, "a.conf", "# nothing\n");
    g = build(dir, 1, &e);
    ok(g == NULL, "a file without activities: refused");
    fx_expect_at(&e, path, 0, "activities: expected a list");
    gen_unref(g);
    errs_free(&e);

    dir = fx_fresh_dir(tmpdir, "acts-shape4");
    path = fx_put(dir, "a.conf",
                  "activities = (\n"
                  "  { id = 1; name = \"x\" " WINDOW "\n"
                  "    methods = ( } );\n");
    g = build(dir, 1, &e);
    ok(g == NULL, "a syntax error: refused");
    fx_expect_at(&e, path, 4, "syntax error");
    is_int(e.nerrors, 1, "  one error");
    gen_unref(g);
    errs_free(&e);
}

static void test_dup_ids(void)
{
    const char *dir = fx_fresh_dir(tmpdir, "acts-dup");
    char a[PATH_MAX], b[PATH_MAX], frag[PATH_MAX + 128];
    static const char a_text[] =
        "activities = (\n"
        "  { id = 300; name = \"first\"; " WINDOW
        "    methods = ( { name = \"m\"; handler = { use = \"testplug.echo\"; "
        "}; } ); }\n"
        ");\n";
    static const char b_text[] =
        "# the same id again, in another file\n"
        "activities = (\n"
        "  { id = 300; name = \"again\"; " WINDOW
        "    methods = ( { name = \"m\"; handler = { use = \"testplug.echo\"; "
        "}; } ); },\n"
        "  { id = 301; name = \"fine\"; " WINDOW
        "    methods = ( { name = \"m\"; handler = { use = \"testplug.echo\"; "
        "}; } ); },\n"
        "  { id = 301; name = \"twice here\"; " WINDOW
        "    methods = ( { name = \"m\"; handler = { use = \"testplug.echo\"; "
        "}; } ); }\n"
        ");\n";
    errs e = {0};
    gen *g;

    snprintf(a, sizeof a, "%s", fx_put(dir, "a.conf", a_text));
    snprintf(b, sizeof b, "%s", fx_put(dir, "b.conf", b_text));
    g = build(dir, 1, &e);
    ok(g == NULL, "duplicate activity ids: refused");
    snprintf(frag, sizeof frag, "id: activity 300 is already defined at %s:%d",
             a, line_of(a_text, "{ id = 300"));
    fx_expect_at(&e, b, line_of(b_text, "{ id = 300"), frag);
    snprintf(frag, sizeof frag, "id: activity 301 is already defined at %s:%d",
             b, line_of(b_text, "{ id = 301; name = \"fine\""));
    fx_expect_at(&e, b, line_of(b_text, "twice here"), frag);
    if (!ok(e.nerrors == 2, "two errors (%zu)", e.nerrors))
        fx_dump_errs(&e);
    gen_unref(g);
    errs_free(&e);
}

static void test_init_failure(void)
{
    const char *dir = fx_fresh_dir(tmpdir, "acts-init");
    static const char text[] =
        "activities = (\n"
        "  { id = 400; name = \"init\"; " WINDOW "    methods = (\n"
        "      { name = \"ok1\"; handler = { use = \"testplug.stateful\"; "
        "params = { value = 1; }; }; },\n"
        "      { name = \"bad\"; handler = { use = \"testplug.stateful\"; "
        "params = { value = 2; fail_init = true; }; }; },\n"
        "      { name = \"ok2\"; handler = { use = \"testplug.stateful\"; "
        "params = { value = 3; }; }; }\n"
        "    ); }\n"
        ");\n";
    const char *path = fx_put(dir, "init.conf", text);
    errs e = {0};
    gen *g = build(dir, 1, &e);

    ok(g == NULL, "an init failure: no generation");
    fx_expect_at(&e, path, line_of(text, "fail_init"),
                 "testplug.stateful: init failed (reason: asked_to_fail)");
    if (!ok(e.nerrors == 1, "  only that error (%zu)", e.nerrors))
        fx_dump_errs(&e);
    /* The instances that did init were destroyed: LeakSanitizer checks. */
    gen_unref(g);
    errs_free(&e);

    g = build(dir, 0, &e);
    ok(g != NULL && e.n == 0, "without init (checking the files only) it "
                              "builds");
    gen_unref(g);
    errs_free(&e);
}

/* Rules nest to depth 32, not deeper. */
static void test_depth(void)
{
    for (int nots = 32; nots <= 33; nots++) {
        char name[32];
        const char *dir;
        char text[8192];
        size_t len = 0;
        errs e = {0};
        gen *g;

        snprintf(name, sizeof name, "acts-depth%d", nots);
        dir = fx_fresh_dir(tmpdir, name);
        len +=
            (size_t)snprintf(text + len, sizeof text - len,
                             "activities = ( { id = 1; name = \"d\"; " WINDOW
                             "methods = ( { name = \"m\"; handler "
                             "= { use = \"testplug.echo\"; };\n"
                             "rule = ");
        for (int i = 0; i < nots; i++)
            len += (size_t)snprintf(text + len, sizeof text - len, "{ not = ");
        len += (size_t)snprintf(text + len, sizeof text - len, "%s",
                                PASS("leaf"));
        for (int i = 0; i < nots; i++)
            len += (size_t)snprintf(text + len, sizeof text - len, "; }");
        snprintf(text + len, sizeof text - len, "; } ); } );\n");
        fx_put(dir, "depth.conf", text);
        g = build(dir, 0, &e);
        if (nots == 32) {
            if (!ok(g != NULL, "32 nested nots build"))
                fx_dump_errs(&e);
        } else {
            ok(g == NULL, "33 nested nots are refused");
            ok(e.n >= 1 && strstr(e.msgs[0], "rules nest deeper than 32"),
               "  \"rules nest deeper than 32\"");
            if (e.n >= 1)
                has_str(e.msgs[0], "depth.conf:3: ", "  at the rule's line");
        }
        gen_unref(g);
        errs_free(&e);
    }
}

/* A malformed end is one mistake: it must not also be "not after start". */
static void test_bad_end_once(void)
{
    const char *dir = fx_fresh_dir(tmpdir, "acts-end");
    const char *path =
        fx_put(dir, "end.conf",
               "activities = ( { id = 1; name = \"e\";\n"
               "  start = \"2026-01-01T00:00:00Z\";\n"
               "  end = \"tomorrow\";\n"
               "  methods = ( { name = \"m\"; handler = { use = "
               "\"testplug.echo\"; }; } ); } );\n");
    errs e = {0};
    gen *g = build(dir, 0, &e);

    ok(g == NULL, "a malformed end: refused");
    fx_expect_at(&e, path, 3,
                 "end: \"tomorrow\" is not "
                 "YYYY-MM-DDTHH:MM:SS+HH:MM");
    if (e.nerrors != 1)
        fx_dump_errs(&e);
    ok(e.nerrors == 1, "%s",
       "a malformed end is reported once, not also as "
       "\"not after start\"");
    gen_unref(g);
    errs_free(&e);
}

static void test_time_parsing(void)
{
    static const struct {
        const char *s;
        int rc;
        int64_t ms;
        int off;
    } cases[] = {
        {"2026-01-01T00:00:00Z", 0, 1767225600000LL, 0},
        {"2026-01-01T00:00:00+08:00", 0, 1767196800000LL, 480},
        {"2026-01-01T00:00:00-05:30", 0, 1767245400000LL, -330},
        {"2026-01-01T00:00:00UTC", 0, 1767225600000LL, 0},
        {"2024-02-29T12:00:00Z", 0, 1709208000000LL, 0},
        {"2026-02-29T00:00:00Z", -1, 0, 0},
        {"2026-02-31T00:00:00Z", -1, 0, 0},
        {"2026-13-01T00:00:00Z", -1, 0, 0},
        {"2026-01-01T24:00:00Z", -1, 0, 0},
        {"2026-01-01T00:60:00Z", -1, 0, 0},
        {"2026-01-01T00:00:00", -1, 0, 0},
        {"2026-01-01 00:00:00Z", -1, 0, 0},
        {"2026-01-01T00:00:00+8:00", -1, 0, 0},
        {"2026-01-01T00:00:00+15:00", -1, 0, 0},
        {"2026-01-01T00:00:00+08:00x", -1, 0, 0},
        {"1969-12-31T23:59:59Z", -1, 0, 0},
        {"tomorrow", -1, 0, 0},
        {"", -1, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        int off = 9999;
        int rc = activity_parse_time(cases[i].s, &ms, &off);
        if (cases[i].rc == 0) {
            if (!ok(rc == 0 && ms == cases[i].ms && off == cases[i].off,
                    "time \"%s\"", cases[i].s))
                printf("#   rc %d ms %lld off %d\n", rc, (long long)ms, off);
        } else {
            is_int(rc, -1, "time \"%s\" refused", cases[i].s);
        }
    }
    {
        int off = 0;
        ok(activity_parse_tz("+14:00", &off) == 0 && off == 840, "tz +14:00");
        ok(activity_parse_tz("-00:30", &off) == 0 && off == -30, "tz -00:30");
        ok(activity_parse_tz("Z", &off) == 0 && off == 0, "tz Z");
        ok(activity_parse_tz("+15:00", &off) == -1, "tz +15:00 refused");
        ok(activity_parse_tz("+08:60", &off) == -1, "tz +08:60 refused");
        ok(activity_parse_tz("08:00", &off) == -1, "tz without sign refused");
        ok(activity_parse_tz("+0800", &off) == -1, "tz without colon "
                                                   "refused");
        ok(activity_parse_tz("", &off) == -1, "empty tz refused");
    }
}

/* The shipped activities (the demo and the four reference ones) build
 * against the bundled plugins, with no error and no warning. */
static void test_demo(void)
{
    const char *src = getenv("AMS_SOURCE");
    char acts[PATH_MAX];
    errs e = {0};
    gen *g;

    if (src == NULL || *src == '\0') {
        ok(1, "# SKIP AMS_SOURCE not set");
        return;
    }
    snprintf(acts, sizeof acts, "%s/conf/activities", src);
    g = fx_gen_build(bundled, acts, 1, &e);
    if (!ok(g != NULL && e.n == 0, "conf/activities builds with the "
                                   "bundled plugins, no messages"))
        fx_dump_errs(&e);
    if (g != NULL) {
        ok(gen_route(g, 9001, "earn") != NULL &&
               gen_route(g, 9001, "balance") != NULL,
           "  routes 9001/earn and 9001/balance");
        ok(gen_route(g, 1001, "invite") && gen_route(g, 1002, "repay") &&
               gen_route(g, 1003, "bind") && gen_route(g, 1003, "grab") &&
               gen_route(g, 1004, "draw") && gen_route(g, 1004, "status"),
           "  the reference activities' routes");
        is_int(g->nacts, 5, "  five activities");
    }
    gen_unref(g);
    errs_free(&e);
}

/* ---- rule trees and operations against a real store ---- */

static const char rules_text[] =
    "activities = (\n"
    "  { id = 500; name = \"rules\"; " WINDOW "    methods = (\n"
    "      { name = \"all_short\"; handler = { use = \"testplug.echo\"; };\n"
    "        rule = { all = ( " PASS("a1") ", " FAIL("b1", "r_b1") ", " PASS(
        "c1") " ); }; },\n"
              "      { name = \"any_short\"; handler = { use = "
              "\"testplug.echo\"; };\n"
              "        rule = { any = ( " FAIL("a2", "r_a2") ", " PASS(
                  "b2") ", " PASS("c2") " ); }; },\n"
                                        "      { name = \"any_none\"; handler "
                                        "= { use = \"testplug.echo\"; };\n"
                                        "        rule = { any = ( " FAIL("a3", "first") ", " FAIL(
                                            "b3", "second") " ); }; },\n"
                                                            "      { name = "
                                                            "\"not_fail\"; "
                                                            "handler = { use "
                                                            "= "
                                                            "\"testplug."
                                                            "echo\"; };\n"
                                                            "        rule = { "
                                                            "not = " FAIL("n1",
                                                                          "r_"
                                                                          "n1") "; }; },\n"
                                                                                "      { name = \"not_pass\"; handler = { use = \"testplug.echo\"; };\n"
                                                                                "        rule = { not = " PASS("n2") "; }; },\n"
                                                                                                                     "      { name = \"deep\"; handler = { use = \"testplug.echo\"; };\n"
                                                                                                                     "        rule = { all = (\n"
                                                                                                                     "          { any = ( " FAIL("d1", "r_d1") ",\n"
                                                                                                                                                               "                    { not = { not = " PASS("d2") "; }; },\n"
                                                                                                                                                                                                                 "                    " PASS("d3") " ); },\n"
                                                                                                                                                                                                                                                   "          { not = { all = ( " PASS("d4") ",\n"
                                                                                                                                                                                                                                                                                             "                            { any = ( " FAIL(
                                                                                                                                                                                                                                                                                                 "d5",
                                                                                                                                                                                                                                                                                                 "r_d5") ", " FAIL("d6", "r_d6") " ); } ); }; },\n"
                                                                                                                                                                                                                                                                                                                                 "          { all = ( " PASS(
                                                                                                                                                                                                                                                                                                                                     "d7") ", { all = ( " PASS("d8") ", { not = " FAIL("d9",
                                                                                                                                                                                                                                                                                                                                                                                       "r_d9") "; } ); } ); }\n"
                                                                                                                                                                                                                                                                                                                                                                                               "        ); }; },\n"
                                                                                                                                                                                                                                                                                                                                                                                               "      { name = \"deep_fail\"; handler = { use = \"testplug.echo\"; };\n"
                                                                                                                                                                                                                                                                                                                                                                                               "        rule = { all = ( " PASS("e1") ",\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                      "                         { any = ( " FAIL("e2", "r_e2") ", { not = " PASS("e3") "; } ); },\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "                         " PASS("e4") " ); }; },\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "      { name = \"not_any\"; handler = { use = \"testplug.echo\"; };\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "        rule = { not = { any = ( " PASS(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "p1") ", " FAIL("p2",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "r_p2") " ); }; }; }\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "    ); },\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          "  { id = 600; name = \"ops\"; " WINDOW "    crowd = " PASS("crowd600") ";\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "    methods = (\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "      { name = \"buy_ok\"; login = true; operations = ( " COUNT(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "s_ok",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      1) " );\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "        handler = { use = \"testplug.echo\"; }; },\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                         "      { name = \"buy_fail\"; operations = ( " COUNT("s_a", 1) ", " COUNT(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "s_b", 1) ",\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "          { use = \"testplug.fail\"; params = { reason = \"sold_out\"; "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "}; } ); },\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "      { name = \"own_reason\"; operations = ( " COUNT(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           "s_c",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           1) ",\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "          { use = \"testplug.fail\"; params = { reason = \"no_luck\"; }; "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "} ); },\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "      { name = \"boom\"; operations = ( { use = \"testplug.fault\"; } ); "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "},\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "      { name = \"boom_late\"; operations = ( " COUNT(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "s_d",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  1) ",\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     "          { use = \"testplug.fault\"; } ); },\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     "      { name = \"rule_no\"; rule = " FAIL("rn",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                "too_poor") ";\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            "        operations = ( " COUNT("s_e",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            5) " ); }\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "    ); },\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "  { id = 601; name = \"crowd\"; " WINDOW
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "    crowd = " FAIL("cr", "not_vip") ";\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "    methods = ( { name = \"m\"; operations = ( " COUNT("s_f", 5) " ); } ); },\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "  { id = 602; name = \"off\"; enabled = false; " WINDOW "    methods = ( { name = \"m\"; operations = ( " COUNT("s_g",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       5) " ); } ); }\n"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                          ");\n";

static gen *rules_gen;

/* An activity counter as services.c namespaces it. */
static int64_t counter(int64_t id, const char *key)
{
    char k[STORE_KEY_MAX];
    int64_t v = 0;
    ams_status st;

    snprintf(k, sizeof k, "{a%lld}g:%s", (long long)id, key);
    st = store_counter_get(svc.st, k, NOW, &v);
    if (st == AMS_NOT_FOUND)
        return 0;
    return st == AMS_OK ? v : -1000;
}

static int64_t calls(const char *leaf)
{
    char key[80];
    snprintf(key, sizeof key, "calls.%s", leaf);
    return counter(500, key);
}

/* The `name` param of a testplug.flag leaf. */
static const char *leaf_name(const instance *in)
{
    const cJSON *n =
        in ? cJSON_GetObjectItemCaseSensitive(in->params, "name") : NULL;
    return cJSON_IsString(n) ? n->valuestring : "(none)";
}

static ams_status eval(const char *mname, instance **who, char reason[64])
{
    method *m = gen_route(rules_gen, 500, mname);
    svc_req r;
    ams_status st;

    *who = NULL;
    reason[0] = '\0';
    if (m == NULL || m->rule == NULL) {
        printf("# test bug: no rule for 500/%s\n", mname);
        return AMS_ERR;
    }
    fx_req(&r, m, "u1", "req-1");
    svc_req_begin(&r, NOW);
    st = pipeline_eval(m->rule, &r, who, reason);
    svc_req_end(&r);
    return st;
}

/* Leaves named in `called` ran once, those in `skipped` never. */
static void calls_are(const char *what, const char *const *called,
                      const char *const *skipped)
{
    int good = 1;

    for (; called && *called; called++)
        if (calls(*called) != 1) {
            printf("#   %s: leaf %s ran %lld times, want 1\n", what, *called,
                   (long long)calls(*called));
            good = 0;
        }
    for (; skipped && *skipped; skipped++)
        if (calls(*skipped) != 0) {
            printf("#   %s: leaf %s ran %lld times, want 0\n", what, *skipped,
                   (long long)calls(*skipped));
            good = 0;
        }
    ok(good, "%s: the right leaves ran, each once", what);
}

static void test_rule_trees(void)
{
    instance *who;
    char reason[64];
    ams_status st;

    st = eval("all_short", &who, reason);
    is_int(st, AMS_FAIL, "all(pass, fail, pass) fails");
    is_str(leaf_name(who), "b1", "  the failing leaf is reported");
    is_str(who ? who->ref : NULL, "testplug.flag", "  by its ref");
    is_str(reason, "r_b1", "  with its reason");
    calls_are("all() stops at the first failure",
              (const char *const[]){"a1", "b1", NULL},
              (const char *const[]){"c1", NULL});

    st = eval("any_short", &who, reason);
    is_int(st, AMS_OK, "any(fail, pass, pass) passes");
    calls_are("any() stops at the first pass",
              (const char *const[]){"a2", "b2", NULL},
              (const char *const[]){"c2", NULL});

    st = eval("any_none", &who, reason);
    is_int(st, AMS_FAIL, "any(fail, fail) fails");
    is_str(leaf_name(who), "b3", "  the last failure is reported");
    is_str(reason, "second", "  with its reason");
    calls_are("any() of failures tries them all",
              (const char *const[]){"a3", "b3", NULL}, NULL);

    st = eval("not_fail", &who, reason);
    is_int(st, AMS_OK, "not(fail) passes");
    st = eval("not_pass", &who, reason);
    is_int(st, AMS_FAIL, "not(pass) fails");
    is_str(leaf_name(who), "n2", "  blaming the leaf that passed");
    is_str(reason, "negated", "  reason \"negated\"");
    calls_are("not() evaluates its child once",
              (const char *const[]){"n1", "n2", NULL}, NULL);

    st = eval("deep", &who, reason);
    is_int(st, AMS_OK, "a depth-4 tree of all/any/not passes");
    calls_are("deep tree: short-circuits at every level",
              (const char *const[]){"d1", "d2", "d4", "d5", "d6", "d7", "d8",
                                    "d9", NULL},
              (const char *const[]){"d3", NULL});

    st = eval("deep_fail", &who, reason);
    is_int(st, AMS_FAIL, "all(pass, any(fail, not(pass)), pass) fails");
    is_str(leaf_name(who), "e3", "  the deciding leaf is the negated one");
    is_str(reason, "negated", "  reason \"negated\"");
    calls_are("deep failure: later siblings never run",
              (const char *const[]){"e1", "e2", "e3", NULL},
              (const char *const[]){"e4", NULL});

    /* Evaluating again runs the same leaves again (no caching). */
    eval("all_short", &who, reason);
    ok(calls("a1") == 2 && calls("b1") == 2 && calls("c1") == 0,
       "a second evaluation runs the leaves again");

    st = eval("not_any", &who, reason);
    is_int(st, AMS_FAIL, "not(any(pass, fail)) fails");
    is_str(reason, "negated", "  reason \"negated\"");
    calls_are("not(any(...)) short-circuits inside",
              (const char *const[]){"p1", NULL},
              (const char *const[]){"p2", NULL});
    if (strcmp(leaf_name(who), "p1") != 0)
        printf("#   blamed %s, which never ran\n", leaf_name(who));
    ok(strcmp(leaf_name(who), "p1") == 0, "%s",
       "not(any(p1 passes, p2)) blames p1, the leaf that passed");
}

/* Run id/mname for uid at now.  A fresh request_id each run: the same
 * one would be a replay. */
static void run(int64_t id, const char *mname, const char *uid, int64_t now,
                fx_answer *o)
{
    static int seq;
    char rid[32];

    snprintf(rid, sizeof rid, "req-run-%d", ++seq);
    fx_run(rules_gen, id, mname, uid, rid, now, o);
}

static void test_pipeline(void)
{
    fx_answer o;

    run(600, "buy_ok", "u1", NOW, &o);
    is_int(o.http_status, 200, "buy_ok: 200");
    is_int(o.code, 0, "buy_ok: code 0");
    is_str(o.reason, "ok", "buy_ok: reason ok");
    is_str(o.detail, "", "buy_ok: no detail");
    has_str(o.data, "\"count\":1", "buy_ok: data has the operation's reply");
    has_str(o.data, "\"uid\":\"u1\"", "buy_ok: and the handler's");
    is_int(counter(600, "s_ok"), 1, "buy_ok: the counter is 1");
    is_int(counter(600, "calls.crowd600"), 1, "the crowd rule ran once");

    run(600, "buy_ok", "u2", NOW, &o);
    is_int(o.code, 1008, "buy_ok again: stock 1 is gone: code 1008");
    is_str(o.reason, "sold_out", "  reason sold_out");
    is_str(o.detail, "{\"operation\":\"testplug.count\",\"index\":0}",
           "  detail names the operation and its index");
    is_str(o.data, "{}", "  no data reaches the client");
    is_int(counter(600, "s_ok"), 1, "  the counter stays 1");

    run(600, "buy_ok", "", NOW, &o);
    is_int(o.code, 1004, "login = true without a uid: 1004");
    is_str(o.reason, "login_required", "  login_required");

    /* count, count, fail: both counts are undone.  Run twice: if the
     * first run's counts were not undone, the second would stop at
     * operation 0 (max 1) instead of reaching the fail at index 2. */
    for (int i = 1; i <= 2; i++) {
        run(600, "buy_fail", "u1", NOW, &o);
        is_int(o.http_status, 200, "buy_fail #%d: 200", i);
        is_int(o.code, 1008, "buy_fail #%d: code 1008", i);
        is_str(o.reason, "sold_out", "buy_fail #%d: the fail's reason", i);
        is_str(o.detail, "{\"operation\":\"testplug.fail\",\"index\":2}",
               "buy_fail #%d: detail names testplug.fail at index 2", i);
        is_str(o.data, "{}",
               "buy_fail #%d: the counts' replies are "
               "dropped",
               i);
        ok(counter(600, "s_a") == 0 && counter(600, "s_b") == 0,
           "buy_fail #%d: both counts were undone (compensation)", i);
    }

    run(600, "own_reason", "u1", NOW, &o);
    is_int(o.code, 1099, "a plugin's own reason: code 1099");
    is_str(o.reason, "no_luck", "  reason no_luck");
    is_int(counter(600, "s_c"), 0, "  the count was undone");

    run(600, "boom", "u1", NOW, &o);
    is_int(o.http_status, 500, "a faulting first operation: 500");
    is_int(o.code, 500, "  code 500 (the HTTP status)");
    is_str(o.reason, "plugin_fault", "  reason plugin_fault");
    has_str(o.message, "operation testplug.fault reported a fault",
            "  the message names the operation");

    for (int i = 1; i <= 2; i++) {
        run(600, "boom_late", "u1", NOW, &o);
        is_int(o.http_status, 500, "boom_late #%d: 500", i);
        has_str(o.message, "testplug.fault",
                "boom_late #%d: names the "
                "fault",
                i);
        is_int(counter(600, "s_d"), 0,
               "boom_late #%d: the count before "
               "the fault was undone",
               i);
    }

    run(600, "rule_no", "u1", NOW, &o);
    is_int(o.code, 1005, "a failing rule: 1005");
    is_str(o.reason, "not_eligible", "  not_eligible");
    is_str(o.detail,
           "{\"stage\":\"rule\",\"rule\":\"testplug.flag\","
           "\"reason\":\"too_poor\"}",
           "  detail: stage, rule, its reason");
    is_int(counter(600, "s_e"), 0, "  no operation ran");

    run(601, "m", "u1", NOW, &o);
    is_int(o.code, 1005, "a failing crowd: 1005");
    is_str(o.detail,
           "{\"stage\":\"crowd\",\"rule\":\"testplug.flag\","
           "\"reason\":\"not_vip\"}",
           "  detail: stage crowd");
    is_int(counter(601, "s_f"), 0, "  no operation ran");

    run(602, "m", "u1", NOW, &o);
    is_int(o.code, 1003, "a disabled activity: 1003");
    is_str(o.reason, "disabled", "  disabled");

    run(600, "boom", "u1", 1767225600000LL - 1, &o);
    is_int(o.code, 1001, "before start: 1001 not_started");
    run(600, "boom", "u1", 1796083200000LL, &o);
    is_int(o.code, 1002, "at end (exclusive): 1002 ended");
    run(600, "rule_no", "u1", 1796083200000LL - 1, &o);
    is_int(o.code, 1005, "just before end: it runs");
    run(600, "rule_no", "u1", 1767225600000LL, &o);
    is_int(o.code, 1005, "at start (inclusive): it runs");

    is_int(pipeline_code("ok"), 0, "code of ok");
    is_int(pipeline_code("duplicate"), 1010, "code of duplicate");
    is_int(pipeline_code("whatever"), 1099, "code of a plugin's reason");
}

static void test_with_store(void)
{
    const char *dir = fx_fresh_dir(tmpdir, "acts-rules");
    char storedir[PATH_MAX], uri[PATH_MAX + 8];
    errs e = {0};

    snprintf(storedir, sizeof storedir, "%s/store", tmpdir);
    fx_rm_rf(storedir);
    snprintf(uri, sizeof uri, "lmdb:%s", storedir);
    svc.st = fx_store_open(uri, 64u << 20, STORE_SYNC_NONE);
    svc.idem_ttl_ms = 86400000;
    if (!ok(svc.st != NULL, "store opens"))
        return;
    fx_put(dir, "rules.conf", rules_text);
    rules_gen = build(dir, 1, &e);
    if (ok(rules_gen != NULL, "the rule-tree activities build")) {
        test_rule_trees();
        test_pipeline();
    } else {
        fx_dump_errs(&e);
    }
    gen_unref(rules_gen);
    rules_gen = NULL;
    errs_free(&e);
    store_close(svc.st);
    svc.st = NULL;
}

int main(void)
{
    const char *tp = getenv("AMS_TEST_PLUGINS");

    if (tp == NULL || *tp == '\0') {
        printf("1..0 # SKIP AMS_TEST_PLUGINS is not set\n");
        return 0;
    }
    snprintf(testplugs, sizeof testplugs, "%s", tp);
    fx_scratch(tmpdir, sizeof tmpdir, "activity");
    snprintf(bundled, sizeof bundled, "%s/../../plugins", testplugs);
    snprintf(plugdir, sizeof plugdir, "%s", fx_fresh_dir(tmpdir, "plugins"));
    snprintf(bundledir, sizeof bundledir, "%s",
             fx_fresh_dir(tmpdir, "plugins-bundled"));
    link_plugin(testplugs, "testplug", plugdir);
    link_plugin(bundled, "counter", bundledir);
    link_plugin(bundled, "param", bundledir);
    svc_seed(1);

    test_good();
    test_many_routes();
    test_broken();
    test_shapes();
    test_dup_ids();
    test_init_failure();
    test_depth();
    test_bad_end_once();
    test_time_parsing();
    test_demo();
    test_with_store();
    return tap_done();
}
