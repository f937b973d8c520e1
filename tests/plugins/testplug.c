/*
 * testplug.c -- a plugin whose behaviour the tests steer through params,
 * used by the unit and end-to-end tests.
 *
 *   testplug.flag     rule: passes when conf `pass` is true, or (without
 *                     conf) when request param `pass` is true; reason
 *                     conf `reason` or "flag_off".  Counts its calls in
 *                     the activity counter "calls.<name>" when conf `name`
 *                     is set (to check short-circuit order).
 *   testplug.count    operation: adds 1 to activity counter conf `key`
 *                     within [0, conf max]; undo subtracts it.
 *   testplug.fail     operation: fails with conf `reason`.
 *   testplug.fault    operation: returns AMS_ERR (a plugin fault).
 *   testplug.echo     handler: replies what the host told it.
 *   testplug.sleep    handler: sleeps conf/req `ms` on the host clock.
 *   testplug.fill     operation: stores a value of conf `kb` KiB under
 *                     the user key "fill" (to fill a small store and see
 *                     the 503 it causes).
 *   testplug.grant    operation: records a grant (kind conf `kind`, item
 *                     conf `item`, amount conf `amount`) and replies it.
 *   testplug.ledger   handler: replies the user's ledger as data.ledger.
 *   testplug.stateful handler: init allocates state (fails when conf
 *                     `fail_init` is true); replies the state's value.
 *   testplug.hold     operation: takes the activity-wide plugin lock
 *                     "held" (60 s) until its request ends, or fails
 *                     "held" when another request has it.
 *   testplug.crowd_tag handler: replies {"value": V} with V the user's
 *                     crowd tag named by conf `tag` (null when absent).
 */
#include <ams/ams.h>

#include <stdlib.h>
#include <string.h>

static const ams_param flag_params[] = {
    {"pass", AMS_T_BOOL, 0, 0, 0, NULL},
    {"reason", AMS_T_STRING, 0, 0, 0, NULL},
    {"name", AMS_T_STRING, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL}};
static const ams_param count_params[] = {
    {"key", AMS_T_STRING, AMS_P_REQUIRED, 0, 0, NULL},
    {"max", AMS_T_INT, AMS_P_REQUIRED | AMS_P_MIN, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL}};
static const ams_param fail_params[] = {
    {"reason", AMS_T_STRING, AMS_P_REQUIRED, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL}};
static const ams_param sleep_params[] = {
    {"ms", AMS_T_INT, AMS_P_MIN | AMS_P_MAX, 0, 60000, NULL},
    {NULL, 0, 0, 0, 0, NULL}};
