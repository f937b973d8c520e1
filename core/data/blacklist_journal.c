/*
 * blacklist_journal.c -- the blacklist as the store holds it, and the
 * values an operator writes.
 *
 * One list, "{a0}hg:blacklist" (a host key: plugins cannot reach it),
 * is the journal.  Each item is a batch of records, one a line:
 *
 *   a <TAB> activity <TAB> u|i <TAB> value <TAB> expires_ms <TAB> at_ms
 *     <TAB> reason              add or replace (expires_ms 0: never)
 *   r <TAB> activity <TAB> u|i <TAB> value <TAB> at_ms     remove
 *
 * (activity 0: global).  Values and reasons never hold a tab or a line
 * end (bl_value_parse, bl_reason_check), so no quoting is needed.  The
 * journal only grows: the item number a reader got to is all it needs to
 * pick up later changes, on any node, in the order they were appended
 * (APPEND is atomic on every backend).  Batching many records into one
 * item makes a bulk import a few writes, not one per entry.
 */
#include "blacklist.h"

#include "log.h"
#include "services.h"
#include "text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *bl_journal_key(void)
{
    static char key[64];

    if (key[0] == '\0')
        svc_host_key(key, sizeof key, 0, NULL, "blacklist");
    return key;
}

/* ---- values ---- */

static int say(char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    return -1;
}

int bl_value_parse(const char *kind, const char *value, bl_change *c,
                   char *why, size_t whylen)
{
    cidr net;
    char text[CIDR_TEXT_MAX];

    if (strcmp(kind, "uid") == 0) {
        if (!text_is_token(value, 1, BL_VALUE_MAX))
            return say(why, whylen,
                       "value: a uid is 1..128 printable characters "
                       "without spaces");
        c->kind = BL_UID;
        snprintf(c->value, sizeof c->value, "%s", value);
        return 0;
    }
    if (strcmp(kind, "ip") != 0)
        return say(why, whylen, "kind: expected \"uid\" or \"ip\"");
    if (cidr_parse(value, &net) < 0)
        return say(why, whylen,
                   "value: not an IP address or prefix (e.g. 192.0.2.7, "
                   "10.0.0.0/8, 2001:db8::/32)");
    cidr_ip_format(&net.base, text, sizeof text);
    c->kind = BL_IP;
    snprintf(c->value, sizeof c->value, "%s/%u", text,
             cidr_ip_is_v4(&net.base) ? net.bits - 96 : net.bits);
    return 0;
}

