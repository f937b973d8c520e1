/*
 * test_plugin.c -- loading plugins: what a component developer sees when
 * a plugin is accepted, and the message that says what is wrong when it
 * is refused (magic, ABI, manifest, entry flags, symbols, file name).
 *
 *   AMS_TEST_PLUGINS  directory of the test plugins (tests/plugins)
 *   AMS_TEST_TMP      scratch directory
 */
#include "plugin.h"
#include "services.h"
#include "tap.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

static char plugdir[1024];
static char tmpdir[1024];

/* dir/name.so in one of 8 static buffers. */
static const char *so(const char *name)
{
    static char ring[8][PATH_MAX];
    static unsigned i;
    char *b = ring[i++ % 8];

    snprintf(b, PATH_MAX, "%s/%s.so", plugdir, name);
    return b;
}

static void dump(const errs *e)
{
    for (size_t i = 0; i < e->n; i++)
        printf("#   [%zu] %s\n", i, e->msgs[i]);
}

/* Some message starts with "prefix: " and contains frag. */
static int has_msg(const errs *e, const char *prefix, const char *frag)
{
    size_t pl = prefix ? strlen(prefix) : 0;

    for (size_t i = 0; i < e->n; i++)
        if ((prefix == NULL || (strncmp(e->msgs[i], prefix, pl) == 0 &&
                                strncmp(e->msgs[i] + pl, ": ", 2) == 0)) &&
            strstr(e->msgs[i], frag) != NULL)
            return 1;
    return 0;
}

static void missing_msg(const errs *e, const char *prefix, const char *frag)
{
    printf("#   no message \"%s: ...%s...\" among:\n", prefix ? prefix : "",
           frag);
    dump(e);
}

#define expect_msg(e, prefix, frag, ...)                                      \
    do {                                                                      \
        if (!ok(has_msg((e), (prefix), (frag)), __VA_ARGS__))                 \
            missing_msg((e), (prefix), (frag));                               \
    } while (0)

static const char *const hex = "0123456789abcdef";

static void sha256_of(const char *path, char out[65])
{
    char cmd[PATH_MAX + 32];
    FILE *p;

    out[0] = '\0';
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    p = popen(cmd, "r");
    if (p == NULL)
        return;
    if (fscanf(p, "%64s", out) != 1)
        out[0] = '\0';
    pclose(p);
}

/* A plugin refused with exactly one error at path containing frag. */
static void refused(const char *name, const char *expected, const char *frag,
                    const char *what)
{
    errs e = {0};
    const char *path = so(name);
    plugin *p = plugin_load(path, expected, &services_host, &e);

    ok(p == NULL, "%s: refused", name);
    expect_msg(&e, path, frag, "%s: %s", name, what);
    if (!ok(e.nerrors == 1, "%s: exactly one error (got %zu)", name,
            e.nerrors))
        dump(&e);
    plugin_unload(p);
    errs_free(&e);
}

