/*
 * harness.c -- the harness host: the real loader, host table, validator
 * and chain over an in-memory store, a fixed clock and a call budget.
 */
#include "harness.h"

#include "log.h"
#include "schema.h"
#include "store_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

unsigned long hx_plugin_calls;

/* ---- the call budget ---- */

static struct timespec call_t0;

static void arm(hx *h)
{
    int64_t ms = h->c->o->budget_ms;
    struct itimerval it = {
        {0, 0}, {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000}};
    clock_gettime(CLOCK_MONOTONIC, &call_t0);
    setitimer(ITIMER_REAL, &it, NULL);
}

/* Milliseconds since arm(). */
static double disarm(void)
{
    struct itimerval zero = {{0, 0}, {0, 0}};
    struct timespec t1;

    setitimer(ITIMER_REAL, &zero, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - call_t0.tv_sec) * 1000.0 +
           (double)(t1.tv_nsec - call_t0.tv_nsec) / 1e6;
}

void hx_tick(void)
{
    int64_t t = clock_mono_ms();
    while (clock_mono_ms() == t)
        ;
}

/* ---- the wrapped host table: which request fields does it read? ---- */

#define FIELDS_MAX 32
static char *fields[FIELDS_MAX];
static size_t nfields;
static int read_req_json;

void hx_fields_reset(void)
{
    for (size_t i = 0; i < nfields; i++)
        free(fields[i]);
    nfields = 0;
    read_req_json = 0;
}

size_t hx_fields_count(void)
{
    return nfields;
}

const char *hx_field(size_t i)
{
    return i < nfields ? fields[i] : NULL;
}

int hx_read_req_json(void)
{
    return read_req_json;
}

static void note_field(const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > 200 ||
        nfields == FIELDS_MAX)
        return;
    for (size_t i = 0; i < nfields; i++)
        if (strcmp(fields[i], name) == 0)
            return;
    if ((fields[nfields] = strdup(name)) != NULL)
        nfields++;
}

static ams_status w_req_int(ams_ctx *c, const char *n, int64_t *o)
{
    note_field(n);
    return services_host.req_int(c, n, o);
}

static ams_status w_req_number(ams_ctx *c, const char *n, double *o)
{
    note_field(n);
    return services_host.req_number(c, n, o);
}

static ams_status w_req_str(ams_ctx *c, const char *n, const char **o)
{
    note_field(n);
    return services_host.req_str(c, n, o);
}

static const char *w_req_json(ams_ctx *c)
{
    read_req_json = 1;
    return services_host.req_json(c);
}

/* ---- the wrapped host table: which writing functions does it call? ----
 * Counted as calls, whatever they answer: a read-only entry's promise is
 * not to ask for a write, and a host that refuses the write (or a call
 * that changes nothing, such as deleting an absent tag) leaves no trace
 * in the store's count of writes. */

static unsigned long nwrite_calls;
static char first_write[300]; /* the first call, with the key it named */

void hx_write_calls_reset(void)
{
    nwrite_calls = 0;
    first_write[0] = '\0';
}

unsigned long hx_write_calls(void)
{
    return nwrite_calls;
}

const char *hx_first_write_call(void)
{
    return first_write;
}

static void note_write(const char *fn, const char *key)
{
    if (nwrite_calls++ == 0)
        snprintf(first_write, sizeof first_write, "%s(\"%.200s\")", fn,
                 key ? key : "");
}

static ams_status w_counter_add(ams_ctx *c, ams_scope sc, const char *k,
                                ams_period p, int64_t d, int64_t lo,
                                int64_t hi, int64_t *o)
{
    note_write("counter_add", k);
    return services_host.counter_add(c, sc, k, p, d, lo, hi, o);
}

static ams_status w_lock(ams_ctx *c, ams_scope sc, const char *k, int64_t ttl,
                         char token[AMS_TOKEN_LEN])
{
    note_write("lock", k);
    return services_host.lock(c, sc, k, ttl, token);
}

static ams_status w_unlock(ams_ctx *c, ams_scope sc, const char *k,
                           const char *token)
{
    note_write("unlock", k);
    return services_host.unlock(c, sc, k, token);
}

