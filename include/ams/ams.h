/*
 * ams.h -- the amsd plugin SDK.  This header is the ABI: it is the only
 * thing a rule, operation or handler plugin includes.
 *
 * A plugin is a shared object that exports one data symbol,
 * `ams_plugin_manifest` (see AMS_PLUGIN below).  The manifest names the
 * plugin, the ABI it was built against and its entries; each entry names
 * an exported function by string, and the host resolves those names with
 * dlsym when an activity file references `plugin.entry`.  Nothing is looked
 * up per request.
 *
 * The host hands the plugin a table of functions (ams_host).  The table
 * starts with its own size: a plugin built against an older minor sees a
 * prefix of a newer table and keeps working; a plugin can test whether a
 * function exists with AMS_HOST_HAS().
 *
 * ABI promise (see docs/plugin-guide.md):
 *  - Within one ABI major, fields are only ever appended to ams_host and
 *    ams_manifest (both carry their size); nothing is removed, reordered
 *    or changes meaning.  Every function below says which minor added it.
 *    ams_entry and ams_param are arrays the host walks, so their layout is
 *    frozen for the whole major: new per-entry information comes as a new
 *    manifest field.
 *  - A plugin whose major differs from the host's is refused.
 *  - A plugin built against a newer minor than the host's is refused unless
 *    its manifest says (min_minor) that it only needs what the host has.
 *  - A host reads a manifest field only when the manifest's size covers
 *    it, so a plugin of an older minor (a shorter manifest) gets the
 *    default of every newer field, and an older host never sees a newer
 *    plugin's newer fields.
 *
 * Minor 1 adds ams_manifest.entry_flags (AMS_EF_READONLY: an entry that
 * never writes to the store), set with AMS_PLUGIN_FLAGS.  A plugin built
 * against minor 0 has no such field and none of its entries is read-only,
 * which is the safe default.  An older host ignores the field: the
 * entries run as ordinary ones (under the session lock, with a commit).
 *
 * Versions: every function of ams_host sits in a section headed "minor N":
 * minor N added it, and AMS_HOST_HAS tells whether a host has it.  The
 * inline helpers at the end need only what their section says.
 *
 * Errors common to every host function (each returns AMS_ERR and logs
 * the reason under the plugin entry's name, unless said otherwise):
 *  - a request-only call (request accessors, reply_*, store calls, grant,
 *    note_*, ledger, boards) made during init or destroy;
 *  - AMS_SCOPE_USER / AMS_SCOPE_CROWD, boards, board_set without a uid
 *    (board_rank then answers AMS_NOT_FOUND);
 *  - a key or name that is not 1..200 printable ASCII without spaces;
 *  - NULL where a value is required (tag_set value, lock token, a
 *    value_cas value with len > 0), counter_add with lo > hi, lock with
 *    ttl_ms <= 0, sleep_ms outside 0..3600000, board_top with n > 10000;
 *  - unlock with the empty token a failed lock leaves: AMS_CONFLICT;
 *  - set_reason with a reason outside [a-z0-9_]{1,63}; reply_json and
 *    grant's extra with text that is not (an object of) valid JSON;
 *  - declare_use and rule_constant outside init or on the wrong kind;
 *  - conf_item past the end: AMS_NOT_FOUND; not a string: AMS_ERR;
 *  - memory exhausted: AMS_ERR_NOMEM; the store down: AMS_ERR_STORE.
 * An entry returning a status outside ams_status is treated as AMS_ERR.
 * log truncates a message at 1023 bytes.  During init, now_ms is the wall
 * clock and uid, request_id, ... are "".
 *
 * Ownership: strings and buffers the host returns are owned by the host.
 * Per-request values stay valid until the entry function returns; values
 * tied to the configuration (conf_*) stay valid until the instance's
 * destroy function has returned.  Strings passed to the host are copied.
 */
#ifndef AMS_AMS_H
#define AMS_AMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AMS_MAGIC 0x31534d41u /* "AMS1" read as little-endian bytes */
#define AMS_ABI_MAJOR 1
#define AMS_ABI_MINOR 1

/* Status of every host call and every entry function.  Non-negative values
 * are outcomes, negative values are faults. */
