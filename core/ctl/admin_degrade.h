/*
 * admin_degrade.h -- the admin routes of the degradation switches
 * (degrade.h):
 *   GET  /admin/degrade                      (viewer) every switch's state
 *   POST /admin/degrade?off=NAME[,NAME..]&on=NAME[,..]   (operator)
 * A POST sets the master's state, then every worker's (answering when
 * they have), and is audited like every admin POST (its query names the
 * switches).
 */
#ifndef AMS_CORE_ADMIN_DEGRADE_H
#define AMS_CORE_ADMIN_DEGRADE_H

#include "mstate.h"

#include <event2/http.h>
#include <stdint.h>

void admin_degrade_get(struct evhttp_request *req, master *m, int64_t id);
void admin_degrade_set(struct evhttp_request *req, master *m, int64_t id);

#endif