static ams_status w_tag_set(ams_ctx *c, ams_scope sc, const char *n,
                            const char *v, int64_t ttl)
{
    note_write("tag_set", n);
    return services_host.tag_set(c, sc, n, v, ttl);
}

static ams_status w_tag_del(ams_ctx *c, ams_scope sc, const char *n)
{
    note_write("tag_del", n);
    return services_host.tag_del(c, sc, n);
}

static ams_status w_value_cas(ams_ctx *c, ams_scope sc, const char *k,
                              uint64_t expect, const char *v, size_t len,
                              int64_t ttl, uint64_t *version)
{
    note_write("value_cas", k);
    return services_host.value_cas(c, sc, k, expect, v, len, ttl, version);
}

static ams_status w_board_set(ams_ctx *c, const char *b, int64_t score)
{
    note_write("board_set", b);
    return services_host.board_set(c, b, score);
}

static ams_status w_grant(ams_ctx *c, const char *kind, const char *item,
                          int64_t amount, const char *extra)
{
    note_write("grant", kind);
    return services_host.grant(c, kind, item, amount, extra);
}

static ams_host hx_host;

static const ams_host *harness_host(void)
{
    if (hx_host.size == 0) {
        hx_host = services_host;
        hx_host.req_int = w_req_int;
        hx_host.req_number = w_req_number;
        hx_host.req_str = w_req_str;
        hx_host.req_json = w_req_json;
        hx_host.counter_add = w_counter_add;
        hx_host.lock = w_lock;
        hx_host.unlock = w_unlock;
        hx_host.tag_set = w_tag_set;
        hx_host.tag_del = w_tag_del;
        hx_host.value_cas = w_value_cas;
        hx_host.board_set = w_board_set;
        hx_host.grant = w_grant;
    }
    return &hx_host;
}

/* ---- opening and closing ---- */

static void stem_of(const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/');
    size_t n;

    base = base ? base + 1 : path;
    n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".so") == 0)
        n -= 3;
    snprintf(out, len, "%.*s", (int)n, base);
}

static store *open_store(char *err, size_t errlen)
{
    store_options so = {0};
    so.uri = "mem:conform";
    return store_open(&so, err, errlen);
}

int hx_open(hx *h, ck *c, const char *path, char *err, size_t errlen)
{
    errs e = {0};
    char stem[256];
    char *msgs;

    memset(h, 0, sizeof *h);
    h->c = c;
    log_role = "conform";
    log_level = c->o->verbose ? AMS_LOG_DEBUG : AMS_LOG_WARN;
    if (path == NULL)
        path = c->o->path;
    stem_of(path, stem, sizeof stem);
    ck_doing(c, "loading %s with amsd's loader", path);
    h->p = plugin_load(path, stem, harness_host(), &e);
    if (h->p == NULL) {
        msgs = errs_join(&e);
        snprintf(err, errlen, "%s", msgs ? msgs : "cannot load");
        free(msgs);
        errs_free(&e);
        return -1;
    }
    errs_free(&e);
    h->st = open_store(err, errlen);
    if (h->st == NULL) {
        plugin_unload(h->p);
        h->p = NULL;
        return -1;
    }
    svc.st = h->st;
    svc.base = NULL;
    svc.idem_ttl_ms = 86400000;
    svc_seed(1);
    h->act = calloc(1, sizeof *h->act);
    if (h->act == NULL)
        return -1;
    h->act->id = 1;
    h->act->enabled = 1;
    h->act->start_ms = 0;
    h->act->end_ms = INT64_MAX;
    h->act->name = strdup("conform");
    h->act->file = strdup("ams-conform");
    h->act->resources = cJSON_CreateObject();
    cJSON_AddItemToObject(h->act->resources, "pools", cJSON_CreateObject());
    cJSON_AddItemToObject(h->act->resources, "coupons", cJSON_CreateObject());
    cJSON_AddItemToObject(h->act->resources, "budgets", cJSON_CreateObject());
    return 0;
}

void hx_reset_store(hx *h)
{
    char err[256];

    store_close(h->st);
    h->st = open_store(err, sizeof err);
    svc.st = h->st;
}

