/*
 * reqparse.c -- the request's path, body and fields (see reqparse.h).
 *
 * cJSON parses the body first; what it cannot tell (a key given twice, a
 * string cut at a NUL) is found by walking its tree and the raw text side
 * by side: cJSON accepted the text, so the text holds exactly the tree's
 * values in the tree's order, and the walk only has to skip over each
 * one, looking at the bytes of strings and the values of numbers.
 */
#include "reqparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/v1/activities/"

int reqparse_path(const char *path, int64_t *id, char *mname, size_t mlen)
{
    const char *p, *slash;
    int64_t v = 0;
    size_t n;

    if (strncmp(path, PREFIX, sizeof PREFIX - 1) != 0)
        return -1;
    p = path + sizeof PREFIX - 1;
    if (*p < '1' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > ((int64_t)1 << 53) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (*p != '/')
        return -1;
    slash = p;
    n = strlen(slash + 1);
    if (n == 0 || n >= mlen || strchr(slash + 1, '/') != NULL)
        return -1;
    memcpy(mname, slash + 1, n + 1);
    *id = v;
    return 0;
}

/* ---- the walk ---- */

/* Where the walk is, as the messages name it: "params.items[2].n".  A
 * path longer than the buffer ends in "..." (the message still says
 * what is wrong). */
#define PATH_MAX_TEXT 160

typedef struct walk {
    const char *p, *end; /* the raw text still to walk */
    char path[PATH_MAX_TEXT];
    size_t plen;
    char *msg;
    size_t msglen;
} walk;

/* cJSON's white space: every byte up to 32 (buffer_skip_whitespace). */
static void skip_ws(walk *w)
{
    while (w->p < w->end && (unsigned char)*w->p <= 32)
        w->p++;
}

static const char *where(const walk *w)
{
    return w->plen > 0 ? w->path : "body";
}

static int fail(walk *w, const char *what)
{
    snprintf(w->msg, w->msglen, "%s: %s", where(w), what);
    return -1;
}

/* Append to the path: ".key" ("key" at the top) or "[i]"; returns the
 * length to go back to.  A key is shown as at most 48 bytes, a byte
 * that is not visible ASCII as '?': the message must stay one readable
 * line whatever a client put in a key. */
static size_t push_key(walk *w, const char *key)
{
    size_t old = w->plen, cap = sizeof w->path;
    char seg[56];
    size_t n = 0;

    for (; key[n] != '\0' && n < 48; n++)
        seg[n] = key[n] >= '!' && key[n] <= '~' ? key[n] : '?';
    if (key[n] != '\0') {
        memcpy(seg + n, "...", 3);
        n += 3;
    }
    seg[n] = '\0';
    if (w->plen + n + 5 >= cap) {
        if (w->plen + 4 < cap)
            w->plen +=
                (size_t)snprintf(w->path + w->plen, cap - w->plen, "...");
        return old;
    }
    w->plen += (size_t)snprintf(w->path + w->plen, cap - w->plen, "%s%s",
                                w->plen > 0 ? "." : "", seg);
    return old;
}

static size_t push_index(walk *w, size_t i)
{
    size_t old = w->plen, cap = sizeof w->path;
    int n;

    if (w->plen + 24 >= cap) {
        if (w->plen + 4 < cap)
            w->plen +=
                (size_t)snprintf(w->path + w->plen, cap - w->plen, "...");
        return old;
    }
    n = snprintf(w->path + w->plen, cap - w->plen, "%s[%zu]",
                 w->plen > 0 ? "" : "body", i);
    w->plen += (size_t)n;
    return old;
}

static void pop(walk *w, size_t old)
{
    w->plen = old;
    w->path[old] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Skip the string at w->p ('"' ... '"'); *nul = 1 when it holds a NUL,
 * escaped (\u0000) or raw (cJSON copies a raw 0 byte into the string,
 * and the C string ends there just the same).  -1 when the text is not
 * a string after all. */
static int skip_string(walk *w, int *nul)
{
    const char *p = w->p;

    *nul = 0;
    if (p >= w->end || *p != '"')
        return -1;
    for (p++; p < w->end && *p != '"'; p++) {
        if (*p == '\0')
            *nul = 1;
        if (*p != '\\')
            continue;
        if (++p >= w->end)
            return -1;
        if (*p == 'u' && w->end - p > 4) {
            int v = 0;
            for (int i = 1; i <= 4; i++) {
                int h = hexval(p[i]);
                if (h < 0)
                    return -1;
                v = v * 16 + h;
            }
            if (v == 0)
                *nul = 1;
            p += 4;
        }
    }
    if (p >= w->end)
        return -1;
    w->p = p + 1;
    return 0;
}

static int walk_value(walk *w, const cJSON *v);

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string,
                  (*(const cJSON *const *)b)->string);
}

