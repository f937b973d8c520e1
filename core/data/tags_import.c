/*
 * tags_import.c -- CSV "uid,tag,value" lines into crowd tags.
 *
 * One store call per line for now: the store interface has no batch write
 * yet, so every tag is its own write transaction (see the operator guide
 * for what that costs with each lmdb.sync mode).
 */
#include "tags_import.h"

#include "log.h"
#include "services.h"
#include "text.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER "uid,tag,value"
#define NFIELDS 3

void tags_import_init(tags_import *t, store *st, int64_t now_ms,
                      int64_t expire_at_ms)
{
    memset(t, 0, sizeof *t);
    t->st = st;
    t->now_ms = now_ms;
    t->expire_at_ms = expire_at_ms;
}

void tags_import_free(tags_import *t)
{
    for (size_t i = 0; i < t->nerrors; i++)
        free(t->errors[i]);
    t->nerrors = 0;
    free(t->store_error);
    t->store_error = NULL;
}

/* ---- one line ---- */

typedef csv_field field;

static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

int tags_import_split(const char *line, size_t len, char *scratch, field *f,
                      size_t nmax, size_t *n, char *why, size_t whylen)
{
    size_t i = 0, o = 0;

    *n = 0;
    for (;;) {
        size_t start = o;
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return fail(why, whylen,
                                "field %zu: the quoted field does not end "
                                "on this line",
                                *n + 1);
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        scratch[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                scratch[o++] = line[i++];
            }
            if (i < len && line[i] != ',')
                return fail(why, whylen,
                            "field %zu: text after the closing quote", *n + 1);
        } else {
            while (i < len && line[i] != ',')
                scratch[o++] = line[i++];
        }
        if (*n < nmax) {
            f[*n].p = scratch + start;
            f[*n].len = o - start;
        }
        (*n)++;
        if (i >= len)
            return 0;
        i++; /* the comma */
    }
}

/* Bytes of a well-formed UTF-8 sequence starting at s (at most n bytes
 * there), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t want;
    unsigned min;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        want = 2, cp = s[0] & 0x1F, min = 0x80;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        want = 3, cp = s[0] & 0x0F, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        want = 4, cp = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (n < want)
        return 0;
    for (size_t i = 1; i < want; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return want;
}

static int check_uid(const field *f, char *why, size_t whylen)
{
    if (f->len == 0)
        return fail(why, whylen, "uid: empty");
    if (f->len > TAGS_IMPORT_UID_MAX)
        return fail(why, whylen, "uid: %zu bytes, at most %d", f->len,
                    TAGS_IMPORT_UID_MAX);
    if (text_visible_span(f->p, f->len) < f->len)
        return fail(why, whylen,
                    "uid: byte %zu is a space or not printable ASCII "
                    "(uids are printable ASCII without spaces)",
                    text_visible_span(f->p, f->len) + 1);
    return 0;
}

static int tag_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static int check_tag(const field *f, char *why, size_t whylen)
{
    if (f->len == 0)
        return fail(why, whylen, "tag: empty");
    if (f->len > TAGS_IMPORT_TAG_MAX)
        return fail(why, whylen, "tag: %zu bytes, at most %d", f->len,
                    TAGS_IMPORT_TAG_MAX);
    for (size_t i = 0; i < f->len; i++)
        if (!tag_char(f->p[i]))
            return fail(why, whylen,
                        "tag: byte %zu is not one of a-z 0-9 _ . -", i + 1);
    return 0;
}

static int check_value(const field *f, char *why, size_t whylen)
{
    const unsigned char *s = (const unsigned char *)f->p;

    if (f->len > TAGS_IMPORT_VALUE_MAX)
        return fail(why, whylen, "value: %zu bytes, at most %d", f->len,
                    TAGS_IMPORT_VALUE_MAX);
    for (size_t i = 0; i < f->len;) {
        size_t n;
        if (s[i] < 0x20 || s[i] == 0x7F)
            return fail(why, whylen, "value: control character at byte %zu",
                        i + 1);
        n = utf8_len(s + i, f->len - i);
        if (n == 0)
            return fail(why, whylen, "value: not UTF-8 at byte %zu", i + 1);
        i += n;
    }
    return 0;
}

static int blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t')
            return 0;
    return 1;
}

int tags_import_parse_line(const char *line, size_t len, tags_import_rec *r,
                           char *why, size_t whylen)
{
    char scratch[TAGS_IMPORT_LINE_MAX];
    field f[NFIELDS];
    size_t n;

    if (blank(line, len))
        return 0;
    if (len > sizeof scratch)
        return fail(why, whylen, "longer than %d bytes", TAGS_IMPORT_LINE_MAX);
    if (tags_import_split(line, len, scratch, f, NFIELDS, &n, why, whylen) < 0)
        return -1;
    if (n != NFIELDS)
        return fail(why, whylen,
                    "%zu field%s, expected 3 (uid,tag,value; quote a value "
                    "that holds commas)",
                    n, n == 1 ? "" : "s");
    if (check_uid(&f[0], why, whylen) < 0 ||
        check_tag(&f[1], why, whylen) < 0 ||
        check_value(&f[2], why, whylen) < 0)
        return -1;
    memcpy(r->uid, f[0].p, f[0].len);
    r->uid[f[0].len] = '\0';
    memcpy(r->tag, f[1].p, f[1].len);
    r->tag[f[1].len] = '\0';
    memcpy(r->value, f[2].p, f[2].len);
    r->value[f[2].len] = '\0';
    return 1;
}

/* ---- the stream ---- */