void hx_close(hx *h)
{
    instance *in, *next;

    for (in = h->insts; in != NULL; in = in->next_all)
        if (in->inited && in->entry->destroy != NULL) {
            ck_doing(h->c, "calling %s's destroy", in->ref);
            hx_plugin_calls++;
            arm(h);
            in->entry->destroy(in->state);
            disarm();
            in->inited = 0;
        }
    for (in = h->insts; in != NULL; in = next) {
        next = in->next_all;
        activity_instance_free(in);
    }
    h->insts = NULL;
    activity_free(h->act);
    h->act = NULL;
    if (h->p != NULL) {
        ck_doing(h->c, "unloading %s", h->p->path);
        plugin_unload(h->p);
    }
    h->p = NULL;
    store_close(h->st);
    h->st = NULL;
    svc.st = NULL;
    hx_fields_reset();
}

const plugin_entry *hx_entry(hx *h, const char *name)
{
    return plugin_find_entry(h->p, name ? name : h->c->entry);
}

/* ---- params and resources ---- */

static const cJSON *lookup(const cJSON *map, const plugin *p,
                           const ams_entry *e)
{
    char key[200];
    const cJSON *v;

    if (map == NULL)
        return NULL;
    snprintf(key, sizeof key, "%s.%s", p->name, e->name);
    v = cJSON_GetObjectItemCaseSensitive(map, key);
    return v ? v : cJSON_GetObjectItemCaseSensitive(map, e->name);
}

cJSON *hx_example(const conform_opts *o, const plugin *p, const ams_entry *e,
                  char *why, size_t whylen)
{
    const cJSON *given = lookup(o->params, p, e);
    cJSON *v;

    if (given != NULL) {
        if (!cJSON_IsObject(given)) {
            snprintf(why, whylen, "--params: \"%s\" is not a JSON object",
                     e->name);
            return NULL;
        }
        return cJSON_Duplicate(given, 1);
    }
    if (e->example != NULL) {
        v = cJSON_Parse(e->example);
        if (!cJSON_IsObject(v)) {
            cJSON_Delete(v);
            snprintf(why, whylen,
                     "the manifest's example for \"%s\" is not a JSON object",
                     e->name);
            return NULL;
        }
        return v;
    }
    for (const ams_param *q = e->params; q && q->name; q++)
        if (q->flags & AMS_P_REQUIRED) {
            snprintf(why, whylen,
                     "\"%s\" has required params but no example: set the "
                     "entry's `example` in the manifest or pass --params "
                     "FILE",
                     e->name);
            return NULL;
        }
    return cJSON_CreateObject();
}

cJSON *hx_request(const conform_opts *o, const plugin *p, const ams_entry *e)
{
    const cJSON *given = lookup(o->requests, p, e);
    return cJSON_IsObject(given) ? cJSON_Duplicate(given, 1)
                                 : cJSON_CreateObject();
}

static const char *group_of(ams_type t)
{
    return t == AMS_T_POOL     ? "pools"
           : t == AMS_T_COUPON ? "coupons"
           : t == AMS_T_BUDGET ? "budgets"
                               : NULL;
}

int64_t hx_stock(ams_type t)
{
    return t == AMS_T_POOL     ? HX_POOL_STOCK
           : t == AMS_T_COUPON ? HX_COUPON_STOCK
           : t == AMS_T_BUDGET ? HX_BUDGET_TOTAL
                               : 0;
}

static cJSON *resource_def(ams_type t, const char *name)
{
    char text[600];

    if (t == AMS_T_POOL)
        snprintf(text, sizeof text,
                 "{\"name\":\"%s\",\"stock\":%d,\"prizes\":["
                 "{\"name\":\"first\",\"stock\":3,\"weight\":1,\"value\":100},"
                 "{\"name\":\"second\",\"stock\":5,\"weight\":2,"
                 "\"value\":10}]}",
                 name, HX_POOL_STOCK);
    else if (t == AMS_T_COUPON)
        snprintf(text, sizeof text,
                 "{\"name\":\"%s\",\"value\":20,\"expire_days\":30,"
                 "\"stock\":%d}",
                 name, HX_COUPON_STOCK);
    else
        snprintf(text, sizeof text, "{\"name\":\"%s\",\"total\":%d}", name,
                 HX_BUDGET_TOTAL);
    return cJSON_Parse(text);
}

