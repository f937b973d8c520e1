/*
 * check_manifest.c -- what amsd checks before it runs anything of a
 * plugin, one check per concern, each with a message that says what to
 * change.  The manifest is read with a plain dlopen (not the loader, which
 * would stop at the first problem); manifest.loader then asks the real
 * loader, whose message is what amsd would print.
 */
#include "conform.h"
#include "harness.h"

#include "errs.h"
#include "plugin.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every field up to and including `host` has existed since ABI 1.0. */
#define MANIFEST_MIN_SIZE                                                     \
    (offsetof(ams_manifest, host) + sizeof(((ams_manifest *)0)->host))

typedef struct opened {
    void *dl;
    const ams_manifest *m;
} opened;

/* dlopen the plugin and find its manifest; on failure the verdict is
 * given and -1 returned. */
static int open_plugin(ck *c, opened *op)
{
    ck_doing(c, "dlopen %s", c->o->path);
    op->dl = dlopen(c->o->path, RTLD_NOW | RTLD_LOCAL);
    if (op->dl == NULL) {
        ck_fail(c, "cannot dlopen: %s", dlerror());
        return -1;
    }
    op->m = dlsym(op->dl, "ams_plugin_manifest");
    if (op->m == NULL) {
        ck_fail(c, "not an amsd plugin: it exports no ams_plugin_manifest "
                   "(define one with AMS_PLUGIN from <ams/ams.h>)");
        return -1;
    }
    ck_doing(c, "reading the manifest");
    return 0;
}

/* The manifest's layout can be trusted: magic, major and size are right. */
static int layout_ok(const ams_manifest *m)
{
    return m->magic == AMS_MAGIC && m->abi_major == AMS_ABI_MAJOR &&
           m->size >= MANIFEST_MIN_SIZE;
}

/* Gives a skip verdict and returns 0 when the layout cannot be trusted. */
static int need_layout(ck *c, const ams_manifest *m)
{
    if (m->magic != AMS_MAGIC) {
        c->sh->status = CK_SKIP;
        snprintf(c->sh->msg, sizeof c->sh->msg,
                 "not checked: the magic is wrong, nothing else in the "
                 "manifest can be trusted");
        c->sh->done = 1;
        return 0;
    }
    if (!layout_ok(m)) {
        c->sh->status = CK_SKIP;
        snprintf(c->sh->msg, sizeof c->sh->msg,
                 "not checked: the manifest is laid out for another ABI "
                 "(see manifest.abi)");
        c->sh->done = 1;
        return 0;
    }
    return 1;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v == NULL)
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddStringToObject(o, k, v);
}

void ck_probe(ck *c)
{
    opened op;
    cJSON *j, *arr;
    char *text;
    int n;

    if (open_plugin(c, &op) < 0)
        return;
    j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "magic", op.m->magic);
    cJSON_AddNumberToObject(j, "abi_major", op.m->abi_major);
    cJSON_AddNumberToObject(j, "abi_minor", op.m->abi_minor);
    cJSON_AddNumberToObject(j, "min_minor", op.m->min_minor);
    cJSON_AddNumberToObject(j, "size", op.m->size);
    arr = cJSON_AddArrayToObject(j, "entries");
    if (layout_ok(op.m)) {
        const uint32_t *flags = plugin_entry_flags(op.m);
        add_str(j, "name", op.m->name);
        add_str(j, "version", op.m->version);
        for (size_t i = 0; op.m->entries && op.m->entries[i].name && i < 1024;
             i++) {
            const ams_entry *e = &op.m->entries[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", e->name);
            cJSON_AddNumberToObject(o, "kind", e->kind);
            cJSON_AddBoolToObject(o, "undo", e->undo != NULL);
            cJSON_AddBoolToObject(o, "readonly",
                                  flags != NULL &&
                                      (flags[i] & AMS_EF_READONLY) != 0);
            cJSON_AddItemToArray(arr, o);
        }
    }
    n = cJSON_GetArraySize(arr);
    text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (text == NULL || strlen(text) >= sizeof c->sh->data) {
        free(text);
        ck_fail(c, "the manifest is too large to describe");
        return;
    }
    memcpy(c->sh->data, text, strlen(text) + 1);
    free(text);
    if (!layout_ok(op.m))
        ck_pass(c, "dlopen works and it exports ams_plugin_manifest "
                   "(its contents are checked next)");
    else
        ck_pass(c, "dlopen works; %s %s, ABI %u.%u, %d entr%s",
                op.m->name ? op.m->name : "(no name)",
                op.m->version ? op.m->version : "(no version)",
                op.m->abi_major, op.m->abi_minor, n, n == 1 ? "y" : "ies");
}