/* A key given twice among the members of o (which one of them, for a
 * big object: the first in byte order), or NULL.  Small objects
 * pairwise; big ones sorted, so a body of 10,000 keys costs n log n, not
 * n^2.  *oom = 1 when memory was short for that. */
static const char *duplicate_key(const cJSON *o, int *oom)
{
    const cJSON *c, *d, **v;
    const char *dup = NULL;
    size_t n = 0, i = 0;

    *oom = 0;
    for (c = o->child; c != NULL; c = c->next)
        n++;
    if (n <= 16) {
        for (c = o->child; c != NULL; c = c->next)
            for (d = c->next; d != NULL; d = d->next)
                if (strcmp(c->string, d->string) == 0)
                    return c->string;
        return NULL;
    }
    v = malloc(n * sizeof *v);
    if (v == NULL) {
        *oom = 1;
        return NULL;
    }
    for (c = o->child; c != NULL; c = c->next)
        v[i++] = c;
    qsort(v, n, sizeof *v, by_key);
    for (i = 1; i < n && dup == NULL; i++)
        if (strcmp(v[i - 1]->string, v[i]->string) == 0)
            dup = v[i]->string;
    free(v);
    return dup;
}

/* Expect byte c (after white space). */
static int expect(walk *w, char c)
{
    skip_ws(w);
    if (w->p >= w->end || *w->p != c)
        return -1;
    w->p++;
    return 0;
}

static int walk_object(walk *w, const cJSON *o)
{
    const cJSON *c;
    const char *dup;
    char what[PATH_MAX_TEXT + 24];
    int nul, oom, r;

    if (expect(w, '{') < 0)
        return -2;
    for (c = o->child; c != NULL; c = c->next) {
        size_t back;
        skip_ws(w);
        if (skip_string(w, &nul) < 0)
            return -2;
        back = push_key(w, c->string);
        if (nul)
            return fail(w, "the key holds a NUL character (\\u0000); keys "
                           "and strings must not");
        if (expect(w, ':') < 0)
            return -2;
        /* -2 (malformed: no message yet) must reach reqparse_body,
         * which writes one; -1 has its message. */
        if ((r = walk_value(w, c)) != 0)
            return r;
        pop(w, back);
        if (expect(w, c->next != NULL ? ',' : '}') < 0)
            return -2;
    }
    if (o->child == NULL && expect(w, '}') < 0)
        return -2;
    dup = duplicate_key(o, &oom);
    if (oom)
        return fail(w, "out of memory");
    if (dup != NULL) {
        walk tmp = *w;
        size_t back = push_key(&tmp, dup);
        /* "params: duplicate key "amount"": the key as the path shows
         * it, the place it is in. */
        snprintf(what, sizeof what, "duplicate key \"%s\"",
                 tmp.path + (back > 0 ? back + 1 : 0));
        return fail(w, what);
    }
    return 0;
}

static int walk_array(walk *w, const cJSON *a)
{
    const cJSON *c;
    size_t i = 0;
    int r;

    if (expect(w, '[') < 0)
        return -2;
    for (c = a->child; c != NULL; c = c->next, i++) {
        size_t back = push_index(w, i);
        if ((r = walk_value(w, c)) != 0) /* -2 or -1: as walk_object */
            return r;
        pop(w, back);
        if (expect(w, c->next != NULL ? ',' : ']') < 0)
            return -2;
    }
    if (a->child == NULL && expect(w, ']') < 0)
        return -2;
    return 0;
}

/* A number's text as cJSON read it: the bytes strtod takes. */
static int walk_number(walk *w, const cJSON *v)
{
    const char *start = w->p;
    char what[256];
    double d = v->valuedouble;

    while (w->p < w->end && strchr("0123456789+-.eE", *w->p) != NULL &&
           *w->p != '\0')
        w->p++;
    if (w->p == start)
        return -2;
    if (isfinite(d) && fabs(d) <= REQPARSE_NUM_MAX)
        return 0;
    snprintf(what, sizeof what,
             "the number %.*s%s is %s; numbers must lie within "
             "-9007199254740991..9007199254740991 (2^53-1: beyond it a "
             "number is not held exactly)",
             (int)(w->p - start > 40 ? 40 : w->p - start), start,
             w->p - start > 40 ? "..." : "",
             isfinite(d) ? "out of range" : "not finite");
    return fail(w, what);
}