void hx_declare(hx *h, const ams_entry *e, const cJSON *params)
{
    for (const ams_param *q = e->params; q && q->name; q++) {
        const char *g = group_of(q->type);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, q->name);
        cJSON *group;

        if (g == NULL || !cJSON_IsString(v) || strlen(v->valuestring) > 100)
            continue;
        group = cJSON_GetObjectItemCaseSensitive(h->act->resources, g);
        if (cJSON_GetObjectItemCaseSensitive(group, v->valuestring) == NULL)
            cJSON_AddItemToObject(group, v->valuestring,
                                  resource_def(q->type, v->valuestring));
    }
}

typedef struct collect {
    char *buf;
    size_t len;
} collect;

static void collect_msg(void *ud, const char *field, const char *msg)
{
    collect *r = ud;
    size_t used = strlen(r->buf);
    (void)field;
    snprintf(r->buf + used, r->len - used, "%s%s", used ? "; " : "", msg);
}

/* The loader's check that resource params name declared resources. */
static int check_resources(hx *h, const ams_param *spec, const cJSON *params,
                           collect *r)
{
    int bad = 0;

    for (size_t i = 0; spec && spec[i].name; i++) {
        const char *g = group_of(spec[i].type);
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(params, spec[i].name);
        char msg[300];

        if (g == NULL || !cJSON_IsString(v))
            continue;
        if (cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(h->act->resources, g),
                v->valuestring) != NULL)
            continue;
        snprintf(msg, sizeof msg, "%s: \"%.100s\" is not a declared %.*s",
                 spec[i].name, v->valuestring, (int)strlen(g) - 1, g);
        collect_msg(r, spec[i].name, msg);
        bad++;
    }
    return bad;
}

int hx_instance(hx *h, const plugin_entry *pe, const cJSON *params,
                instance **out, char *why, size_t whylen)
{
    collect r = {why, whylen};
    instance *in = calloc(1, sizeof *in);
    ams_ctx ctx;
    ams_status st;

    why[0] = '\0';
    *out = NULL;
    if (in == NULL) {
        snprintf(why, whylen, "out of memory");
        return HX_INIT_FAULT;
    }
    in->next_all = h->insts;
    h->insts = in;
    in->entry = pe;
    in->act = h->act;
    in->constant = -1;
    in->file = strdup("ams-conform");
    in->line = 1;
    if (asprintf(&in->ref, "%s.%s", h->p->name, pe->spec->name) < 0)
        in->ref = NULL;
    in->params = params ? cJSON_Duplicate(params, 1) : cJSON_CreateObject();
    if (in->params == NULL) {
        snprintf(why, whylen, "out of memory");
        return HX_INIT_FAULT;
    }
    if (schema_validate(pe->spec->params, in->params, collect_msg, &r) > 0 ||
        check_resources(h, pe->spec->params, in->params, &r) > 0)
        return HX_REJECTED;
    if (pe->init != NULL) {
        memset(&ctx, 0, sizeof ctx);
        ctx.inst = in;
        ck_doing(h->c, "calling %s's init with params %s", in->ref,
                 hx_brief(params));
        hx_plugin_calls++;
        arm(h);
        st = pe->init(&ctx, &in->state);
        disarm();
        if (st != AMS_OK) {
            snprintf(why, whylen, "init answered %s%s%s%s%s",
                     hx_status_name(st), ctx.reason[0] ? " (reason " : "",
                     ctx.reason, ctx.reason[0] ? ")" : "",
                     ctx.init_log[0] ? ": " : "");
            if (ctx.init_log[0]) {
                size_t used = strlen(why);
                snprintf(why + used, whylen - used, "%s", ctx.init_log);
            }
            return st == AMS_FAIL ? HX_INIT_REFUSED : HX_INIT_FAULT;
        }
        in->inited = 1;
    }
    *out = in;
    return HX_OK;
}

/* ---- calls ---- */

static void req_init(hx *h, svc_req *r, const hx_req *rq, method *m)
{
    memset(r, 0, sizeof *r);
    r->uid = rq->uid ? rq->uid : "";
    r->request_id = rq->request_id ? rq->request_id : "conform-req";
    r->client_ip = "127.0.0.1";
    r->params = rq->params;
    r->act = h->act;
    r->m = m;
    if (rq->seed != 0)
        svc_seed(rq->seed);
}

