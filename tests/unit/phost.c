/*
 * phost.c -- the plugin test host.
 */
#include "phost.h"

#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PHOST_MAX 64

struct phost {
    char dir[512];
    store *st;
    plugin *plugins[PHOST_MAX];
    size_t nplugins;
    activity *acts[PHOST_MAX];
    size_t nacts;
    instance *instances; /* every instance (next_all) */
};

phost *phost_open(const char *name)
{
    const char *tmp = getenv("AMS_TEST_TMP");
    char uri[600], err[256];
    store_options so = {0};
    phost *h = calloc(1, sizeof *h);

    if (h == NULL)
        return NULL;
    if (tmp != NULL)
        mkdir(tmp, 0700);
    snprintf(h->dir, sizeof h->dir, "%s/%s.XXXXXX", tmp ? tmp : "/tmp", name);
    if (mkdtemp(h->dir) == NULL) {
        free(h);
        return NULL;
    }
    snprintf(uri, sizeof uri, "lmdb:%s", h->dir);
    so.uri = uri;
    so.lmdb_sync = STORE_SYNC_NONE;
    h->st = store_open(&so, err, sizeof err);
    if (h->st == NULL) {
        printf("# phost: %s\n", err);
        free(h);
        return NULL;
    }
    svc.st = h->st;
    svc.base = NULL;
    svc.idem_ttl_ms = 86400000;
    svc_seed(12345);
    return h;
}

void phost_close(phost *h)
{
    char cmd[700];
    instance *in, *next;

    if (h == NULL)
        return;
    for (in = h->instances; in != NULL; in = in->next_all)
        if (in->inited && in->entry->destroy != NULL)
            in->entry->destroy(in->state);
    for (in = h->instances; in != NULL; in = next) {
        next = in->next_all;
        activity_instance_free(in);
    }
    for (size_t i = 0; i < h->nacts; i++)
        activity_free(h->acts[i]);
    for (size_t i = 0; i < h->nplugins; i++)
        plugin_unload(h->plugins[i]);
    store_close(h->st);
    svc.st = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
    if (system(cmd) != 0)
        printf("# phost: could not remove %s\n", h->dir);
    free(h);
}

store *phost_store(phost *h)
{
    return h->st;
}

const char *phost_bundled(const char *name)
{
    static char path[1024];
    const char *dir = getenv("AMS_PLUGINS");
    snprintf(path, sizeof path, "%s/%s.so", dir ? dir : "build/plugins", name);
    return path;
}

plugin *phost_plugin(phost *h, const char *path)
{
    errs e = {0};
    plugin *p;

    if (h->nplugins == PHOST_MAX)
        return NULL;
    p = plugin_load(path, NULL, &services_host, &e);
    for (size_t i = 0; i < e.n; i++)
        printf("# %s\n", e.msgs[i]);
    errs_free(&e);
    if (p != NULL)
        h->plugins[h->nplugins++] = p;
    return p;
}

activity *phost_activity(phost *h, int64_t id, int tz_min,
                         const char *resources_json)
{
    activity *a = calloc(1, sizeof *a);
    static const char *const groups[] = {"pools", "coupons", "budgets"};

    if (a == NULL || h->nacts == PHOST_MAX) {
        free(a);
        return NULL;
    }
    a->id = id;
    a->enabled = 1;
    a->end_ms = INT64_MAX;
    a->tz_offset_min = tz_min;
    a->name = strdup("test");
    a->file = strdup("phost");
    a->resources =
        resources_json ? cJSON_Parse(resources_json) : cJSON_CreateObject();
    if (a->resources == NULL)
        a->resources = cJSON_CreateObject();
    for (size_t i = 0; i < 3; i++)
        if (cJSON_GetObjectItemCaseSensitive(a->resources, groups[i]) == NULL)
            cJSON_AddItemToObject(a->resources, groups[i],
                                  cJSON_CreateObject());
    h->acts[h->nacts++] = a;
    return a;
}

typedef struct report {
    char *buf;
    size_t len;
} report;