static int skip_literal(walk *w, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(w->end - w->p) < n || memcmp(w->p, lit, n) != 0)
        return -2;
    w->p += n;
    return 0;
}

/* 0: fine; -1: refused, the message written; -2: the text is not what
 * the tree says (never, as cJSON read the tree from it: the caller
 * reports malformed JSON). */
static int walk_value(walk *w, const cJSON *v)
{
    int nul;

    skip_ws(w);
    switch (v->type & 0xFF) {
    case cJSON_Object:
        return walk_object(w, v);
    case cJSON_Array:
        return walk_array(w, v);
    case cJSON_String:
        if (skip_string(w, &nul) < 0)
            return -2;
        if (nul)
            return fail(w, "holds a NUL character (\\u0000); strings must "
                           "not");
        return 0;
    case cJSON_Number:
        return walk_number(w, v);
    case cJSON_True:
        return skip_literal(w, "true");
    case cJSON_False:
        return skip_literal(w, "false");
    case cJSON_NULL:
        return skip_literal(w, "null");
    default:
        return -2;
    }
}

cJSON *reqparse_body(const char *start, size_t len, char *msg, size_t msglen)
{
    const char *end = NULL;
    cJSON *body;
    walk w;
    int r;

    if (start == NULL || len == 0) {
        snprintf(msg, msglen, "body: empty; expected a JSON object");
        return NULL;
    }
    body = cJSON_ParseWithLengthOpts(start, len, &end, 0);
    if (body == NULL) {
        const char *at = cJSON_GetErrorPtr();
        snprintf(msg, msglen, "body: malformed JSON at byte %ld",
                 at && at >= start ? (long)(at - start) : 0L);
        return NULL;
    }
    /* One value and nothing after it but white space: trailing bytes
     * would otherwise be ignored, and `{..}{..}` served as its first
     * half. */
    while (end < start + len && strchr(" \t\r\n", *end) != NULL &&
           *end != '\0')
        end++;
    if (end != start + len) {
        snprintf(msg, msglen,
                 "body: malformed JSON: unexpected data at byte %ld after "
                 "the value",
                 (long)(end - start));
        cJSON_Delete(body);
        return NULL;
    }
    memset(&w, 0, sizeof w);
    w.p = start;
    w.end = start + len;
    w.msg = msg;
    w.msglen = msglen;
    /* cJSON skips a UTF-8 byte order mark before the value. */
    if (len >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0)
        w.p += 3;
    r = walk_value(&w, body);
    if (r == -2)
        snprintf(msg, msglen, "body: malformed JSON near byte %ld",
                 (long)(w.p - start));
    if (r != 0) {
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

/* A uid or request_id: visible ASCII (no space, no control character),
 * min..REQPARSE_ID_MAX bytes.  The NUL case was refused by the walk. */
static int id_check(const cJSON *v, const char *name, size_t min, char *msg,
                    size_t msglen)
{
    const char *s;
    size_t i;

    if (!cJSON_IsString(v)) {
        snprintf(msg, msglen, "%s: expected a string", name);
        return -1;
    }
    s = v->valuestring;
    for (i = 0; s[i] != '\0'; i++)
        if (s[i] < '!' || s[i] > '~') {
            snprintf(msg, msglen,
                     "%s: character %zu is a space, a control character "
                     "or not ASCII; expected %zu..%d printable characters "
                     "without spaces",
                     name, i + 1, min, REQPARSE_ID_MAX);
            return -1;
        }
    if (i < min || i > REQPARSE_ID_MAX) {
        snprintf(msg, msglen,
                 "%s: %zu characters; expected %zu..%d printable "
                 "characters without spaces",
                 name, i, min, REQPARSE_ID_MAX);
        return -1;
    }
    return 0;
}

int reqparse_fields(const cJSON *b, char *msg, size_t len)
{
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(b, "uid");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(b, "request_id");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(b, "params");

    if (!cJSON_IsObject(b)) {
        snprintf(msg, len, "body: expected a JSON object");
        return -1;
    }
    if (uid != NULL && id_check(uid, "uid", 0, msg, len) < 0)
        return -1;
    if (rid == NULL) {
        snprintf(msg, len, "request_id: missing (required string)");
        return -1;
    }
    if (id_check(rid, "request_id", 1, msg, len) < 0)
        return -1;
    if (params != NULL && !cJSON_IsObject(params)) {
        snprintf(msg, len, "params: expected a JSON object");
        return -1;
    }
    return 0;
}