void ck_manifest_magic(ck *c)
{
    opened op;

    if (open_plugin(c, &op) < 0)
        return;
    if (op.m->magic != AMS_MAGIC)
        ck_fail(c,
                "magic is 0x%08x, expected 0x%08x (\"AMS1\"): the manifest "
                "was not made with AMS_PLUGIN from <ams/ams.h>, or is "
                "corrupt; amsd refuses it before reading anything else",
                op.m->magic, AMS_MAGIC);
    else
        ck_pass(c, "0x%08x", op.m->magic);
}

/* A function, not the macro: comparing an unsigned field with a minor of
 * 0 would be "always false" to the compiler while the header says 0. */
static unsigned host_minor(void)
{
    return AMS_ABI_MINOR;
}

void ck_manifest_abi(ck *c)
{
    opened op;
    const ams_manifest *m;

    if (open_plugin(c, &op) < 0)
        return;
    m = op.m;
    if (m->magic != AMS_MAGIC) {
        need_layout(c, m);
        return;
    }
    if (m->abi_major != AMS_ABI_MAJOR) {
        ck_fail(c,
                "built for ABI %u.%u, this host speaks ABI %u.%u: another "
                "major is always refused; rebuild the plugin against the "
                "host's <ams/ams.h>",
                m->abi_major, m->abi_minor, AMS_ABI_MAJOR, AMS_ABI_MINOR);
        return;
    }
    if (m->size < MANIFEST_MIN_SIZE) {
        ck_fail(c,
                "manifest size %u is smaller than any ABI %u manifest "
                "(%zu): rebuild with AMS_PLUGIN",
                m->size, AMS_ABI_MAJOR, (size_t)MANIFEST_MIN_SIZE);
        return;
    }
    if (m->min_minor > m->abi_minor) {
        ck_fail(c,
                "min_minor %u is newer than abi_minor %u: a plugin cannot "
                "need more than the header it was built with",
                m->min_minor, m->abi_minor);
        return;
    }
    if (m->min_minor > AMS_ABI_MINOR) {
        ck_fail(c,
                "needs ABI %u.%u or newer (built against %u.%u), this host "
                "provides %u.%u: amsd refuses it.  Upgrade amsd, or, if the "
                "plugin checks AMS_HOST_HAS before every function newer than "
                "%u.%u, declare min_minor = %u in its manifest",
                AMS_ABI_MAJOR, m->min_minor, m->abi_major, m->abi_minor,
                AMS_ABI_MAJOR, AMS_ABI_MINOR, AMS_ABI_MAJOR, AMS_ABI_MINOR,
                AMS_ABI_MINOR);
        return;
    }
    if (m->abi_minor > AMS_ABI_MINOR)
        ck_pass(c,
                "built against ABI %u.%u but needs only %u.%u: loads on "
                "this %u.%u host (functions newer than %u.%u must be "
                "checked with AMS_HOST_HAS)",
                m->abi_major, m->abi_minor, AMS_ABI_MAJOR, m->min_minor,
                AMS_ABI_MAJOR, AMS_ABI_MINOR, AMS_ABI_MAJOR, AMS_ABI_MINOR);
    else if (m->abi_minor < host_minor() || m->size < sizeof(ams_manifest))
        ck_pass(c,
                "built against ABI %u.%u (manifest of %u bytes): an older "
                "minor, read up to its size on this %u.%u host",
                m->abi_major, m->abi_minor, m->size, AMS_ABI_MAJOR,
                AMS_ABI_MINOR);
    else
        ck_pass(c, "built against ABI %u.%u, needs %u.%u; host %u.%u",
                m->abi_major, m->abi_minor, AMS_ABI_MAJOR, m->min_minor,
                AMS_ABI_MAJOR, AMS_ABI_MINOR);
}

