/*
 * gen.h -- a generation: one complete, checked set of plugins and
 * activities, with the router that maps (activity id, method) to the
 * compiled method in O(1).
 *
 * A generation is immutable once built.  Requests pin it with gen_ref()
 * and release it with gen_unref(); the last unref destroys the instances
 * and unloads the plugins, so a reload can swap generations while old
 * requests finish on the one they started in.
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

typedef struct gen {
    uint64_t number;
    int refs;
    plugin **plugins;
    size_t nplugins;
    activity **acts;
    size_t nacts;
    instance *instances; /* every instance: owner of all of them */
    route *routes;       /* open addressing, nroutes is a power of two */
    size_t nroutes;
} gen;

/* Build a generation from c->plugins_dir and c->activities_dir, its
 * plugins calling host->table.  When run_init, each instance's init runs
 * through host->init (as serving requires).  Every
 * problem goes to e.  Returns the generation (refs = 1, the caller's) or
 * NULL when there was any error. */
gen *gen_build(const conf *c, const gen_host *host, uint64_t number,
               int run_init, errs *e);
/* The same from explicit directories (a reload's snapshot). */
gen *gen_build_at(const conf *c, const gen_host *host, const char *plugins_dir,
                  const char *activities_dir, uint64_t number, int run_init,
                  errs *e);
/* Apply enable/disable overrides {"<id>": bool, ...} (may be NULL). */
void gen_apply_enabled(gen *g, const cJSON *enabled);

void gen_ref(gen *g);
void gen_unref(gen *g);

/* The method for (id, name), or NULL.  Owned by g. */
method *gen_route(const gen *g, int64_t id, const char *name);
/* The activity with id, or NULL. */
activity *gen_activity(const gen *g, int64_t id);

#endif