static void test_testplug(void)
{
    errs e = {0};
    const char *path = so("testplug");
    plugin *p = plugin_load(path, "testplug", &services_host, &e);
    char want_sha[65];
    size_t n = 0;

    if (!ok(p != NULL, "testplug loads")) {
        dump(&e);
        return;
    }
    is_int(e.n, 0, "testplug: no errors or warnings");
    is_str(p->name, "testplug", "name from the manifest");
    is_str(p->m->version, "1.2.3", "version from the manifest");
    is_str(p->path, path, "path kept");
    is_int(p->m->abi_major, AMS_ABI_MAJOR, "built for this ABI major");
    sha256_of(path, want_sha);
    ok(strlen(p->sha256) == 64 && strspn(p->sha256, hex) == 64,
       "sha256 is 64 hex digits");
    is_str(p->sha256, want_sha, "sha256 matches sha256sum of the file");

    while (p->m->entries[n].name != NULL)
        n++;
    is_int(p->nentries, n, "one plugin_entry per manifest entry (%zu)", n);
    {
        int all_ok = 1;
        for (size_t i = 0; i < p->nentries; i++)
            if (p->entries[i].spec != &p->m->entries[i] ||
                p->entries[i].owner != p || p->entries[i].fn == NULL)
                all_ok = 0;
        ok(all_ok, "every entry: spec in manifest order, owner, fn resolved");
    }

    const plugin_entry *flag = plugin_find_entry(p, "flag");
    const plugin_entry *count = plugin_find_entry(p, "count");
    const plugin_entry *stateful = plugin_find_entry(p, "stateful");
    const plugin_entry *fail = plugin_find_entry(p, "fail");

    if (ok(flag && count && stateful && fail, "find flag, count, stateful, "
                                              "fail")) {
        is_str(count->spec->name, "count", "find returns the named entry");
        ok((void *)flag->fn == dlsym(p->dl, "tp_flag"), "flag: fn is tp_flag");
        is_int(flag->spec->kind, AMS_RULE, "flag is a rule");
        ok(flag->undo == NULL && flag->init == NULL && flag->destroy == NULL,
           "flag: no undo, init, destroy");
        ok((void *)count->fn == dlsym(p->dl, "tp_count"),
           "count: fn is tp_count");
        ok(count->undo != NULL &&
               (void *)count->undo == dlsym(p->dl, "tp_count_undo"),
           "count: undo is tp_count_undo");
        is_int(count->spec->kind, AMS_OPERATION, "count is an operation");
        ok(count->init == NULL && count->destroy == NULL,
           "count: no init/destroy");
        ok(stateful->init != NULL &&
               (void *)stateful->init == dlsym(p->dl, "tp_stateful_init"),
           "stateful: init is tp_stateful_init");
        ok(stateful->destroy != NULL &&
               (void *)stateful->destroy ==
                   dlsym(p->dl, "tp_stateful_destroy"),
           "stateful: destroy is tp_stateful_destroy");
        is_int(stateful->spec->kind, AMS_HANDLER, "stateful is a handler");
        ok(stateful->undo == NULL, "stateful: no undo");
    }
    {
        int none = 1;
        for (size_t i = 0; i < p->nentries; i++)
            none &= !p->entries[i].readonly;
        ok(p->m->entry_flags == NULL && plugin_entry_flags(p->m) == NULL &&
               none,
           "AMS_PLUGIN declares no entry flags: no entry is read-only");
    }
    ok(plugin_find_entry(p, "nope") == NULL, "find unknown entry: NULL");
    ok(plugin_find_entry(p, "") == NULL, "find empty name: NULL");
    ok(plugin_find_entry(p, "Count") == NULL, "find is case-sensitive");
    ok(plugin_find_entry(p, "coun") == NULL, "find needs the whole name");

    /* The host table was handed over before anything else: the plugin's
     * own calls (set_reason, conf_*) reach the host. */
    ok(*p->m->host == &services_host, "host slot holds the host table");
    if (fail != NULL && flag != NULL) {
        instance in = {0};
        ams_ctx ctx = {.req = NULL, .inst = &in};
        ams_status st;

        in.ref = "testplug.fail";
        in.params = cJSON_Parse("{\"reason\":\"sold_out\"}");
        st = fail->fn(&ctx);
        is_int(st, AMS_FAIL, "calling fail through its pointer: AMS_FAIL");
        is_str(ctx.reason, "sold_out",
               "  with the configured reason, set "
               "through the host table");
        cJSON_Delete(in.params);

        in.ref = "testplug.flag";
        in.params = cJSON_Parse("{\"pass\":true}");
        memset(ctx.reason, 0, sizeof ctx.reason);
        is_int(flag->fn(&ctx), AMS_OK, "flag pass = true: AMS_OK");
        cJSON_Delete(in.params);
        in.params = cJSON_Parse("{\"pass\":false,\"reason\":\"too_low\"}");
        is_int(flag->fn(&ctx), AMS_FAIL, "flag pass = false: AMS_FAIL");
        is_str(ctx.reason, "too_low", "  reason too_low");
        cJSON_Delete(in.params);
    }
    plugin_unload(p);
    errs_free(&e);

    /* expected_name NULL skips the file-name comparison. */
    p = plugin_load(path, NULL, &services_host, &e);
    ok(p != NULL && e.n == 0, "testplug loads without an expected name");
    plugin_unload(p);
    errs_free(&e);
}

