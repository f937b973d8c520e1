/*
 * metrics_scrape.h -- GET /metrics on the admin plane: the master asks
 * every worker for its series (the "stats" answer), sums them by labels,
 * adds its own numbers and answers in the Prometheus text format.
 */
#ifndef AMS_CORE_METRICS_SCRAPE_H
#define AMS_CORE_METRICS_SCRAPE_H

#include "mstate.h"

#include <event2/http.h>
#include <stdint.h>

/* How long a scrape waits for the workers, all pages included. */
#define METRICS_SCRAPE_TIMEOUT_MS 2000

/* Admin route (admin.c's table); id is unused. */
void metrics_scrape_route(struct evhttp_request *req, master *m, int64_t id);

#endif
