/*
 * pipeline.c -- the interceptor chain.
 *
 * Order matters and is documented (docs/operator-guide.md): cheap checks
 * that need no store come first, then the crowd, then the method's rules,
 * then side effects.  An operation that fails undoes the earlier ones
 * that declare an undo, in reverse order.
 */
#include "pipeline.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *reason;
    int code;
} codes[] = {
    {"ok", 0},
    {"not_started", 1001},
    {"ended", 1002},
    {"disabled", 1003},
    {"login_required", 1004},
    {"not_eligible", 1005},
    {"limit_reached", 1006},
    {"busy", 1007},
    {"sold_out", 1008},
    {"budget_exhausted", 1009},
    {"duplicate", 1010},
};

int pipeline_code(const char *reason)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].reason, reason) == 0)
            return codes[i].code;
    return 1099;
}

static void set_outcome(pipe_result *out, const char *reason)
{
    snprintf(out->reason, sizeof out->reason, "%s", reason);
    out->code = pipeline_code(reason);
    out->http_status = 200;
}

static void set_fault(pipe_result *out, ams_status st, const char *what,
                      const char *ref)
{
    if (st == AMS_ERR_STORE) {
        out->http_status = 503;
        snprintf(out->reason, sizeof out->reason, "store_unavailable");
        snprintf(out->message, sizeof out->message,
                 "the store is unavailable (during %s %s)", what, ref);
    } else {
        out->http_status = 500;
        snprintf(out->reason, sizeof out->reason, "plugin_fault");
        snprintf(out->message, sizeof out->message, "%s %s reported a fault",
                 what, ref);
    }
    out->code = -1;
}

ams_status pipeline_eval(rnode *n, svc_req *r, instance **who,
                         char reason[64])
{
    ams_status st = AMS_OK;

    switch (n->kind) {
    case RN_LEAF: {
        ams_ctx ctx = {r, n->leaf, {0}};
        st = svc_call(n->leaf->entry->fn, &ctx);
        /* The last leaf evaluated is the one that decided, whatever the
         * outcome: a pass under not(), a fault, a failure. */
        *who = n->leaf;
        if (st == AMS_FAIL)
            snprintf(reason, 64, "%s", ctx.reason[0] ? ctx.reason : "failed");
        return st;
    }
    case RN_ALL:
        /* Short-circuit: the first failing child decides. */
        for (size_t i = 0; i < n->nkids; i++)
            if ((st = pipeline_eval(n->kids[i], r, who, reason)) != AMS_OK)
                return st;
        return AMS_OK;
    case RN_ANY:
        /* Short-circuit: the first passing child decides; when none
         * passes, the last failure is the one reported. */
        for (size_t i = 0; i < n->nkids; i++) {
            st = pipeline_eval(n->kids[i], r, who, reason);
            if (st != AMS_FAIL)
                return st;
        }
        return AMS_FAIL;
    case RN_NOT:
        st = pipeline_eval(n->kids[0], r, who, reason);
        if (st == AMS_FAIL)
            return AMS_OK;
        if (st == AMS_OK) {
            snprintf(reason, 64, "negated"); /* *who passed: to blame */
            return AMS_FAIL;
        }
        return st;
    }
    return AMS_ERR;
}

/* Crowd or method rule; 0 to go on, -1 when out is decided. */
static int check_rule(rnode *rule, const char *stage, svc_req *r,
                      pipe_result *out)
{
    instance *who = NULL;
    char reason[64] = "";
    ams_status st;

    if (rule == NULL)
        return 0;
    st = pipeline_eval(rule, r, &who, reason);
    if (st == AMS_OK)
        return 0;
    if (st == AMS_FAIL) {
        set_outcome(out, "not_eligible");
        out->detail = cJSON_CreateObject();
        cJSON_AddStringToObject(out->detail, "stage", stage);
        cJSON_AddStringToObject(out->detail, "rule", who ? who->ref : "?");
        cJSON_AddStringToObject(out->detail, "reason", reason);
        return -1;
    }
    set_fault(out, st, "rule", who ? who->ref : stage);
    return -1;
}

static void undo_ops(method *m, size_t k, svc_req *r)
{
    while (k-- > 0) {
        instance *in = m->ops[k];
        ams_ctx ctx = {r, in, {0}};
        ams_status st;

        if (in->entry->undo == NULL)
            continue;
        st = svc_call(in->entry->undo, &ctx);
        if (st != AMS_OK)
            log_error("activity %lld method %s: undo of %s failed (%d); "
                      "uid=%s request_id=%s needs manual repair",
                      (long long)r->act->id, r->m->name, in->ref, (int)st,
                      r->uid ? r->uid : "", r->request_id ? r->request_id
                                                          : "");
    }
}

static int run_ops(svc_req *r, pipe_result *out)
{
    method *m = r->m;

    for (size_t i = 0; i < m->nops; i++) {
        instance *in = m->ops[i];
        ams_ctx ctx = {r, in, {0}};
        ams_status st = svc_call(in->entry->fn, &ctx);

        if (st == AMS_OK)
            continue;
        undo_ops(m, i, r);
        if (st == AMS_ERR || st <= AMS_ERR_STORE) {
            set_fault(out, st, "operation", in->ref);
        } else {
            set_outcome(out, ctx.reason[0] ? ctx.reason : "operation_failed");
            out->detail = cJSON_CreateObject();
            cJSON_AddStringToObject(out->detail, "operation", in->ref);
            cJSON_AddNumberToObject(out->detail, "index", (double)i);
        }
        /* Data the failed method produced must not reach the client. */
        cJSON_Delete(r->data);
        r->data = cJSON_CreateObject();
        return -1;
    }
    return 0;
}

void pipeline_run(svc_req *r, pipe_result *out)
{
    activity *a = r->act;
    method *m = r->m;
    int64_t now = r->clock_base_ms;

    memset(out, 0, sizeof *out);
    if (!a->enabled) {
        set_outcome(out, "disabled");
        return;
    }
    if (now < a->start_ms) {
        set_outcome(out, "not_started");
        return;
    }
    if (now >= a->end_ms) {
        set_outcome(out, "ended");
        return;
    }
    if (m->login && (r->uid == NULL || r->uid[0] == '\0')) {
        set_outcome(out, "login_required");
        return;
    }
    if (check_rule(a->crowd, "crowd", r, out) < 0 ||
        check_rule(m->rule, "rule", r, out) < 0)
        return;
    if (run_ops(r, out) < 0)
        return;
    if (m->handler != NULL) {
        ams_ctx ctx = {r, m->handler, {0}};
        ams_status st = svc_call(m->handler->entry->fn, &ctx);
        if (st == AMS_FAIL) {
            set_outcome(out, ctx.reason[0] ? ctx.reason : "declined");
            return;
        }
        if (st != AMS_OK) {
            set_fault(out, st, "handler", m->handler->ref);
            return;
        }
    }
    set_outcome(out, "ok");
}
