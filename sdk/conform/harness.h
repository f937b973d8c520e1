/*
 * harness.h -- the harness host a check child loads a plugin into.
 *
 * It is the server's own code path without the server: the real loader
 * (plugin_load), the real host table (services.c) with a few functions
 * wrapped to watch the plugin, the real param validator (schema.c), the
 * real interceptor chain (pipeline_run) and an in-memory store ("mem:"),
 * with the clock fixed by the check and the host's random source seeded
 * by it.  Every plugin call runs under the call budget: a call that
 * overruns it ends the child with SIGALRM, which the runner reports as a
 * timeout.
 */
#ifndef AMS_CONFORM_HARNESS_H
#define AMS_CONFORM_HARNESS_H

#include "conform.h"

#include "activity.h"
#include "pipeline.h"
#include "plugin.h"
#include "services.h"
#include "store.h"

#include <cjson/cJSON.h>

/* Fixed host clocks the checks use (UTC):
 *   HX_T_MON_EARLY  Mon 2026-01-05 02:00:00
 *   HX_T_MON_LATE   Mon 2026-01-05 10:30:00
 *   HX_T_FRI        Fri 2026-01-09 15:00:00
 *   HX_T_SAT_NIGHT  Sat 2026-01-10 23:59:30 */
#define HX_T_MON_EARLY 1767578400000LL
#define HX_T_MON_LATE 1767609000000LL
#define HX_T_FRI 1767970800000LL
#define HX_T_SAT_NIGHT 1768089570000LL

/* Resources the harness declares for resource-typed params, and their
 * stock in units (what bounds the grants of an operation):
 *   pool    two prizes, stock 3 and 5 (weights 1 and 2): 8 units
 *   coupon  value 20, 30 days, stock 4: 4 units
 *   budget  total 100: 100 units */
#define HX_POOL_STOCK 8
#define HX_COUPON_STOCK 4
#define HX_BUDGET_TOTAL 100

typedef struct hx {
    ck *c;
    plugin *p;
    store *st;
    activity *act;
    instance *insts; /* every instance made (next_all) */
    /* The method hx_pipeline() runs. */
    method meth;
    instance *meth_ops[1];
} hx;

/* Load the plugin (the real loader, expected name = the file stem) into
 * a fresh harness with an empty store.  path NULL: the plugin under test.
 * Returns -1 with the loader's messages in err. */
int hx_open(hx *h, ck *c, const char *path, char *err, size_t errlen);
/* Destroy every instance, unload the plugin, close the store. */
void hx_close(hx *h);
/* Replace the store with a new, empty one. */
void hx_reset_store(hx *h);

/* The plugin's entry named c->entry (or name), or NULL. */
const plugin_entry *hx_entry(hx *h, const char *name);

/* The params the checks use for an entry: --params, else the manifest's
 * example, else {} when no param is required.  Caller owns the result;
 * NULL with the reason in why. */
cJSON *hx_example(const conform_opts *o, const plugin *p, const ams_entry *e,
                  char *why, size_t whylen);
/* The request params the checks send to an entry: --request, else {}.
 * Caller owns. */
cJSON *hx_request(const conform_opts *o, const plugin *p, const ams_entry *e);

/* Declare (once) the resources that params name, per HX_* above. */
void hx_declare(hx *h, const ams_entry *e, const cJSON *params);
/* Units of stock of the resource a resource-typed param names. */
int64_t hx_stock(ams_type t);

enum { HX_OK = 0, HX_REJECTED = 1, HX_INIT_REFUSED = 2, HX_INIT_FAULT = 3 };

/* Validate params as the loader does (schema, then declared resources)
 * and, only when they are valid, run the entry's init.  Returns HX_*;
 * *out is the instance on HX_OK (owned by h); why gets the validator's
 * messages or init's reason. */
int hx_instance(hx *h, const plugin_entry *pe, const cJSON *params,
                instance **out, char *why, size_t whylen);

/* How many times the harness called into plugin code (init, entries,
 * undos, destroys).  For "rejected before any plugin code ran". */
extern unsigned long hx_plugin_calls;

/* Request fields the plugin asked for with req_int/req_number/req_str
 * since hx_fields_reset(); and whether it read req_json. */
void hx_fields_reset(void);
size_t hx_fields_count(void);
const char *hx_field(size_t i);
int hx_read_req_json(void);

/* Calls of the host functions that write (counter_add, lock, unlock,
 * tag_set, tag_del, value_cas, board_set, grant: what AMS_EF_READONLY
 * rules out) since hx_write_calls_reset(), whatever they answered, and
 * the name of the first ("" when none). */
void hx_write_calls_reset(void);
unsigned long hx_write_calls(void);
const char *hx_first_write_call(void);

typedef struct hx_req {
    const char *uid;
    const char *request_id;
    const cJSON *params; /* request params, may be NULL */
    int64_t now_ms;
    uint64_t seed;    /* for the host random source; 0: leave it */
    const char *what; /* how to describe params in messages, or NULL */
} hx_req;

typedef struct hx_out {
    ams_status st;
    char reason[64];
    char *data; /* reply data as JSON text (owned) */
    int ngrants;
    ams_status undo_st; /* with_undo and st == AMS_OK */
    double ms;          /* slowest plugin call */
    int clock_moved;    /* the host clock passed a millisecond during the
                           call: time-derived replies may differ */
} hx_out;

/* Call in's entry (and its undo right after, in the same request, when
 * with_undo and the call succeeded) the way the chain does, outside the
 * chain: no idempotency, no lock, no ledger.  Fills out (free with
 * hx_out_free). */
void hx_call(hx *h, instance *in, const hx_req *rq, int with_undo,
             hx_out *out);
void hx_out_free(hx_out *out);

/* Run the operation in through the real chain (pipeline_run) as the only
 * operation of a method.  Returns the HTTP status; *body gets the answer
 * as text (owned) and *replayed whether it was a stored answer. */
int hx_pipeline(hx *h, instance *in, const hx_req *rq, char **body,
                int *replayed);

/* Dumps of the store (store_mem_dump at now_ms), caller frees. */
char *hx_dump(hx *h, int64_t now_ms);
/* Successful store mutations so far. */
uint64_t hx_writes(hx *h);
/* The first lines that differ between two dumps, as "- before" and
 * "+ after" notes on c, the first of them also in first (may be NULL).
 * Returns the number of differing lines. */
size_t hx_dump_diff(ck *c, const char *before, const char *after, char *first,
                    size_t firstlen);

/* A dump reduced to what an undo written against ABI 1.0 can restore:
 * leaderboards left out (no way to take a user off a board), tags
 * without their expiry (tag_get does not return it), values without
 * their version (every compare-and-set takes a new one).  Caller frees. */
char *hx_dump_restorable(const char *dump);

/* When the operation does not succeed with *req (and no --request was
 * given for it), try request params made of the fields it asked for
 * (a string, then an integer for each) and keep the first that makes it
 * succeed.  The store is reset afterwards. */
void hx_learn_request(hx *h, instance *in, cJSON **req);

/* Short text of a JSON value for messages (static buffer). */
const char *hx_brief(const cJSON *v);
/* "AMS_OK", "AMS_FAIL", ... */
const char *hx_status_name(ams_status st);

/* Wait for the next millisecond tick of the host's monotonic clock, so a
 * short call sees the same host time in two runs. */
void hx_tick(void);

#endif
