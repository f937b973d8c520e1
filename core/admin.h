/*
 * admin.h -- the admin plane, served by the master on its own listener.
 */
#ifndef AMS_CORE_ADMIN_H
#define AMS_CORE_ADMIN_H

#include "master.h"

#include <event2/http.h>

/* evhttp generic callback; arg is the master. */
void admin_handle(struct evhttp_request *req, void *arg);

#endif