int bl_reason_check(const char *reason, char *why, size_t whylen)
{
    size_t n = strlen(reason);

    if (n > BL_REASON_MAX) {
        snprintf(why, whylen, "reason: %zu bytes, at most %d", n,
                 BL_REASON_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7F) {
            snprintf(why, whylen, "reason: control character at byte %zu",
                     i + 1);
            return -1;
        }
    return 0;
}

int bl_expiry_parse(const char *s, int64_t *ms, char *why, size_t whylen)
{
    struct tm tm;
    char *end;
    long long v;

    *ms = 0;
    if (s[0] == '\0')
        return 0;
    if (strspn(s, "0123456789") == strlen(s)) {
        errno = 0;
        v = strtoll(s, &end, 10);
        if (*end != '\0' || errno != 0 || v < 1 || v > 253402300799LL)
            return say(why, whylen,
                       "expires_at: expected Unix seconds (1..253402300799), "
                       "YYYY-MM-DDTHH:MM:SSZ, or empty for never");
        *ms = (int64_t)v * 1000;
        return 0;
    }
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0' || tm.tm_year < 70 || tm.tm_year > 8099)
        return say(why, whylen,
                   "expires_at: expected Unix seconds, YYYY-MM-DDTHH:MM:SSZ "
                   "(UTC), or empty for never");
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

/* ---- records ---- */

/* Append the record of c and a newline to b. */
static void encode(tbuf *b, const bl_change *c)
{
    char k[2] = {(char)c->kind, '\0'};

    tbuf_str(b, c->add ? "a\t" : "r\t");
    tbuf_int(b, (long long)c->activity_id);
    tbuf_str(b, "\t");
    tbuf_str(b, k);
    tbuf_str(b, "\t");
    tbuf_str(b, c->value);
    tbuf_str(b, "\t");
    if (c->add) {
        tbuf_int(b, (long long)c->expires_ms);
        tbuf_str(b, "\t");
    }
    tbuf_int(b, (long long)c->at_ms);
    if (c->add) {
        tbuf_str(b, "\t");
        tbuf_str(b, c->reason);
    }
    tbuf_str(b, "\n");
}

/* The next tab-separated field of [*p, end) into f (n bytes); 0, or -1
 * when there is none. */
static int next_field(const char **p, const char *end, const char **f,
                      size_t *n, int last)
{
    const char *t;

    if (*p > end)
        return -1;
    t = last ? end : memchr(*p, '\t', (size_t)(end - *p));
    if (t == NULL)
        return -1;
    *f = *p;
    *n = (size_t)(t - *p);
    *p = t + 1;
    return 0;
}

static int field_int(const char *f, size_t n, int64_t *out)
{
    char tmp[24], *end;

    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, f, n);
    tmp[n] = '\0';
    errno = 0;
    *out = strtoll(tmp, &end, 10);
    return (*end != '\0' || errno != 0 || *out < 0) ? -1 : 0;
}

static int field_text(const char *f, size_t n, char *out, size_t cap)
{
    if (n >= cap)
        return -1;
    memcpy(out, f, n);
    out[n] = '\0';
    return 0;
}

int bl_record_decode(const char *line, size_t len, bl_change *c)
{
    const char *p = line, *end = line + len, *f;
    size_t n;

    memset(c, 0, sizeof *c);
    if (len < 2 || (line[0] != 'a' && line[0] != 'r') || line[1] != '\t')
        return -1;
    c->add = line[0] == 'a';
    p += 2;
    if (next_field(&p, end, &f, &n, 0) < 0 ||
        field_int(f, n, &c->activity_id) < 0 ||
        next_field(&p, end, &f, &n, 0) < 0 || n != 1 ||
        (f[0] != BL_UID && f[0] != BL_IP))
        return -1;
    c->kind = f[0];
    if (next_field(&p, end, &f, &n, 0) < 0 ||
        field_text(f, n, c->value, sizeof c->value) < 0 || n == 0)
        return -1;
    if (c->add && (next_field(&p, end, &f, &n, 0) < 0 ||
                   field_int(f, n, &c->expires_ms) < 0))
        return -1;
    if (next_field(&p, end, &f, &n, !c->add) < 0 ||
        field_int(f, n, &c->at_ms) < 0)
        return -1;
    if (c->add && (next_field(&p, end, &f, &n, 1) < 0 ||
                   field_text(f, n, c->reason, sizeof c->reason) < 0))
        return -1;
    if (c->kind == BL_IP) {
        cidr net;
        if (cidr_parse(c->value, &net) < 0)
            return -1;
    }
    return 0;
}

/* ---- the store ---- */

/* Longest record: the fields plus separators. */
#define BL_RECORD_MAX (BL_VALUE_MAX + BL_REASON_MAX + 100)

ams_status bl_journal_append(store *st, const bl_change *c, size_t n,
                             int64_t now_ms)
{
    size_t cap = BL_ITEM_RECORDS * BL_RECORD_MAX;
    char *buf = malloc(cap);
    ams_status rc = AMS_OK;

    if (buf == NULL)
        return AMS_ERR;
    for (size_t i = 0; i < n && rc == AMS_OK;) {
        tbuf b = TBUF(buf, cap);
        store_wop op;
        store_wset set;
        store_wres res;

        for (size_t k = 0; k < BL_ITEM_RECORDS && i < n; k++, i++)
            encode(&b, &c[i]);
        if (tbuf_end(&b) < 0) {
            rc = AMS_ERR; /* cannot happen: cap covers the longest */
            break;
        }
        memset(&op, 0, sizeof op);
        op.kind = STORE_W_APPEND;
        op.key = bl_journal_key();
        op.val = buf;
        op.len = b.n;
        set = (store_wset){&op, 1, now_ms};
        rc = store_commit(st, &set, 1, &res);
        if (rc == AMS_OK && res.st != AMS_OK)
            rc = res.st;
    }
    free(buf);
    return rc;
}

/* Apply every record of one item; returns how many applied. */
static size_t apply_item(bl_index *x, const char *p, size_t len)
{
    const char *end = p + len;
    size_t applied = 0;
    bl_change c;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && bl_record_decode(p, n, &c) == 0 &&
            bl_index_apply(x, &c) == 0)
            applied++;
        p += n + 1;
    }
    return applied;
}