typedef enum ams_status {
    AMS_OK = 0,
    AMS_FAIL = 1,       /* business "no": the rule does not pass, the
                           operation declines; set a reason with ams_fail() */
    AMS_NOT_FOUND = 2,  /* the key or field does not exist */
    AMS_CONFLICT = 3,   /* a counter bound would be crossed, a version does
                           not match, a lock is held by someone else */
    AMS_ERR = -1,       /* a fault: bad argument, plugin bug; answered 500 */
    AMS_ERR_STORE = -2, /* the store is unavailable; answered 503 */
    AMS_ERR_NOMEM = -3,
} ams_status;

typedef enum ams_kind {
    AMS_RULE = 1,      /* pure condition: AMS_OK passes, AMS_FAIL does not */
    AMS_OPERATION = 2, /* side effect, optionally with an undo */
    AMS_HANDLER = 3,   /* a whole method that builds the reply */
} ams_kind;

/* Types of configured parameters (the `params` of an entry in an activity
 * file).  The host validates them against the schema before any plugin
 * code runs. */
typedef enum ams_type {
    AMS_T_INT = 1,    /* 64-bit integer; min/max bound the value */
    AMS_T_NUMBER = 2, /* double; min/max bound the value */
    AMS_T_STRING = 3, /* min/max bound the length in bytes */
    AMS_T_BOOL = 4,
    AMS_T_STRINGS = 5, /* list of strings; min/max bound the count */
    AMS_T_JSON = 6,    /* any value, handed over as JSON text (lists of
                          objects such as prize tables) */
    /* A string naming a resource the activity declares (its `resources`
     * group); the host checks the name exists and is of this kind, and
     * hands the definition over with resource_json(). */
    AMS_T_POOL = 7,   /* a prize pool */
    AMS_T_COUPON = 8, /* a coupon kind */
    AMS_T_BUDGET = 9, /* a budget */
} ams_type;

/* ams_param.flags */
#define AMS_P_REQUIRED 0x1u
#define AMS_P_MIN 0x2u /* min is a bound */
#define AMS_P_MAX 0x4u /* max is a bound */

typedef struct ams_param {
    const char *name; /* NULL ends the list */
    ams_type type;
    unsigned flags;
    double min, max;
    const char *doc;
} ams_param;

/* Scopes of store keys.  The host prefixes every key with its scope, so a
 * plugin can only reach the data of the activity and user it serves. */
typedef enum ams_scope {
    AMS_SCOPE_ACTIVITY = 1, /* shared by every user of this activity */
    AMS_SCOPE_USER = 2,     /* this user, this activity */
    AMS_SCOPE_CROWD = 3,    /* this user, across activities: crowd tags
                               imported by operators */
} ams_scope;

/* Counter periods: a periodic counter starts again from zero each period.
 * Days are counted in the activity's time zone. */
typedef enum ams_period {
    AMS_PERIOD_NONE = 0, /* one counter for the life of the activity */
    AMS_PERIOD_DAY = 1,
} ams_period;

#define AMS_TOKEN_LEN 33 /* lock token: 32 hex digits and a NUL */

typedef enum ams_log_level {
    AMS_LOG_ERROR = 0,
    AMS_LOG_WARN = 1,
    AMS_LOG_INFO = 2,
    AMS_LOG_DEBUG = 3,
} ams_log_level;

/* One call of an entry (or of init).  Opaque: use the host functions. */
typedef struct ams_ctx ams_ctx;

/* Entry functions. */
typedef ams_status (*ams_entry_fn)(ams_ctx *ctx);
/* Per-instance init: an instance is one use of an entry in an activity
 * file, with its own validated params.  *state is handed back by
 * ams_host.state() on every call and to destroy. */
typedef ams_status (*ams_init_fn)(ams_ctx *ctx, void **state);
typedef void (*ams_destroy_fn)(void *state);

typedef struct ams_entry {
    const char *name; /* referenced as `plugin.name`; NULL ends the list */
    ams_kind kind;
    const char *symbol;      /* exported ams_entry_fn */
    const char *undo;        /* operations: exported ams_entry_fn that undoes
                                a successful call, or NULL */
    const char *init;        /* exported ams_init_fn, or NULL */
    const char *destroy;     /* exported ams_destroy_fn, or NULL */
    const ams_param *params; /* schema, ended by {NULL}; NULL: no params */
    const char *example;     /* JSON object of params that must validate
                                (used by the conformance runner), or NULL */
    const char *doc;
} ams_entry;

typedef struct ams_host ams_host;