static void reject(tags_import *t, const char *why)
{
    t->rejected++;
    if (t->nerrors < TAGS_IMPORT_ERRORS_MAX &&
        asprintf(&t->errors[t->nerrors], "line %llu: %s",
                 (unsigned long long)t->line, why) >= 0)
        t->nerrors++;
}

static int write_rec(tags_import *t, const tags_import_rec *r)
{
    char key[STORE_KEY_MAX];
    ams_status st;

    if (t->st == NULL) {
        t->loaded++;
        return 0;
    }
    if (svc_crowd_key(key, sizeof key, r->uid, r->tag) < 0) {
        reject(t, "uid and tag make a key longer than the store allows");
        return 0;
    }
    st = store_tag_set(t->st, key, r->value, strlen(r->value), t->expire_at_ms,
                       t->now_ms);
    if (st != AMS_OK) {
        if (asprintf(&t->store_error,
                     "line %llu: the store failed (%s); the lines after it "
                     "were not read",
                     (unsigned long long)t->line,
                     st == AMS_ERR_STORE ? "see the log"
                                         : "unexpected "
                                           "status") < 0)
            t->store_error = NULL;
        log_error("tags import: store failed at line %llu",
                  (unsigned long long)t->line);
        return -1;
    }
    t->loaded++;
    return 0;
}

/* A complete line (line end removed except a CR), numbered t->line. */
static int one_line(tags_import *t, const char *line, size_t len)
{
    tags_import_rec r;
    char why[256];
    int rc;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (t->line == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3; /* a byte-order mark, as spreadsheets write them */
        len -= 3;
    }
    if (!t->seen_record && !blank(line, len)) {
        t->seen_record = 1;
        if (len == strlen(HEADER) && memcmp(line, HEADER, len) == 0)
            return 0;
    }
    rc = tags_import_parse_line(line, len, &r, why, sizeof why);
    if (rc < 0)
        reject(t, why);
    else if (rc > 0)
        return write_rec(t, &r);
    return 0;
}

static int end_line(tags_import *t, const char *line, size_t len)
{
    int rc = 0;

    t->line++;
    if (t->overlong) {
        char why[64];
        snprintf(why, sizeof why, "longer than %d bytes",
                 TAGS_IMPORT_LINE_MAX);
        reject(t, why);
        t->seen_record = 1;
    } else {
        rc = one_line(t, line, len);
    }
    t->overlong = 0;
    t->blen = 0;
    return rc;
}