void ck_manifest_name(ck *c)
{
    opened op;
    const char *name;

    if (open_plugin(c, &op) < 0 || !need_layout(c, op.m))
        return;
    name = op.m->name;
    if (!plugin_name_ok(name))
        ck_fail(c,
                "name \"%s\" must match [a-z][a-z0-9_]* (at most 63 "
                "characters)",
                name ? name : "(null)");
    else if (strcmp(name, c->o->stem) != 0)
        ck_fail(c,
                "name \"%s\" differs from the file name \"%s.so\": amsd "
                "loads NAME.so and requires the manifest's name to be "
                "NAME; rename the file or the plugin",
                name, c->o->stem);
    else
        ck_pass(c, "\"%s\", equal to the file's stem", name);
}

void ck_manifest_version(ck *c)
{
    opened op;

    if (open_plugin(c, &op) < 0 || !need_layout(c, op.m))
        return;
    if (!plugin_version_ok(op.m->version))
        ck_fail(c,
                "version \"%s\" is not MAJOR.MINOR.PATCH (with an "
                "optional -suffix)",
                op.m->version ? op.m->version : "(null)");
    else
        ck_pass(c, "\"%s\"", op.m->version);
}

/* Messages of errs without the "where: " prefix, joined by "; ". */
static void join_msgs(const errs *e, const char *where, char *out, size_t len)
{
    size_t used = 0, wl = strlen(where);

    out[0] = '\0';
    for (size_t i = 0; i < e->n && used + 1 < len; i++) {
        const char *m = e->msgs[i];
        if (strncmp(m, where, wl) == 0 && strncmp(m + wl, ": ", 2) == 0)
            m += wl + 2;
        used +=
            (size_t)snprintf(out + used, len - used, "%s%s", i ? "; " : "", m);
    }
}

/* A copy of the manifest with everything but the entries (and their
 * flags, one per entry of `entries`, or NULL) known good, so the loader's
 * checks report only on entries. */
static ams_manifest sane_copy(const ams_entry *entries, const uint32_t *flags)
{
    ams_manifest copy;
    static const ams_host *slot;

    memset(&copy, 0, sizeof copy);
    copy.magic = AMS_MAGIC;
    copy.abi_major = AMS_ABI_MAJOR;
    copy.abi_minor = AMS_ABI_MINOR;
    copy.min_minor = AMS_ABI_MINOR;
    copy.size = sizeof copy;
    copy.name = "conform";
    copy.version = "1.0.0";
    copy.entries = entries;
    copy.host = &slot;
    copy.entry_flags = flags;
    return copy;
}

