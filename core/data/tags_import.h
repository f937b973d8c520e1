/*
 * tags_import.h -- the crowd tag import: CSV lines "uid,tag,value" become
 * crowd-scope tags (svc_crowd_key), the tags every activity's rules read
 * with tag_get(AMS_SCOPE_CROWD, tag).  Parsing, validation and writing
 * only: POST /admin/tags/import (admin.c) runs it in a short-lived child
 * of the master, the unit test runs it directly.
 *
 * The body is fed in pieces of any size, so it is never copied whole.
 * Every line is checked on its own; a bad line is rejected with a reason
 * ("line 3: uid: empty") and the import goes on.  Only a store failure
 * stops it: the lines after it are not read.
 *
 * The format (docs/operator-guide.md): one record per line, LF or CRLF;
 * blank lines are skipped, and so is a first line "uid,tag,value" (after
 * an optional UTF-8 byte-order mark).  Fields are separated by commas; a
 * field may be quoted as in RFC 4180 ("a,b" and "say ""hi""") but must
 * not span lines.
 */
#ifndef AMS_CORE_TAGS_IMPORT_H
#define AMS_CORE_TAGS_IMPORT_H

#include "store.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define TAGS_IMPORT_UID_MAX 128 /* the gateway's uid rule */
#define TAGS_IMPORT_TAG_MAX 100
#define TAGS_IMPORT_VALUE_MAX 1000
#define TAGS_IMPORT_LINE_MAX 4096  /* longer lines are rejected unread */
#define TAGS_IMPORT_ERRORS_MAX 100 /* reasons listed in the answer */

/* One valid record, NUL-terminated. */
typedef struct tags_import_rec {
    char uid[TAGS_IMPORT_UID_MAX + 1];
    char tag[TAGS_IMPORT_TAG_MAX + 1];
    char value[TAGS_IMPORT_VALUE_MAX + 1];
} tags_import_rec;

/* One import in progress.  Fields are read-only to callers. */
typedef struct tags_import {
    store *st;            /* not owned */
    int64_t now_ms;       /* the store clock of every write */
    int64_t expire_at_ms; /* of every tag written; 0: never */
    uint64_t line;        /* lines started so far (1-based number) */
    uint64_t loaded, rejected;
    char *errors[TAGS_IMPORT_ERRORS_MAX]; /* the first reasons, owned */
    size_t nerrors;
    char *store_error; /* owned; set once the store failed */
    int seen_record;   /* a non-blank line was seen (header check) */
    int overlong;      /* the current line passed LINE_MAX */
    size_t blen;       /* bytes of the current line in buf */
    char buf[TAGS_IMPORT_LINE_MAX + 1]; /* + its CR */
} tags_import;

/* Start an import writing into st (may be NULL to only validate). */
void tags_import_init(tags_import *t, store *st, int64_t now_ms,
                      int64_t expire_at_ms);

/* The next len bytes of the body, split anywhere.  Returns 0, or -1 once
 * the store has failed (t->store_error says how; the rest is ignored). */
int tags_import_feed(tags_import *t, const char *data, size_t len);

/* The end of the body: handles a last line without a newline.  Returns
 * like tags_import_feed. */
int tags_import_finish(tags_import *t);

/* The outcome as the admin plane answers it:
 *   {"loaded":N,"rejected":M,"errors":["line 3: uid: empty", ...]}
 * plus "errors_more":"and K more" when more than TAGS_IMPORT_ERRORS_MAX
 * lines were rejected, and "store_error" when the store failed.  The
 * caller owns the result; NULL when out of memory. */
/* The same answer from its parts, for every import of lines (tags,
 * blacklist entries); caller owns it, NULL when out of memory. */
cJSON *tags_import_answer(uint64_t loaded, uint64_t rejected,
                          char *const *errors, size_t nerrors,
                          const char *store_error);
cJSON *tags_import_result(const tags_import *t);

/* Release what t owns (not t itself, not the store). */
void tags_import_free(tags_import *t);

/* Parse and check one line (without its line end).  Returns 1 with the
 * record in *r, 0 for a blank line, -1 with the reason in why (e.g.
 * "uid: empty"; no line number). */
int tags_import_parse_line(const char *line, size_t len, tags_import_rec *r,
                           char *why, size_t whylen);

/* One field of a CSV line: p points into the caller's scratch. */
typedef struct csv_field {
    const char *p;
    size_t len;
} csv_field;

/* Split line into fields, unquoting RFC 4180 quoted ones into scratch
 * (at least len bytes).  *n gets the number of fields, counted past nmax
 * too; only the first nmax are kept in f.  0, or -1 with why (a quote
 * that does not end on the line, text after a closing quote).  The tag
 * import's and the blacklist import's one reading of CSV. */
int tags_import_split(const char *line, size_t len, char *scratch,
                      csv_field *f, size_t nmax, size_t *n, char *why,
                      size_t whylen);

/* The whole job as the admin plane's child runs it: open the store of
 * opt, import body (an evbuffer, read not drained), close the store.
 * ttl_ms > 0 gives every tag that lifetime from now_ms.  Returns the
 * result (caller owns); a store that cannot be opened is a result with
 * only "store_error".  NULL when out of memory. */
cJSON *tags_import_run(const store_options *opt, struct evbuffer *body,
                       int64_t now_ms, int64_t ttl_ms);

#endif
