/*
 * test_snapshot.c -- snapshots by content (snapshot.h) and generations
 * built beside the one serving (gen.h's builder).
 *
 *   AMS_TEST_PLUGINS  directory of the test plugins (testplug.so); the
 *                     bundled plugins are in AMS_TEST_PLUGINS/../../plugins
 *
 * Snapshots: a manifest names every file by its sha256, objects are
 * written once, an unchanged file whose stat is old is not read again, a
 * recently written one is, releasing a snapshot removes only the objects
 * no kept snapshot names (and a file whose object went is hashed and
 * written again).  Builds: a build beside a generation with the same
 * plugins keeps the compiled form of unchanged files and parses the
 * changed one, in slices or at once alike; the kept ones outlive the old
 * generation; a duplicate id between a kept and a changed file names
 * both; other plugins mean nothing is kept.  Releases: a big generation
 * is released a slice at a time when a reaper is set, without touching
 * the units another generation still holds.
 */
#include "digest.h"
#include "fixture.h"
#include "gen.h"
#include "services.h"
#include "snapshot.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[PATH_MAX / 2];

static int exists(const char *dir, const char *name)
{
    char path[PATH_MAX * 2];
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static void hex_of(const char *text, char hex[65])
{
    digest_buf(text, strlen(text), hex);
}

/* The hex a manifest gives name, or "" (copied into out). */
static const char *entry_hex(const char *dst, const char *name, char *out)
{
    snap_manifest m;
    errs e = {0};

    out[0] = '\0';
    if (snap_manifest_read(dst, &m, &e) > 0)
        for (size_t i = 0; i < m.n; i++)
            if (strcmp(m.v[i].name, name) == 0)
                memcpy(out, m.v[i].hex, 65);
    snap_manifest_free(&m);
    errs_free(&e);
    return out;
}

static int make(snap_cache *c, const char *src, const char *objects,
                const char *dst, snap_stats *st)
{
    errs e = {0};
    int rc = snap_make(c, src, ".conf", objects, "/shown", dst, st, &e);

    fx_dump_errs(&e);
    errs_free(&e);
    return rc;
}

static void test_snapshots(void)
{
    char src[PATH_MAX], objects[PATH_MAX], d[6][PATH_MAX], hex[65], got[65];
    char a1[65], b1[65];
    snap_cache *c = snap_cache_new();
    snap_stats st;
    snap_manifest m;
    errs e = {0};

    snprintf(src, sizeof src, "%s", fx_fresh_dir(tmpdir, "src"));
    snprintf(objects, sizeof objects, "%s/objects", tmpdir);
    fx_rm_rf(objects);
    for (int i = 0; i < 6; i++) {
        snprintf(d[i], sizeof d[i], "%s/snap-%d", tmpdir, i);
        fx_rm_rf(d[i]);
    }
    fx_put(src, "a.conf", "A1\n");
    fx_put(src, "b.conf", "B1\n");
    fx_put(src, "notes.txt", "not an activity file\n");
    fx_put(src, ".hidden.conf", "a dot file\n");
    hex_of("A1\n", a1);
    hex_of("B1\n", b1);

    ok(make(c, src, objects, d[0], &st) == 0, "a snapshot is made");
    is_int(st.files, 2, "it holds the two .conf files (no dot file, no .txt)");
    is_int(st.written, 2, "both contents written as objects");
    ok(snap_manifest_read(d[0], &m, &e) == 1 && m.n == 2 &&
           strcmp(m.v[0].name, "a.conf") == 0 &&
           strcmp(m.v[1].name, "b.conf") == 0 && strcmp(m.v[0].hex, a1) == 0 &&
           strcmp(m.v[1].hex, b1) == 0 && strcmp(m.display, "/shown") == 0,
       "its manifest names them in name order by their sha256");
    snap_manifest_free(&m);
    ok(exists(objects, a1) && exists(objects, b1),
       "objects are named by their sha256");
    ok(!exists(d[0], "a.conf"), "no copy of the file in the snapshot");

    /* Just written: the stat cannot vouch for them yet. */
    ok(make(c, src, objects, d[1], &st) == 0 && st.hashed == 2 &&
           st.written == 0,
       "files written within the racy window are read again, nothing new "
       "is written");
    printf("# waiting out the racy window (%lld s)\n",
           (long long)(SNAP_RACY_NS / 1000000000LL + 1));
    sleep((unsigned)(SNAP_RACY_NS / 1000000000LL) + 1);
    ok(make(c, src, objects, d[2], &st) == 0 && st.hashed == 2,
       "the first snapshot after the window reads them once more");
    ok(make(c, src, objects, d[3], &st) == 0 && st.hashed == 0,
       "then old unchanged files are trusted by their stat (none read)");

    /* The same size, edited in place: the stat changed (ctime at least). */
    fx_rm_rf(d[3]);
    {
        char path[PATH_MAX * 2];
        FILE *f;
        snprintf(path, sizeof path, "%s/a.conf", src);
        f = fopen(path, "r+");
        if (f != NULL) {
            fputs("A2\n", f);
            fclose(f);
        }
    }
    ok(make(c, src, objects, d[3], &st) == 0 && st.hashed == 1 &&
           st.written == 1,
       "an edit in place of the same size: only that file is read");
    hex_of("A2\n", hex);
    is_str(entry_hex(d[3], "a.conf", got), hex,
           "the new snapshot names the new content");
    is_str(entry_hex(d[0], "a.conf", got), a1,
           "the old snapshot still names the old one");
    ok(exists(objects, a1) && exists(objects, hex),
       "both contents are there while both snapshots live");
    ok(make(c, src, objects, d[4], &st) == 0 && st.hashed == 1,
       "read again at once: its new stat is too recent to trust");

    /* d[0..2] name A1, d[3] and d[4] A2; B1 everywhere. */
    is_int(snap_release(c, d[0], d[1]), 0,
           "releasing a snapshot whose contents another keeps removes none");
    snap_release(c, d[1], d[2]);
    is_int(snap_release(c, d[2], d[4]), 1,
           "releasing the last one naming A1 removes one object");
    ok(!exists(objects, a1) && exists(objects, b1) && exists(objects, hex),
       "A1 is gone; B1 and A2 stay");

    {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/a.conf", src);
        unlink(path); /* fx_put creates: a new file, as an editor's save */
        fx_put(src, "a.conf", "A1\n");
    }
    fx_rm_rf(d[5]);
    ok(make(c, src, objects, d[5], &st) == 0 && st.written == 1 &&
           exists(objects, a1),
       "a file back to a content whose object was removed: written again");

    /* B1 trusted by its stat; its object removed under the cache (a
     * refused reload's snapshot going with nothing kept). */
    snap_release(c, d[3], NULL);
    ok(!exists(objects, b1), "a release with nothing kept removes B1 too");
    fx_rm_rf(d[3]);
    ok(make(c, src, objects, d[3], &st) == 0 && exists(objects, b1),
       "the next snapshot does not trust the digest whose object went: "
       "B1 is written again");
    for (int i = 0; i < 6; i++)
        fx_rm_rf(d[i]);
    snap_cache_free(c);
    errs_free(&e);
}

/* ---- builds ---- */

static const char *act_text(int id, int value)
{
    static char buf[1024];

    snprintf(buf, sizeof buf,
             "activities = (\n"
             "  { id = %d; name = \"a%d\";\n"
             "    start = \"2000-01-01T00:00:00+00:00\";\n"
             "    end = \"2099-12-31T23:59:59+00:00\";\n"
             "    methods = ( { name = \"m\"; handler = {\n"
             "      use = \"testplug.stateful\";\n"
             "      params = { value = %d; }; }; } );\n"
             "  }\n);\n",
             id, id, value);
    return buf;
}

static int value_of(const gen *g, int64_t id)
{
    const activity *a = gen_activity(g, id);
    const cJSON *v;

    if (a == NULL || a->nmethods != 1 || a->methods[0].handler == NULL)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(a->methods[0].handler->params,
                                         "value");
    return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

/* Build generation n from dst beside base (may be NULL), budget_us per
 * slice; *slices gets how many steps it took. */
static gen *build_beside(const char *plugins, const char *dst, uint64_t n,
                         gen *base, int64_t budget_us, int *slices, errs *e)
{
    gen_builder *b =
        gen_builder_new(&svc_gen_host, plugins, dst, n, 1, base, e);
    int k = 1;

    if (b == NULL)
        return NULL;
    while (gen_builder_step(b, budget_us))
        k++;
    if (slices != NULL)
        *slices = k;
    return gen_builder_finish(b);
}

static void test_builds(const char *testplugs)
{
    char src[PATH_MAX], objects[PATH_MAX], plugins[PATH_MAX];
    char other[PATH_MAX], d[5][PATH_MAX], from[PATH_MAX * 2];
    char to[PATH_MAX * 2];
    snap_cache *c = snap_cache_new();
    errs e = {0};
    gen *g1, *g2, *g3;
    activity *kept;
    int slices = 0;
    const char *msg;

    snprintf(src, sizeof src, "%s", fx_fresh_dir(tmpdir, "build-src"));
    snprintf(objects, sizeof objects, "%s/build-objects", tmpdir);
    fx_rm_rf(objects);
    snprintf(plugins, sizeof plugins, "%s",
             fx_fresh_dir(tmpdir, "build-plugins"));
    snprintf(other, sizeof other, "%s",
             fx_fresh_dir(tmpdir, "build-plugins-2"));
    snprintf(from, sizeof from, "%s/testplug.so", testplugs);
    snprintf(to, sizeof to, "%s/testplug.so", plugins);
    if (symlink(from, to) != 0)
        printf("# symlink %s: %s\n", to, strerror(errno));
    snprintf(to, sizeof to, "%s/testplug.so", other);
    if (symlink(from, to) != 0)
        printf("# symlink %s: %s\n", to, strerror(errno));
    snprintf(from, sizeof from, "%s/../../plugins/counter.so", testplugs);
    snprintf(to, sizeof to, "%s/counter.so", other);
    if (symlink(from, to) != 0)
        printf("# symlink %s: %s\n", to, strerror(errno));
    for (int i = 0; i < 5; i++) {
        snprintf(d[i], sizeof d[i], "%s/build-snap-%d", tmpdir, i);
        fx_rm_rf(d[i]);
    }
    fx_put(src, "f1.conf", act_text(1, 1));
    fx_put(src, "f2.conf", act_text(2, 2));
    fx_put(src, "f3.conf", act_text(3, 3));

    make(c, src, objects, d[0], NULL);
    g1 = build_beside(plugins, d[0], 1, NULL, 0, &slices, &e);
    fx_dump_errs(&e);
    ok(g1 != NULL && g1->nacts == 3 && g1->reused == 0,
       "a first build parses all three files");
    ok(slices > 3,
       "with a zero budget it takes one slice per file at least "
       "(%d)",
       slices);
    if (g1 == NULL)
        goto out;
    ok(g1->acts[0]->file != NULL &&
           strcmp(g1->acts[0]->file, "/shown/f1.conf") == 0,
       "activities name the display directory, not the object");

    fx_put(src, "f2.conf", act_text(2, 20));
    make(c, src, objects, d[1], NULL);
    kept = gen_activity(g1, 1);
    g2 = build_beside(plugins, d[1], 2, g1, 1000000, NULL, &e);
    fx_dump_errs(&e);
    ok(g2 != NULL && g2->reused == 2 && g2->nacts == 3,
       "one file edited: the build beside keeps the other two");
    if (g2 == NULL)
        goto out;
    ok(gen_activity(g2, 1) == kept &&
           gen_activity(g2, 3) == gen_activity(g1, 3),
       "kept activities are the same compiled objects");
    ok(gen_activity(g2, 2) != gen_activity(g1, 2),
       "the edited one is parsed anew");
    is_int(value_of(g2, 2), 20, "the new generation has the new content");
    is_int(value_of(g1, 2), 2, "the old one keeps the old content");
    ok(g2->ps == g1->ps, "the plugins are shared (same files)");
    ok(gen_route(g2, 2, "m") != NULL && gen_route(g2, 1, "m") != NULL &&
           gen_route(g2, 2, "m") != gen_route(g1, 2, "m"),
       "routes patched: the kept and the new method are found");
    gen_unref(g1);
    is_int(value_of(g2, 1), 1,
           "once the old generation is released, kept activities still "
           "serve");

    /* A duplicate id between a kept file and a changed one. */
    fx_put(src, "f3.conf", act_text(1, 30));
    make(c, src, objects, d[2], NULL);
    g3 = build_beside(plugins, d[2], 3, g2, 1000000, NULL, &e);
    msg = fx_find_at(&e, "/shown/f3.conf", 2,
                     "activity 1 is already defined at /shown/f1.conf:2");
    ok(g3 == NULL && msg != NULL,
       "a duplicate id with a kept file: refused, naming both file:line");
    if (msg == NULL)
        fx_dump_errs(&e);
    errs_free(&e);
    gen_unref(g3);

    /* Another plugin set: nothing of g2 is used. */
    fx_put(src, "f3.conf", act_text(3, 3));
    make(c, src, objects, d[3], NULL);
    g3 = build_beside(other, d[3], 3, g2, 1000000, NULL, &e);
    fx_dump_errs(&e);
    ok(g3 != NULL && g3->reused == 0 && g3->ps != g2->ps && g3->nplugins == 2,
       "other plugin files: everything is loaded and parsed anew");
    gen_unref(g3);
    gen_unref(g2);
out:
    errs_free(&e);
    for (int i = 0; i < 5; i++)
        fx_rm_rf(d[i]);
    snap_cache_free(c);
}

static int scheduled;

static void count_schedule(void *ud)
{
    (void)ud;
    scheduled++;
}

/* Releasing a generation of 200 files in slices, one sharing most of them
 * still serving. */
static void test_reaping(const char *testplugs)
{
    char src[PATH_MAX], objects[PATH_MAX], plugins[PATH_MAX], d[2][PATH_MAX];
    char from[PATH_MAX * 2], to[PATH_MAX * 2], name[32];
    snap_cache *c = snap_cache_new();
    errs e = {0};
    gen *g1, *g2;
    int steps = 0;

    snprintf(src, sizeof src, "%s", fx_fresh_dir(tmpdir, "reap-src"));
    snprintf(objects, sizeof objects, "%s/reap-objects", tmpdir);
    fx_rm_rf(objects);
    snprintf(plugins, sizeof plugins, "%s",
             fx_fresh_dir(tmpdir, "reap-plugins"));
    snprintf(from, sizeof from, "%s/testplug.so", testplugs);
    snprintf(to, sizeof to, "%s/testplug.so", plugins);
    if (symlink(from, to) != 0)
        printf("# symlink %s: %s\n", to, strerror(errno));
    for (int i = 0; i < 2; i++) {
        snprintf(d[i], sizeof d[i], "%s/reap-snap-%d", tmpdir, i);
        fx_rm_rf(d[i]);
    }
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "f%03d.conf", i);
        fx_put(src, name, act_text(100 + i, i));
    }
    make(c, src, objects, d[0], NULL);
    g1 = build_beside(plugins, d[0], 1, NULL, 1000000, NULL, &e);
    fx_put(src, "f007.conf", act_text(107, 77));
    make(c, src, objects, d[1], NULL);
    g2 = build_beside(plugins, d[1], 2, g1, 1000000, NULL, &e);
    fx_dump_errs(&e);
    ok(g1 != NULL && g2 != NULL && g2->reused == 199,
       "200 files, one edited: 199 kept");
    if (g1 == NULL || g2 == NULL)
        goto out;
    gen_defer_release(count_schedule, NULL);
    gen_unref(g2); /* 200 units: queued */
    is_int(scheduled, 1, "releasing a generation of 200 files is scheduled");
    while (gen_reap(0))
        steps++;
    ok(steps > 10, "and done a unit at a time with a zero budget (%d)", steps);
    is_int(value_of(g1, 107), 7, "the generation sharing its units serves");
    is_int(value_of(g1, 150), 50, "its kept units too");
    gen_unref(g1);
    gen_defer_release(NULL, NULL); /* flushes what is queued */
    ok(!gen_reap(0), "nothing is left once the reaper is taken away");
    is_int(scheduled, 2, "g1 was queued too");
out:
    gen_defer_release(NULL, NULL);
    errs_free(&e);
    for (int i = 0; i < 2; i++)
        fx_rm_rf(d[i]);
    snap_cache_free(c);
}

int main(void)
{
    const char *tp = getenv("AMS_TEST_PLUGINS");

    if (tp == NULL || *tp == '\0') {
        printf("1..0 # SKIP AMS_TEST_PLUGINS is not set\n");
        return 0;
    }
    fx_scratch(tmpdir, sizeof tmpdir, "snapshot");
    test_snapshots();
    test_builds(tp);
    test_reaping(tp);
    return tap_done();
}
