/*
 * gen.c -- building, routing and releasing generations.
 */
#include "gen.h"

#include "check.h"
#include "clock.h"
#include "digest.h"
#include "hash.h"
#include "log.h"
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- plugin sets and units (gen.h) ---- */

struct gen_plugins {
    int refs;
    plugin **p; /* owned: unloaded with the set */
    size_t n;
};

struct gen_unit {
    int refs;
    char *name;      /* the file's name in its directory (owned) */
    char *path;      /* what messages name, activity->file (owned) */
    char hex[65];    /* sha256 of the content; "": not known, never reused */
    activity **acts; /* owned, with the activities */
    size_t nacts;
    instance *instances; /* every instance of the file: owned */
    gen_plugins *ps;     /* a reference: what the instances point into */
};

static void plugins_unref(gen_plugins *ps)
{
    if (ps == NULL || --ps->refs > 0)
        return;
    for (size_t i = 0; i < ps->n; i++)
        plugin_unload(ps->p[i]);
    free(ps->p);
    free(ps);
}

/* Release a unit: the last reference runs the destroy of every instance
 * that was inited, frees the activities, then lets go of the plugins
 * (the destroy functions live in them). */
static void unit_unref(gen_unit *u)
{
    instance *in, *next;

    if (u == NULL || --u->refs > 0)
        return;
    for (in = u->instances; in != NULL; in = in->next_all)
        if (in->inited && in->entry->destroy != NULL)
            in->entry->destroy(in->state);
    for (in = u->instances; in != NULL; in = next) {
        next = in->next_all;
        activity_instance_free(in);
    }
    for (size_t i = 0; i < u->nacts; i++)
        activity_free(u->acts[i]);
    free(u->acts);
    plugins_unref(u->ps);
    free(u->name);
    free(u->path);
    free(u);
}

/* The plugin of the set ud named name (owned by the set), or NULL. */
static plugin *find_plugin(void *ud, const char *name)
{
    const gen_plugins *ps = ud;
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i]->name, name) == 0)
            return ps->p[i];
    return NULL;
}

/* ---- the duplicate-id check ---- */

typedef struct id_at {
    int64_t id;
    size_t i; /* index in acts */
} id_at;

