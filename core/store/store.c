/*
 * store.c -- pick the backend a store URI names.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

store *store_open(const store_options *opt, char *err, size_t errlen)
{
    const char *uri = opt->uri;

    if (uri == NULL || *uri == '\0') {
        snprintf(err, errlen, "store: empty URI");
        return NULL;
    }
    if (strncmp(uri, "lmdb:", 5) == 0) {
        if (uri[5] == '\0') {
            snprintf(err, errlen, "store: \"%s\": lmdb: needs a directory",
                     uri);
            return NULL;
        }
        return store_lmdb_open(uri + 5, opt, err, errlen);
    }
    if (strncmp(uri, "mem:", 4) == 0)
        return store_mem_open(uri + 4, opt, err, errlen);
    if (strncmp(uri, "redis://", 8) == 0)
        return store_redis_open(uri, opt, err, errlen);
    snprintf(err, errlen,
             "store: \"%s\": unknown scheme (expected lmdb:DIR, "
             "mem:[NAME] or redis://HOST[:PORT][/DB])",
             uri);
    return NULL;
}

void store_board_free(store_board_entry *e, size_t n)
{
    for (size_t i = 0; i < n && e != NULL; i++)
        free(e[i].member);
    free(e);
}

void store_close(store *s)
{
    if (s != NULL)
        s->ops->close(s);
}
