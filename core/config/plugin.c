/*
 * plugin.c -- dlopen, manifest and ABI checks, symbol resolution.
 *
 * The rules are strict because a bad plugin found at load costs an error
 * message, while one found at request time costs a customer's request.
 */
#include "plugin.h"

#include "log.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Size of the oldest manifest layout this host still reads: every field up
 * to and including `host` has existed since ABI 1.0. */
#define MANIFEST_MIN_SIZE                                                     \
    (offsetof(ams_manifest, host) + sizeof(((ams_manifest *)0)->host))

/* The manifest covers `field`: it was built against a minor that has it. */
#define MANIFEST_HAS(m, field)                                                \
    ((m)->size >= offsetof(ams_manifest, field) + sizeof((m)->field))

const uint32_t *plugin_entry_flags(const ams_manifest *m)
{
    return MANIFEST_HAS(m, entry_flags) ? m->entry_flags : NULL;
}

const char *plugin_kind_name(ams_kind k)
{
    switch (k) {
    case AMS_RULE:
        return "rule";
    case AMS_OPERATION:
        return "operation";
    case AMS_HANDLER:
        return "handler";
    }
    return "unknown";
}

const char *plugin_kind_article(ams_kind k)
{
    switch (k) {
    case AMS_RULE:
        return "a rule";
    case AMS_OPERATION:
        return "an operation";
    case AMS_HANDLER:
        return "a handler";
    }
    return "an unknown kind";
}

/* [a-z][a-z0-9_]{0,62} */
int plugin_name_ok(const char *s)
{
    size_t n = 0;

    if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return n <= 63;
}

/* MAJOR.MINOR.PATCH with an optional -suffix of [0-9A-Za-z.-]. */
int plugin_version_ok(const char *s)
{
    int parts = 0;

    if (s == NULL)
        return 0;
    while (parts < 3) {
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
        parts++;
        if (parts < 3 && *s++ != '.')
            return 0;
    }
    if (*s == '-')
        for (s++; *s; s++)
            if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
                  (*s >= 'A' && *s <= 'Z') || *s == '.' || *s == '-'))
                return 0;
    return *s == '\0';
}

static size_t check_params(const ams_entry *en, const char *where, errs *e)
{
    size_t before = e->nerrors;
    const ams_param *p = en->params;

    for (size_t i = 0; p != NULL && p[i].name != NULL; i++) {
        const ams_param *q = &p[i];
        if (!plugin_name_ok(q->name))
            errs_add(e, where, 0,
                     "entry \"%s\": parameter \"%s\": name must match "
                     "[a-z][a-z0-9_]*",
                     en->name, q->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p[j].name, q->name) == 0)
                errs_add(e, where, 0,
                         "entry \"%s\": parameter \"%s\" declared twice",
                         en->name, q->name);
        if (q->type < AMS_T_INT || q->type > AMS_T_BUDGET)
            errs_add(e, where, 0,
                     "entry \"%s\": parameter \"%s\": unknown type %d",
                     en->name, q->name, (int)q->type);
        if (q->flags & ~(AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX))
            errs_add(e, where, 0,
                     "entry \"%s\": parameter \"%s\": unknown flags 0x%x",
                     en->name, q->name, q->flags);
        if ((q->flags & (AMS_P_MIN | AMS_P_MAX)) &&
            (q->type == AMS_T_BOOL || q->type == AMS_T_JSON))
            errs_add(e, where, 0,
                     "entry \"%s\": parameter \"%s\": a %s has no bounds",
                     en->name, q->name,
                     q->type == AMS_T_BOOL ? "bool" : "JSON value");
        if ((q->flags & AMS_P_MIN) && (q->flags & AMS_P_MAX) &&
            q->min > q->max)
            errs_add(e, where, 0,
                     "entry \"%s\": parameter \"%s\": min %g > max %g",
                     en->name, q->name, q->min, q->max);
    }
    return e->nerrors - before;
}

