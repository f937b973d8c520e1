/*
 * gen.c -- building, routing and releasing generations.
 */
#include "gen.h"

#include "check.h"
#include "hash.h"
#include "log.h"
#include "clock.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Names in dir ending with suffix, sorted so that load order (and so the
 * order of error messages) is stable.  Caller frees with free_names(). */
static char **list_dir(const char *dir, const char *suffix, size_t *n, errs *e)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t cap = 0, sl = strlen(suffix);

    *n = 0;
    if (d == NULL) {
        errs_add(e, dir, 0, "cannot open directory: %s", strerror(errno));
        return NULL;
    }
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l <= sl ||
            strcmp(de->d_name + l - sl, suffix) != 0)
            continue;
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **g = realloc(names, ncap * sizeof *names);
            if (g == NULL) {
                errs_add(e, dir, 0, "out of memory");
                break;
            }
            names = g;
            cap = ncap;
        }
        if ((names[*n] = strdup(de->d_name)) != NULL)
            (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(names, *n, sizeof *names, cmp_names);
    return names;
}

static void load_plugins(gen *g, const char *dir, const ams_host *host,
                         errs *e)
{
    size_t n;
    char **names = list_dir(dir, ".so", &n, e);

    g->plugins = calloc(n ? n : 1, sizeof *g->plugins);
    for (size_t i = 0; g->plugins != NULL && i < n; i++) {
        char path[4096], stem[256];
        plugin *p;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(stem, sizeof stem, "%.*s", (int)(strlen(names[i]) - 3),
                 names[i]);
        p = plugin_load(path, stem, host, e);
        if (p != NULL)
            g->plugins[g->nplugins++] = p;
    }
    free_names(names, n);
}

static plugin *find_plugin(void *ud, const char *name)
{
    gen *g = ud;
    for (size_t i = 0; i < g->nplugins; i++)
        if (strcmp(g->plugins[i]->name, name) == 0)
            return g->plugins[i];
    return NULL;
}

static void load_activities(gen *g, const char *dir, errs *e)
{
    size_t n;
    char **names = list_dir(dir, ".conf", &n, e);

    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        activity_parse_file(path, find_plugin, g, &g->acts, &g->nacts,
                            &g->instances, e);
    }
    free_names(names, n);
    for (size_t i = 0; i < g->nacts; i++)
        for (size_t j = 0; j < i; j++)
            if (g->acts[i]->id == g->acts[j]->id && g->acts[i]->id != 0)
                errs_add(e, g->acts[i]->file, g->acts[i]->line,
                         "id: activity %lld is already defined at %s:%d",
                         (long long)g->acts[i]->id, g->acts[j]->file,
                         g->acts[j]->line);
}

static uint64_t route_hash(int64_t id, const char *name)
{
    uint64_t h =
        hash_fnv1a(HASH_FNV1A_INIT ^ (uint64_t)id, name, strlen(name));
    return h ^ (h >> 29);
}

/* Open addressing at load factor <= 1/2: one or two probes per lookup. */
static int build_routes(gen *g)
{
    size_t total = 0, cap = 16;

    for (size_t i = 0; i < g->nacts; i++)
        total += g->acts[i]->nmethods;
    while (cap < total * 2)
        cap *= 2;
    g->routes = calloc(cap, sizeof *g->routes);
    if (g->routes == NULL)
        return -1;
    g->nroutes = cap;
    for (size_t i = 0; i < g->nacts; i++) {
        activity *a = g->acts[i];
        for (size_t j = 0; j < a->nmethods; j++) {
            method *m = &a->methods[j];
            size_t k = route_hash(a->id, m->name) & (cap - 1);
            while (g->routes[k].m != NULL)
                k = (k + 1) & (cap - 1);
            g->routes[k] = (route){a->id, m->name, m};
        }
    }
    return 0;
}

method *gen_route(const gen *g, int64_t id, const char *name)
{
    size_t mask = g->nroutes - 1;
    size_t k = route_hash(id, name) & mask;

    for (; g->routes[k].m != NULL; k = (k + 1) & mask)
        if (g->routes[k].id == id && strcmp(g->routes[k].method, name) == 0)
            return g->routes[k].m;
    return NULL;
}

activity *gen_activity(const gen *g, int64_t id)
{
    for (size_t i = 0; i < g->nacts; i++)
        if (g->acts[i]->id == id)
            return g->acts[i];
    return NULL;
}

static void init_instances(gen *g, const gen_host *host, errs *e)
{
    for (instance *in = g->instances; in != NULL; in = in->next_all) {
        ams_status st;
        char reason[64], log[256], extra[300] = "";

        if (in->entry->init == NULL)
            continue;
        st = host->init(in, reason, sizeof reason, log, sizeof log);
        if (log[0] != '\0')
            snprintf(extra, sizeof extra, ": %s", log);
        if (st == AMS_OK) {
            in->inited = 1;
            if (extra[0] != '\0')
                errs_warn(e, in->file, in->line, "%s%s", in->ref, extra);
            continue;
        }
        errs_add(e, in->file, in->line, "%s: init failed (%s%s)%s", in->ref,
                 st == AMS_FAIL ? "reason: " : "status ",
                 st == AMS_FAIL && reason[0] ? reason
                 : st == AMS_FAIL            ? "none"
                                             : "error",
                 extra);
    }
}

gen *gen_build(const conf *c, const gen_host *host, uint64_t number,
               int run_init, errs *e)
{
    return gen_build_at(c, host, c->plugins_dir, c->activities_dir, number,
                        run_init, e);
}

void gen_apply_enabled(gen *g, const cJSON *enabled)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, enabled)
    {
        activity *a = gen_activity(g, strtoll(it->string, NULL, 10));
        if (a != NULL && cJSON_IsBool(it))
            a->enabled = cJSON_IsTrue(it);
    }
}

gen *gen_build_at(const conf *c, const gen_host *host, const char *plugins_dir,
                  const char *activities_dir, uint64_t number, int run_init,
                  errs *e)
{
    gen *g = calloc(1, sizeof *g);
    size_t before = e->nerrors;

    if (g == NULL) {
        errs_add(e, NULL, 0, "out of memory");
        return NULL;
    }
    g->number = number;
    g->refs = 1;
    (void)c;
    load_plugins(g, plugins_dir, host->table, e);
    load_activities(g, activities_dir, e);
    if (e->nerrors == before && build_routes(g) < 0)
        errs_add(e, NULL, 0, "out of memory");
    if (e->nerrors == before && run_init) {
        init_instances(g, host, e);
        if (e->nerrors == before)
            check_activities(g->acts, g->nacts, clock_wall_ms(), e);
    }
    if (e->nerrors > before) {
        gen_unref(g);
        return NULL;
    }
    return g;
}

void gen_ref(gen *g)
{
    g->refs++;
}

void gen_unref(gen *g)
{
    instance *in, *next;

    if (g == NULL || --g->refs > 0)
        return;
    if (g->number > 0)
        log_info("generation %llu released: its plugins are unloaded",
                 (unsigned long long)g->number);
    for (in = g->instances; in != NULL; in = in->next_all)
        if (in->inited && in->entry->destroy != NULL)
            in->entry->destroy(in->state);
    for (in = g->instances; in != NULL; in = next) {
        next = in->next_all;
        activity_instance_free(in);
    }
    for (size_t i = 0; i < g->nacts; i++)
        activity_free(g->acts[i]);
    free(g->acts);
    /* Plugins last: destroy functions above live in them. */
    for (size_t i = 0; i < g->nplugins; i++)
        plugin_unload(g->plugins[i]);
    free(g->plugins);
    free(g->routes);
    free(g);
}