static void test_abi(void)
{
    char frag[256];
    errs e = {0};
    plugin *p;

    refused("bad_magic", "bad_magic",
            "wrong magic 0xdeadbeef (expected 0x31534d41)",
            "message says the magic is wrong, with both values");
    refused("bad_magic", "bad_magic", "not built with <ams/ams.h>",
            "and what that means");

    snprintf(frag, sizeof frag,
             "built for ABI %d.0, this host speaks ABI %d.%d: rebuild the "
             "plugin",
             AMS_ABI_MAJOR + 1, AMS_ABI_MAJOR, AMS_ABI_MINOR);
    refused("abi_major", "abi_major", frag,
            "major mismatch names both ABIs and says rebuild");

    snprintf(frag, sizeof frag,
             "needs ABI %d.%d or newer (built against %d.%d), this host "
             "provides %d.%d",
             AMS_ABI_MAJOR, AMS_ABI_MINOR + 1, AMS_ABI_MAJOR,
             AMS_ABI_MINOR + 1, AMS_ABI_MAJOR, AMS_ABI_MINOR);
    refused("abi_needs_new", "abi_needs_new", frag,
            "needs-newer-minor names what it needs and what the host has");

    p = plugin_load(so("abi_newer_ok"), "abi_newer_ok", &services_host, &e);
    if (!ok(p != NULL && e.n == 0, "abi_newer_ok (newer minor, min_minor "
                                   "ours) is accepted"))
        dump(&e);
    if (p != NULL) {
        is_int(p->m->abi_minor, AMS_ABI_MINOR + 1, "  built against %d.%d",
               AMS_ABI_MAJOR, AMS_ABI_MINOR + 1);
        ok(plugin_find_entry(p, "pass") != NULL &&
               plugin_find_entry(p, "pass")->fn != NULL,
           "  its entry is resolved");
        ok(*p->m->host == &services_host, "  host slot set");
    }
    plugin_unload(p);
    errs_free(&e);

    p = plugin_load(so("abi_old"), "abi_old", &services_host, &e);
    if (!ok(p != NULL && e.n == 0, "abi_old (shorter, older manifest) is "
                                   "accepted"))
        dump(&e);
    if (p != NULL) {
        ok(p->m->size < sizeof(ams_manifest),
           "  its manifest is shorter "
           "(%u < %zu)",
           p->m->size, sizeof(ams_manifest));
        ok(plugin_find_entry(p, "pass") != NULL, "  its entry is found");
    }
    plugin_unload(p);
    errs_free(&e);
}

/* The entry named name of p is (or is not) read-only. */
static int readonly_of(const plugin *p, const char *name)
{
    const plugin_entry *pe = plugin_find_entry(p, name);
    return pe != NULL ? pe->readonly : -1;
}