static size_t check_entry(const ams_entry *en, const ams_entry *all, size_t i,
                          const char *where, errs *e)
{
    size_t before = e->nerrors;

    if (!plugin_name_ok(en->name))
        errs_add(e, where, 0,
                 "entry %zu: name \"%s\" must match "
                 "[a-z][a-z0-9_]* (at most 63)",
                 i, en->name);
    for (size_t j = 0; j < i; j++)
        if (strcmp(all[j].name, en->name) == 0)
            errs_add(e, where, 0, "entry \"%s\" declared twice", en->name);
    if (en->kind != AMS_RULE && en->kind != AMS_OPERATION &&
        en->kind != AMS_HANDLER)
        errs_add(e, where, 0, "entry \"%s\": unknown kind %d", en->name,
                 (int)en->kind);
    if (en->symbol == NULL || en->symbol[0] == '\0')
        errs_add(e, where, 0, "entry \"%s\": no symbol", en->name);
    if (en->undo != NULL && en->kind != AMS_OPERATION)
        errs_add(e, where, 0,
                 "entry \"%s\": only operations have an undo (this is a %s)",
                 en->name, plugin_kind_name(en->kind));
    check_params(en, where, e);
    return e->nerrors - before;
}

/* Entry i's flags.  An unknown bit is refused rather than ignored: a flag
 * promises something to the host, and a promise the host cannot read
 * would be silently broken (a plugin that needs a newer flag says so with
 * min_minor, and then never reaches this check on an older host). */
static size_t check_entry_flags(const ams_entry *en, uint32_t flags,
                                const char *where, errs *e)
{
    size_t before = e->nerrors;

    if (flags & ~(uint32_t)PLUGIN_EF_KNOWN)
        errs_add(e, where, 0,
                 "entry \"%s\": unknown entry flag 0x%x; this host (ABI "
                 "%u.%u) knows only 0x%x (AMS_EF_READONLY)",
                 en->name, flags & ~(uint32_t)PLUGIN_EF_KNOWN, AMS_ABI_MAJOR,
                 AMS_ABI_MINOR, PLUGIN_EF_KNOWN);
    if ((flags & AMS_EF_READONLY) && en->kind == AMS_OPERATION)
        errs_add(e, where, 0,
                 "entry \"%s\": AMS_EF_READONLY on an operation: an "
                 "operation is there for its side effects, so it cannot be "
                 "read-only (only rules and handlers can)",
                 en->name);
    return e->nerrors - before;
}

size_t plugin_check_manifest(const ams_manifest *m, const char *where, errs *e)
{
    size_t before = e->nerrors;

    if (m->magic != AMS_MAGIC) {
        errs_add(e, where, 0,
                 "wrong magic 0x%08x (expected 0x%08x): not built with "
                 "<ams/ams.h>",
                 m->magic, AMS_MAGIC);
        return e->nerrors - before; /* nothing else can be trusted */
    }
    if (m->abi_major != AMS_ABI_MAJOR) {
        errs_add(e, where, 0,
                 "built for ABI %u.%u, this host speaks ABI %u.%u: rebuild "
                 "the plugin against the host's <ams/ams.h>",
                 m->abi_major, m->abi_minor, AMS_ABI_MAJOR, AMS_ABI_MINOR);
        return e->nerrors - before;
    }
    if (m->size < MANIFEST_MIN_SIZE) {
        errs_add(e, where, 0,
                 "manifest size %u is smaller than any ABI %u "
                 "manifest (%zu)",
                 m->size, AMS_ABI_MAJOR, (size_t)MANIFEST_MIN_SIZE);
        return e->nerrors - before;
    }
    if (m->min_minor > AMS_ABI_MINOR)
        errs_add(e, where, 0,
                 "needs ABI %u.%u or newer (built against %u.%u), this host "
                 "provides %u.%u: upgrade amsd or rebuild the plugin with "
                 "min_minor <= %u",
                 AMS_ABI_MAJOR, m->min_minor, m->abi_major, m->abi_minor,
                 AMS_ABI_MAJOR, AMS_ABI_MINOR, AMS_ABI_MINOR);
    if (m->min_minor > m->abi_minor)
        errs_add(e, where, 0, "min_minor %u is newer than abi_minor %u",
                 m->min_minor, m->abi_minor);
    if (!plugin_name_ok(m->name))
        errs_add(e, where, 0,
                 "name \"%s\" must match [a-z][a-z0-9_]* (at most 63)",
                 m->name ? m->name : "(null)");
    if (!plugin_version_ok(m->version))
        errs_add(e, where, 0, "version \"%s\" is not MAJOR.MINOR.PATCH",
                 m->version ? m->version : "(null)");
    if (m->host == NULL)
        errs_add(e, where, 0, "manifest has no host slot (use AMS_PLUGIN)");
    if (m->entries == NULL || m->entries[0].name == NULL) {
        errs_add(e, where, 0, "manifest declares no entries");
        return e->nerrors - before;
    }
    for (size_t i = 0; m->entries[i].name != NULL; i++) {
        if (i >= 1024) {
            errs_add(e, where, 0,
                     "more than 1024 entries (missing {NULL} "
                     "terminator?)");
            break;
        }
        check_entry(&m->entries[i], m->entries, i, where, e);
        if (plugin_entry_flags(m) != NULL)
            check_entry_flags(&m->entries[i], plugin_entry_flags(m)[i], where,
                              e);
    }
    return e->nerrors - before;
}

