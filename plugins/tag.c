/*
 * tag.c -- tags (small per-user or per-activity strings) as a rule and an
 * operation.
 *
 *   tag.match  rule: passes when the tag `tag` in `scope` satisfies `op`.
 *     tag     required: the tag's name.
 *     scope   crowd (default: tags operators import per user, shared by
 *             every activity), user (this user in this activity) or
 *             activity (one value for the whole activity).
 *     op      exists (default), equals (the value is `value`), in (the
 *             value is one of `values`) or range (the value, read as a
 *             number, is within [min, max]; either bound may be left out).
 *     A user-scoped tag of a request without a uid is missing.
 *     Fails: tag_missing (no such tag), tag_mismatch (the tag is there
 *     but fails the op; for range also when it is not a number).
 *     Init refuses: bad_scope, unknown_op, missing_param (the op's value,
 *     values or bounds are absent), unused_param (value, values, min or
 *     max given to an op that ignores them: usually a forgotten op).
 *     Never passes (checker warning): in with no values, range with
 *     min > max.
 *
 *   tag.set  operation: sets `tag` to `value` (default "1") in `scope`
 *     (user by default, crowd, activity), for ttl_ms (0: no expiry).
 *     Undo puts back the value the tag had before the call, or deletes the
 *     tag when it had none.  The previous value's expiry is not visible
 *     through the SDK, so a restored value does not expire.
 *     Init refuses: bad_scope.
 */
