/*
 * pipeline.h -- the interceptor chain every method goes through, in one
 * place: activity state and window, login, crowd, rule tree, operations
 * with compensation, handler.
 */
#ifndef AMS_CORE_PIPELINE_H
#define AMS_CORE_PIPELINE_H

#include "services.h"

#include <cjson/cJSON.h>

typedef struct pipe_result {
    int http_status;    /* 200 for every business outcome */
    int code;           /* business code (0 = ok), see pipeline_code() */
    char reason[64];    /* machine-readable reason */
    cJSON *detail;      /* owned by the result: which rule/operation */
    char message[256];  /* for 500/503: what went wrong */
} pipe_result;

/* Run r->m for r.  The result's detail is owned by the caller
 * (cJSON_Delete). */
void pipeline_run(svc_req *r, pipe_result *out);

/* Business code of a reason: the documented table, 1099 for reasons a
 * plugin defined. */
int pipeline_code(const char *reason);

/* Evaluate a rule tree for r (exposed for unit tests).  On AMS_FAIL,
 * *who is the leaf that decided and reason its reason. */
ams_status pipeline_eval(rnode *n, svc_req *r, instance **who,
                         char reason[64]);

#endif