static void test_entry_flags(void)
{
    char frag[256];
    errs e = {0};
    plugin *p;

    p = plugin_load(so("flagged"), "flagged", &services_host, &e);
    if (!ok(p != NULL && e.n == 0, "flagged (AMS_PLUGIN_FLAGS_MIN) loads"))
        dump(&e);
    if (p != NULL) {
        ok(plugin_entry_flags(p->m) == p->m->entry_flags &&
               p->m->entry_flags != NULL,
           "  its manifest carries entry_flags, and the loader reads them");
        is_int(p->m->min_minor, 0, "  min_minor 0, as given to the macro");
        is_int(p->m->abi_minor, AMS_ABI_MINOR, "  abi_minor is the header's");
        is_int(readonly_of(p, "peek"), 1, "  the rule peek is read-only");
        is_int(readonly_of(p, "show"), 1, "  the handler show is read-only");
        is_int(readonly_of(p, "plain"), 0, "  the rule plain is not (0)");
        is_int(readonly_of(p, "bump"), 0, "  the operation bump is not");
    }
    plugin_unload(p);
    errs_free(&e);

    {
        const char *path = so("bad_flags");
        void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        const ams_manifest *m = dl ? dlsym(dl, "ams_plugin_manifest") : NULL;

        p = plugin_load(path, "bad_flags", &services_host, &e);
        ok(p == NULL, "bad_flags: refused");
        snprintf(frag, sizeof frag,
                 "entry \"r\": unknown entry flag 0x6; this host (ABI "
                 "%d.%d) knows only 0x1 (AMS_EF_READONLY)",
                 AMS_ABI_MAJOR, AMS_ABI_MINOR);
        expect_msg(&e, path, frag,
                   "unknown bits: the file, the entry, the bits, what the "
                   "host knows");
        expect_msg(&e, path,
                   "entry \"op\": AMS_EF_READONLY on an operation: an "
                   "operation is there for its side effects",
                   "READONLY on an operation: the file, the entry, why");
        if (!ok(e.nerrors == 2,
                "bad_flags: two errors, none for the well-flagged handler "
                "(%zu)",
                e.nerrors))
            dump(&e);
        ok(m != NULL && *m->host == NULL, "bad_flags: host slot never set");
        if (dl)
            dlclose(dl);
        plugin_unload(p);
        errs_free(&e);
    }

    /* A plugin of minor 0: the memory past its manifest holds flags that
     * would be refused (and would make its entry read-only) if read. */
    p = plugin_load(so("abi_minor0"), "abi_minor0", &services_host, &e);
    if (!ok(p != NULL && e.n == 0,
            "abi_minor0 (the minor 0 layout) loads: nothing past its size "
            "is read"))
        dump(&e);
    if (p != NULL) {
        is_int(p->m->size, offsetof(ams_manifest, entry_flags),
               "  its size ends before entry_flags");
        ok(plugin_entry_flags(p->m) == NULL, "  so it has no entry flags");
        is_int(readonly_of(p, "pass"), 0, "  and its entry is not read-only");
    }
    plugin_unload(p);
    errs_free(&e);

    p = plugin_load(so("abi_old"), "abi_old", &services_host, &e);
    ok(p != NULL && plugin_entry_flags(p->m) == NULL &&
           readonly_of(p, "pass") == 0,
       "abi_old (no doc either): no entry flags, not read-only");
    plugin_unload(p);
    errs_free(&e);
}

/* Which bundled entries are read-only.  Every entry of every bundled
 * plugin is listed, so a new entry (or a changed flag) is a decision made
 * here and in docs/bundled-plugins.md, not an accident. */
static void test_bundled_flags(void)
{
    static const struct {
        const char *plugin;
        const char *entries; /* "name=1 name=0 ...": 1 read-only */
    } bundled[] = {
        {"board", "top=1"},
        {"chance", "roll=1"},
        {"counter", "add=0 below=1 get=1 at_least=1"},
        {"coupon", "grant=0"},
        {"credit", "add=0"},
        {"param", "compare=1"},
        {"pool", "draw=0"},
        {"status", "show=1"},
        {"tag", "match=1 set=0"},
        {"time", "window=1"},
        {"uid", "allow=1 deny=1"},
        {"unique", "claim=0"},
    };
    const char *dir = getenv("AMS_PLUGINS");

    if (!ok(dir != NULL && *dir != '\0',
            "AMS_PLUGINS names the bundled plugins' directory"))
        return;
    for (size_t i = 0; i < sizeof bundled / sizeof bundled[0]; i++) {
        char path[PATH_MAX], got[256] = "";
        errs e = {0};
        plugin *p;

        snprintf(path, sizeof path, "%s/%s.so", dir, bundled[i].plugin);
        p = plugin_load(path, bundled[i].plugin, &services_host, &e);
        if (!ok(p != NULL, "bundled %s loads", bundled[i].plugin)) {
            dump(&e);
            errs_free(&e);
            continue;
        }
        for (size_t k = 0; k < p->nentries; k++) {
            size_t used = strlen(got);
            snprintf(got + used, sizeof got - used, "%s%s=%d", k ? " " : "",
                     p->entries[k].spec->name, p->entries[k].readonly);
        }
        is_str(got, bundled[i].entries, "  %s: the read-only entries",
               bundled[i].plugin);
        plugin_unload(p);
        errs_free(&e);
    }
}