static void collect(void *ud, const char *field, const char *msg)
{
    report *r = ud;
    size_t used = strlen(r->buf);
    (void)field;
    snprintf(r->buf + used, r->len - used, "%s%s", used ? "; " : "", msg);
}

/* Resource-typed params must name a declared resource (the loader's
 * check, repeated here since phost builds instances without a file). */
static int check_resources(const ams_param *spec, const cJSON *params,
                           const activity *a, report *r)
{
    int bad = 0;
    for (size_t i = 0; spec && spec[i].name; i++) {
        const char *g = spec[i].type == AMS_T_POOL     ? "pools"
                        : spec[i].type == AMS_T_COUPON ? "coupons"
                        : spec[i].type == AMS_T_BUDGET ? "budgets"
                                                       : NULL;
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(params, spec[i].name);
        if (g == NULL || !cJSON_IsString(v))
            continue;
        if (cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(a->resources, g),
                v->valuestring) == NULL) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s: \"%s\" is not a declared %s",
                     spec[i].name, v->valuestring, g);
            collect(r, spec[i].name, msg);
            bad++;
        }
    }
    return bad;
}

instance *phost_instance(phost *h, activity *act, plugin *p, const char *entry,
                         const char *params_json, char *err, size_t errlen)
{
    const plugin_entry *en = plugin_find_entry(p, entry);
    instance *in;
    report r = {err, errlen};
    ams_ctx ctx;
    ams_status st;

    err[0] = '\0';
    if (en == NULL) {
        snprintf(err, errlen, "no entry %s", entry);
        return NULL;
    }
    in = calloc(1, sizeof *in);
    if (in == NULL)
        return NULL;
    in->next_all = h->instances;
    h->instances = in;
    in->entry = en;
    in->act = act;
    in->constant = -1;
    in->file = strdup("phost");
    in->line = 1;
    if (asprintf(&in->ref, "%s.%s", p->name, entry) < 0)
        in->ref = NULL;
    in->params = params_json ? cJSON_Parse(params_json) : cJSON_CreateObject();
    if (in->params == NULL) {
        snprintf(err, errlen, "params: not JSON");
        return NULL;
    }
    if (schema_validate(en->spec->params, in->params, collect, &r) > 0 ||
        check_resources(en->spec->params, in->params, act, &r) > 0)
        return NULL;
    if (en->init == NULL)
        return in;
    memset(&ctx, 0, sizeof ctx);
    ctx.inst = in;
    st = en->init(&ctx, &in->state);
    if (st != AMS_OK) {
        snprintf(err, errlen, "init failed (%d %s)", (int)st, ctx.reason);
        return NULL;
    }
    in->inited = 1;
    return in;
}

ams_status phost_run(phost *h, instance *in, int undo, const char *uid,
                     const char *params_json, int64_t now_ms, phost_call *out)
{
    svc_req r;
    cJSON *params = params_json ? cJSON_Parse(params_json) : NULL;
    ams_ctx ctx;
    ams_entry_fn fn = undo ? in->entry->undo : in->entry->fn;

    (void)h;
    memset(out, 0, sizeof *out);
    memset(&r, 0, sizeof r);
    r.uid = uid ? uid : "";
    r.request_id = "phost-req";
    r.client_ip = "127.0.0.1";
    r.params = params;
    r.act = in->act;
    r.m = NULL;
    svc_req_begin(&r, now_ms);
    memset(&ctx, 0, sizeof ctx);
    ctx.req = &r;
    ctx.inst = in;
    out->st = fn ? svc_call(fn, &ctx) : AMS_ERR;
    snprintf(out->reason, sizeof out->reason, "%s", ctx.reason);
    out->data = cJSON_PrintUnformatted(r.data);
    if (r.grants != NULL)
        out->grants = cJSON_PrintUnformatted(r.grants);
    if (out->st == AMS_OK && r.grants != NULL)
        svc_ledger_stage(&r);
    svc_req_end(&r);
    cJSON_Delete(params);
    return out->st;
}

void phost_call_free(phost_call *c)
{
    free(c->data);
    free(c->grants);
    memset(c, 0, sizeof *c);
}
