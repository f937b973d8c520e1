/*
 * blacklist.h -- uids and IP prefixes refused at the gateway, globally or
 * for one activity, each with a reason and an optional expiry.
 *
 * The truth is a journal in the store (blacklist_journal.c): a list of
 * items, each a batch of change records ("add", "remove") appended in
 * one write.  Every process that needs the blacklist keeps an index
 * (bl_index) it brings up to date by reading the journal from the last
 * item it applied: a worker at start, every blacklist.poll_ms, and at
 * once when the master tells it this node changed the blacklist; the
 * admin plane's helper to list entries.  Several nodes on one Redis read
 * one journal; LMDB keeps it across restarts.
 *
 * The index answers in O(1) for a uid (one hash lookup per scope) and
 * O(log n) for an IP (a binary search over disjoint ranges per scope).
 * An entry whose expiry has passed stops applying at once: the check
 * compares it with the request's clock, nothing has to run.
 */
#ifndef AMS_CORE_BLACKLIST_H
#define AMS_CORE_BLACKLIST_H

#include "cidr.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

enum { BL_UID = 'u', BL_IP = 'i' };

#define BL_REASON_MAX 200 /* bytes of a reason */
#define BL_VALUE_MAX 128  /* a uid (the gateway's bound) or an IP prefix */

/* One change: what a journal record says. */
typedef struct bl_change {
    int add;                      /* 1: add or replace; 0: remove */
    int64_t activity_id;          /* 0: global */
    int kind;                     /* BL_UID, BL_IP */
    char value[BL_VALUE_MAX + 1]; /* uid, or the prefix in canonical text */
    int64_t expires_ms;           /* add: 0 = never */
    int64_t at_ms;                /* when the change was made */
    char reason[BL_REASON_MAX + 1];
} bl_change;

typedef struct bl_entry {
    int64_t activity_id;
    int kind;
    char *value;  /* owned */
    char *reason; /* owned */
    cidr net;     /* BL_IP */
    int64_t expires_ms, added_ms;
    uint64_t hash;
} bl_entry;

typedef struct bl_range bl_range; /* blacklist.c */

/* The IP ranges of one scope, disjoint, sorted. */
typedef struct bl_scope {
    int64_t activity_id;
    bl_range *r; /* owned */
    size_t n;
    size_t nentries; /* IP entries of this scope */
    int dirty;       /* r must be rebuilt from the entries */
} bl_scope;

typedef struct bl_index {
    bl_entry **slot;        /* open addressing; NULL empty, &bl_tomb deleted */
    size_t nslots, n, used; /* used: live + tombstones */
    size_t nuid, nip;       /* live entries of each kind */
    bl_scope *scopes;       /* sorted by activity_id; owned */
    size_t nscopes;
    size_t next_item; /* the journal item to read next */
} bl_index;

/* What a refused request hit. */
typedef struct bl_hit {
    int64_t activity_id; /* 0: a global entry */
    int kind;
    const char *reason; /* valid until the index changes */
} bl_hit;

void bl_index_init(bl_index *x);
void bl_index_free(bl_index *x);

/* Apply one change.  0, or -1 when memory is short (nothing changed). */
int bl_index_apply(bl_index *x, const bl_change *c);
/* Bring the IP ranges of changed scopes up to date: call after a batch
 * of bl_index_apply and before the next check.  -1 when memory is short
 * (those scopes keep refusing by their entries one by one: correct,
 * slower). */
int bl_index_settle(bl_index *x);

/* 1 when the request is refused, *hit saying by what; 0 when it may go
 * on.  ip NULL or unparsable: no IP check.  uid NULL or "": no uid check.
 * Entries with expires_ms <= now_ms do not apply. */
int bl_index_check(const bl_index *x, int64_t activity_id, const char *uid,
                   const cidr_ip *ip, int64_t now_ms, bl_hit *hit);

/* The entry of (activity_id, kind, value) or NULL. */
const bl_entry *bl_index_find(const bl_index *x, int64_t activity_id, int kind,
                              const char *value);

/* Call fn for every entry (in no order); stops when fn returns nonzero. */
void bl_index_each(const bl_index *x, int (*fn)(const bl_entry *e, void *ud),
                   void *ud);

/* ---- values as an operator writes them (blacklist_journal.c) ---- */

/* Check and canonicalize value of kind ("uid" / "ip" as text) into c:
 * kind, value.  A prefix with host bits set is cleared ("10.1.2.3/8" is
 * 10.0.0.0/8).  0, or -1 with why. */
int bl_value_parse(const char *kind, const char *value, bl_change *c,
                   char *why, size_t whylen);
/* A reason: at most BL_REASON_MAX bytes of UTF-8 without control
 * characters.  0, or -1 with why. */
int bl_reason_check(const char *reason, char *why, size_t whylen);
/* An expiry: "" (never), Unix seconds, or "YYYY-MM-DDTHH:MM:SSZ".  0 with
 * *ms, or -1 with why. */
int bl_expiry_parse(const char *s, int64_t *ms, char *why, size_t whylen);

/* ---- the journal in the store (blacklist_journal.c) ---- */

/* The store key of the journal (a list). */
const char *bl_journal_key(void);

/* Append changes c[0..n-1] to the journal, as items of at most
 * BL_ITEM_RECORDS records, one write set each.  AMS_OK or the store's
 * failure (the items before it were appended). */
#define BL_ITEM_RECORDS 2000
ams_status bl_journal_append(store *st, const bl_change *c, size_t n,
                             int64_t now_ms);

/* Read the journal from x->next_item to its end into x (then settled).
 * A journal shorter than x->next_item (the store was emptied) is read
 * again from its start into a fresh index that then replaces x.
 * *applied (may be NULL) gets the number of records applied.  AMS_OK,
 * or the store's failure (what was read before it is applied). */
ams_status bl_journal_read(store *st, bl_index *x, int64_t now_ms,
                           size_t *applied);

/* Decode one record (a line without its newline).  0, or -1 when it is
 * not one (a journal written by a later version: skipped). */
int bl_record_decode(const char *line, size_t len, bl_change *c);

/* ---- the worker's blacklist (blacklist.c) ---- */

/* The worker's index: read the journal now (blocking: at start and when
 * the master asks), and in a coroutine (blacklist_poll).  AMS_OK or the
 * store's failure (the index keeps what it had). */
ams_status blacklist_refresh(store *st, int64_t now_ms);

/* The gateway's check against the worker's index; ip is text as the
 * gateway holds it.  1: refused (*hit). */
int blacklist_check(int64_t activity_id, const char *uid, const char *ip,
                    int64_t now_ms, bl_hit *hit);

/* The 403 answer of a refused request (malloc'd text, caller frees; NULL
 * when out of memory), counted in metrics.  The reason goes along only
 * with show_reason (blacklist.show_reason). */
char *blacklist_reply(const bl_hit *hit, const char *request_id,
                      int show_reason);

/* Live entries of the worker's index. */
size_t blacklist_size(void);

/* Answer to the master's "blacklist_refresh" (answers.h): reads the
 * journal now, {"entries": N, "applied": M} or {"error": ...}. */
struct gen;
int answer_blacklist_refresh(struct gen *current, const cJSON *q,
                             cJSON *reply);

/* Free the worker's index (teardown, tests). */
void blacklist_reset(void);

#endif