static void test_bad_schema(void)
{
    errs e = {0};
    const char *path = so("bad_schema");
    plugin *p;
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    const ams_manifest *m = dl ? dlsym(dl, "ams_plugin_manifest") : NULL;

    p = plugin_load(path, "bad_schema", &services_host, &e);
    ok(p == NULL, "bad_schema: refused");
    expect_msg(&e, path, "version \"1.0\" is not MAJOR.MINOR.PATCH",
               "bad version \"1.0\"");
    expect_msg(&e, path,
               "entry \"r\": only operations have an undo (this "
               "is a rule)",
               "undo on a rule");
    expect_msg(&e, path, "entry \"r\": parameter \"lo_hi\": min 10 > max 1",
               "min > max");
    expect_msg(&e, path,
               "entry \"r\": parameter \"flag\": a bool has no "
               "bounds",
               "bounds on a bool");
    expect_msg(&e, path,
               "entry \"r\": parameter \"Bad-Name\": name must "
               "match [a-z][a-z0-9_]*",
               "bad param name");
    expect_msg(&e, path, "entry \"r\" declared twice", "duplicate entry");
    if (!ok(e.nerrors == 6,
            "bad_schema: every problem reported, each once "
            "(%zu)",
            e.nerrors))
        dump(&e);
    /* A refused plugin never gets the host table. */
    ok(m != NULL && *m->host == NULL, "bad_schema: host slot never set");
    if (dl)
        dlclose(dl);
    plugin_unload(p);
    errs_free(&e);
}

static void test_refusals(void)
{
    char path[PATH_MAX];
    errs e = {0};
    plugin *p;

    {
        const char *ms = so("missing_symbol");
        void *dl = dlopen(ms, RTLD_NOW | RTLD_LOCAL);
        const ams_manifest *m = dl ? dlsym(dl, "ams_plugin_manifest") : NULL;

        refused("missing_symbol", "missing_symbol",
                "entry \"r\": entry symbol \"ms_not_there\" is not exported",
                "a missing symbol is named, with the entry");
        refused("missing_symbol", "missing_symbol", "AMS_EXPORT",
                "and the fix is suggested");
        ok(m != NULL && *m->host == NULL,
           "missing_symbol: host slot never set");
        if (dl)
            dlclose(dl);
    }
    refused("no_manifest", "no_manifest",
            "not an amsd plugin: no exported ams_plugin_manifest",
            "a shared object without a manifest");

    p = plugin_load(so("testplug"), "other", &services_host, &e);
    ok(p == NULL, "file-stem mismatch: refused");
    expect_msg(&e, so("testplug"),
               "manifest name \"testplug\" differs from "
               "the file name \"other.so\"",
               "names both the manifest and "
               "file names");
    is_int(e.nerrors, 1, "file-stem mismatch: one error");
    plugin_unload(p);
    errs_free(&e);

    snprintf(path, sizeof path, "%s/does-not-exist.so", plugdir);
    p = plugin_load(path, "does-not-exist", &services_host, &e);
    ok(p == NULL, "missing file: refused");
    expect_msg(&e, path, "cannot load: ", "missing file: \"cannot load\"");
    expect_msg(&e, path, "No such file or directory",
               "  with dlerror's reason");
    plugin_unload(p);
    errs_free(&e);

    /* Not a shared object at all. */
    snprintf(path, sizeof path, "%s/garbage.so", tmpdir);
    {
        FILE *f = fopen(path, "w");
        if (f != NULL) {
            fputs("this is not ELF\n", f);
            fclose(f);
        }
    }
    p = plugin_load(path, "garbage", &services_host, &e);
    ok(p == NULL, "a text file named .so: refused");
    expect_msg(&e, path, "cannot load: ", "  \"cannot load\" naming the file");
    plugin_unload(p);
    errs_free(&e);
}

/* ---- plugin_check_manifest on hand-built manifests ---- */

static const ams_param good_params[] = {
    {"n", AMS_T_INT, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 1, NULL},
    {"s", AMS_T_STRINGS, AMS_P_MAX, 0, 3, NULL},
    {"j", AMS_T_JSON, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL}};
