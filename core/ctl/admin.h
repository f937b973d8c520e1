/*
 * admin.h -- the admin plane, served by the master on its own listener.
 */
#ifndef AMS_CORE_ADMIN_H
#define AMS_CORE_ADMIN_H

#include "auth.h"
#include "mstate.h"

#include <event2/http.h>
#include <stddef.h>

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

/* The admin plane's early check (httpguard_early_fn), for a request with
 * a body: refused before the body is read when it carries no known token
 * (401), or, with no admin_tokens, when the peer is not loopback (403).
 * The refusal is audited and answered as admin_handle would (with
 * "generation"); roles are still checked once the request is routed.
 * ud is the master. */
int admin_early_check(void *ud, const char *method, const char *target,
                      const char *authorization, const struct sockaddr *peer,
                      char *body, size_t bodylen, char *hdr, size_t hdrlen);

/* 1 when sa is a loopback address (127.0.0.0/8, ::1, or 127.0.0.0/8
 * mapped into IPv6), 0 otherwise (NULL too).  Without admin_tokens, the
 * admin plane answers only loopback peers. */
int admin_peer_is_loopback(const struct sockaddr *sa);

#endif
