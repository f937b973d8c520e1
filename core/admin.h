/*
 * admin.h -- the admin plane, served by the master on its own listener.
 */
#ifndef AMS_CORE_ADMIN_H
#define AMS_CORE_ADMIN_H

#include "master.h"

#include <event2/http.h>

struct sockaddr;

/* Roles of admin tokens, each allowed what the ones before it are. */
typedef enum admin_role {
    ROLE_PUBLIC = 0,   /* no token needed (liveness) */
    ROLE_VIEWER = 1,   /* read-only */
    ROLE_OPERATOR = 2, /* reload, enable/disable, imports */
    ROLE_ADMIN = 3,    /* everything, incl. the audit log */
} admin_role;

/* evhttp generic callback; arg is the master. */
void admin_handle(struct evhttp_request *req, void *arg);

/* 1 when sa is a loopback address (127.0.0.0/8, ::1, or 127.0.0.0/8
 * mapped into IPv6), 0 otherwise (NULL too).  Until the admin plane has
 * authentication, routes that change data answer only loopback peers. */
int admin_peer_is_loopback(const struct sockaddr *sa);

#endif