static const ams_param stateful_params[] = {
    {"value", AMS_T_INT, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 0, 1000,
     NULL},
    {"fail_init", AMS_T_BOOL, 0, 0, 0, NULL},
    {"crash_init", AMS_T_BOOL, 0, 0, 0, NULL},
    {"tags", AMS_T_STRINGS, AMS_P_MAX, 0, 3, NULL},
    {"ratio", AMS_T_NUMBER, AMS_P_MIN | AMS_P_MAX, 0, 1, NULL},
    {"table", AMS_T_JSON, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_param fill_params[] = {
    {"kb", AMS_T_INT, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 65536, NULL},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_param grant_params[] = {{"kind", AMS_T_STRING, 0, 0, 0, NULL},
                                         {"item", AMS_T_STRING, 0, 0, 0, NULL},
                                         {"amount", AMS_T_INT, 0, 0, 0, NULL},
                                         {NULL, 0, 0, 0, 0, NULL}};

static const ams_param crowd_tag_params[] = {
    {"tag", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     NULL},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"grant", AMS_OPERATION, "tp_grant", NULL, NULL, NULL, grant_params, "{}",
     NULL},
    {"ledger", AMS_HANDLER, "tp_ledger", NULL, NULL, NULL, NULL, NULL, NULL},
    {"fill", AMS_OPERATION, "tp_fill", NULL, NULL, NULL, fill_params,
     "{\"kb\":1}", NULL},
    {"flag", AMS_RULE, "tp_flag", NULL, NULL, NULL, flag_params, "{}", NULL},
    {"count", AMS_OPERATION, "tp_count", "tp_count_undo", NULL, NULL,
     count_params, "{\"key\":\"k\",\"max\":10}", NULL},
    {"fail", AMS_OPERATION, "tp_fail", NULL, NULL, NULL, fail_params,
     "{\"reason\":\"sold_out\"}", NULL},
    {"fault", AMS_OPERATION, "tp_fault", NULL, NULL, NULL, NULL, NULL, NULL},
    {"echo", AMS_HANDLER, "tp_echo", NULL, NULL, NULL, NULL, NULL, NULL},
    {"sleep", AMS_HANDLER, "tp_sleep", NULL, NULL, NULL, sleep_params, NULL,
     NULL},
    {"stateful", AMS_HANDLER, "tp_stateful", NULL, "tp_stateful_init",
     "tp_stateful_destroy", stateful_params, "{\"value\":1}", NULL},
    {"crowd_tag", AMS_HANDLER, "tp_crowd_tag", NULL, NULL, NULL,
     crowd_tag_params, "{\"tag\":\"level\"}", NULL},
    {"hold", AMS_OPERATION, "tp_hold", NULL, NULL, NULL, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("testplug", "1.2.3", entries);

AMS_ENTRY(tp_flag)
{
    int pass = 0;
    const char *name = ams_conf_str(ctx, "name", NULL);

    if (name != NULL) {
        char key[80];
        strcpy(key, "calls.");
        strncat(key, name, sizeof key - 7);
        ams_api->counter_add(ctx, AMS_SCOPE_ACTIVITY, key, AMS_PERIOD_NONE, 1,
                             0, 1000000, NULL);
    }
    if (ams_api->conf_bool(ctx, "pass", &pass) != AMS_OK) {
        const char *j = ams_api->req_json(ctx);
        pass = strstr(j, "\"pass\":true") != NULL;
    }
    return pass ? AMS_OK
                : ams_fail(ctx, ams_conf_str(ctx, "reason", "flag_off"));
}

static ams_status count(ams_ctx *ctx, int64_t delta)
{
    int64_t v = 0;
    int64_t max = ams_conf_int(ctx, "max", 0);
    ams_status st = ams_api->counter_add(ctx, AMS_SCOPE_ACTIVITY,
                                         ams_conf_str(ctx, "key", "k"),
                                         AMS_PERIOD_NONE, delta, 0, max, &v);
    if (st == AMS_CONFLICT)
        return ams_fail(ctx, "sold_out");
    if (st == AMS_OK && delta > 0)
        ams_api->reply_int(ctx, "count", v);
    return st;
}

AMS_ENTRY(tp_count)
{
    return count(ctx, 1);
}

AMS_ENTRY(tp_count_undo)
{
    return count(ctx, -1);
}

AMS_ENTRY(tp_fail)
{
    return ams_fail(ctx, ams_conf_str(ctx, "reason", "declined"));
}

AMS_ENTRY(tp_hold)
{
    char token[AMS_TOKEN_LEN];
    ams_status st =
        ams_api->lock(ctx, AMS_SCOPE_ACTIVITY, "held", 60000, token);

    /* The host releases it when the request ends. */
    return st == AMS_CONFLICT ? ams_fail(ctx, "held") : st;
}

AMS_ENTRY(tp_fault)
{
    ams_api->log(ctx, AMS_LOG_WARN, "failing on purpose");
    return AMS_ERR;
}

AMS_ENTRY(tp_echo)
{
    ams_api->reply_str(ctx, "uid", ams_api->uid(ctx));
    ams_api->reply_str(ctx, "request_id", ams_api->request_id(ctx));
    ams_api->reply_str(ctx, "client_ip", ams_api->client_ip(ctx));
    ams_api->reply_str(ctx, "method", ams_api->method(ctx));
    ams_api->reply_int(ctx, "activity", ams_api->activity_id(ctx));
    ams_api->reply_int(ctx, "now", ams_api->now_ms(ctx));
    ams_api->reply_json(ctx, "params", ams_api->req_json(ctx));
    return AMS_OK;
}

AMS_ENTRY(tp_sleep)
{
    int64_t ms = 0, t0 = ams_api->now_ms(ctx);
    if (ams_api->req_int(ctx, "ms", &ms) != AMS_OK)
        ms = ams_conf_int(ctx, "ms", 100);
    if (ams_api->sleep_ms(ctx, ms) != AMS_OK)
        return AMS_ERR;
    ams_api->reply_int(ctx, "slept", ams_api->now_ms(ctx) - t0);
    return AMS_OK;
}

AMS_INIT(tp_stateful_init)
{
    int fail = 0;
    int64_t *v;

    ams_api->conf_bool(ctx, "fail_init", &fail);
    if (fail)
        return ams_fail(ctx, "asked_to_fail");
    /* A plugin that crashes its host while loading: abort(), not a wild
     * pointer, so sanitizer builds see a plain crash and no report. */
    ams_api->conf_bool(ctx, "crash_init", &fail);
    if (fail)
        abort();
    v = malloc(sizeof *v);
    if (v == NULL)
        return AMS_ERR_NOMEM;
    *v = ams_conf_int(ctx, "value", 0);
    *state = v;
    return AMS_OK;
}

AMS_DESTROY(tp_stateful_destroy)
{
    free(state);
}

AMS_ENTRY(tp_stateful)
{
    const int64_t *v = ams_api->state(ctx);
    const char *table = ams_api->conf_json(ctx, "table");
    ams_api->reply_int(ctx, "value", v ? *v : -1);
    ams_api->reply_int(ctx, "tags", (int64_t)ams_api->conf_count(ctx, "tags"));
    if (table != NULL)
        ams_api->reply_json(ctx, "table", table);
    return AMS_OK;
}

AMS_ENTRY(tp_fill)
{
    size_t len = (size_t)ams_conf_int(ctx, "kb", 1) * 1024;
    char *buf = malloc(len);
    uint64_t ver = 0;
    ams_status st;

    if (buf == NULL)
        return AMS_ERR_NOMEM;
    memset(buf, 'x', len);
    ams_api->value_get(ctx, AMS_SCOPE_USER, "fill", NULL, NULL, &ver);
    st = ams_api->value_cas(ctx, AMS_SCOPE_USER, "fill", ver, buf, len, 0,
                            NULL);
    free(buf);
    return st;
}

AMS_ENTRY(tp_grant)
{
    const char *item = ams_conf_str(ctx, "item", "thing");
    int64_t amount = ams_conf_int(ctx, "amount", 1);
    ams_status st = ams_api->grant(ctx, ams_conf_str(ctx, "kind", "test"),
                                   item, amount, "{\"note\":\"test\"}");
    if (st == AMS_OK)
        ams_api->reply_str(ctx, "granted", item);
    return st;
}

AMS_ENTRY(tp_ledger)
{
    const char *l = NULL;
    ams_status st = ams_api->ledger_json(ctx, &l);
    return st == AMS_OK ? ams_api->reply_json(ctx, "ledger", l) : st;
}

AMS_ENTRY(tp_crowd_tag)
{
    const char *v = NULL;
    ams_status st = ams_api->tag_get(ctx, AMS_SCOPE_CROWD,
                                     ams_conf_str(ctx, "tag", "level"), &v);

    if (st == AMS_NOT_FOUND)
        return ams_api->reply_json(ctx, "value", "null");
    if (st != AMS_OK)
        return st;
    return ams_api->reply_str(ctx, "value", v);
}
