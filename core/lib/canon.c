/*
 * canon.c -- canonical JSON text (see canon.h).
 *
 * Recursive like json_put_item, with as small a frame: the request's
 * params are canonicalized on a coroutine stack, and the gateway lets
 * them nest as deep as cJSON parses (1000 levels).  An object's sorted
 * member list is on the heap for the same reason.
 */
#include "canon.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An object's member and its place in the object, so that members
 * with the same key keep their order (qsort is not stable). */
typedef struct member {
    const cJSON *c;
    size_t at;
} member;

static int by_key(const void *a, const void *b)
{
    const member *x = a, *y = b;
    int c = strcmp(x->c->string ? x->c->string : "",
                   y->c->string ? y->c->string : "");

    if (c != 0)
        return c;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void put_object(jbuf *b, const cJSON *item);

void canon_put(jbuf *b, const cJSON *item)
{
    const cJSON *c;

    if (item == NULL) {
        b->failed = 1;
        return;
    }
    switch (item->type & 0xFF) {
    case cJSON_Number:
        if (item->valuedouble == 0) { /* 0 and -0 are one number */
            json_put(b, "0", 1);
            return;
        }
        json_put_item(b, item);
        return;
    case cJSON_Array:
        json_put(b, "[", 1);
        for (c = item->child; c != NULL && !b->failed; c = c->next) {
            canon_put(b, c);
            if (c->next != NULL)
                json_put(b, ",", 1);
        }
        json_put(b, "]", 1);
        return;
    case cJSON_Object:
        put_object(b, item);
        return;
    default:
        json_put_item(b, item);
    }
}

static void put_object(jbuf *b, const cJSON *item)
{
    const cJSON *c;
    member *v;
    size_t n = 0, i = 0;

    for (c = item->child; c != NULL; c = c->next)
        n++;
    if (n == 0) {
        json_put(b, "{}", 2);
        return;
    }
    v = malloc(n * sizeof *v);
    if (v == NULL) {
        b->failed = 1;
        return;
    }
    for (c = item->child; c != NULL; c = c->next, i++)
        v[i] = (member){c, i};
    qsort(v, n, sizeof *v, by_key);
    json_put(b, "{", 1);
    for (i = 0; i < n && !b->failed; i++) {
        if (i > 0)
            json_put(b, ",", 1);
        json_put_string(b, v[i].c->string);
        json_put(b, ":", 1);
        canon_put(b, v[i].c);
    }
    json_put(b, "}", 1);
    free(v);
}

char *canon_print(const cJSON *item)
{
    char storage[512];
    jbuf b;

    if (item == NULL)
        return NULL;
    jbuf_init(&b, storage, sizeof storage);
    canon_put(&b, item);
    return jbuf_take(&b);
}

int canon_is_canonical(const cJSON *item)
{
    const cJSON *c;

    if (item == NULL)
        return 1;
    if (cJSON_IsNumber(item))
        return !(item->valuedouble == 0 && signbit(item->valuedouble));
    for (c = item->child; c != NULL; c = c->next) {
        if (cJSON_IsObject(item) && c->next != NULL &&
            strcmp(c->string ? c->string : "",
                   c->next->string ? c->next->string : "") > 0)
            return 0;
        if (!canon_is_canonical(c))
            return 0;
    }
    return 1;
}
