/*
 * phost.h -- an in-process host for unit-testing one plugin: a real LMDB
 * store in a temporary directory, activities built from JSON, instances
 * validated against the entry's schema and initialised as the server
 * would, and calls made with any uid, request params and host time.
 */
#ifndef AMS_TESTS_PHOST_H
#define AMS_TESTS_PHOST_H

#include "activity.h"
#include "plugin.h"
#include "services.h"

typedef struct phost phost;

/* Open a host with a fresh store under $AMS_TEST_TMP (or /tmp).  Also
 * sets the process-wide services environment.  NULL on failure. */
phost *phost_open(const char *name);
void phost_close(phost *h);

/* Load the plugin at path (owned by h).  Errors are printed as TAP
 * comments; NULL on failure. */
plugin *phost_plugin(phost *h, const char *path);
/* Path of a bundled plugin NAME.so (build/plugins/), in a static buffer. */
const char *phost_bundled(const char *name);

/* A new activity (owned by h) with id, time-zone offset in minutes and
 * resources as JSON ({"pools":{...},"coupons":{...},"budgets":{...}}, or
 * NULL for none). */
activity *phost_activity(phost *h, int64_t id, int tz_min,
                         const char *resources_json);

/* An instance of p.entry in act with params (JSON object text or NULL),
 * validated and initialised.  On failure NULL, with the problems in err. */
instance *phost_instance(phost *h, activity *act, plugin *p, const char *entry,
                         const char *params_json, char *err, size_t errlen);

typedef struct phost_call {
    ams_status st;
    char reason[64];
    char *data;   /* reply data as JSON text (owned) */
    char *grants; /* grants as a JSON array text, or NULL (owned) */
} phost_call;

/* Call in's entry (undo when undo is set) for user uid at host time
 * now_ms with request params (JSON text or NULL).  Grants of a successful
 * call go to the user's ledger, as the pipeline does. */
ams_status phost_run(phost *h, instance *in, int undo, const char *uid,
                     const char *params_json, int64_t now_ms, phost_call *out);
void phost_call_free(phost_call *c);

/* The raw store, for checks the host API does not offer. */
store *phost_store(phost *h);

#endif
