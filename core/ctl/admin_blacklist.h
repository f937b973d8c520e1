/*
 * admin_blacklist.h -- the blacklist's admin routes (docs/operator-guide.md,
 * "Blacklists"):
 *
 *   GET  /admin/blacklist          viewer    list, with filters
 *   POST /admin/blacklist          operator  add or replace one entry
 *   POST /admin/blacklist/remove   operator  remove one entry
 *   POST /admin/blacklist/import   operator  bulk import (CSV)
 *
 * Each runs in a helper child of the master (the store is opened there);
 * a change is appended to the journal in the store, then every worker of
 * this node is asked to read it before the answer goes out, so the change
 * applies on this node when the caller gets 200 (other nodes within
 * blacklist.poll_ms).  admin.c audits them like every admin route; the
 * answer's "detail" (what changed) goes into the audit record.
 */
#ifndef AMS_CORE_ADMIN_BLACKLIST_H
#define AMS_CORE_ADMIN_BLACKLIST_H

#include "mstate.h"

#include <event2/http.h>
#include <stdint.h>

void admin_blacklist_list(struct evhttp_request *req, master *m, int64_t id);
void admin_blacklist_add(struct evhttp_request *req, master *m, int64_t id);
void admin_blacklist_remove(struct evhttp_request *req, master *m, int64_t id);
void admin_blacklist_import(struct evhttp_request *req, master *m, int64_t id);

#endif
