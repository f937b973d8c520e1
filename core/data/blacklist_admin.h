/*
 * blacklist_admin.h -- what the admin plane does with the blacklist, in
 * the helper child the master forks for it (the store is opened there,
 * never in the master): bulk import of CSV lines, and listing entries.
 *
 * Import format (docs/operator-guide.md): one entry a line, LF or CRLF,
 *   kind,value,reason,expires_at
 * kind "uid" or "ip"; value a uid, an address or a CIDR prefix; reason
 * free text (quote it as in RFC 4180 when it holds a comma; may be
 * empty); expires_at empty (never), Unix seconds or YYYY-MM-DDTHH:MM:SSZ.
 * Blank lines are skipped, and so is a first line
 * "kind,value,reason,expires_at" (after an optional UTF-8 byte-order
 * mark).  A bad line is rejected with its number and the import goes on;
 * a store failure stops it.
 */
#ifndef AMS_CORE_BLACKLIST_ADMIN_H
#define AMS_CORE_BLACKLIST_ADMIN_H

#include "blacklist.h"

#define BL_IMPORT_ERRORS_MAX 100 /* reasons listed in the answer */
#define BL_IMPORT_LINE_MAX 4096

/* Parse one line (without its line end) into c (activity_id and at_ms
 * from the caller).  1: a record; 0: blank; -1: bad, with why.  An expiry
 * at or before now_ms is refused (it would never apply). */
int bl_import_parse_line(const char *line, size_t len, int64_t activity_id,
                         int64_t now_ms, bl_change *c, char *why,
                         size_t whylen);

/* Import body (len bytes) into st (NULL: only check), every entry scoped
 * to activity_id (0: global).  The outcome:
 *   {"loaded":N,"rejected":M,"errors":["line 3: kind: ...", ...]}
 * plus "errors_more" past BL_IMPORT_ERRORS_MAX and "store_error" when the
 * store failed.  Caller owns it; NULL when out of memory. */
cJSON *bl_import_run(store *st, const char *body, size_t len,
                     int64_t activity_id, int64_t now_ms);

/* Which entries a list wants. */
typedef struct bl_filter {
    int64_t activity_id; /* -1: every scope; 0: global; N: activity N */
    int kind;            /* 0: both; BL_UID, BL_IP */
    const char *match;   /* NULL, or a uid (its entries) or an address
                            (the prefixes holding it) */
    int include_expired;
    size_t limit;
} bl_filter;

/* {"total":N (matching), "entries":[{"activity":..,"scope":"global"|
 * "activity","kind":"uid"|"ip","value":..,"reason":..,"expires_at":
 * "ISO"|null,"added_at":"ISO","expired":bool}, ...]} at most f->limit of
 * them, sorted by scope, kind, value.  Caller owns; NULL when out of
 * memory. */
cJSON *bl_list_json(const bl_index *x, const bl_filter *f, int64_t now_ms);

#endif
