/*
 * credit.c -- add credit to a user, optionally out of a shared budget.
 *
 *   credit.add  operation.
 *     params   key     (string 1..100, required) the user's credit
 *                      counter, e.g. "credit_quota";
 *              amount  (int >= 1, required) credit added per call;
 *              budget  (budget, optional) the budget it comes out of.
 *     adds     With a budget, first the activity counter "budget.<name>"
 *              (what the budget has paid out) by amount, bounded by the
 *              budget's total, so the total is never passed however many
 *              requests race; then the user counter <key> by amount.
 *     fails    budget_exhausted  less than amount is left in the budget;
 *              credit_overflow   the user counter would pass 2^63 - 1.
 *     grants   ("credit", <key>, <amount>); replies data.<key> with the
 *              user's new total.
 *     undo     takes the amount back from the user counter and, when this
 *              call took it from the budget, returns it to the budget.
 *     init     refuses a key or budget counter key that is not printable
 *              ASCII of at most 200 bytes (bad_key); with a budget,
 *              declares amount units per call.
 */
#include <ams/ams.h>

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ams_param add_params[] = {
    {"key", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "the user's credit counter"},
    {"amount", AMS_T_INT, AMS_P_REQUIRED | AMS_P_MIN, 1, 0,
     "credit added per call"},
    {"budget", AMS_T_BUDGET, 0, 0, 0, "the budget it is paid from"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"add", AMS_OPERATION, "credit_add", "credit_add_undo", "credit_add_init",
     "credit_add_destroy", add_params,
     "{\"key\":\"credit_quota\",\"amount\":100,\"budget\":\"credit\"}",
     "add to a user's credit within a budget; undo takes it back"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

AMS_PLUGIN("credit", "1.0.0", entries);

typedef struct credit {
    const char *key; /* the user counter (host-owned conf string) */
    int64_t amount;
    char *budget_key; /* "budget.<name>", activity scope; NULL: none */
    int64_t total;
} credit;

static void credit_free(credit *c)
{
    if (c == NULL)
        return;
    free(c->budget_key);
    free(c);
}

/* The budget's counter key and total; a reason on failure. */
static const char *budget_parse(const char *text, credit *c)
{
    cJSON *def = cJSON_Parse(text);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(def, "name");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(def, "total");
    const char *why = NULL;

    if (!cJSON_IsString(name) || !cJSON_IsNumber(total))
        why = "bad_budget";
    else if (asprintf(&c->budget_key, "budget.%s", name->valuestring) < 0) {
        c->budget_key = NULL;
        why = "no_memory";
    } else if (!ams_key_ok(c->budget_key))
        why = "bad_key";
    else
        c->total = (int64_t)total->valuedouble;
    cJSON_Delete(def);
    return why;
}

AMS_INIT(credit_add_init)
{
    const char *text = ams_api->resource_json(ctx, "budget");
    const char *why = NULL;
    credit *c = calloc(1, sizeof *c);

    if (c == NULL)
        return AMS_ERR_NOMEM;
    c->key = ams_conf_str(ctx, "key", "");
    c->amount = ams_conf_int(ctx, "amount", 1);
    if (!ams_key_ok(c->key))
        why = "bad_key";
    else if (text != NULL)
        why = budget_parse(text, c);
    if (why == NULL && text != NULL &&
        ams_api->declare_use(ctx, "budget", c->amount) != AMS_OK)
        why = "declare_use";
    if (why != NULL) {
        credit_free(c);
        if (strcmp(why, "no_memory") == 0)
            return AMS_ERR_NOMEM;
        return strcmp(why, "declare_use") == 0 ? AMS_ERR : ams_fail(ctx, why);
    }
    *state = c;
    return AMS_OK;
}

AMS_DESTROY(credit_add_destroy)
{
    credit_free(state);
}

static ams_status budget_add(ams_ctx *ctx, const credit *c, int64_t delta,
                             int bounded)
{
    return ams_api->counter_add(
        ctx, AMS_SCOPE_ACTIVITY, c->budget_key, AMS_PERIOD_NONE, delta,
        bounded ? 0 : INT64_MIN, bounded ? c->total : INT64_MAX, NULL);
}

AMS_ENTRY(credit_add)
{
    const credit *c = ams_api->state(ctx);
    int64_t total = 0;
    int user_added = 0;
    ams_status st;

    if (c == NULL)
        return AMS_ERR;
    if (c->budget_key != NULL) {
        st = budget_add(ctx, c, c->amount, 1);
        if (st == AMS_CONFLICT)
            return ams_fail(ctx, "budget_exhausted");
        if (st != AMS_OK)
            return st;
    }
    st = ams_api->counter_add(ctx, AMS_SCOPE_USER, c->key, AMS_PERIOD_NONE,
                              c->amount, INT64_MIN, INT64_MAX, &total);
    if (st == AMS_OK)
        user_added = 1;
    else if (st == AMS_CONFLICT)
        st = ams_fail(ctx, "credit_overflow");
    if (st == AMS_OK)
        st = ams_api->grant(ctx, "credit", c->key, c->amount, NULL);
    if (st == AMS_OK)
        st = ams_api->reply_int(ctx, c->key, total);
    /* The note tells the undo whether the budget paid for this call. */
    if (st == AMS_OK)
        st = ams_api->note_set(ctx,
                               c->budget_key != NULL ? "user+budget" : "user");
    if (st == AMS_OK)
        return AMS_OK;
    if (user_added)
        ams_api->counter_add(ctx, AMS_SCOPE_USER, c->key, AMS_PERIOD_NONE,
                             -c->amount, INT64_MIN, INT64_MAX, NULL);
    if (c->budget_key != NULL)
        budget_add(ctx, c, -c->amount, 0);
    return st;
}

AMS_ENTRY(credit_add_undo)
{
    const credit *c = ams_api->state(ctx);
    const char *note;
    ams_status st = ams_api->note_get(ctx, &note);

    if (st == AMS_NOT_FOUND)
        return AMS_OK; /* this request added nothing */
    if (st != AMS_OK || c == NULL)
        return st != AMS_OK ? st : AMS_ERR;
    st = ams_api->counter_add(ctx, AMS_SCOPE_USER, c->key, AMS_PERIOD_NONE,
                              -c->amount, INT64_MIN, INT64_MAX, NULL);
    if (st == AMS_OK && strcmp(note, "user+budget") == 0)
        st = budget_add(ctx, c, -c->amount, 0);
    return st;
}
