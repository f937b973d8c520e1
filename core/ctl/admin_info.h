/*
 * admin_info.h -- the admin plane's read-only routes: what the workers
 * serve (activities, plugins) and the audit log read back.
 *
 * The master never loads plugins, so it asks every worker to describe
 * its generation ("describe", describe.h) and merges the answers:
 * definitions from one worker (all serve the same generation; when they
 * do not, mid-reload, the answer says so), request counts summed over
 * the workers, stock read from the store they share.
 */
#ifndef AMS_CORE_ADMIN_INFO_H
#define AMS_CORE_ADMIN_INFO_H

#include "mstate.h"

#include <event2/http.h>
#include <stddef.h>
#include <stdint.h>

/* How long the master waits for the workers' descriptions. */
#define ADMIN_INFO_TIMEOUT_MS 5000

/* GET /admin/activities[?offset=K&limit=L] (id 0) and
 * GET /admin/activities/{id}. */
void admin_info_activities(struct evhttp_request *req, master *m, int64_t id);
/* GET /admin/plugins. */
void admin_info_plugins(struct evhttp_request *req, master *m, int64_t id);
/* GET /admin/audit?since=MS[&limit=N]. */
void admin_info_audit(struct evhttp_request *req, master *m, int64_t id);

/* The query string of req as integers: names[i] (NULL-terminated) in
 * [min[i], max[i]] into out[i] (left alone when absent).  Another name,
 * a repeated one or a bad value: -1 with a message naming it. */
int admin_query_ints(struct evhttp_request *req, const char *const *names,
                     const int64_t *min, const int64_t *max, int64_t *out,
                     char *msg, size_t len);

#endif
