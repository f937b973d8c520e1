/*
 * cors.c -- CORS headers of the data plane (cors.h).
 */
#include "cors.h"

#include <event2/keyvalq_struct.h>
#include <stdio.h>

int cors_answer(const listener *l, const char *origin, struct evkeyvalq *out)
{
    int how = lis_origin_allowed(l, origin);

    if (l->norigins > 0)
        evhttp_add_header(out, "Vary", "Origin");
    if (how == 0)
        return 0;
    evhttp_add_header(out, "Access-Control-Allow-Origin",
                      how == 2 ? "*" : origin);
    return 1;
}

void cors_preflight(const listener *l, const char *origin,
                    struct evkeyvalq *out)
{
    char age[16];

    evhttp_add_header(out, "Allow", "POST, OPTIONS");
    if (lis_origin_allowed(l, origin) == 0)
        return;
    snprintf(age, sizeof age, "%d", CORS_MAX_AGE);
    evhttp_add_header(out, "Access-Control-Allow-Methods", "POST");
    evhttp_add_header(out, "Access-Control-Allow-Headers",
                      "Authorization, Content-Type");
    evhttp_add_header(out, "Access-Control-Max-Age", age);
}
