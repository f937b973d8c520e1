/*
 * json.c -- cJSON_PrintUnformatted's text, cheaper (see json.h).
 *
 * Each rule below is cJSON 1.7's print_value / print_string_ptr /
 * print_number, restated; test_json.c holds the two side by side.
 */
#include "json.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jbuf_init(jbuf *b, char *storage, size_t size)
{
    b->p = size > 0 ? storage : NULL;
    b->len = 0;
    b->cap = size > 0 ? size : 0;
    b->heap = 0;
    b->failed = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

void jbuf_free(jbuf *b)
{
    if (b->heap)
        free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->heap = 0;
}

/* Room for n more bytes and the NUL; 0, or -1 with b failed. */
static int room(jbuf *b, size_t n)
{
    size_t cap;
    char *p;

    if (b->failed)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    p = b->heap ? realloc(b->p, cap) : malloc(cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    if (!b->heap && b->len > 0)
        memcpy(p, b->p, b->len + 1);
    b->p = p;
    b->cap = cap;
    b->heap = 1;
    return 0;
}

char *jbuf_take(jbuf *b)
{
    char *p = NULL;

    if (!b->failed && b->p != NULL && b->heap) {
        p = realloc(b->p, b->len + 1); /* give back the slack */
        if (p == NULL)
            p = b->p;
        b->heap = 0; /* now the caller's */
    } else if (!b->failed && (p = malloc(b->len + 1)) != NULL) {
        memcpy(p, b->p ? b->p : "", b->len + 1);
    }
    jbuf_free(b);
    return p;
}

void json_put(jbuf *b, const char *s, size_t n)
{
    if (room(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void json_put_string(jbuf *b, const char *s)
{
    const unsigned char *in = (const unsigned char *)(s ? s : "");
    size_t n = 0, esc = 0;
    char *o;

    /* cJSON escapes '"', '\\' and the bytes below 32 (named ones as
     * \b \f \n \r \t, the others as \u00xx), and copies the rest,
     * UTF-8 and '/' included. */
    for (; in[n] != '\0'; n++)
        if (in[n] < 32 || in[n] == '"' || in[n] == '\\')
            esc += (in[n] == '\b' || in[n] == '\f' || in[n] == '\n' ||
                    in[n] == '\r' || in[n] == '\t' || in[n] == '"' ||
                    in[n] == '\\')
                       ? 1
                       : 5;
    if (room(b, n + esc + 2) < 0)
        return;
    o = b->p + b->len;
    *o++ = '"';
    if (esc == 0) {
        memcpy(o, in, n);
        o += n;
    } else {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
            unsigned char c = in[i];
            if (c >= 32 && c != '"' && c != '\\') {
                *o++ = (char)c;
                continue;
            }
            *o++ = '\\';
            switch (c) {
            case '"':
            case '\\':
                *o++ = (char)c;
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
        }
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
}

void json_put_int(jbuf *b, long long v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u =
        v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    json_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* cJSON's test of whether a printed number reads back as the same. */
static int same_double(double a, double b)
{
    double max = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= max * DBL_EPSILON;
}

/* cJSON 1.7.16 and later print a number equal to its valueint with "%d"
 * (so -0 as "0"); 1.7.15 and before always go through "%1.15g". */
#if CJSON_VERSION_MAJOR > 1 ||                                                \
    (CJSON_VERSION_MAJOR == 1 &&                                              \
     (CJSON_VERSION_MINOR > 7 ||                                              \
      (CJSON_VERSION_MINOR == 7 && CJSON_VERSION_PATCH >= 16)))
#define CJSON_PRINTS_VALUEINT 1
#endif

static void put_number(jbuf *b, const cJSON *item)
{
    double d = item->valuedouble;
    char tmp[32];
    int n;
    char dp;

    if (isnan(d) || isinf(d)) {
        json_put(b, "null", 4);
        return;
    }
#ifdef CJSON_PRINTS_VALUEINT
    if (d == (double)item->valueint) {
        json_put_int(b, item->valueint);
        return;
    }
#endif
    /* An integer below 1e15 is what "%1.15g" prints of it, digit for
     * digit, and reads back exactly: cJSON's second try never happens.
     * (-0 is left to printf: it prints "-0".) */
    if (d > -1e15 && d < 1e15 && d == (double)(long long)d &&
        !(d == 0 && signbit(d))) {
        json_put_int(b, (long long)d);
        return;
    }
    n = snprintf(tmp, sizeof tmp, "%1.15g", d);
    if (n > 0 && n < (int)sizeof tmp && !same_double(strtod(tmp, NULL), d))
        n = snprintf(tmp, sizeof tmp, "%1.17g", d);
    if (n < 0 || n > 25) { /* cJSON's buffer holds 25 */
        b->failed = 1;
        return;
    }
    /* cJSON writes '.' whatever the locale's decimal point. */
    dp = localeconv()->decimal_point[0];
    for (int i = 0; i < n; i++)
        if (tmp[i] == dp)
            tmp[i] = '.';
    json_put(b, tmp, (size_t)n);
}

void json_put_item(jbuf *b, const cJSON *item)
{
    const cJSON *c;

    if (item == NULL) {
        b->failed = 1;
        return;
    }
    switch (item->type & 0xFF) {
    case cJSON_NULL:
        json_put(b, "null", 4);
        return;
    case cJSON_False:
        json_put(b, "false", 5);
        return;
    case cJSON_True:
        json_put(b, "true", 4);
        return;
    case cJSON_Number:
        put_number(b, item);
        return;
    case cJSON_Raw:
        if (item->valuestring == NULL)
            b->failed = 1;
        else
            json_put(b, item->valuestring, strlen(item->valuestring));
        return;
    case cJSON_String:
        json_put_string(b, item->valuestring);
        return;
    case cJSON_Array:
        json_put(b, "[", 1);
        for (c = item->child; c != NULL && !b->failed; c = c->next) {
            json_put_item(b, c);
            if (c->next != NULL)
                json_put(b, ",", 1);
        }
        json_put(b, "]", 1);
        return;
    case cJSON_Object:
        json_put(b, "{", 1);
        for (c = item->child; c != NULL && !b->failed; c = c->next) {
            json_put_string(b, c->string);
            json_put(b, ":", 1);
            json_put_item(b, c);
            if (c->next != NULL)
                json_put(b, ",", 1);
        }
        json_put(b, "}", 1);
        return;
    default:
        b->failed = 1;
    }
}

char *json_print(const cJSON *item)
{
    char storage[512];
    jbuf b;

    if (item == NULL)
        return NULL;
    jbuf_init(&b, storage, sizeof storage);
    json_put_item(&b, item);
    return jbuf_take(&b);
}