void hx_call(hx *h, instance *in, const hx_req *rq, int with_undo, hx_out *out)
{
    svc_req r;
    ams_ctx ctx;
    double ms;

    memset(out, 0, sizeof *out);
    req_init(h, &r, rq, NULL);
    svc_req_begin(&r, rq->now_ms);
    memset(&ctx, 0, sizeof ctx);
    ctx.req = &r;
    ctx.inst = in;
    ck_doing(h->c, "calling %s for uid \"%.40s\" with request params %s",
             in->ref, r.uid, rq->what ? rq->what : hx_brief(rq->params));
    hx_plugin_calls++;
    arm(h);
    out->st = svc_call(in->entry->fn, &ctx);
    out->ms = disarm();
    snprintf(out->reason, sizeof out->reason, "%s", ctx.reason);
    if (with_undo && out->st == AMS_OK && in->entry->undo != NULL) {
        memset(&ctx, 0, sizeof ctx);
        ctx.req = &r;
        ctx.inst = in;
        ck_doing(h->c, "calling %s's undo for uid \"%.40s\"", in->ref, r.uid);
        hx_plugin_calls++;
        arm(h);
        out->undo_st = svc_call(in->entry->undo, &ctx);
        ms = disarm();
        if (ms > out->ms)
            out->ms = ms;
    }
    out->clock_moved = clock_mono_ms() != r.mono_start_ms;
    out->data = r.data ? cJSON_PrintUnformatted(r.data) : NULL;
    out->ngrants = r.grants ? cJSON_GetArraySize(r.grants) : 0;
    svc_req_end(&r);
}

void hx_out_free(hx_out *out)
{
    free(out->data);
    out->data = NULL;
}

/* Trampolines that count the chain's calls into the operation. */
static ams_entry_fn real_fn, real_undo;

static ams_status count_fn(ams_ctx *c)
{
    hx_plugin_calls++;
    return real_fn(c);
}

static ams_status count_undo(ams_ctx *c)
{
    hx_plugin_calls++;
    return real_undo(c);
}

int hx_pipeline(hx *h, instance *in, const hx_req *rq, char **body,
                int *replayed)
{
    const plugin_entry *orig = in->entry;
    plugin_entry counted = *orig;
    pipe_result res;
    svc_req r;

    h->meth.name = (char *)"conform";
    h->meth.act = h->act;
    h->meth_ops[0] = in;
    h->meth.ops = h->meth_ops;
    h->meth.nops = 1;
    in->m = &h->meth;
    real_fn = orig->fn;
    real_undo = orig->undo;
    counted.fn = count_fn;
    counted.undo = orig->undo ? count_undo : NULL;
    in->entry = &counted;
    req_init(h, &r, rq, &h->meth);
    svc_req_begin(&r, rq->now_ms);
    ck_doing(h->c,
             "running %s in the chain for uid \"%.40s\", request_id \"%s\", "
             "request params %s",
             in->ref, r.uid, r.request_id,
             rq->what ? rq->what : hx_brief(rq->params));
    arm(h);
    pipeline_run(&r, &res);
    disarm();
    svc_req_end(&r);
    in->entry = orig;
    *replayed = res.raw != NULL;
    *body = res.raw ? strdup(res.raw) : cJSON_PrintUnformatted(res.body);
    cJSON_Delete(res.body);
    free(res.raw);
    return res.http_status;
}

/* ---- the store ---- */

char *hx_dump(hx *h, int64_t now_ms)
{
    char *d = store_mem_dump(h->st, now_ms);
    return d ? d : strdup("");
}

uint64_t hx_writes(hx *h)
{
    return store_mem_writes(h->st);
}

/* Is line (of length n) one of the lines of text? */
static int has_line(const char *text, const char *line, size_t n)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return 1;
        p += len + (nl != NULL);
    }
    return 0;
}

static size_t diff_one(ck *c, const char *a, const char *b, char sign,
                       size_t shown, char *first, size_t firstlen)
{
    size_t count = 0;

    for (const char *p = a; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        int show = len > 200 ? 200 : (int)len;
        if (len > 0 && !has_line(b, p, len)) {
            if (shown + count < 6)
                ck_note(c, "%c %.*s", sign, show, p);
            if (shown + count == 0 && first != NULL)
                snprintf(first, firstlen, "%c %.*s", sign, show, p);
            count++;
        }
        p += len + (nl != NULL);
    }
    return count;
}

