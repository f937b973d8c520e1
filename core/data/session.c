/*
 * session.c -- the per-user session lock, in the worker's memory
 * (session.h).  A hash set of held names ("A\0M\0U" as one string with
 * separators that cannot occur in its parts), chained, grown x2 when it
 * holds more names than buckets.
 */
#include "session.h"

#include "hash.h"

#include <ams/ams.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct held {
    uint64_t hash;
    char *name; /* shared with the holder's session_hold */
    struct held *next;
} held;

static held **buckets;
static size_t nbuckets, nheld;

static int grow_table(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 64;
    held **b = calloc(n, sizeof *b);

    if (b == NULL)
        return -1;
    for (size_t i = 0; i < nbuckets; i++)
        for (held *h = buckets[i], *next; h != NULL; h = next) {
            next = h->next;
            h->next = b[h->hash & (n - 1)];
            b[h->hash & (n - 1)] = h;
        }
    free(buckets);
    buckets = b;
    nbuckets = n;
    return 0;
}

int session_enter(session_hold *h, int64_t activity, const char *method,
                  const char *uid)
{
    char *name;
    uint64_t hash;
    held *e;
    int n;

    h->hash = 0;
    h->name = NULL;
    /* ' ' cannot occur in a method name or a uid (both visible ASCII). */
    n = asprintf(&name, "%lld %s %s", (long long)activity, method, uid);
    if (n < 0)
        return AMS_ERR_NOMEM;
    hash = hash_fnv1a(HASH_FNV1A_INIT, name, (size_t)n) | 1;
    if (nheld >= nbuckets && grow_table() < 0) {
        free(name);
        return AMS_ERR_NOMEM;
    }
    for (e = buckets[hash & (nbuckets - 1)]; e != NULL; e = e->next)
        if (e->hash == hash && strcmp(e->name, name) == 0) {
            free(name);
            return AMS_CONFLICT;
        }
    if ((e = malloc(sizeof *e)) == NULL) {
        free(name);
        return AMS_ERR_NOMEM;
    }
    e->hash = hash;
    e->name = name;
    e->next = buckets[hash & (nbuckets - 1)];
    buckets[hash & (nbuckets - 1)] = e;
    nheld++;
    h->hash = hash;
    h->name = name;
    return AMS_OK;
}

void session_leave(session_hold *h)
{
    held **pp;

    if (h->hash == 0 || nbuckets == 0)
        return;
    for (pp = &buckets[h->hash & (nbuckets - 1)]; *pp; pp = &(*pp)->next)
        if ((*pp)->name == h->name) {
            held *e = *pp;
            *pp = e->next;
            free(e->name);
            free(e);
            nheld--;
            break;
        }
    h->hash = 0;
    h->name = NULL;
}

unsigned long session_held(void)
{
    return (unsigned long)nheld;
}
