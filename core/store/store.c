/*
 * store.c -- pick the backend a store URI names, from a table of
 * {scheme, open}: a new backend is one file and one row here.
 */
#include "store.h"

#include "store_backend.h"

#include <stdio.h>
#include <string.h>

typedef store *(*store_open_fn)(const char *arg, const store_options *opt,
                                char *err, size_t errlen);

static const struct backend {
    const char *scheme;
    store_open_fn open;
    int whole_uri;     /* 1: open gets the URI, 0: what follows the scheme */
    const char *needs; /* what an empty rest lacks (refused), or NULL */
    const char *form;  /* for messages */
} backends[] = {
    {"lmdb:", store_lmdb_open, 0, "a directory", "lmdb:DIR"},
    {"mem:", store_mem_open, 0, NULL, "mem:[NAME]"},
    {"redis://", store_redis_open, 1, NULL, "redis://HOST[:PORT][/DB]"},
};

#define NBACKENDS (sizeof backends / sizeof backends[0])

store *store_open(const store_options *opt, char *err, size_t errlen)
{
    const char *uri = opt->uri;

    if (uri == NULL || *uri == '\0') {
        snprintf(err, errlen, "store: empty URI");
        return NULL;
    }
    for (size_t i = 0; i < NBACKENDS; i++) {
        const struct backend *b = &backends[i];
        size_t n = strlen(b->scheme);

        if (strncmp(uri, b->scheme, n) != 0)
            continue;
        if (b->needs != NULL && uri[n] == '\0') {
            snprintf(err, errlen, "store: \"%s\": %.*s: needs %s", uri,
                     (int)n - 1, b->scheme, b->needs);
            return NULL;
        }
        return b->open(b->whole_uri ? uri : uri + n, opt, err, errlen);
    }
    snprintf(err, errlen,
             "store: \"%s\": unknown scheme (expected %s, %s or %s)", uri,
             backends[0].form, backends[1].form, backends[2].form);
    return NULL;
}

void store_close(store *s)
{
    if (s != NULL)
        s->ops->close(s);
}