size_t hx_dump_diff(ck *c, const char *before, const char *after, char *first,
                    size_t firstlen)
{
    size_t n = diff_one(c, before, after, '-', 0, first, firstlen);
    return n + diff_one(c, after, before, '+', n, first, firstlen);
}

/* Drop the token " NAME=digits" from line (in place). */
static void drop_token(char *line, const char *name)
{
    char *t = strstr(line, name), *end;

    if (t == NULL)
        return;
    end = t + strlen(name);
    while (*end >= '0' && *end <= '9')
        end++;
    memmove(t, end, strlen(end) + 1);
}

char *hx_dump_restorable(const char *dump)
{
    size_t n = strlen(dump);
    char *out = malloc(n + 1), *line = malloc(n + 1);
    size_t o = 0;

    if (out == NULL || line == NULL) {
        free(out);
        free(line);
        return NULL;
    }
    for (const char *p = dump; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (nl != NULL);
        if (strncmp(line, "board ", 6) == 0)
            continue;
        if (strncmp(line, "tag ", 4) == 0)
            drop_token(line, " exp=");
        if (strncmp(line, "value ", 6) == 0)
            drop_token(line, " version=");
        len = strlen(line);
        memcpy(out + o, line, len);
        o += len;
        out[o++] = '\n';
    }
    out[o] = '\0';
    free(line);
    return out;
}

void hx_learn_request(hx *h, instance *in, cJSON **req)
{
    static const char *const kinds[] = {"string", "integer"};
    hx_req rq = {"u1001", "conform-learn",
                 *req,    HX_T_MON_LATE,
                 3,       "(learning which request fields it reads)"};
    hx_out o;
    size_t nf;

    if (lookup(h->c->o->requests, h->p, in->entry->spec) != NULL)
        return;
    hx_reset_store(h);
    hx_fields_reset();
    hx_call(h, in, &rq, 0, &o);
    hx_out_free(&o);
    nf = hx_fields_count();
    for (size_t k = 0; o.st != AMS_OK && nf > 0 && k < 2; k++) {
        cJSON *try = cJSON_Duplicate(*req, 1);
        for (size_t i = 0; i < nf; i++) {
            cJSON_DeleteItemFromObjectCaseSensitive(try, hx_field(i));
            if (k == 0)
                cJSON_AddStringToObject(try, hx_field(i), "conform-value-1");
            else
                cJSON_AddNumberToObject(try, hx_field(i), 1000);
        }
        hx_reset_store(h);
        rq.params = try;
        hx_call(h, in, &rq, 0, &o);
        hx_out_free(&o);
        if (o.st == AMS_OK) {
            ck_note(h->c, "request params learned (%s fields): %s", kinds[k],
                    hx_brief(try));
            cJSON_Delete(*req);
            *req = try;
        } else {
            cJSON_Delete(try);
        }
    }
    hx_reset_store(h);
}

/* ---- text ---- */

const char *hx_brief(const cJSON *v)
{
    static char bufs[4][160];
    static int next;
    char *out = bufs[next++ % 4];
    char *text;
    size_t n;

    if (v == NULL)
        return "(none)";
    text = cJSON_PrintUnformatted(v);
    if (text == NULL)
        return "(unprintable)";
    n = strlen(text);
    if (n > 120)
        snprintf(out, sizeof bufs[0], "%.100s... (%zu bytes)", text, n);
    else
        snprintf(out, sizeof bufs[0], "%s", text);
    free(text);
    return out;
}

const char *hx_status_name(ams_status st)
{
    switch (st) {
    case AMS_OK:
        return "AMS_OK";
    case AMS_FAIL:
        return "AMS_FAIL";
    case AMS_NOT_FOUND:
        return "AMS_NOT_FOUND";
    case AMS_CONFLICT:
        return "AMS_CONFLICT";
    case AMS_ERR:
        return "AMS_ERR";
    case AMS_ERR_STORE:
        return "AMS_ERR_STORE";
    case AMS_ERR_NOMEM:
        return "AMS_ERR_NOMEM";
    }
    return "an unknown status";
}
