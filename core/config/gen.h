/*
 * gen.h -- a generation: one complete, checked set of plugins and
 * activities, with the router that maps (activity id, method) to the
 * compiled method in O(1).
 *
 * A generation is immutable once built.  Requests pin it with gen_ref()
 * and release it with gen_unref(); the last unref releases its plugin set
 * and its units, so a reload can swap generations while old requests
 * finish on the one they started in.  A generation built beside another
 * may share that one's plugin set and units (refcounted): an instance is
 * destroyed, and a plugin unloaded, when the last generation holding it
 * is released.
 */
#ifndef AMS_CORE_GEN_H
#define AMS_CORE_GEN_H

#include "activity.h"
#include "conf.h"
#include "errs.h"
#include "plugin.h"

#include <stdint.h>

typedef struct route {
    int64_t id;
    const char *method; /* m->name */
    method *m;
} route;

/* What a generation needs from the layer that runs plugin code (the data
 * layer's svc_gen_host, services.c): the loader sits below the services it
 * hands to plugins, so it is given them instead of calling up. */
typedef struct gen_host {
    const ams_host *table; /* handed to every plugin loaded */
    /* Run in's init (in->entry->init is not NULL) with an init context.
     * reason receives the reason it set, log the last line it logged
     * (both NUL-terminated, possibly empty).  Returns its status. */
    ams_status (*init)(instance *in, char *reason, size_t reason_len,
                       char *log, size_t log_len);
} gen_host;

/* The plugins of a generation, loaded once.  Shared (refcounted) by the
 * generations and files built against it: a reload whose plugin files
 * are all the same (sha256) keeps the loaded objects (gen.c). */
typedef struct gen_plugins gen_plugins;
/* One activity file compiled: its activities and their instances, built
 * against one gen_plugins.  Refcounted: a reload keeps the compiled form
 * of every file whose content (sha256) did not change when it keeps the
 * plugins too. */
typedef struct gen_unit gen_unit;

typedef struct gen {
    uint64_t number;
    int refs;
    plugin **plugins; /* ps's array: owned by ps */
    size_t nplugins;
    activity **acts; /* file order; the array is the generation's, each
                        activity its unit's */
    size_t nacts;
    gen_plugins *ps;  /* a reference */
    gen_unit **units; /* one per file, in name order; each a reference */
    size_t nunits;
    size_t reused; /* units taken over from the generation it was
                      built beside (gen_builder_new's base) */
    route *routes; /* open addressing, nroutes is a power of two */
    size_t nroutes;
    activity **by_id; /* open addressing by id, nby_id a power of two */
    size_t nby_id;
    /* The snapshot manifest it was built from (snapshot.h), units[i]
     * being file man->v[i]; NULL when built from a plain directory. */
    struct snap_manifest *man;
    /* Released, its units being released a slice at a time
     * (gen_defer_release): the next one, and how many are done. */
    struct gen *next_dead;
    size_t nreaped;
} gen;

/* Build a generation from c->plugins_dir and c->activities_dir, its
 * plugins calling host->table.  When run_init, each instance's init runs
 * through host->init (as serving requires).  Every
 * problem goes to e.  Returns the generation (refs = 1, the caller's) or
 * NULL when there was any error. */
gen *gen_build(const conf *c, const gen_host *host, uint64_t number,
               int run_init, errs *e);
/* The same from explicit directories: a plain directory of *.conf, or a
 * reload's snapshot (snapshot.h: its manifest names the files, messages
 * name them in its display directory). */
gen *gen_build_at(const conf *c, const gen_host *host, const char *plugins_dir,
                  const char *activities_dir, uint64_t number, int run_init,
                  errs *e);
/* Building a generation a slice at a time, so that a worker serving
 * requests builds the next one between them (worker.c).  base (may be
 * NULL) is the generation serving: when every plugin file in plugins_dir
 * is the same (name and sha256) as base's, the new generation shares
 * base's loaded plugins and every activity file whose name and digest
 * (from the snapshot manifest, snapshot.h) are unchanged; otherwise all
 * is loaded anew, as gen_build_at() does.  Problems go to e, which the
 * caller keeps until gen_builder_finish() or gen_builder_free().  The
 * builder holds a reference to base while it lives.  Returns the builder
 * (the caller's) or NULL when out of memory. */
typedef struct gen_builder gen_builder;
gen_builder *gen_builder_new(const gen_host *host, const char *plugins_dir,
                             const char *activities_dir, uint64_t number,
                             int run_init, gen *base, errs *e);
/* Work for about budget_us microseconds (at least one file or init).
 * Returns 1 while there is more to do, 0 when done. */
int gen_builder_step(gen_builder *b, int64_t budget_us);
/* Once step returned 0: the generation (refs = 1, the caller's) or NULL
 * when there was any error.  Frees b. */
gen *gen_builder_finish(gen_builder *b);
/* Abandon a build (an abort, a newer prepare): what it built is freed,
 * running the destroy of every instance it inited.  NULL is ignored. */
void gen_builder_free(gen_builder *b);

/* Apply enable/disable overrides {"<id>": bool, ...} (may be NULL). */
void gen_apply_enabled(gen *g, const cJSON *enabled);

void gen_ref(gen *g);
/* Drop a reference; the last releases g's units and plugin set (running
 * the destroy of instances no other generation holds, unloading plugins
 * no other one uses) -- at once, or, with a reaper set and thousands of
 * units, a slice at a time through gen_reap(). */
void gen_unref(gen *g);
/* Let a process with a loop release big generations in slices: when a
 * generation with more than a few dozen units is released, it is queued
 * and schedule(ud) is called (at once, each time; it arranges for
 * gen_reap() to run soon).  schedule NULL: release what is queued now and
 * from then on at once (a worker's teardown). */
void gen_defer_release(void (*schedule)(void *ud), void *ud);
/* Release queued units for about budget_us.  Returns 1 while some are
 * left (call again), 0 when none. */
int gen_reap(int64_t budget_us);

/* The method for (id, name), or NULL.  Owned by g. */
method *gen_route(const gen *g, int64_t id, const char *name);
/* The activity with id, or NULL. */
activity *gen_activity(const gen *g, int64_t id);

#endif