/* ams_manifest.entry_flags (minor 1), one value per entry.
 *
 * AMS_EF_READONLY: the entry only reads: it never writes to the store.
 * The host then runs a method made only of such entries (crowd, rule,
 * handler; a method with operations or limits never is) without the
 * per-user session lock and commits nothing for it, so read-only calls of
 * one user run side by side and cost no store write.  A store write from
 * a read-only entry is refused with AMS_ERR (and logged under the entry's
 * name): the declaration is a promise the host holds the plugin to.  The
 * store writes are counter_add, lock, unlock, tag_set, tag_del,
 * value_cas, board_set and grant (its ledger entry is written when the
 * method commits); everything else (reads, the reply, notes, sleep_ms,
 * log) is allowed.  Only rules and handlers can be read-only: the loader
 * refuses it on an operation, whose purpose is a side effect.
 *
 * The loader refuses a bit it does not know, naming the entry: a flag is
 * something the plugin needs the host to understand, so a plugin that
 * sets a flag of a newer minor needs min_minor of that minor. */
#define AMS_EF_READONLY 0x1u

typedef struct ams_manifest {
    uint32_t magic;     /* AMS_MAGIC */
    uint16_t abi_major; /* AMS_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor; /* AMS_ABI_MINOR the plugin was built against */
    uint16_t min_minor; /* lowest host minor the plugin works with */
    uint16_t reserved;
    uint32_t size;       /* sizeof(ams_manifest) as the plugin saw it */
    const char *name;    /* [a-z][a-z0-9_]*, equal to the file's stem */
    const char *version; /* MAJOR.MINOR.PATCH */
    const ams_entry *entries;
    /* The host stores its table here before anything else is called. */
    const ams_host **host;
    const char *doc;
    /* ---- minor 1 ---- */
    /* NULL (no entry has a flag), or entry_flags[i] holds the AMS_EF_*
     * flags of entries[i]: one value per entry, in the same order, none
     * for the {NULL} end.  Read only when `size` covers this field. */
    const uint32_t *entry_flags;
} ams_manifest;

/* The host's function table.  Check AMS_HOST_HAS before calling a function
 * added in a minor newer than the manifest's min_minor. */