static int cmp_id_at(const void *a, const void *b)
{
    const id_at *x = a, *y = b;

    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Every activity whose id an earlier one has, reported against each
 * earlier one, in the order a check of every pair reports them: sorted
 * once, so 10,000 activities cost milliseconds, not 50 million
 * comparisons. */
static void check_duplicate_ids(activity **acts, size_t n, errs *e)
{
    id_at *v = malloc((n ? n : 1) * sizeof *v);
    size_t *pos = malloc((n ? n : 1) * sizeof *pos);
    size_t *first = malloc((n ? n : 1) * sizeof *first);

    if (v == NULL || pos == NULL || first == NULL) {
        errs_add(e, NULL, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (id_at){acts[i]->id, i};
    qsort(v, n, sizeof *v, cmp_id_at);
    for (size_t k = 0; k < n; k++) {
        first[k] = k > 0 && v[k].id == v[k - 1].id ? first[k - 1] : k;
        pos[v[k].i] = k;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = pos[i];
        if (acts[i]->id == 0)
            continue;
        for (size_t j = first[k]; j < k; j++)
            errs_add(e, acts[i]->file, acts[i]->line,
                     "id: activity %lld is already defined at %s:%d",
                     (long long)acts[i]->id, acts[v[j].i]->file,
                     acts[v[j].i]->line);
    }
out:
    free(v);
    free(pos);
    free(first);
}

static uint64_t id_hash(int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 31);
}

/* gen_activity() in one or two probes: the first activity of each id. */
static int build_by_id(gen *g)
{
    size_t cap = 16;

    while (cap < g->nacts * 2)
        cap *= 2;
    g->by_id = calloc(cap, sizeof *g->by_id);
    if (g->by_id == NULL)
        return -1;
    g->nby_id = cap;
    for (size_t i = 0; i < g->nacts; i++) {
        size_t k = id_hash(g->acts[i]->id) & (cap - 1);
        for (; g->by_id[k] != NULL; k = (k + 1) & (cap - 1))
            if (g->by_id[k]->id == g->acts[i]->id)
                break;
        if (g->by_id[k] == NULL)
            g->by_id[k] = g->acts[i];
    }
    return 0;
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
    if (g->nby_id == 0)
        return NULL;
    for (size_t k = id_hash(id) & (g->nby_id - 1); g->by_id[k] != NULL;
         k = (k + 1) & (g->nby_id - 1))
        if (g->by_id[k]->id == id)
            return g->by_id[k];
    return NULL;
}

static void init_one(instance *in, const gen_host *host, errs *e)
{
    ams_status st;
    char reason[64], log[256], extra[300] = "";

    if (in->entry->init == NULL)
        return;
    st = host->init(in, reason, sizeof reason, log, sizeof log);
    if (log[0] != '\0')
        snprintf(extra, sizeof extra, ": %s", log);
    if (st == AMS_OK) {
        in->inited = 1;
        if (extra[0] != '\0')
            errs_warn(e, in->file, in->line, "%s%s", in->ref, extra);
        return;
    }
    errs_add(e, in->file, in->line, "%s: init failed (%s%s)%s", in->ref,
             st == AMS_FAIL ? "reason: " : "status ",
             st == AMS_FAIL && reason[0] ? reason
             : st == AMS_FAIL            ? "none"
                                         : "error",
             extra);
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

/* ---- the builder ---- */

/* Each stage is done a file, an instance or a table at a time, so that no
 * step holds a worker's loop for long even at 10,000 activities. */
enum stage {
    ST_PLUGINS,
    ST_FILES,
    ST_LINK,   /* every activity; base's tables patched when they can be */
    ST_DUPS,   /* else: the duplicate ids, */
    ST_ROUTES, /* the routes */
    ST_IDS,    /* and the id table built in full */
    ST_INIT,
    ST_CHECK,
    ST_DONE
};

/* A growing array of unit indices. */
typedef struct ixlist {
    size_t *v, n, cap;
} ixlist;

static int ix_push(ixlist *l, size_t i)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        size_t *g = realloc(l->v, cap * sizeof *g);
        if (g == NULL)
            return -1;
        l->v = g;
        l->cap = cap;
    }
    l->v[l->n++] = i;
    return 0;
}

struct gen_builder {
    const gen_host *host;
    errs *e;
    size_t before; /* e->nerrors at the start */
    int run_init;
    enum stage stage;
    gen *g;    /* being built */
    gen *base; /* a reference, or NULL */
    char *plugins_dir, *activities_dir;
    char **plugin_names; /* sorted, nplugin_names */
    size_t nplugin_names;
    snap_manifest *man; /* the snapshot's files (given to g at the end) */
    char **names;       /* without a manifest: the directory's, sorted */
    size_t nfiles;
    /* Keeping base's units: both manifests are in name order, so one walk
     * over the two finds what is the same (no lookups), the way a merge
     * does.  merge: base has a manifest matching its units, the same
     * display directory, and the same plugins. */
    int merge;
    size_t bj;      /* the next entry of base->man */
    ixlist fresh;   /* units of g parsed here, in file order */
    ixlist dropped; /* units of base not kept */
    size_t next;    /* the next plugin, file or fresh unit of the stage */
    instance *in;   /* ST_INIT: the next instance of unit `next` */
};

/* 1 when every plugin file is base's (same names, same sha256): then
 * loading them again would load the same code. */
static int same_plugins(const gen *base, const char *dir, char **names,
                        size_t n)
{
    const gen_plugins *ps = base ? base->ps : NULL;

    if (ps == NULL || ps->n != n)
        return 0;
    for (size_t i = 0; i < ps->n; i++) {
        char path[4096], hex[65];
        size_t l = strlen(names[i]);
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (strlen(ps->p[i]->name) != l - 3 ||
            strncmp(ps->p[i]->name, names[i], l - 3) != 0 ||
            digest_file(path, hex) < 0 || strcmp(hex, ps->p[i]->sha256) != 0)
            return 0;
    }
    return 1;
}

gen_builder *gen_builder_new(const gen_host *host, const char *plugins_dir,
                             const char *activities_dir, uint64_t number,
                             int run_init, gen *base, errs *e)
{
    gen_builder *b = calloc(1, sizeof *b);

    if (b == NULL || (b->g = calloc(1, sizeof *b->g)) == NULL ||
        (b->g->ps = calloc(1, sizeof *b->g->ps)) == NULL ||
        (b->man = calloc(1, sizeof *b->man)) == NULL ||
        (b->plugins_dir = strdup(plugins_dir)) == NULL ||
        (b->activities_dir = strdup(activities_dir)) == NULL) {
        if (b != NULL && b->g != NULL)
            free(b->g->ps);
        if (b != NULL) {
            free(b->g);
            free(b->man);
            free(b->plugins_dir);
        }
        free(b);
        errs_add(e, NULL, 0, "out of memory");
        return NULL;
    }
    b->host = host;
    b->e = e;
    b->before = e->nerrors;
    b->run_init = run_init;
    b->g->number = number;
    b->g->refs = 1;
    b->g->ps->refs = 1;
    b->plugin_names = list_dir(plugins_dir, ".so", &b->nplugin_names, e);
    if (snap_manifest_read(activities_dir, b->man, e) > 0)
        b->nfiles = b->man->n;
    else
        b->names = list_dir(activities_dir, ".conf", &b->nfiles, e);
    b->stage = ST_PLUGINS;
    if (same_plugins(base, plugins_dir, b->plugin_names, b->nplugin_names)) {
        /* The same code: keep its loaded objects, and with them every
         * compiled file that did not change. */
        gen_ref(base);
        b->base = base;
        plugins_unref(b->g->ps);
        b->g->ps = base->ps;
        b->g->ps->refs++;
        b->stage = ST_FILES;
        b->merge = b->names == NULL && base->man != NULL &&
                   base->man->n == base->nunits &&
                   strcmp(base->man->display, b->man->display) == 0;
    }
    b->g->units = malloc((b->nfiles ? b->nfiles : 1) * sizeof *b->g->units);
    b->g->plugins = b->g->ps->p;
    b->g->nplugins = b->g->ps->n;
    return b;
}

static int64_t now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void load_one_plugin(gen_builder *b)
{
    gen_plugins *ps = b->g->ps;
    const char *name = b->plugin_names[b->next];
    char path[4096], stem[256];
    plugin *p;

    if (ps->p == NULL &&
        (ps->p = calloc(b->nplugin_names ? b->nplugin_names : 1,
                        sizeof *ps->p)) == NULL) {
        errs_add(b->e, NULL, 0, "out of memory");
        return;
    }
    snprintf(path, sizeof path, "%s/%s", b->plugins_dir, name);
    snprintf(stem, sizeof stem, "%.*s", (int)(strlen(name) - 3), name);
    p = plugin_load(path, stem, b->host->table, b->e);
    if (p != NULL)
        ps->p[ps->n++] = p;
}

/* g->units has room for every file (gen_builder_new). */
static int add_unit(gen *g, gen_unit *u, errs *e)
{
    if (g->units == NULL) {
        errs_add(e, NULL, 0, "out of memory");
        unit_unref(u);
        return -1;
    }
    g->units[g->nunits++] = u;
    return 0;
}

static void parse_unit(gen_builder *b, const char *name, const char *hex)
{
    gen *g = b->g;
    char file[4096], path[4096];
    gen_unit *u;

    if (b->names != NULL) {
        snprintf(path, sizeof path, "%s/%s", b->activities_dir, name);
        snprintf(file, sizeof file, "%s", path);
    } else {
        snprintf(path, sizeof path, "%s/%s", b->man->display, name);
        snap_object_path(b->man, b->next, file, sizeof file);
    }
    u = calloc(1, sizeof *u);
    if (u == NULL || (u->name = strdup(name)) == NULL ||
        (u->path = strdup(path)) == NULL || ix_push(&b->fresh, g->nunits)) {
        if (u != NULL) {
            free(u->name);
            free(u->path);
        }
        free(u);
        errs_add(b->e, path, 0, "out of memory");
        return;
    }
    u->refs = 1;
    memcpy(u->hex, hex, strlen(hex) + 1);
    u->ps = g->ps;
    g->ps->refs++;
    /* Added even when it has errors: what it parsed is freed with g. */
    activity_parse_file_as(file, path, find_plugin, g->ps, &u->acts, &u->nacts,
                           &u->instances, b->e);
    add_unit(g, u, b->e);
}

static void drop_base(gen_builder *b, size_t j)
{
    if (ix_push(&b->dropped, j) < 0)
        errs_add(b->e, NULL, 0, "out of memory");
}

/* File `next`: base's unit when merging finds the same name and digest,
 * parsed otherwise. */
static void one_file(gen_builder *b)
{
    const char *name, *hex = "";
    const snap_manifest *bm = b->base ? b->base->man : NULL;

    if (b->names != NULL) {
        parse_unit(b, b->names[b->next], "");
        return;
    }
    name = b->man->v[b->next].name;
    hex = b->man->v[b->next].hex;
    if (!b->merge) {
        parse_unit(b, name, hex);
        return;
    }
    for (; b->bj < bm->n && strcmp(bm->v[b->bj].name, name) < 0; b->bj++)
        drop_base(b, b->bj);
    if (b->bj < bm->n && strcmp(bm->v[b->bj].name, name) == 0) {
        size_t j = b->bj++;
        if (memcmp(bm->v[j].hex, hex, 64) == 0) {
            gen_unit *old = b->base->units[j];
            old->refs++;
            if (add_unit(b->g, old, b->e) == 0)
                b->g->reused++;
            return;
        }
        drop_base(b, j);
    }
    parse_unit(b, name, hex);
}

/* ---- routes and ids, patched ---- */

/* Remove slot i of a linear-probing table, moving later entries of the
 * same run back so that every lookup still finds them. */
#define BACKSHIFT(tab, cap, i, empty, home)                                   \
    do {                                                                      \
        size_t i_ = (i), j_ = (i), mask_ = (cap)-1;                           \
        for (;;) {                                                            \
            size_t k_;                                                        \
            j_ = (j_ + 1) & mask_;                                            \
            if (empty(tab[j_]))                                               \
                break;                                                        \
            k_ = home(tab[j_]) & mask_;                                       \
            if (i_ <= j_ ? (i_ < k_ && k_ <= j_) : (i_ < k_ || k_ <= j_))     \
                continue;                                                     \
            tab[i_] = tab[j_];                                                \
            i_ = j_;                                                          \
        }                                                                     \
        memset(&tab[i_], 0, sizeof tab[i_]);                                  \
    } while (0)

#define ROUTE_EMPTY(r) ((r).m == NULL)
#define ROUTE_HOME(r) route_hash((r).id, (r).method)
#define ACT_EMPTY(a) ((a) == NULL)
#define ACT_HOME(a) id_hash((a)->id)

static void route_remove(gen *g, const method *m)
{
    size_t mask = g->nroutes - 1;

    for (size_t k = route_hash(m->act->id, m->name) & mask;
         g->routes[k].m != NULL; k = (k + 1) & mask)
        if (g->routes[k].m == m) {
            BACKSHIFT(g->routes, g->nroutes, k, ROUTE_EMPTY, ROUTE_HOME);
            return;
        }
}

static void route_add(gen *g, method *m)
{
    size_t mask = g->nroutes - 1;
    size_t k = route_hash(m->act->id, m->name) & mask;

    while (g->routes[k].m != NULL)
        k = (k + 1) & mask;
    g->routes[k] = (route){m->act->id, m->name, m};
}

static void by_id_remove(gen *g, const activity *a)
{
    size_t mask = g->nby_id - 1;

    for (size_t k = id_hash(a->id) & mask; g->by_id[k] != NULL;
         k = (k + 1) & mask)
        if (g->by_id[k] == a) {
            BACKSHIFT(g->by_id, g->nby_id, k, ACT_EMPTY, ACT_HOME);
            return;
        }
}

/* Returns 0, or -1 when the id is taken (a duplicate). */
static int by_id_add(gen *g, activity *a)
{
    size_t mask = g->nby_id - 1;
    size_t k = id_hash(a->id) & mask;

    for (; g->by_id[k] != NULL; k = (k + 1) & mask)
        if (g->by_id[k]->id == a->id)
            return -1;
    g->by_id[k] = a;
    return 0;
}

static size_t table_cap(size_t n)
{
    size_t cap = 16;

    while (cap < n * 2)
        cap *= 2;
    return cap;
}

/* base's routes and ids with the dropped units' taken out and the fresh
 * units' put in: O(what changed) but for two copies.  Returns 0, or -1
 * when it does not apply (other sizes, a duplicate id: the full link then
 * says exactly what). */
static int patch_tables(gen_builder *b, size_t nmethods)
{
    gen *g = b->g, *base = b->base;

    if (!b->merge || table_cap(nmethods) != base->nroutes ||
        table_cap(g->nacts) != base->nby_id)
        return -1;
    g->routes = malloc(base->nroutes * sizeof *g->routes);
    g->by_id = malloc(base->nby_id * sizeof *g->by_id);
    if (g->routes == NULL || g->by_id == NULL)
        goto undo;
    memcpy(g->routes, base->routes, base->nroutes * sizeof *g->routes);
    memcpy(g->by_id, base->by_id, base->nby_id * sizeof *g->by_id);
    g->nroutes = base->nroutes;
    g->nby_id = base->nby_id;
    for (size_t d = 0; d < b->dropped.n; d++) {
        const gen_unit *u = base->units[b->dropped.v[d]];
        for (size_t i = 0; i < u->nacts; i++) {
            by_id_remove(g, u->acts[i]);
            for (size_t k = 0; k < u->acts[i]->nmethods; k++)
                route_remove(g, &u->acts[i]->methods[k]);
        }
    }
    for (size_t f = 0; f < b->fresh.n; f++) {
        const gen_unit *u = g->units[b->fresh.v[f]];
        for (size_t i = 0; i < u->nacts; i++) {
            if (u->acts[i]->id != 0 && by_id_add(g, u->acts[i]) < 0)
                goto undo;
            for (size_t k = 0; k < u->acts[i]->nmethods; k++)
                route_add(g, &u->acts[i]->methods[k]);
        }
    }
    return 0;
undo:
    free(g->routes);
    free(g->by_id);
    g->routes = NULL;
    g->by_id = NULL;
    g->nroutes = g->nby_id = 0;
    return -1;
}

/* Every activity of the units into g->acts, then base's tables patched
 * when they can be.  Returns 1 when the tables are done, 0 when they are
 * to be built in full (ST_DUPS on), -1 when out of memory. */
static int link_units(gen_builder *b)
{
    gen *g = b->g;
    size_t n = 0, nmethods = 0;

    for (size_t i = 0; i < g->nunits; i++)
        n += g->units[i]->nacts;
    g->acts = malloc((n ? n : 1) * sizeof *g->acts);
    if (g->acts == NULL) {
        errs_add(b->e, NULL, 0, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < g->nunits; i++)
        for (size_t k = 0; k < g->units[i]->nacts; k++) {
            g->acts[g->nacts++] = g->units[i]->acts[k];
            nmethods += g->units[i]->acts[k]->nmethods;
        }
    /* A reload that changed a few files: base had no duplicate and the
     * patch finds any new one (then the full check reports it). */
    return b->e->nerrors == b->before && patch_tables(b, nmethods) == 0;
}

/* After the tables: inits, or the end when there were errors. */
static void after_link(gen_builder *b)
{
    b->stage = b->e->nerrors > b->before ? ST_DONE
               : b->run_init             ? ST_INIT
                                         : ST_DONE;
    /* The order the instances of one generation-wide list had: the last
     * file's last instance first. */
    b->next = b->fresh.n;
    b->in = NULL;
}

int gen_builder_step(gen_builder *b, int64_t budget_us)
{
    int64_t deadline = now_us() + budget_us;
    gen *g = b->g;

    do {
        switch (b->stage) {
        case ST_PLUGINS:
            if (b->next < b->nplugin_names) {
                load_one_plugin(b);
                b->next++;
                break;
            }
            g->plugins = g->ps->p;
            g->nplugins = g->ps->n;
            b->stage = ST_FILES;
            b->next = 0;
            break;
        case ST_FILES:
            if (b->next < b->nfiles) {
                one_file(b);
                b->next++;
                break;
            }
            for (; b->merge && b->bj < b->base->man->n; b->bj++)
                drop_base(b, b->bj);
            b->stage = ST_LINK;
            break;
        case ST_LINK:
            if (link_units(b) != 0)
                after_link(b);
            else
                b->stage = ST_DUPS;
            break;
        case ST_DUPS:
            check_duplicate_ids(g->acts, g->nacts, b->e);
            if (b->e->nerrors > b->before)
                after_link(b);
            else
                b->stage = ST_ROUTES;
            break;
        case ST_ROUTES:
            if (build_routes(g) < 0)
                errs_add(b->e, NULL, 0, "out of memory");
            b->stage = ST_IDS;
            break;
        case ST_IDS:
            if (b->e->nerrors == b->before && build_by_id(g) < 0)
                errs_add(b->e, NULL, 0, "out of memory");
            after_link(b);
            break;
        case ST_INIT:
            if (b->in != NULL) {
                init_one(b->in, b->host, b->e);
                b->in = b->in->next_all;
                break;
            }
            if (b->next > 0) {
                b->in = g->units[b->fresh.v[--b->next]]->instances;
                break;
            }
            b->stage = b->e->nerrors > b->before ? ST_DONE : ST_CHECK;
            b->next = 0;
            break;
        case ST_CHECK:
            /* Units kept were checked when they were built. */
            if (b->next < b->fresh.n) {
                const gen_unit *u = g->units[b->fresh.v[b->next++]];
                check_activities(u->acts, u->nacts, clock_wall_ms(), b->e);
                break;
            }
            b->stage = ST_DONE;
            break;
        case ST_DONE:
            break;
        }
    } while (b->stage != ST_DONE && now_us() < deadline);
    return b->stage != ST_DONE;
}

void gen_builder_free(gen_builder *b)
{
    if (b == NULL)
        return;
    gen_unref(b->g);
    gen_unref(b->base);
    free_names(b->plugin_names, b->nplugin_names);
    free_names(b->names, b->names ? b->nfiles : 0);
    if (b->man != NULL)
        snap_manifest_free(b->man);
    free(b->man);
    free(b->fresh.v);
    free(b->dropped.v);
    free(b->plugins_dir);
    free(b->activities_dir);
    free(b);
}

gen *gen_builder_finish(gen_builder *b)
{
    gen *g = b->g;

    if (b->e->nerrors > b->before || b->stage != ST_DONE) {
        gen_builder_free(b);
        return NULL;
    }
    if (g->number > 0 && b->base != NULL)
        log_debug("generation %llu: %zu file(s) parsed, %zu kept from "
                  "generation %llu",
                  (unsigned long long)g->number, b->fresh.n, g->reused,
                  (unsigned long long)b->base->number);
    /* What the next build beside this one merges with. */
    if (b->names == NULL) {
        g->man = b->man;
        b->man = NULL;
    }
    b->g = NULL;
    gen_builder_free(b);
    return g;
}

gen *gen_build_at(const conf *c, const gen_host *host, const char *plugins_dir,
                  const char *activities_dir, uint64_t number, int run_init,
                  errs *e)
{
    gen_builder *b;

    (void)c;
    b = gen_builder_new(host, plugins_dir, activities_dir, number, run_init,
                        NULL, e);
    if (b == NULL)
        return NULL;
    while (gen_builder_step(b, INT64_MAX / 2))
        ;
    return gen_builder_finish(b);
}

void gen_ref(gen *g)
{
    g->refs++;
}

/* What is left of g once its units are released. */
static void gen_free(gen *g)
{
    /* Units hold the plugin set too: after them, g's is the last. */
    int last_plugins = g->ps != NULL && g->ps->refs == 1;

    if (g->number > 0)
        log_info("generation %llu released%s", (unsigned long long)g->number,
                 last_plugins ? ": its plugins are unloaded" : "");
    plugins_unref(g->ps);
    free(g->units);
    free(g->acts);
    free(g->routes);
    free(g->by_id);
    if (g->man != NULL)
        snap_manifest_free(g->man);
    free(g->man);
    free(g);
}

/* Released generations whose units are still to be released, oldest
 * first (gen_defer_release). */
static struct {
    void (*schedule)(void *ud);
    void *ud;
    gen *head, *tail;
} reaper;

/* Fewer units than this are released at once even with a reaper: the
 * common reload (a few files changed) leaves the old generation little
 * of its own. */
#define REAP_AT_ONCE 64

int gen_reap(int64_t budget_us)
{
    int64_t deadline = now_us() + budget_us;

    while (reaper.head != NULL) {
        gen *g = reaper.head;
        while (g->nreaped < g->nunits) {
            unit_unref(g->units[g->nreaped++]);
            if (now_us() >= deadline)
                return 1;
        }
        /* Then its plugins, one at a time when nothing else holds them
         * (each dlclose and its private copy's removal take a while). */
        while (g->ps != NULL && g->ps->refs == 1 && g->ps->n > 1) {
            plugin_unload(g->ps->p[--g->ps->n]);
            if (now_us() >= deadline)
                return 1;
        }
        reaper.head = g->next_dead;
        if (reaper.head == NULL)
            reaper.tail = NULL;
        gen_free(g);
        if (now_us() >= deadline)
            break;
    }
    return reaper.head != NULL;
}

void gen_defer_release(void (*schedule)(void *ud), void *ud)
{
    reaper.schedule = schedule;
    reaper.ud = ud;
    if (schedule == NULL)
        while (gen_reap(INT64_MAX / 4))
            ;
}

void gen_unref(gen *g)
{
    if (g == NULL || --g->refs > 0)
        return;
    if (reaper.schedule != NULL && g->nunits - g->nreaped > REAP_AT_ONCE) {
        /* Thousands of units: destroys and frees for hundreds of ms. */
        g->next_dead = NULL;
        if (reaper.tail != NULL)
            reaper.tail->next_dead = g;
        else
            reaper.head = g;
        reaper.tail = g;
        reaper.schedule(reaper.ud);
        return;
    }
    while (g->nreaped < g->nunits)
        unit_unref(g->units[g->nreaped++]);
    gen_free(g);
}
