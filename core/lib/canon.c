/*
 * canon.c -- canonical JSON text (see canon.h).
 *
 * Recursive like json_put_item, with as small a frame: the request's
 * params are canonicalized on a coroutine stack, and the gateway lets
 * them nest as deep as cJSON parses (1000 levels).  An object's sorted
 * member list is on the heap for the same reason.
 */
#include "canon.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
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

/* One spelling per number, and one number per spelling: an integer up to
 * 2^53 in digits, any other number in the fewest of 15, 16, 17
 * significant digits that read back as exactly it.  (json_print's
 * numbers, cJSON's, are not enough: it accepts a 15-digit text that
 * reads back within one part in 2^52, so 9007199254740991 and
 * 9007199254740990 both print 9.00719925474099e+15.) */
static void put_number(jbuf *b, double d)
{
    char tmp[40];
    int n = 0;
    char dp = localeconv()->decimal_point[0];

    if (d == 0) { /* 0 and -0 are one number */
        json_put(b, "0", 1);
        return;
    }
    if (isnan(d) || isinf(d)) { /* as json_print: JSON has no word */
        json_put(b, "null", 4);
        return;
    }
    if (fabs(d) <= 9007199254740992.0 && d == (double)(long long)d) {
        json_put_int(b, (long long)d);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    for (int i = 0; i < n; i++)
        if (tmp[i] == dp)
            tmp[i] = '.';
    json_put(b, tmp, (size_t)n);
}

void canon_put(jbuf *b, const cJSON *item)
{
    const cJSON *c;

    if (item == NULL) {
        b->failed = 1;
        return;
    }
    switch (item->type & 0xFF) {
    case cJSON_Number:
        put_number(b, item->valuedouble);
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