/* Append to the current line; a line that outgrows the buffer is only
 * remembered as too long. */
static void take(tags_import *t, const char *p, size_t n)
{
    if (t->overlong)
        return;
    if (n > sizeof t->buf - t->blen) {
        t->overlong = 1;
        return;
    }
    memcpy(t->buf + t->blen, p, n);
    t->blen += n;
}

int tags_import_feed(tags_import *t, const char *data, size_t len)
{
    if (t->store_error != NULL)
        return -1;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n;

        if (nl == NULL) {
            take(t, data, len);
            return 0;
        }
        n = (size_t)(nl - data);
        if (t->blen == 0 && !t->overlong) {
            if (end_line(t, data, n) < 0) /* straight from the input */
                return -1;
        } else {
            take(t, data, n);
            if (end_line(t, t->buf, t->blen) < 0)
                return -1;
        }
        data = nl + 1;
        len -= n + 1;
    }
    return 0;
}

int tags_import_finish(tags_import *t)
{
    if (t->store_error != NULL)
        return -1;
    if (t->blen > 0 || t->overlong)
        return end_line(t, t->buf, t->blen);
    return 0;
}

cJSON *tags_import_answer(uint64_t loaded, uint64_t rejected,
                          char *const *errors, size_t nerrors,
                          const char *store_error)
{
    cJSON *b = cJSON_CreateObject(), *list = cJSON_CreateArray();

    if (b == NULL || list == NULL) {
        cJSON_Delete(b);
        cJSON_Delete(list);
        return NULL;
    }
    cJSON_AddNumberToObject(b, "loaded", (double)loaded);
    cJSON_AddNumberToObject(b, "rejected", (double)rejected);
    for (size_t i = 0; i < nerrors; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(errors[i]));
    cJSON_AddItemToObject(b, "errors", list);
    if (rejected > nerrors) {
        char more[64];
        snprintf(more, sizeof more, "and %llu more",
                 (unsigned long long)(rejected - nerrors));
        cJSON_AddStringToObject(b, "errors_more", more);
    }
    if (store_error != NULL)
        cJSON_AddStringToObject(b, "store_error", store_error);
    return b;
}

cJSON *tags_import_result(const tags_import *t)
{
    return tags_import_answer(t->loaded, t->rejected, t->errors, t->nerrors,
                              t->store_error);
}

cJSON *tags_import_run(const store_options *opt, struct evbuffer *body,
                       int64_t now_ms, int64_t ttl_ms)
{
    char err[512] = "";
    store *st = store_open(opt, err, sizeof err);
    tags_import t;
    cJSON *res;
    struct evbuffer_iovec *v = NULL;
    int nv;

    if (st == NULL) {
        res = cJSON_CreateObject();
        if (res != NULL) {
            char msg[600];
            snprintf(msg, sizeof msg, "cannot open the store: %s", err);
            cJSON_AddNumberToObject(res, "loaded", 0);
            cJSON_AddStringToObject(res, "store_error", msg);
        }
        return res;
    }
    tags_import_init(&t, st, now_ms, ttl_ms > 0 ? now_ms + ttl_ms : 0);
    /* Chunk by chunk, as the body arrived: never pulled into one piece. */
    nv = evbuffer_peek(body, -1, NULL, NULL, 0);
    if (nv > 0 && (v = calloc((size_t)nv, sizeof *v)) != NULL)
        nv = evbuffer_peek(body, -1, NULL, v, nv);
    else if (nv > 0)
        nv = -1;
    for (int i = 0; i < nv; i++)
        if (tags_import_feed(&t, v[i].iov_base, v[i].iov_len) < 0)
            break;
    free(v);
    if (nv < 0) {
        tags_import_free(&t);
        store_close(st);
        return NULL;
    }
    tags_import_finish(&t);
    store_close(st);
    res = tags_import_result(&t);
    tags_import_free(&t);
    return res;
}
