/*
 * blacklist_admin.c -- bulk import and listing of the blacklist (see
 * blacklist_admin.h).  The import appends in items of BL_ITEM_RECORDS
 * records: 100,000 entries are 50 store writes.
 */
#include "blacklist_admin.h"

#include "log.h"
#include "tags_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEADER "kind,value,reason,expires_at"
#define NFIELDS 4

static int blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t')
            return 0;
    return 1;
}

static void field_str(const csv_field *f, char *out, size_t cap)
{
    size_t n = f->len < cap - 1 ? f->len : cap - 1;

    memcpy(out, f->p, n);
    out[n] = '\0';
}

int bl_import_parse_line(const char *line, size_t len, int64_t activity_id,
                         int64_t now_ms, bl_change *c, char *why,
                         size_t whylen)
{
    char scratch[BL_IMPORT_LINE_MAX];
    char kind[8], value[BL_VALUE_MAX + 2], exp[64];
    csv_field f[NFIELDS];
    size_t n;

    if (blank(line, len))
        return 0;
    if (len > sizeof scratch) {
        snprintf(why, whylen, "longer than %d bytes", BL_IMPORT_LINE_MAX);
        return -1;
    }
    if (tags_import_split(line, len, scratch, f, NFIELDS, &n, why, whylen) < 0)
        return -1;
    if (n != NFIELDS) {
        snprintf(why, whylen,
                 "%zu field%s, expected 4 (kind,value,reason,expires_at; "
                 "quote a reason that holds commas)",
                 n, n == 1 ? "" : "s");
        return -1;
    }
    memset(c, 0, sizeof *c);
    c->add = 1;
    c->activity_id = activity_id;
    c->at_ms = now_ms;
    if (f[0].len >= sizeof kind) {
        snprintf(why, whylen, "kind: expected \"uid\" or \"ip\"");
        return -1;
    }
    field_str(&f[0], kind, sizeof kind);
    field_str(&f[1], value, sizeof value);
    if (f[1].len > BL_VALUE_MAX) {
        snprintf(why, whylen, "value: %zu bytes, at most %d", f[1].len,
                 BL_VALUE_MAX);
        return -1;
    }
    if (bl_value_parse(kind, value, c, why, whylen) < 0)
        return -1;
    if (f[2].len > BL_REASON_MAX) {
        snprintf(why, whylen, "reason: %zu bytes, at most %d", f[2].len,
                 BL_REASON_MAX);
        return -1;
    }
    field_str(&f[2], c->reason, sizeof c->reason);
    if (strlen(c->reason) != f[2].len) {
        snprintf(why, whylen, "reason: control character at byte %zu",
                 strlen(c->reason) + 1);
        return -1;
    }
    if (bl_reason_check(c->reason, why, whylen) < 0)
        return -1;
    if (f[3].len >= sizeof exp) {
        snprintf(why, whylen, "expires_at: too long");
        return -1;
    }
    field_str(&f[3], exp, sizeof exp);
    if (bl_expiry_parse(exp, &c->expires_ms, why, whylen) < 0)
        return -1;
    if (c->expires_ms != 0 && c->expires_ms <= now_ms) {
        snprintf(why, whylen, "expires_at: %s is already past", exp);
        return -1;
    }
    return 1;
}

/* ---- the import ---- */

typedef struct imp {
    store *st;
    bl_change *batch; /* BL_ITEM_RECORDS */
    size_t nb;
    uint64_t line, loaded, rejected;
    char *errors[BL_IMPORT_ERRORS_MAX];
    size_t nerrors;
    char *store_error;
    int64_t now_ms;
} imp;

static void reject(imp *t, const char *why)
{
    t->rejected++;
    if (t->nerrors < BL_IMPORT_ERRORS_MAX &&
        asprintf(&t->errors[t->nerrors], "line %llu: %s",
                 (unsigned long long)t->line, why) >= 0)
        t->nerrors++;
}

/* Write the batch.  -1 once the store failed (t->store_error). */
static int flush(imp *t)
{
    ams_status rc;

    if (t->nb == 0)
        return 0;
    rc = t->st ? bl_journal_append(t->st, t->batch, t->nb, t->now_ms) : AMS_OK;
    if (rc != AMS_OK) {
        if (asprintf(&t->store_error,
                     "the store failed writing the entries of lines up to "
                     "%llu (see the log); those and the lines after them "
                     "were not imported",
                     (unsigned long long)t->line) < 0)
            t->store_error = NULL;
        log_error("blacklist import: store failed near line %llu",
                  (unsigned long long)t->line);
        t->nb = 0;
        return -1;
    }
    t->loaded += t->nb;
    t->nb = 0;
    return 0;
}