struct ams_host {
    uint32_t size; /* sizeof(ams_host) as the host was built */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* ---- minor 0: logging, clock, randomness ---- */
    void (*log)(ams_ctx *ctx, ams_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* The host clock in milliseconds since the epoch.  Tests move it. */
    int64_t (*now_ms)(ams_ctx *ctx);
    /* Uniform 64-bit random number; seedable by tests. */
    uint64_t (*random_u64)(ams_ctx *ctx);

    /* ---- minor 0: the request ---- */
    /* Host-owned strings, valid until the entry returns; "" when absent. */
    const char *(*uid)(ams_ctx *ctx);
    const char *(*request_id)(ams_ctx *ctx);
    const char *(*client_ip)(ams_ctx *ctx);
    const char *(*method)(ams_ctx *ctx);
    int64_t (*activity_id)(ams_ctx *ctx);
    /* The request's "params" object as JSON text ("{}" when absent). */
    const char *(*req_json)(ams_ctx *ctx);
    /* Typed fields of the request params.  AMS_NOT_FOUND when the field is
     * absent, AMS_ERR when it has another type (integers are accepted as
     * numbers and integral numbers as integers). */
    ams_status (*req_int)(ams_ctx *ctx, const char *name, int64_t *out);
    ams_status (*req_number)(ams_ctx *ctx, const char *name, double *out);
    ams_status (*req_str)(ams_ctx *ctx, const char *name, const char **out);

    /* ---- minor 0: configured params (validated against the schema) ---- */
    /* Same conventions as req_*; strings live as long as the instance. */
    ams_status (*conf_int)(ams_ctx *ctx, const char *name, int64_t *out);
    ams_status (*conf_number)(ams_ctx *ctx, const char *name, double *out);
    ams_status (*conf_str)(ams_ctx *ctx, const char *name, const char **out);
    ams_status (*conf_bool)(ams_ctx *ctx, const char *name, int *out);
    /* Number of strings in an AMS_T_STRINGS param (0 when absent) and the
     * i-th one. */
    size_t (*conf_count)(ams_ctx *ctx, const char *name);
    ams_status (*conf_item)(ams_ctx *ctx, const char *name, size_t i,
                            const char **out);
    /* Any param as JSON text (for AMS_T_JSON); NULL when absent. */
    const char *(*conf_json)(ams_ctx *ctx, const char *name);
    /* The state init stored, or NULL. */
    void *(*state)(ams_ctx *ctx);

    /* ---- minor 0: the answer ---- */
    /* The machine-readable reason of an AMS_FAIL ([a-z0-9_], <= 63 chars). */
    ams_status (*set_reason)(ams_ctx *ctx, const char *reason);
    /* Members of the reply's "data" object; a later call with the same key
     * replaces the value.  json must be valid JSON text (AMS_ERR if not). */
    ams_status (*reply_int)(ams_ctx *ctx, const char *key, int64_t v);
    ams_status (*reply_number)(ams_ctx *ctx, const char *key, double v);
    ams_status (*reply_str)(ams_ctx *ctx, const char *key, const char *v);
    ams_status (*reply_json)(ams_ctx *ctx, const char *key, const char *json);

    /* ---- minor 0: store services ----
     * Keys are [!-~]{1,200} (printable ASCII, no space).  Periods and TTLs
     * are computed on the host clock.  Every call may return AMS_ERR_STORE;
     * a plugin should return it unchanged so the client sees 503. */

    /* Atomically add delta to a counter if the result stays within
     * [lo, hi]; otherwise change nothing and return AMS_CONFLICT.  *out (may
     * be NULL) receives the value after the call (the unchanged value on
     * AMS_CONFLICT).  An absent counter is 0. */
    ams_status (*counter_add)(ams_ctx *ctx, ams_scope scope, const char *key,
                              ams_period period, int64_t delta, int64_t lo,
                              int64_t hi, int64_t *out);
    ams_status (*counter_get)(ams_ctx *ctx, ams_scope scope, const char *key,
                              ams_period period, int64_t *out);

    /* Take a lock for ttl_ms; token receives a random token needed to
     * release it ("" when the lock was not taken).  AMS_CONFLICT when
     * someone else holds it.  Locks still
     * held when the request ends are released by the host. */
    ams_status (*lock)(ams_ctx *ctx, ams_scope scope, const char *key,
                       int64_t ttl_ms, char token[AMS_TOKEN_LEN]);
    /* AMS_CONFLICT when the token does not hold the lock (expired, or
     * taken by another since). */
    ams_status (*unlock)(ams_ctx *ctx, ams_scope scope, const char *key,
                         const char *token);

    /* Tags: small string values per user (AMS_SCOPE_USER, AMS_SCOPE_CROWD)
     * or per activity.  ttl_ms <= 0: no expiry. */
    ams_status (*tag_set)(ams_ctx *ctx, ams_scope scope, const char *name,
                          const char *value, int64_t ttl_ms);
    /* *out is host-owned, valid until the entry returns. */
    ams_status (*tag_get)(ams_ctx *ctx, ams_scope scope, const char *name,
                          const char **out);
    ams_status (*tag_del)(ams_ctx *ctx, ams_scope scope, const char *name);

    /* Versioned values with compare-and-set (the optimistic lock).  An
     * absent value has version 0.  value_get: AMS_NOT_FOUND when absent;
     * *val is host-owned, valid until the entry returns. */
    ams_status (*value_get)(ams_ctx *ctx, ams_scope scope, const char *key,
                            const char **val, size_t *len, uint64_t *version);
    /* Store val if the current version is `expect`; *version (may be NULL)
     * receives the new version.  AMS_CONFLICT when the version differs. */
    ams_status (*value_cas)(ams_ctx *ctx, ams_scope scope, const char *key,
                            uint64_t expect, const char *val, size_t len,
                            int64_t ttl_ms, uint64_t *version);

    /* ---- minor 0: waiting ---- */
    /* Let ms pass on the host clock without blocking the worker: the
     * request yields and other requests run meanwhile. */
    ams_status (*sleep_ms)(ams_ctx *ctx, int64_t ms);

    /* ---- minor 0: resources, grants, the ledger ---- */
    /* The definition of the resource that param `param` (an AMS_T_POOL,
     * AMS_T_COUPON or AMS_T_BUDGET param) names, as a JSON object, e.g.
     *   pool:   {"name":"lottery","stock":N,"prizes":[{"name":"phone",
     *            "stock":1,"weight":1.0,"value":5000},...]}
     *   coupon: {"name":"c20","value":20,"expire_days":30,"stock":N}
     *   budget: {"name":"credit","total":100000}
     * ("stock" of a pool and a coupon kind is optional).  Host-owned,
     * lives as long as the instance.  NULL when absent. */
    const char *(*resource_json)(ams_ctx *ctx, const char *param);
    /* Init only: declare that every call of this instance takes up to
     * `per_call` units of the resource named by param.  The config checker
     * uses it to refuse an activity that promises more than it has (a
     * method capped at 200 calls that grants 1 each from a pool of 100). */
    ams_status (*declare_use)(ams_ctx *ctx, const char *param,
                              int64_t per_call);
    /* Init only, rules: this instance always passes (1) or never passes
     * (0), whatever the request (an empty allow list, a chance of 0).  The
     * checker warns about crowds and rules that can never pass. */
    ams_status (*rule_constant)(ams_ctx *ctx, int passes);
    /* Record a grant of this request in the user's ledger: kind ("coupon",
     * "prize", "credit", ...), item (coupon kind, prize name), amount, and
     * extra, a JSON object or NULL.  Written when the method succeeds,
     * dropped when it fails; the answer's data.grants lists them. */
    ams_status (*grant)(ams_ctx *ctx, const char *kind, const char *item,
                        int64_t amount, const char *extra_json);
    /* The user's ledger in this activity, oldest first, as a JSON array of
     * {"ts":ms,"method":..,"request_id":..,"kind":..,"item":..,
     * "amount":..,"extra":{..}}.  Host-owned, valid until the entry
     * returns. */
    ams_status (*ledger_json)(ams_ctx *ctx, const char **out);

    /* ---- minor 0: leaderboards ----
     * A board ranks users of this activity by score, highest first; ties
     * go to whoever reached the score first. */
    /* Set the current user's score on board. */
    ams_status (*board_set)(ams_ctx *ctx, const char *board, int64_t score);
    /* The top n as a JSON array [{"rank":1,"uid":..,"score":..},...];
     * host-owned, valid until the entry returns. */
    ams_status (*board_top)(ams_ctx *ctx, const char *board, size_t n,
                            const char **out);
    /* The current user's 1-based rank and score; AMS_NOT_FOUND when the
     * user is not on the board. */
    ams_status (*board_rank)(ams_ctx *ctx, const char *board, int64_t *rank,
                             int64_t *score);

    /* ---- minor 0: per-request notes ----
     * A short text an entry leaves for itself within one request, e.g. an
     * operation noting which prize it drew so its undo can give that one
     * back.  One note per instance and request; the host copies it and
     * frees it when the request ends. */
    ams_status (*note_set)(ams_ctx *ctx, const char *text);
    /* *out is host-owned, valid until the entry returns; AMS_NOT_FOUND
     * when this instance left no note in this request. */
    ams_status (*note_get)(ams_ctx *ctx, const char **out);

    /* ---- minor 0: the activity ---- */
    /* The activity's time zone as minutes east of UTC (its `timezone`):
     * the zone its days, limits and per-day counters are counted in.
     * Works in init too. */
    int (*tz_offset_min)(ams_ctx *ctx);
};

/* True when the host table has `field`. */
#define AMS_HOST_HAS(host, field)                                             \
    ((host) != NULL &&                                                        \
     (host)->size >= offsetof(ams_host, field) + sizeof((host)->field))

/* ---- Writing a plugin ----
 *
 *   static const ams_param min_params[] = {
 *       {"min", AMS_T_INT, AMS_P_REQUIRED, 0, 0, "lowest amount"}, {NULL}};
 *   static const ams_entry entries[] = {
 *       {"at_least", AMS_RULE, "at_least", .params = min_params}, {NULL}};
 *   AMS_PLUGIN("mine", "1.0.0", entries);
 *
 *   AMS_ENTRY(at_least) { ... ams_api->req_int(ctx, ...) ... }
 *
 * at_least only reads, so it may say so (minor 1, see AMS_EF_READONLY):
 *   static const uint32_t flags[] = {AMS_EF_READONLY};
 *   AMS_PLUGIN_FLAGS("mine", "1.0.0", entries, flags);
 */
#define AMS_EXPORT __attribute__((visibility("default")))

/* Define an exported entry, undo, init or destroy function (declaring it
 * first, so plugins build cleanly with -Wmissing-prototypes):
 *   AMS_ENTRY(my_rule) { ... return AMS_OK; }
 *   AMS_INIT(my_init) { *state = ...; return AMS_OK; }   (ctx, state)
 *   AMS_DESTROY(my_destroy) { free(state); }             (state) */
#define AMS_ENTRY(fn)                                                         \
    AMS_EXPORT ams_status fn(ams_ctx *ctx);                                   \
    AMS_EXPORT ams_status fn(ams_ctx *ctx)
#define AMS_INIT(fn)                                                          \
    AMS_EXPORT ams_status fn(ams_ctx *ctx, void **state);                     \
    AMS_EXPORT ams_status fn(ams_ctx *ctx, void **state)
#define AMS_DESTROY(fn)                                                       \
    AMS_EXPORT void fn(void *state);                                          \
    AMS_EXPORT void fn(void *state)

/* The plugin's copy of the host table; set by the host at load. */
extern const ams_host *ams_api __attribute__((visibility("hidden")));

/* The manifest itself; use the AMS_PLUGIN* macros below. */
#define AMS_MANIFEST_(NAME, VERSION, ENTRIES, FLAGS, MIN_MINOR)               \
    const ams_host *ams_api __attribute__((visibility("hidden")));            \
    AMS_EXPORT const ams_manifest ams_plugin_manifest = {                     \
        AMS_MAGIC,                                                            \
        AMS_ABI_MAJOR,                                                        \
        AMS_ABI_MINOR,                                                        \
        (MIN_MINOR),                                                          \
        0,                                                                    \
        sizeof(ams_manifest),                                                 \
        (NAME),                                                               \
        (VERSION),                                                            \
        (ENTRIES),                                                            \
        &ams_api,                                                             \
        NULL,                                                                 \
        (FLAGS)}

/* Like AMS_PLUGIN, for a plugin that works with hosts down to minor
 * MIN_MINOR: it must check AMS_HOST_HAS before calling anything newer. */
#define AMS_PLUGIN_MIN(NAME, VERSION, ENTRIES, MIN_MINOR)                     \
    AMS_MANIFEST_(NAME, VERSION, ENTRIES, NULL, MIN_MINOR)

/* The host reads FLAGS[i] for every entry, and cannot tell how long the
 * array is: a FLAGS shorter than ENTRIES would be read past its end.  So
 * both must be the arrays themselves, and their lengths are compared
 * when the plugin is built. */
#ifdef __cplusplus
#define AMS_FLAGS_MATCH_(ENTRIES, FLAGS)                                      \
    static_assert(sizeof(FLAGS) / sizeof((FLAGS)[0]) + 1 ==                   \
                      sizeof(ENTRIES) / sizeof((ENTRIES)[0]),                 \
                  "AMS_PLUGIN_FLAGS: FLAGS needs one value per entry")
#else
#define AMS_FLAGS_MATCH_(ENTRIES, FLAGS)                                      \
    _Static_assert(sizeof(FLAGS) / sizeof((FLAGS)[0]) + 1 ==                  \
                       sizeof(ENTRIES) / sizeof((ENTRIES)[0]),                \
                   "AMS_PLUGIN_FLAGS: FLAGS needs one value per entry of "    \
                   "ENTRIES (none for the {NULL} end)")
#endif

/* Like AMS_PLUGIN, with entry flags (minor 1): FLAGS is an array of
 * uint32_t, one AMS_EF_* combination per entry, in the order of ENTRIES:
 *   static const ams_entry entries[] = {
 *       {"get", AMS_HANDLER, ...}, {"add", AMS_OPERATION, ...},
 *       AMS_ENTRIES_END};
 *   static const uint32_t flags[] = {AMS_EF_READONLY, 0};
 *   AMS_PLUGIN_FLAGS("mine", "1.0.0", entries, flags);
 * It sets min_minor to the header's minor, as AMS_PLUGIN does. */
#define AMS_PLUGIN_FLAGS(NAME, VERSION, ENTRIES, FLAGS)                       \
    AMS_PLUGIN_FLAGS_MIN(NAME, VERSION, ENTRIES, FLAGS, AMS_ABI_MINOR)

/* AMS_PLUGIN_FLAGS for hosts down to minor MIN_MINOR.  With MIN_MINOR 0
 * the plugin also loads on a minor 0 host, which does not know
 * entry_flags and runs its entries as ordinary, not read-only ones. */
#define AMS_PLUGIN_FLAGS_MIN(NAME, VERSION, ENTRIES, FLAGS, MIN_MINOR)        \
    AMS_FLAGS_MATCH_(ENTRIES, FLAGS);                                         \
    AMS_MANIFEST_(NAME, VERSION, ENTRIES, FLAGS, MIN_MINOR)

/* Ends an ams_param or ams_entry array. */
#define AMS_PARAMS_END                                                        \
    {                                                                         \
        NULL, 0, 0, 0, 0, NULL                                                \
    }
#define AMS_ENTRIES_END                                                       \
    {                                                                         \
        NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL                     \
    }

/* The manifest of a plugin that needs a host of the header's minor (its
 * min_minor) and declares no entry flags. */
#define AMS_PLUGIN(NAME, VERSION, ENTRIES)                                    \
    AMS_MANIFEST_(NAME, VERSION, ENTRIES, NULL, AMS_ABI_MINOR)

/* Store keys and the names plugins make them from are 1..AMS_KEY_MAX
 * bytes of visible ASCII ('!'..'~': no space, no control byte).  Check a
 * configured name in init with ams_key_ok so that a bad one is a load
 * error at its file:line, not a fault of every request. */
#define AMS_KEY_MAX 200

static inline int ams_key_ok(const char *k)
{
    size_t n = 0;

    if (k == NULL)
        return 0;
    while (k[n] >= '!' && k[n] <= '~')
        if (++n > AMS_KEY_MAX)
            return 0;
    return k[n] == '\0' && n > 0;
}

/* Fail with a reason: `return ams_fail(ctx, "too_low");` */
static inline ams_status ams_fail(ams_ctx *ctx, const char *reason)
{
    ams_status st = ams_api->set_reason(ctx, reason);
    return st == AMS_OK ? AMS_FAIL : st;
}

/* A configured int, or def when absent. */
static inline int64_t ams_conf_int(ams_ctx *ctx, const char *name, int64_t def)
{
    int64_t v;
    return ams_api->conf_int(ctx, name, &v) == AMS_OK ? v : def;
}

/* A configured string, or def when absent. */
static inline const char *ams_conf_str(ams_ctx *ctx, const char *name,
                                       const char *def)
{
    const char *v;
    return ams_api->conf_str(ctx, name, &v) == AMS_OK ? v : def;
}

/* A configured number (integers too), or def when absent. */
static inline double ams_conf_number(ams_ctx *ctx, const char *name,
                                     double def)
{
    double v;
    return ams_api->conf_number(ctx, name, &v) == AMS_OK ? v : def;
}

/* A configured bool, or def when absent. */
static inline int ams_conf_bool(ams_ctx *ctx, const char *name, int def)
{
    int v;
    return ams_api->conf_bool(ctx, name, &v) == AMS_OK ? v : def;
}

/* Request params with a default for absent or mistyped fields. */
static inline int64_t ams_req_int(ams_ctx *ctx, const char *name, int64_t def)
{
    int64_t v;
    return ams_api->req_int(ctx, name, &v) == AMS_OK ? v : def;
}
static inline double ams_req_number(ams_ctx *ctx, const char *name, double def)
{
    double v;
    return ams_api->req_number(ctx, name, &v) == AMS_OK ? v : def;
}
static inline const char *ams_req_str(ams_ctx *ctx, const char *name,
                                      const char *def)
{
    const char *v;
    return ams_api->req_str(ctx, name, &v) == AMS_OK ? v : def;
}

/* A request field the entry cannot do without: AMS_OK with *out set, or
 * the failure to return as is (AMS_FAIL with `reason`):
 *   if ((st = ams_need_int(ctx, "amount", &amount, "missing_amount")))
 *       return st; */
static inline ams_status ams_need_int(ams_ctx *ctx, const char *name,
                                      int64_t *out, const char *reason)
{
    return ams_api->req_int(ctx, name, out) == AMS_OK ? AMS_OK
                                                      : ams_fail(ctx, reason);
}
static inline ams_status ams_need_number(ams_ctx *ctx, const char *name,
                                         double *out, const char *reason)
{
    return ams_api->req_number(ctx, name, out) == AMS_OK
               ? AMS_OK
               : ams_fail(ctx, reason);
}
static inline ams_status ams_need_str(ams_ctx *ctx, const char *name,
                                      const char **out, const char *reason)
{
    return ams_api->req_str(ctx, name, out) == AMS_OK ? AMS_OK
                                                      : ams_fail(ctx, reason);
}

#ifdef __cplusplus
}
#endif
#endif /* AMS_AMS_H */