#define BL_READ_PAGE 64

/* Read from x->next_item to the end into x.  *empty: nothing was there
 * at x->next_item on the first read. */
static ams_status read_from(store *st, bl_index *x, int64_t now_ms,
                            size_t *total, int *empty)
{
    ams_status rc = AMS_OK;

    *empty = 0;
    for (int first = 1;; first = 0) {
        size_t from = x->next_item, count = 0;
        store_item *it = NULL;

        rc = store_list_range(st, bl_journal_key(), from, BL_READ_PAGE, now_ms,
                              &it, &count);
        if (rc != AMS_OK)
            break;
        /* Another reader of this index (the master's ask while a poll
         * waited on the store) got there first: its reading stands. */
        if (x->next_item != from) {
            store_items_free(it, count);
            break;
        }
        *empty = first && count == 0;
        for (size_t i = 0; i < count; i++)
            *total += apply_item(x, it[i].val, it[i].len);
        x->next_item += count;
        store_items_free(it, count);
        if (count < BL_READ_PAGE)
            break;
    }
    return rc;
}

/* 1 when the journal no longer has the last item x read: the store was
 * emptied (a Redis restarted without persistence, FLUSHALL) and what is
 * there now is a new journal. */
static int journal_gone(store *st, const bl_index *x, int64_t now_ms)
{
    store_item *it = NULL;
    size_t count = 0;

    if (x->next_item == 0 ||
        store_list_range(st, bl_journal_key(), x->next_item - 1, 1, now_ms,
                         &it, &count) != AMS_OK)
        return 0;
    store_items_free(it, count);
    return count == 0;
}

/* The journal was replaced: read the new one whole into a fresh index and
 * put it in x's place only when complete, so checks meanwhile (a read
 * that waits yields to other requests) still see the old entries. */
static ams_status reread(store *st, bl_index *x, int64_t now_ms, size_t *total)
{
    size_t before = x->next_item;
    bl_index fresh;
    ams_status rc;
    int empty;

    bl_index_init(&fresh);
    rc = read_from(st, &fresh, now_ms, total, &empty);
    if (rc != AMS_OK || x->next_item != before) {
        bl_index_free(&fresh);
        return rc;
    }
    bl_index_settle(&fresh);
    log_warn("blacklist: the journal in the store is not the one read "
             "before (the store was emptied?): %zu entr%s now, from the "
             "store as it is",
             fresh.n, fresh.n == 1 ? "y" : "ies");
    bl_index_free(x);
    *x = fresh;
    return AMS_OK;
}

ams_status bl_journal_read(store *st, bl_index *x, int64_t now_ms,
                           size_t *applied)
{
    size_t total = 0;
    int empty;
    ams_status rc = read_from(st, x, now_ms, &total, &empty);

    if (rc == AMS_OK && empty && journal_gone(st, x, now_ms))
        rc = reread(st, x, now_ms, &total);
    bl_index_settle(x);
    if (applied != NULL)
        *applied = total;
    return rc;
}