static char copy_dir[1024];
static unsigned long copy_seq;

void plugin_set_copy_dir(const char *dir)
{
    snprintf(copy_dir, sizeof copy_dir, "%s", dir ? dir : "");
}

/* Copy the plugin at path to a name no load in this process has used
 * (pid and a sequence number), hashing it on the way.  glibc's dlopen
 * returns the object it already has for a path name or file it has seen,
 * so a rebuilt plugin copied over the old one would otherwise not load
 * again.  (A memfd is not enough: its /proc/self/fd/N name repeats when
 * the descriptor number is reused.)  Returns the copy's path in out, or
 * -1 with the reason in err; the caller unlinks it after dlopen. */
static int copy_for_load(const char *path, const char *stem, char *out,
                         size_t outlen, char sha[65], char *err, size_t errlen)
{
    unsigned char buf[65536], md[32];
    unsigned int mdlen = 0;
    ssize_t n;
    const char *dir = copy_dir[0]        ? copy_dir
                      : getenv("TMPDIR") ? getenv("TMPDIR")
                                         : "/tmp";
    int in = open(path, O_RDONLY | O_CLOEXEC), fd = -1;
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    sha[0] = '\0';
    out[0] = '\0';
    if (in < 0 || c == NULL || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        goto fail;
    }
    snprintf(out, outlen, "%s/amsd-%d-%lu-%s.so", dir, (int)getpid(),
             ++copy_seq, stem);
    fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (fd < 0) {
        snprintf(err, errlen, "cannot copy to %s: %s", out, strerror(errno));
        out[0] = '\0';
        goto fail;
    }
    while ((n = read(in, buf, sizeof buf)) > 0) {
        EVP_DigestUpdate(c, buf, (size_t)n);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0) {
                snprintf(err, errlen, "copy to %s: %s", out, strerror(errno));
                goto fail;
            }
            off += w;
        }
    }
    if (n < 0) {
        snprintf(err, errlen, "read: %s", strerror(errno));
        goto fail;
    }
    if (EVP_DigestFinal_ex(c, md, &mdlen) && mdlen == 32)
        for (int i = 0; i < 32; i++)
            snprintf(sha + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(c);
    close(in);
    close(fd);
    return 0;
fail:
    EVP_MD_CTX_free(c);
    if (in >= 0)
        close(in);
    if (fd >= 0)
        close(fd);
    if (out[0] != '\0')
        unlink(out);
    out[0] = '\0';
    return -1;
}