void ck_manifest_entries(ck *c)
{
    opened op;
    errs e = {0};
    ams_entry *bare;
    ams_manifest copy;
    size_t n = 0;
    char msg[CK_MSG_MAX];

    if (open_plugin(c, &op) < 0 || !need_layout(c, op.m))
        return;
    if (op.m->entries == NULL || op.m->entries[0].name == NULL) {
        ck_fail(c, "the manifest declares no entries");
        return;
    }
    while (n < 1024 && op.m->entries[n].name != NULL)
        n++;
    if (n == 1024) {
        ck_fail(c, "more than 1024 entries: is the {NULL} terminator "
                   "missing?");
        return;
    }
    /* The entries without their schemas: manifest.schema checks those. */
    bare = calloc(n + 1, sizeof *bare);
    if (bare == NULL) {
        ck_fail(c, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        bare[i] = op.m->entries[i];
        bare[i].params = NULL;
    }
    /* The flags as the loader reads them: not at all from a manifest
     * whose size ends before entry_flags. */
    copy = sane_copy(bare, plugin_entry_flags(op.m));
    plugin_check_manifest(&copy, "manifest", &e);
    for (size_t i = 0; i < n; i++) {
        const ams_entry *en = &op.m->entries[i];
        cJSON *ex;
        if (en->example == NULL)
            continue;
        ex = cJSON_Parse(en->example);
        if (!cJSON_IsObject(ex))
            errs_add(&e, "manifest", 0,
                     "entry \"%s\": example is not a JSON object: %.80s",
                     en->name, en->example);
        cJSON_Delete(ex);
    }
    if (e.nerrors > 0) {
        join_msgs(&e, "manifest", msg, sizeof msg);
        ck_fail(c, "%s", msg);
    } else {
        const uint32_t *flags = plugin_entry_flags(op.m);
        size_t ro = 0;
        for (size_t i = 0; flags != NULL && i < n; i++)
            ro += (flags[i] & AMS_EF_READONLY) != 0;
        ck_pass(c,
                "%zu entr%s: names, kinds, symbols named, undo only on "
                "operations, examples are JSON objects; %zu declared "
                "read-only%s",
                n, n == 1 ? "y" : "ies", ro,
                op.m->size < offsetof(ams_manifest, entry_flags) +
                                 sizeof(op.m->entry_flags)
                    ? " (a manifest older than entry_flags)"
                    : "");
    }
    errs_free(&e);
    free(bare);
}

void ck_manifest_schema(ck *c)
{
    opened op;
    errs e = {0};
    size_t nparams = 0;
    char msg[CK_MSG_MAX];

    if (open_plugin(c, &op) < 0 || !need_layout(c, op.m))
        return;
    for (size_t i = 0; op.m->entries && op.m->entries[i].name && i < 1024;
         i++) {
        const ams_entry *en = &op.m->entries[i];
        ams_entry one[2];
        ams_manifest copy;

        /* One entry, known good except for its schema. */
        memset(one, 0, sizeof one);
        one[0].name = plugin_name_ok(en->name) ? en->name : "entry";
        one[0].kind = AMS_RULE;
        one[0].symbol = "conform";
        one[0].params = en->params;
        copy = sane_copy(one, NULL);
        plugin_check_manifest(&copy, "manifest", &e);
        for (const ams_param *q = en->params; q && q->name; q++) {
            nparams++;
            if ((q->flags & AMS_P_MIN) && q->min < 0 &&
                (q->type == AMS_T_STRING || q->type == AMS_T_STRINGS ||
                 q->type >= AMS_T_POOL))
                errs_add(&e, "manifest", 0,
                         "entry \"%s\": parameter \"%s\": a length or count "
                         "cannot be below 0 (min %g)",
                         en->name, q->name, q->min);
            if (q->type == AMS_T_INT && (((q->flags & AMS_P_MIN) &&
                                          q->min != (double)(int64_t)q->min) ||
                                         ((q->flags & AMS_P_MAX) &&
                                          q->max != (double)(int64_t)q->max)))
                errs_add(&e, "manifest", 0,
                         "entry \"%s\": parameter \"%s\": integer bounds "
                         "must be integers",
                         en->name, q->name);
        }
    }
    if (e.nerrors > 0) {
        join_msgs(&e, "manifest", msg, sizeof msg);
        ck_fail(c, "%s", msg);
    } else {
        ck_pass(c, "%zu param%s: names, types, flags and bounds are sane",
                nparams, nparams == 1 ? "" : "s");
    }
    errs_free(&e);
}

/* Is sym, as dlsym found it, defined in the plugin itself and of the
 * wanted ELF type?  Returns a problem or NULL. */
static const char *symbol_problem(const opened *op, void *addr, int want_func,
                                  char *buf, size_t len)
{
    Dl_info self, info;
    const ElfW(Sym) *sym = NULL;
    int type;

    if (!dladdr(op->m, &self) ||
        !dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT)) {
        snprintf(buf, len, "cannot be located");
        return buf;
    }
    if (info.dli_fbase != self.dli_fbase) {
        snprintf(buf, len,
                 "resolves to %s in %s, not to a definition in "
                 "the plugin",
                 info.dli_sname ? info.dli_sname : "a symbol",
                 info.dli_fname ? info.dli_fname : "another object");
        return buf;
    }
    if (sym == NULL)
        return NULL;
    type = ELF64_ST_TYPE(sym->st_info);
    if (want_func && type != STT_FUNC && type != STT_GNU_IFUNC) {
        snprintf(buf, len, "is %s, not a function",
                 type == STT_OBJECT ? "a data object" : "not a function");
        return buf;
    }
    if (!want_func && type != STT_OBJECT) {
        snprintf(buf, len, "is %s, not a data object",
                 type == STT_FUNC ? "a function" : "of another kind");
        return buf;
    }
    return NULL;
}

