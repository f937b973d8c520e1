/*
 * cors.h -- CORS for the H5 pages that call the data plane from a
 * browser: per listener, the origins allowed (listeners.h).
 *
 * An allowed Origin gets Access-Control-Allow-Origin (its own value, or
 * "*" on an anonymous listener that allows any) and Vary: Origin on every
 * answer; a preflight (OPTIONS on an activity route) is answered 204 with
 * the methods, headers and max-age too.  Any other origin gets no CORS
 * header at all, so the browser refuses the page the answer.
 */
#ifndef AMS_CORE_CORS_H
#define AMS_CORE_CORS_H

#include "listeners.h"

#include <event2/http.h>

/* How long a browser may cache a preflight's answer, seconds. */
#define CORS_MAX_AGE 600

/* Add the headers of an actual answer to out.  1 when origin is allowed. */
int cors_answer(const listener *l, const char *origin, struct evkeyvalq *out);
/* Add the headers of a preflight's answer to out (Allow included). */
void cors_preflight(const listener *l, const char *origin,
                    struct evkeyvalq *out);

#endif
