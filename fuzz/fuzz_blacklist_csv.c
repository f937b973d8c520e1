/*
 * fuzz_blacklist_csv.c -- the blacklist import (POST /admin/blacklist/
 * import: "kind,value,reason,expires_at" lines; core/data/blacklist_admin.h)
 * and the journal records it becomes (core/data/blacklist.h).  The first
 * byte chooses what the rest is:
 *
 *  - even: an import body, checked without a store (bl_import_run), and
 *    each of its lines through bl_import_parse_line (so bl_value_parse,
 *    bl_reason_check and bl_expiry_parse).  A refused line says why; the
 *    counts add up to at most the lines; and an accepted line, written
 *    as the journal writes it, is read back by bl_record_decode as the
 *    same change: a value or reason that held a tab or a line end would
 *    shift the fields of every node's index.
 *  - odd: journal records, one a line, through bl_record_decode (another
 *    node, or a later version, may have written them).
 */
#include "blacklist.h"
#include "blacklist_admin.h"
#include "fuzz.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET

/* The import's clock: 2026-12-04, so past and future expiries both
 * occur in the seeds. */
#define FZ_NOW_MS 1764806400000LL

/* The record of c as blacklist_journal.c's encode writes it (without the
 * newline): the format of the file comment there. */
static char *record(const bl_change *c, size_t *len)
{
    char *s = NULL;
    int n;

    n = c->add
            ? asprintf(&s,
                       "a\t%" PRId64 "\t%c\t%s\t%" PRId64 "\t%" PRId64 "\t%s",
                       c->activity_id, c->kind, c->value, c->expires_ms,
                       c->at_ms, c->reason)
            : asprintf(&s, "r\t%" PRId64 "\t%c\t%s\t%" PRId64, c->activity_id,
                       c->kind, c->value, c->at_ms);
    if (n < 0)
        abort();
    *len = (size_t)n;
    return s;
}

static void import_line(const char *line, size_t n)
{
    bl_change c, back;
    char why[256], *rec;
    size_t rlen;
    int rc;

    if (n > 0 && line[n - 1] == '\r') /* CRLF, as bl_import_run strips it */
        n--;
    why[0] = '\0';
    rc = bl_import_parse_line(line, n, 42, FZ_NOW_MS, &c, why, sizeof why);
    if (rc < 0 && why[0] == '\0') {
        fprintf(stderr, "a line refused without a reason\n");
        abort();
    }
    if (rc != 1)
        return;
    rec = record(&c, &rlen);
    if (bl_record_decode(rec, rlen, &back) < 0 || back.add != c.add ||
        back.activity_id != c.activity_id || back.kind != c.kind ||
        strcmp(back.value, c.value) != 0 || back.expires_ms != c.expires_ms ||
        back.at_ms != c.at_ms || strcmp(back.reason, c.reason) != 0) {
        fprintf(stderr, "the journal reads the record back differently: %s\n",
                rec);
        abort();
    }
    free(rec);
}

/* Call fn for each line of [p, p + n), without its LF. */
static size_t lines(const char *p, size_t n,
                    void (*fn)(const char *line, size_t n))
{
    const char *end = p + n;
    size_t count = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t k = nl ? (size_t)(nl - p) : (size_t)(end - p);
        fn(p, k);
        p += k + 1;
        count++;
    }
    return count;
}

static void journal_line(const char *line, size_t n)
{
    bl_change c;

    /* Each line its own allocation of exactly its bytes: ASan sees a
     * read past the record's length. */
    char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return;
    memcpy(copy, line, n);
    if (bl_record_decode(copy, n, &c) == 0 &&
        (memchr(c.value, '\t', strlen(c.value)) != NULL ||
         (c.kind != BL_UID && c.kind != BL_IP))) {
        fprintf(stderr, "a record decoded to a bad change\n");
        abort();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data + 1;
    size_t len, nlines;
    cJSON *res;

    if (size < 1)
        return 0;
    len = size - 1;
    if (data[0] % 2 == 1) {
        lines(body, len, journal_line);
        return 0;
    }
    nlines = lines(body, len, import_line);
    res = bl_import_run(NULL, body, len, 42, FZ_NOW_MS);
    if (res == NULL)
        abort();
    {
        double loaded =
            cJSON_GetNumberValue(cJSON_GetObjectItem(res, "loaded"));
        double rejected =
            cJSON_GetNumberValue(cJSON_GetObjectItem(res, "rejected"));
        if (!(loaded >= 0 && rejected >= 0 &&
              loaded + rejected <= (double)nlines)) {
            fprintf(stderr, "%g loaded, %g rejected of %zu lines\n", loaded,
                    rejected, nlines);
            abort();
        }
    }
    cJSON_Delete(res);
    return 0;
}
