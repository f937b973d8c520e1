/*
 * admin.h -- the admin plane, served by the master on its own listener.
 */
#ifndef AMS_CORE_ADMIN_H
#define AMS_CORE_ADMIN_H

#include "auth.h"
#include "master.h"

#include <event2/http.h>

struct sockaddr;

/* The roles (admin_role) are in auth.h. */

/* At start, before the admin listener serves: make sure the audit log
 * can be written (an admin plane that cannot record what it does does
 * not start) and warn when no token is configured.  Returns 0, or -1
 * (logged). */
int admin_start(master *m);

/* evhttp generic callback; arg is the master.  Every request except
 * those of ROLE_PUBLIC routes is authenticated (a bearer token, or a
 * loopback peer when no token is configured), authorized by the route's
 * role, and audited (audit.h) before its answer goes out. */
void admin_handle(struct evhttp_request *req, void *arg);

/* The files in force as the audit log records them: the checksums of
 * the configuration and of the generation serving (audit_checksums()).
 * Caller deletes; NULL when out of memory. */
cJSON *admin_files_in_force(const master *m);

/* Stamp rec's "ts" (its first member, audit.h) and append rec to the
 * audit log, preparing the log once more when the first try fails (a
 * reload may have moved it, its directory may be gone).  For actions
 * that are not admin requests too (a config-center version loaded).
 * Returns 0, or -1 when it could not be written (logged, naming the
 * action that is not recorded). */
int admin_audit_append(master *m, cJSON *rec);

/* 1 when sa is a loopback address (127.0.0.0/8, ::1, or 127.0.0.0/8
 * mapped into IPv6), 0 otherwise (NULL too).  Without admin_tokens, the
 * admin plane answers only loopback peers. */
int admin_peer_is_loopback(const struct sockaddr *sa);

#endif