/* The answer of a blacklist import: the tag import's shape. */
static cJSON *result(const imp *t)
{
    return tags_import_answer(t->loaded, t->rejected, t->errors, t->nerrors,
                              t->store_error);
}

cJSON *bl_import_run(store *st, const char *body, size_t len,
                     int64_t activity_id, int64_t now_ms)
{
    imp t;
    const char *p = body, *end = body + len;
    cJSON *res;
    char why[256];
    int seen = 0;

    memset(&t, 0, sizeof t);
    t.st = st;
    t.now_ms = now_ms;
    t.batch = malloc(BL_ITEM_RECORDS * sizeof *t.batch);
    if (t.batch == NULL)
        return NULL;
    while (p < end && t.store_error == NULL) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *line = p;
        int rc;

        p += n + 1;
        t.line++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (t.line == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            n -= 3;
        }
        if (!seen && !blank(line, n)) {
            seen = 1;
            if (n == strlen(HEADER) && memcmp(line, HEADER, n) == 0)
                continue;
        }
        rc = bl_import_parse_line(line, n, activity_id, now_ms, &t.batch[t.nb],
                                  why, sizeof why);
        if (rc < 0)
            reject(&t, why);
        else if (rc > 0 && ++t.nb == BL_ITEM_RECORDS)
            flush(&t);
    }
    if (t.store_error == NULL)
        flush(&t);
    res = result(&t);
    for (size_t i = 0; i < t.nerrors; i++)
        free(t.errors[i]);
    free(t.store_error);
    free(t.batch);
    return res;
}

/* ---- listing ---- */

typedef struct lister {
    const bl_filter *f;
    int64_t now_ms;
    cidr_ip ip;
    int match_ip;
    const bl_entry **hits;
    size_t n, cap;
    int oom;
} lister;

static int wanted(const lister *l, const bl_entry *e)
{
    const bl_filter *f = l->f;

    if (f->activity_id >= 0 && e->activity_id != f->activity_id)
        return 0;
    if (f->kind != 0 && e->kind != f->kind)
        return 0;
    if (!f->include_expired && e->expires_ms != 0 &&
        e->expires_ms <= l->now_ms)
        return 0;
    if (f->match != NULL) {
        if (e->kind == BL_IP)
            return l->match_ip && cidr_contains(&e->net, &l->ip);
        return strcmp(e->value, f->match) == 0;
    }
    return 1;
}

static int collect(const bl_entry *e, void *ud)
{
    lister *l = ud;

    if (!wanted(l, e))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        const bl_entry **h = realloc(l->hits, cap * sizeof *h);
        if (h == NULL) {
            l->oom = 1;
            return 1;
        }
        l->hits = h;
        l->cap = cap;
    }
    l->hits[l->n++] = e;
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const bl_entry *x = *(const bl_entry *const *)a;
    const bl_entry *y = *(const bl_entry *const *)b;

    if (x->activity_id != y->activity_id)
        return x->activity_id < y->activity_id ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind == BL_UID ? -1 : 1;
    return strcmp(x->value, y->value);
}

static void add_time(cJSON *o, const char *name, int64_t ms)
{
    char buf[32];
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    if (ms == 0 || gmtime_r(&s, &tm) == NULL) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, name, buf);
}

cJSON *bl_list_json(const bl_index *x, const bl_filter *f, int64_t now_ms)
{
    lister l = {f, now_ms, {{0}}, 0, NULL, 0, 0, 0};
    cJSON *b, *arr;

    if (f->match != NULL)
        l.match_ip = cidr_ip_parse(f->match, &l.ip) == 0;
    bl_index_each(x, collect, &l);
    b = cJSON_CreateObject();
    arr = cJSON_CreateArray();
    if (l.oom || b == NULL || arr == NULL) {
        free(l.hits);
        cJSON_Delete(b);
        cJSON_Delete(arr);
        return NULL;
    }
    if (l.n > 0)
        qsort(l.hits, l.n, sizeof *l.hits, entry_cmp);
    cJSON_AddNumberToObject(b, "total", (double)l.n);
    for (size_t i = 0; i < l.n && i < f->limit; i++) {
        const bl_entry *e = l.hits[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "activity", (double)e->activity_id);
        cJSON_AddStringToObject(o, "scope",
                                e->activity_id ? "activity" : "global");
        cJSON_AddStringToObject(o, "kind", e->kind == BL_UID ? "uid" : "ip");
        cJSON_AddStringToObject(o, "value", e->value);
        cJSON_AddStringToObject(o, "reason", e->reason);
        add_time(o, "expires_at", e->expires_ms);
        add_time(o, "added_at", e->added_ms);
        cJSON_AddBoolToObject(o, "expired",
                              e->expires_ms != 0 && e->expires_ms <= now_ms);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_AddItemToObject(b, "entries", arr);
    free(l.hits);
    return b;
}