void ck_manifest_symbols(ck *c)
{
    static const char *const what[] = {"entry", "undo", "init", "destroy"};
    opened op;
    errs e = {0};
    char buf[512], msg[CK_MSG_MAX];
    size_t nsym = 0;
    const char *pr;

    if (open_plugin(c, &op) < 0 || !need_layout(c, op.m))
        return;
    if ((pr = symbol_problem(&op, (void *)op.m, 0, buf, sizeof buf)) != NULL)
        errs_add(&e, "m", 0, "ams_plugin_manifest %s", pr);
    if (op.m->host == NULL)
        errs_add(&e, "m", 0,
                 "the manifest has no host slot (use "
                 "AMS_PLUGIN)");
    else if ((pr = symbol_problem(&op, (void *)op.m->host, 0, buf,
                                  sizeof buf)) != NULL &&
             strstr(pr, "not a definition") != NULL)
        errs_add(&e, "m", 0,
                 "the manifest's host slot is not a variable of "
                 "the plugin (use AMS_PLUGIN)");
    for (size_t i = 0; op.m->entries && op.m->entries[i].name && i < 1024;
         i++) {
        const ams_entry *en = &op.m->entries[i];
        const char *names[] = {en->symbol, en->undo, en->init, en->destroy};
        for (int k = 0; k < 4; k++) {
            void *addr;
            if (names[k] == NULL || (k == 0 && names[k][0] == '\0'))
                continue;
            nsym++;
            dlerror();
            addr = dlsym(op.dl, names[k]);
            if (addr == NULL) {
                errs_add(&e, "m", 0,
                         "entry \"%s\": %s symbol \"%s\" is not exported "
                         "(define it with AMS_ENTRY / AMS_INIT / "
                         "AMS_DESTROY, which export it)",
                         en->name, what[k], names[k]);
                continue;
            }
            pr = symbol_problem(&op, addr, 1, buf, sizeof buf);
            if (pr != NULL)
                errs_add(&e, "m", 0, "entry \"%s\": %s symbol \"%s\" %s",
                         en->name, what[k], names[k], pr);
        }
    }
    if (e.nerrors > 0) {
        join_msgs(&e, "m", msg, sizeof msg);
        ck_fail(c, "%s", msg);
    } else {
        ck_pass(c,
                "%zu function%s exported by the plugin itself, the "
                "manifest a data object",
                nsym, nsym == 1 ? "" : "s");
    }
    errs_free(&e);
}

void ck_manifest_loader(ck *c)
{
    hx h;
    char err[CK_MSG_MAX];

    if (hx_open(&h, c, NULL, err, sizeof err) < 0) {
        for (char *p = err; *p; p++)
            if (*p == '\n')
                *p = ' ';
        ck_fail(c, "amsd's loader refuses it: %s", err);
        return;
    }
    ck_pass(c, "amsd's loader accepts it as \"%s\"", h.p->name);
    hx_close(&h);
}