#include <ams/ams.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const ams_param match_params[] = {
    {"tag", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "tag name"},
    {"scope", AMS_T_STRING, 0, 0, 0, "crowd (default), user or activity"},
    {"op", AMS_T_STRING, 0, 0, 0, "exists (default), equals, in or range"},
    {"value", AMS_T_STRING, 0, 0, 0, "equals: the value"},
    {"values", AMS_T_STRINGS, 0, 0, 0, "in: the accepted values"},
    {"min", AMS_T_NUMBER, 0, 0, 0, "range: lowest value (inclusive)"},
    {"max", AMS_T_NUMBER, 0, 0, 0, "range: highest value (inclusive)"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_param set_params[] = {
    {"tag", AMS_T_STRING, AMS_P_REQUIRED | AMS_P_MIN | AMS_P_MAX, 1, 100,
     "tag name"},
    {"value", AMS_T_STRING, AMS_P_MAX, 0, 1024, "value (default \"1\")"},
    {"scope", AMS_T_STRING, 0, 0, 0, "user (default), crowd or activity"},
    {"ttl_ms", AMS_T_INT, AMS_P_MIN, 0, 0, "lifetime, 0 (default): forever"},
    {NULL, 0, 0, 0, 0, NULL}};

static const ams_entry entries[] = {
    {"match", AMS_RULE, "tag_match", NULL, "tag_match_init",
     "tag_match_destroy", match_params,
     "{\"tag\":\"level\",\"scope\":\"crowd\",\"op\":\"in\","
     "\"values\":[\"gold\",\"vip\"]}",
     "test a tag"},
    {"set", AMS_OPERATION, "tag_set", "tag_set_undo", "tag_set_init", NULL,
     set_params, "{\"tag\":\"joined\",\"value\":\"1\",\"ttl_ms\":86400000}",
     "set a tag"},
    {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

/* tag.match only tag_gets; tag.set writes (tag_set, tag_del). */
static const uint32_t flags[] = {AMS_EF_READONLY, 0};

AMS_PLUGIN_FLAGS("tag", "1.0.0", entries, flags);

enum { OP_EXISTS, OP_EQUALS, OP_IN, OP_RANGE };

typedef struct match {
    ams_scope scope;
    int op;
    double min, max; /* range; infinite when absent */
} match;

/* 0 when name is not a scope. */
static ams_scope scope_named(const char *name)
{
    return strcmp(name, "crowd") == 0      ? AMS_SCOPE_CROWD
           : strcmp(name, "user") == 0     ? AMS_SCOPE_USER
           : strcmp(name, "activity") == 0 ? AMS_SCOPE_ACTIVITY
                                           : (ams_scope)0;
}

static int has(ams_ctx *ctx, const char *name)
{
    return ams_api->conf_json(ctx, name) != NULL;
}

AMS_INIT(tag_match_init)
{
    static const char *const ops[] = {"exists", "equals", "in", "range"};
    const char *op = ams_conf_str(ctx, "op", "exists");
    match m = {scope_named(ams_conf_str(ctx, "scope", "crowd")), -1, -INFINITY,
               INFINITY};
    /* Which of value, values, min|max each op needs (bit 0, 1, 2). */
    static const unsigned needs[] = {0, 1, 2, 4};
    unsigned given = (unsigned)has(ctx, "value") |
                     (unsigned)has(ctx, "values") << 1 |
                     (unsigned)(has(ctx, "min") || has(ctx, "max")) << 2;

    if (m.scope == 0)
        return ams_fail(ctx, "bad_scope");
    for (int i = 0; i < 4; i++)
        if (strcmp(op, ops[i]) == 0)
            m.op = i;
    if (m.op < 0)
        return ams_fail(ctx, "unknown_op");
    if ((given & needs[m.op]) != needs[m.op])
        return ams_fail(ctx, "missing_param");
    if (given & ~needs[m.op])
        return ams_fail(ctx, "unused_param");
    ams_api->conf_number(ctx, "min", &m.min);
    ams_api->conf_number(ctx, "max", &m.max);
    if ((m.op == OP_IN && ams_api->conf_count(ctx, "values") == 0) ||
        (m.op == OP_RANGE && m.min > m.max))
        ams_api->rule_constant(ctx, 0);
    if ((*state = malloc(sizeof m)) == NULL)
        return AMS_ERR_NOMEM;
    *(match *)*state = m;
    return AMS_OK;
}

AMS_DESTROY(tag_match_destroy)
{
    free(state);
}

/* 1 when s is a whole finite number (into *out), else 0. */
static int as_number(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(*out);
}

AMS_ENTRY(tag_match)
{
    const match *m = ams_api->state(ctx);
    const char *v = NULL, *want = NULL;
    double x;
    ams_status st;

    if (m->scope != AMS_SCOPE_ACTIVITY && ams_api->uid(ctx)[0] == '\0')
        return ams_fail(ctx, "tag_missing");
    st = ams_api->tag_get(ctx, m->scope, ams_conf_str(ctx, "tag", ""), &v);
    if (st == AMS_NOT_FOUND)
        return ams_fail(ctx, "tag_missing");
    if (st != AMS_OK)
        return st;
    switch (m->op) {
    case OP_EQUALS:
        if (strcmp(v, ams_conf_str(ctx, "value", "")) == 0)
            return AMS_OK;
        break;
    case OP_IN:
        for (size_t i = 0;
             ams_api->conf_item(ctx, "values", i, &want) == AMS_OK; i++)
            if (strcmp(v, want) == 0)
                return AMS_OK;
        break;
    case OP_RANGE:
        if (as_number(v, &x) && x >= m->min && x <= m->max)
            return AMS_OK;
        break;
    default:
        return AMS_OK;
    }
    return ams_fail(ctx, "tag_mismatch");
}

/* ---- tag.set ---- */

static ams_scope set_scope(ams_ctx *ctx)
{
    return scope_named(ams_conf_str(ctx, "scope", "user"));
}

AMS_INIT(tag_set_init)
{
    *state = NULL; /* the scope is read per call: nothing to keep */
    return set_scope(ctx) == 0 ? ams_fail(ctx, "bad_scope") : AMS_OK;
}

/* The note keeps what undo must put back: "=" and the old value, or "-"
 * when the tag was absent.  It is written before the tag, so a call that
 * could not leave a note changes nothing. */
AMS_ENTRY(tag_set)
{
    const char *name = ams_conf_str(ctx, "tag", ""), *old = NULL;
    char *note;
    ams_status st = ams_api->tag_get(ctx, set_scope(ctx), name, &old);

    if (st != AMS_OK && st != AMS_NOT_FOUND)
        return st;
    if ((note = malloc(old ? strlen(old) + 2 : 2)) == NULL)
        return AMS_ERR_NOMEM;
    note[0] = old ? '=' : '-';
    strcpy(note + 1, old ? old : "");
    st = ams_api->note_set(ctx, note);
    free(note);
    if (st != AMS_OK)
        return st;
    return ams_api->tag_set(ctx, set_scope(ctx), name,
                            ams_conf_str(ctx, "value", "1"),
                            ams_conf_int(ctx, "ttl_ms", 0));
}

AMS_ENTRY(tag_set_undo)
{
    const char *name = ams_conf_str(ctx, "tag", ""), *note = NULL;
    ams_status st = ams_api->note_get(ctx, &note);

    if (st != AMS_OK) {
        ams_api->log(ctx, AMS_LOG_ERROR,
                     "undo without a note of this request");
        return AMS_ERR;
    }
    if (note[0] == '=')
        return ams_api->tag_set(ctx, set_scope(ctx), name, note + 1, 0);
    st = ams_api->tag_del(ctx, set_scope(ctx), name);
    return st == AMS_NOT_FOUND ? AMS_OK : st;
}
