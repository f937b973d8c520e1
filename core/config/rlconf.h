/*
 * rlconf.h -- rate limits as configuration: the `rate_limits` lists of
 * amsd.conf (every method), of an activity (its methods) and of a method,
 * parsed and bounded here; counted by core/data/ratelimit.c.
 *
 *   rate_limits = (
 *     { key = "uid"; rate = "5/s"; burst = 10; },
 *     { name = "ip_soft"; key = "ip"; rate = "100/s"; burst = 200;
 *       shadow = true; }
 *   );
 *
 * key names what one bucket is counted for: "uid", "ip", "method" (one
 * activity's method), "activity" (all methods of one activity), "app"
 * (the signed caller).  rate = "N/UNIT" or "N/KUNIT" (UNIT s, m, h, d:
 * "100/10s"), or "off" to drop a limit of that name inherited from
 * further out.  burst: requests that may come at once (default N).  A
 * limit's name defaults to its key; a name declared again closer in (an
 * activity over amsd.conf, a method over its activity) replaces the one
 * further out, and its buckets are that scope's own.
 */
#ifndef AMS_CORE_RLCONF_H
#define AMS_CORE_RLCONF_H

#include "errs.h"

#include <cjson/cJSON.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rl_keykind {
    RL_KEY_UID,
    RL_KEY_IP,
    RL_KEY_METHOD,
    RL_KEY_ACTIVITY,
    RL_KEY_APP,
    RL_KEY_COUNT
} rl_keykind;

/* Limits in one list, at most. */
#define RL_LIST_MAX 8
/* Host clocks of workers and nodes differ by a little (and one process's
 * host clock, read in whole ms, can step back by one): without slack the
 * last unit of a burst would be refused to a request seen a moment
 * "earlier" than the one before it.  Each bucket's tolerance gets
 * min(t_us - 1, RL_JITTER_US) more, which stays under one interval: a
 * burst still admits exactly `burst` at once, and an attempt is at most
 * that much early. */
#define RL_JITTER_US 10000
#define RL_NAME_MAX 32
/* "ID.METHOD:NAME" */
#define RL_LABEL_MAX 160

typedef struct rl_limit {
    char name[RL_NAME_MAX];
    /* What metrics and the 429 message call it: NAME (amsd.conf),
     * ID:NAME (an activity's), ID.METHOD:NAME (a method's). */
    char label[RL_LABEL_MAX];
    rl_keykind key;
    int off;    /* rate = "off": only drops an inherited limit */
    int shadow; /* counts and reports, never refuses */
    int64_t count, per_ms, burst;
    /* GCRA: emission interval per_ms * 1000 / count and burst tolerance
     * (burst - 1) * t_us + the clock allowance (RL_JITTER_US), in
     * microseconds. */
    int64_t t_us, tau_us;
    int line;
} rl_limit;

typedef struct rl_set {
    size_t n;
    rl_limit v[RL_LIST_MAX];
} rl_set;

/* The name of a key kind ("uid", ...). */
const char *rlconf_key_name(rl_keykind k);

/* Parse list (a `rate_limits` setting; NULL: none) of file into *out
 * (emptied first).  label_prefix is "" (amsd.conf), "ID:" or
 * "ID.METHOD:".  Every problem goes to e as file:line; returns -1 when
 * there was one. */
int rlconf_parse(const config_setting_t *list, const char *file,
                 const char *label_prefix, rl_set *out, errs *e);

/* "5/s" -> count 5, per_ms 1000; -1 with *why set when it is not a rate
 * (or faster than one a microsecond). */
int rlconf_rate(const char *s, int64_t *count, int64_t *per_ms,
                const char **why);

/* The set as JSON (reload: the master's parse handed to the workers;
 * caller deletes) and back (0, or -1 leaving *out empty). */
cJSON *rlconf_to_json(const rl_set *s);
int rlconf_from_json(const cJSON *j, rl_set *out);

#endif