static const ams_entry good_entries[] = {
    {"r", AMS_RULE, "sym_r", NULL, NULL, NULL, good_params, NULL, NULL},
    {"op", AMS_OPERATION, "sym_op", "sym_undo", "sym_i", "sym_d", NULL, NULL,
     NULL},
    {"h", AMS_HANDLER, "sym_h", NULL, NULL, NULL, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
static const ams_host *host_slot;

static ams_manifest base(void)
{
    ams_manifest m = {AMS_MAGIC,
                      AMS_ABI_MAJOR,
                      AMS_ABI_MINOR,
                      AMS_ABI_MINOR,
                      0,
                      sizeof(ams_manifest),
                      "hand",
                      "1.0.0",
                      good_entries,
                      &host_slot,
                      NULL,
                      NULL};
    return m;
}

/* Check m into a fresh e; returns the number of errors added. */
static size_t check(const ams_manifest *m, errs *e)
{
    errs_free(e);
    return plugin_check_manifest(m, "hand.so", e);
}

#define check_one(m, frag, what)                                              \
    do {                                                                      \
        errs e_ = {0};                                                        \
        size_t n_ = check(&(m), &e_);                                         \
        if (!ok(n_ == 1 && e_.nerrors == 1 && has_msg(&e_, "hand.so", frag),  \
                "%s: one error \"%s\"", what, frag)) {                        \
            printf("#   returned %zu\n", n_);                                 \
            dump(&e_);                                                        \
        }                                                                     \
        errs_free(&e_);                                                       \
    } while (0)

static void test_check_manifest(void)
{
    ams_manifest m;
    errs e = {0};
    size_t n;

    m = base();
    n = check(&m, &e);
    if (!ok(n == 0 && e.n == 0, "a well-formed hand-built manifest passes"))
        dump(&e);

    /* The count is of the errors this call added. */
    errs_add(&e, "earlier", 0, "an earlier error");
    m.entries = NULL;
    n = plugin_check_manifest(&m, "hand.so", &e);
    ok(n == 1 && e.nerrors == 2, "returns the errors it added, not the "
                                 "list's total");
    errs_free(&e);

    m = base();
    m.entries = NULL;
    check_one(m, "manifest declares no entries", "NULL entries");
    {
        static const ams_entry none[] = {
            {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
        m = base();
        m.entries = none;
        check_one(m, "manifest declares no entries", "empty entries");
    }
    {
        static const ams_entry kind9[] = {
            {"x", (ams_kind)9, "sym", NULL, NULL, NULL, NULL, NULL, NULL},
            {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
        m = base();
        m.entries = kind9;
        check_one(m, "entry \"x\": unknown kind 9", "kind 9");
    }
    {
        static const ams_entry nosym[] = {
            {"x", AMS_RULE, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
            {"y", AMS_RULE, "", NULL, NULL, NULL, NULL, NULL, NULL},
            {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
        m = base();
        m.entries = nosym;
        n = check(&m, &e);
        ok(n == 2 && has_msg(&e, "hand.so", "entry \"x\": no symbol") &&
               has_msg(&e, "hand.so", "entry \"y\": no symbol"),
           "NULL and empty symbols: both reported");
    }
    {
        static const ams_entry undo_h[] = {
            {"h", AMS_HANDLER, "s", "u", NULL, NULL, NULL, NULL, NULL},
            {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
        m = base();
        m.entries = undo_h;
        check_one(m,
                  "entry \"h\": only operations have an undo (this is a "
                  "handler)",
                  "undo on a handler");
    }
    {
        static const ams_entry names[] = {
            {"Upper", AMS_RULE, "s", NULL, NULL, NULL, NULL, NULL, NULL},
            {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
        m = base();
        m.entries = names;
        check_one(m, "entry 0: name \"Upper\" must match [a-z][a-z0-9_]*",
                  "bad entry name");
    }
    {
        static const ams_param ps[] = {
            {"t", (ams_type)42, 0, 0, 0, NULL},
            {"f", AMS_T_INT, 0x8, 0, 0, NULL},
            {"j", AMS_T_JSON, AMS_P_MIN, 0, 0, NULL},
            {"t", AMS_T_INT, 0, 0, 0, NULL},
            {NULL, 0, 0, 0, 0, NULL}};
        static const ams_entry es[] = {
            {"e", AMS_RULE, "s", NULL, NULL, NULL, ps, NULL, NULL},
            {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
        m = base();
        m.entries = es;
        n = check(&m, &e);
        ok(n == 4, "four parameter problems: four errors (%zu)", n);
        expect_msg(&e, "hand.so",
                   "entry \"e\": parameter \"t\": unknown "
                   "type 42",
                   "unknown param type");
        expect_msg(&e, "hand.so",
                   "entry \"e\": parameter \"f\": unknown "
                   "flags 0x8",
                   "unknown param flags");
        expect_msg(&e, "hand.so",
                   "entry \"e\": parameter \"j\": a JSON "
                   "value has no bounds",
                   "bounds on a JSON param");
        expect_msg(&e, "hand.so",
                   "entry \"e\": parameter \"t\" declared "
                   "twice",
                   "duplicate param");
    }

    /* Manifest-level fields. */
    m = base();
    m.magic = 0x12345678;
    m.name = NULL;    /* would be an error, but nothing after a bad */
    m.entries = NULL; /* magic can be trusted */
    check_one(m, "wrong magic 0x12345678", "bad magic stops the check");
    m = base();
    m.abi_major = 0;
    m.entries = NULL;
    check_one(m, "built for ABI 0.", "major 0 stops the check");
    m = base();
    m.size = 8;
    check_one(m, "manifest size 8 is smaller than any ABI", "size 8");
    m = base();
    m.size = (uint32_t)(offsetof(ams_manifest, host) + sizeof(void *));
    n = check(&m, &e);
    ok(n == 0, "the oldest manifest layout (up to `host`) passes");
    m = base();
    m.min_minor = (uint16_t)(m.abi_minor + 1);
    n = check(&m, &e);
    ok(n == 2 && has_msg(&e, "hand.so", "needs ABI") &&
           has_msg(&e, "hand.so", "is newer than abi_minor"),
       "min_minor > abi_minor and > host minor: both said");
    {
        /* good_entries: r (rule), op (operation), h (handler). */
        static const uint32_t fine[] = {AMS_EF_READONLY, 0, AMS_EF_READONLY};
        static const uint32_t unknown[] = {0x80u, 0, 0};
        static const uint32_t high[] = {0, 0, 0x80000000u | AMS_EF_READONLY};
        static const uint32_t on_op[] = {0, AMS_EF_READONLY, 0};
        static const uint32_t both[] = {0, AMS_EF_READONLY | 0x2u, 0};

        m = base();
        m.entry_flags = fine;
        n = check(&m, &e);
        ok(n == 0 && plugin_entry_flags(&m) == fine,
           "READONLY on a rule and a handler passes, and is read");
        m.entry_flags = unknown;
        check_one(m, "entry \"r\": unknown entry flag 0x80; this host",
                  "an unknown flag bit");
        m.entry_flags = high;
        check_one(m, "entry \"h\": unknown entry flag 0x80000000",
                  "the top bit, beside READONLY: only the unknown bits said");
        m.entry_flags = on_op;
        check_one(m, "entry \"op\": AMS_EF_READONLY on an operation",
                  "READONLY on an operation");
        m.entry_flags = both;
        n = check(&m, &e);
        ok(n == 2 && has_msg(&e, "hand.so", "unknown entry flag 0x2") &&
               has_msg(&e, "hand.so", "on an operation"),
           "an unknown bit and READONLY on an operation: both said");
        /* A size that ends before the field: the field is not the
         * plugin's, whatever it holds. */
        m.entry_flags = both;
        m.size = (uint32_t)offsetof(ams_manifest, entry_flags);
        n = check(&m, &e);
        ok(n == 0 && plugin_entry_flags(&m) == NULL,
           "entry_flags past the manifest's size: ignored, not read");
        m.size = (uint32_t)(offsetof(ams_manifest, entry_flags) +
                            sizeof(m.entry_flags) - 1);
        ok(plugin_entry_flags(&m) == NULL,
           "a size that covers only part of entry_flags: not read");
        m.size = (uint32_t)(offsetof(ams_manifest, entry_flags) +
                            sizeof(m.entry_flags));
        ok(plugin_entry_flags(&m) == both,
           "a size that just covers entry_flags: read");
    }
    m = base();
    m.name = NULL;
    check_one(m, "name \"(null)\" must match", "NULL name");
    m = base();
    m.name = "has space";
    check_one(m, "name \"has space\" must match [a-z][a-z0-9_]*",
              "bad plugin name");
    m = base();
    m.host = NULL;
    check_one(m, "manifest has no host slot (use AMS_PLUGIN)", "no host slot");
    {
        static const struct {
            const char *v;
            int good;
        } versions[] = {
            {"1.0.0", 1},     {"10.20.30", 1}, {"1.2.3-rc.1", 1},
            {"1.2.3-A-b", 1}, {"1.0", 0},      {"1", 0},
            {"1.0.0.0", 0},   {"v1.0.0", 0},   {"1.0.0-rc_1", 0},
            {"1..0", 0},      {"", 0},         {"1.0.x", 0},
            {"1.0.0 ", 0},
        };
        for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
            m = base();
            m.version = versions[i].v;
            n = check(&m, &e);
            if (versions[i].good)
                ok(n == 0, "version \"%s\" accepted", versions[i].v);
            else
                ok(n == 1 && has_msg(&e, "hand.so",
                                     "is not "
                                     "MAJOR.MINOR.PATCH"),
                   "version \"%s\" refused", versions[i].v);
        }
        m = base();
        m.version = NULL;
        check_one(m, "version \"(null)\" is not MAJOR.MINOR.PATCH",
                  "NULL version");
    }
    errs_free(&e);
}

static void test_names(void)
{
    char longest[64], too_long[65];

    memset(longest, 'a', 63);
    longest[63] = '\0';
    memset(too_long, 'a', 64);
    too_long[64] = '\0';
    ok(plugin_name_ok("a"), "name \"a\"");
    ok(plugin_name_ok("counter_2"), "name \"counter_2\"");
    ok(plugin_name_ok(longest), "a 63-character name");
    ok(!plugin_name_ok(too_long), "a 64-character name is refused");
    ok(!plugin_name_ok(""), "empty name refused");
    ok(!plugin_name_ok(NULL), "NULL name refused");
    ok(!plugin_name_ok("2x"), "leading digit refused");
    ok(!plugin_name_ok("_x"), "leading underscore refused");
    ok(!plugin_name_ok("a-b"), "dash refused");
    ok(!plugin_name_ok("a.b"), "dot refused");
    ok(!plugin_name_ok("aB"), "upper case refused");
    is_str(plugin_kind_name(AMS_RULE), "rule", "kind name rule");
    is_str(plugin_kind_name(AMS_OPERATION), "operation",
           "kind name "
           "operation");
    is_str(plugin_kind_name(AMS_HANDLER), "handler", "kind name handler");
    is_str(plugin_kind_name((ams_kind)9), "unknown", "kind name 9");
}

static void mkdirs(const char *path)
{
    char buf[PATH_MAX];

    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0700);
            *p = '/';
        }
    mkdir(buf, 0700);
}

int main(void)
{
    const char *d = getenv("AMS_TEST_PLUGINS");
    const char *t = getenv("AMS_TEST_TMP");

    if (d == NULL || *d == '\0') {
        printf("1..0 # SKIP AMS_TEST_PLUGINS is not set\n");
        return 0;
    }
    snprintf(plugdir, sizeof plugdir, "%s", d);
    snprintf(tmpdir, sizeof tmpdir, "%s/plugin",
             t && *t ? t : "/tmp/ams-test");
    mkdirs(tmpdir);

    test_testplug();
    test_abi();
    test_entry_flags();
    test_bundled_flags();
    test_bad_schema();
    test_refusals();
    test_check_manifest();
    test_names();
    return tap_done();
}
