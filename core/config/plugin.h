/*
 * plugin.h -- loading plugin shared objects and checking their manifests.
 *
 * Loading a plugin validates everything once: magic, ABI, names, the
 * parameter schema of every entry, and that every symbol the manifest names
 * is exported with dlsym.  The resolved function pointers are cached in
 * plugin_entry; activities point at those, so nothing is looked up per
 * request.
 */
#ifndef AMS_CORE_PLUGIN_H
#define AMS_CORE_PLUGIN_H

#include "errs.h"

#include <ams/ams.h>

typedef struct plugin plugin;

typedef struct plugin_entry {
    const ams_entry *spec; /* in the plugin's memory */
    plugin *owner;
    ams_entry_fn fn;
    ams_entry_fn undo; /* NULL: no undo */
    ams_init_fn init;
    ams_destroy_fn destroy;
    /* Declared read-only (AMS_EF_READONLY): it never writes to the
     * store, so a method made only of such entries takes no session
     * lock and commits nothing. */
    int readonly;
} plugin_entry;

struct plugin {
    char *name;            /* manifest name (== file stem) */
    char *path;            /* file loaded */
    char sha256[65];       /* of the file, hex */
    void *dl;              /* dlopen handle */
    const ams_manifest *m; /* in the plugin's memory */
    plugin_entry *entries; /* nentries, same order as the manifest */
    size_t nentries;
};

/* Load and validate the plugin at path; expected_name is the file stem
 * (NULL: don't compare).  host is the function table the plugin will call
 * (the data layer's, services.c: the loader sits below the services it
 * hands out, so it is given them).  Problems go to e as "path: message".
 * Returns a plugin the caller owns (plugin_unload), or NULL. */
plugin *plugin_load(const char *path, const char *expected_name,
                    const ams_host *host, errs *e);
void plugin_unload(plugin *p);

/* Where plugin_load writes the private copy it loads (each load is a new
 * object even when the file at the path was replaced by a new build):
 * the directory must allow executable mappings.  NULL or "": $TMPDIR, or
 * /tmp. */
void plugin_set_copy_dir(const char *dir);

/* The entry named name, or NULL.  Owned by p. */
const plugin_entry *plugin_find_entry(const plugin *p, const char *name);

/* Validate a manifest already in memory (exposed for the unit tests and
 * the conformance runner): checks that need no dlsym.  Returns the number
 * of errors added to e under the label `where`. */
size_t plugin_check_manifest(const ams_manifest *m, const char *where,
                             errs *e);

/* The manifest's entry flags (one per entry, manifest order), or NULL
 * when it has none: entry_flags is NULL, or the manifest predates the
 * field (minor 0: its size does not cover it, so what lies past its end
 * is not the plugin's statement).  m must have passed the layout checks
 * (magic, major, size). */
const uint32_t *plugin_entry_flags(const ams_manifest *m);
/* The AMS_EF_* bits this host knows. */
#define PLUGIN_EF_KNOWN AMS_EF_READONLY

const char *plugin_kind_name(ams_kind k);
/* "a rule", "an operation", "a handler" */
const char *plugin_kind_article(ams_kind k);
int plugin_name_ok(const char *s);
/* MAJOR.MINOR.PATCH with an optional -suffix of [0-9A-Za-z.-]. */
int plugin_version_ok(const char *s);

#endif