/* dlsym one named symbol; NULL name gives NULL without error. */
static void *resolve(plugin *p, const char *entry, const char *what,
                     const char *sym, errs *e)
{
    void *f;

    if (sym == NULL)
        return NULL;
    dlerror();
    f = dlsym(p->dl, sym);
    if (f == NULL)
        errs_add(e, p->path, 0,
                 "entry \"%s\": %s symbol \"%s\" is not exported (declare "
                 "it AMS_EXPORT)",
                 entry, what, sym);
    return f;
}

static int resolve_entries(plugin *p, errs *e)
{
    size_t before = e->nerrors, n = 0;
    const uint32_t *flags = plugin_entry_flags(p->m);

    while (p->m->entries[n].name != NULL)
        n++;
    p->entries = calloc(n, sizeof *p->entries);
    if (p->entries == NULL) {
        errs_add(e, p->path, 0, "out of memory");
        return -1;
    }
    p->nentries = n;
    for (size_t i = 0; i < n; i++) {
        const ams_entry *s = &p->m->entries[i];
        plugin_entry *pe = &p->entries[i];
        pe->spec = s;
        pe->owner = p;
        /* plugin_check_manifest refused READONLY on an operation. */
        pe->readonly = flags != NULL && (flags[i] & AMS_EF_READONLY) != 0;
        /* POSIX guarantees data and function pointers convert via dlsym. */
        *(void **)&pe->fn = resolve(p, s->name, "entry", s->symbol, e);
        *(void **)&pe->undo = resolve(p, s->name, "undo", s->undo, e);
        *(void **)&pe->init = resolve(p, s->name, "init", s->init, e);
        *(void **)&pe->destroy = resolve(p, s->name, "destroy", s->destroy, e);
    }
    return e->nerrors > before ? -1 : 0;
}

plugin *plugin_load(const char *path, const char *expected_name,
                    const ams_host *host, errs *e)
{
    plugin *p = calloc(1, sizeof *p);
    const ams_manifest *m;
    char err[1280], copy[1200];

    if (p == NULL || (p->path = strdup(path)) == NULL) {
        errs_add(e, path, 0, "out of memory");
        free(p);
        return NULL;
    }
    if (copy_for_load(path, expected_name ? expected_name : "plugin", copy,
                      sizeof copy, p->sha256, err, sizeof err) < 0) {
        errs_add(e, path, 0, "cannot load: %s", err);
        goto fail;
    }
    /* RTLD_NOW: an unresolved symbol is a load error now, not a crash at
     * the first request.  RTLD_LOCAL: plugins cannot see each other. */
    p->dl = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    unlink(copy); /* the mapping keeps the object alive */
    if (p->dl == NULL) {
        errs_add(e, path, 0, "cannot load: %s", dlerror());
        goto fail;
    }
    m = dlsym(p->dl, "ams_plugin_manifest");
    if (m == NULL) {
        errs_add(e, path, 0,
                 "not an amsd plugin: no exported ams_plugin_manifest (use "
                 "AMS_PLUGIN from <ams/ams.h>)");
        goto fail;
    }
    p->m = m;
    if (plugin_check_manifest(m, path, e) > 0)
        goto fail;
    if (expected_name != NULL && strcmp(m->name, expected_name) != 0) {
        errs_add(e, path, 0,
                 "manifest name \"%s\" differs from the file name \"%s.so\"",
                 m->name, expected_name);
        goto fail;
    }
    if ((p->name = strdup(m->name)) == NULL || resolve_entries(p, e) < 0)
        goto fail;
    *m->host = host;
    return p;
fail:
    plugin_unload(p);
    return NULL;
}

void plugin_unload(plugin *p)
{
    if (p == NULL)
        return;
    if (p->dl != NULL)
        dlclose(p->dl);
    free(p->entries);
    free(p->name);
    free(p->path);
    free(p);
}

const plugin_entry *plugin_find_entry(const plugin *p, const char *name)
{
    for (size_t i = 0; i < p->nentries; i++)
        if (strcmp(p->entries[i].spec->name, name) == 0)
            return &p->entries[i];
    return NULL;
}
