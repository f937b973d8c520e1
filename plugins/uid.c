/*
 * uid.c -- rules on the request's uid: allow and deny lists.
 *
 *   uid.allow  rule: passes when the uid is one of `uids` (list of
 *              strings, required); fails with not_listed.  An empty list
 *              never passes.
 *   uid.deny   rule: passes when the uid is not one of `uids`; fails with
 *              denied.  An empty list always passes.
 *
 * Init sorts the list once (the strings are the host's and live as long
 * as the instance), so each call is a binary search.  A request without a
 * uid is checked as the uid "".
 */
#include <ams/ams.h>

#include <stdlib.h>
#include <string.h>

static const ams_param list_params[] = {
    {"uids", AMS_T_STRINGS, AMS_P_REQUIRED, 0, 0, "the uids"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"allow", AMS_RULE, "uid_allow", NULL, "uid_allow_init", "uid_destroy",
     list_params, "{\"uids\":[\"u1001\",\"u1002\"]}", "uid in the list"},
    {"deny", AMS_RULE, "uid_deny", NULL, "uid_deny_init", "uid_destroy",
     list_params, "{\"uids\":[\"u666\"]}", "uid not in the list"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

/* allow and deny read only the uid and their configured list. */
static const uint32_t flags[] = {AMS_EF_READONLY, AMS_EF_READONLY};

AMS_PLUGIN_FLAGS("uid", "1.0.0", entries, flags);

typedef struct uid_list {
    size_t n;
    const char *uids[]; /* sorted by strcmp */
} uid_list;

static int cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* always: what the rule does with an empty list (allow 0, deny 1). */
static ams_status list_init(ams_ctx *ctx, void **state, int always)
{
    size_t n = ams_api->conf_count(ctx, "uids");
    uid_list *l = malloc(sizeof *l + n * sizeof l->uids[0]);

    if (l == NULL)
        return AMS_ERR_NOMEM;
    for (l->n = 0; l->n < n; l->n++)
        if (ams_api->conf_item(ctx, "uids", l->n, &l->uids[l->n]) != AMS_OK) {
            free(l);
            return AMS_ERR;
        }
    qsort(l->uids, n, sizeof l->uids[0], cmp);
    if (n == 0)
        ams_api->rule_constant(ctx, always);
    *state = l;
    return AMS_OK;
}

static int listed(ams_ctx *ctx)
{
    const uid_list *l = ams_api->state(ctx);
    const char *uid = ams_api->uid(ctx);
    return bsearch(&uid, l->uids, l->n, sizeof l->uids[0], cmp) != NULL;
}

AMS_INIT(uid_allow_init)
{
    return list_init(ctx, state, 0);
}

AMS_INIT(uid_deny_init)
{
    return list_init(ctx, state, 1);
}

AMS_DESTROY(uid_destroy)
{
    free(state);
}

AMS_ENTRY(uid_allow)
{
    return listed(ctx) ? AMS_OK : ams_fail(ctx, "not_listed");
}

AMS_ENTRY(uid_deny)
{
    return listed(ctx) ? ams_fail(ctx, "denied") : AMS_OK;
}
