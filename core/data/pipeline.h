/*
 * pipeline.h -- the interceptor chain every method goes through, in one
 * place (see pipeline.c for the order and why).
 */
#ifndef AMS_CORE_PIPELINE_H
#define AMS_CORE_PIPELINE_H

#include "services.h"

#include <cjson/cJSON.h>

/* The answer to send: exactly one of body and raw is set, both owned by
 * the caller (cJSON_Delete / free).  raw is a stored answer replayed
 * byte for byte. */
typedef struct pipe_result {
    int http_status;
    cJSON *body;
    char *raw;
    char reason[64]; /* the answer's "reason" when known ("" otherwise) */
} pipe_result;

/* Run r->m for r and build the answer. */
void pipeline_run(svc_req *r, pipe_result *out);

/* Business code of a reason: the documented table, 1099 for reasons a
 * plugin defined. */
int pipeline_code(const char *reason);

/* Evaluate a rule tree for r (exposed for unit tests).  *who is the last
 * leaf evaluated (the one that decided); on AMS_FAIL reason holds why. */
ams_status pipeline_eval(rnode *n, svc_req *r, instance **who,
                         char reason[64]);

#endif
