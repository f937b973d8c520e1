/*
 * metrics.h -- what a worker counts for GET /metrics, and the table of
 * series that holds it.
 *
 * Each worker counts in plain memory of its own process: single-threaded,
 * no locks, nothing shared.  Counters live as long as the process, not a
 * generation, so they survive reloads and are lost when the worker dies
 * (Prometheus treats the drop as a counter reset; the master exports
 * amsd_worker_restarts_total beside them).  The master asks every worker
 * for its table ("stats", answers.h), sums the tables by labels
 * (metrics_text.h) and writes the exposition.
 *
 * A series is one family plus its label values.  The label sets are
 * bounded by configuration (activities x methods x reasons, plugin
 * entries, store operations), and the table caps the number of series
 * anyway: a series past the cap is not created and only counted as
 * dropped.
 */
#ifndef AMS_CORE_METRICS_H
#define AMS_CORE_METRICS_H

#include "activity.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef enum metrics_family {
    MF_REQUESTS = 0,     /* activity, method, reason: [count] */
    MF_LATENCY = 1,      /* activity, method: [count, sum_ns, buckets...] */
    MF_ENTRY = 2,        /* entry, kind: [count, sum_ns] */
    MF_STORE_ERRORS = 3, /* op: [count] */
    MF_COMMITS = 4,      /* event: [count] (metrics_count_commit) */
    MF_RATELIMIT = 5,    /* limit, outcome: [count] (ratelimit.h) */
    MF_RATELIMIT_EV = 6, /* event: [count] (ratelimit.h) */
    MF_BLACKLIST = 7,    /* scope, kind: [count] (blacklist refusals) */
    MF_CONN = 8,         /* plane, event: [count] (httpguard.h) */
    MF_COUNT
} metrics_family;

/* Upper bounds of the request latency histogram, in ns and as the le
 * label writes them (seconds); +Inf is the count. */
#define METRICS_BUCKETS 12
extern const int64_t metrics_bucket_ns[METRICS_BUCKETS];
extern const char *const metrics_bucket_le[METRICS_BUCKETS];

/* Series a worker keeps at most; more are dropped and counted. */
#define METRICS_SERIES_MAX 10000

typedef struct metrics_series {
    uint32_t hash;
    unsigned char family;
    unsigned short keylen; /* label values, each ending in NUL */
    const char *key;       /* in the same allocation, after v */
    uint64_t v[];          /* metrics_nvalues(family) values */
} metrics_series;

typedef struct metrics_table {
    metrics_series **all; /* in creation order; owned */
    size_t n, cap;
    uint32_t *slots;  /* open addressing: index into all + 1 */
    size_t nslots;    /* a power of two, or 0 */
    size_t max;       /* cap on n */
    uint64_t dropped; /* gets that found no series and could not
                         create one (over max, no memory) */
} metrics_table;

/* Labels and values of a family. */
size_t metrics_nlabels(metrics_family f);
size_t metrics_nvalues(metrics_family f);

/* An empty table holding at most max series.  Free with
 * metrics_table_free (not the struct itself). */
void metrics_table_init(metrics_table *t, size_t max);
void metrics_table_free(metrics_table *t);

/* The series of (f, labels), created with zero values on first use
 * (labels: metrics_nlabels(f) strings).  NULL, counted in t->dropped,
 * when the table is full or memory is short. */
metrics_series *metrics_table_get(metrics_table *t, metrics_family f,
                                  const char *const *labels);

/* Add every series of src to dst (values summed by labels).  Series dst
 * cannot hold are counted in dst->dropped. */
void metrics_table_add(metrics_table *dst, const metrics_table *src);

/* Label i of s (a pointer into s->key). */
const char *metrics_label(const metrics_series *s, size_t i);

/* ---- counting, in the worker (the process-wide table) ---- */

/* CLOCK_MONOTONIC in ns: what every duration here is measured with. */
int64_t metrics_now_ns(void);

/* One answered request: activity id (0 when the route named no known
 * activity), method name ("" when unknown), the answer's reason, and
 * the time from reading the request to handing over the reply. */
void metrics_count_request(int64_t activity_id, const char *mname,
                           const char *reason, int64_t elapsed_ns);

/* One call of an entry of instance in (fn is its fn or its undo). */
void metrics_count_call(const instance *in, ams_entry_fn fn,
                        int64_t elapsed_ns);

/* A store call answered AMS_ERR_STORE (op: "counter_add", ...). */
void metrics_count_store_error(const char *op);
/* What became of requests' write sets (DESIGN.md §5): "committed" (a set
 * applied), "conflict" (a set that no longer validated: the request runs
 * again), "busy" (still contended after its reruns), "sold_out_memory"
 * (refused from the worker's sold-out facts, no store call), "batch" (a
 * group commit: one store transaction for the sets queued meanwhile). */
void metrics_count_commit(const char *event, uint64_t n);
/* An attempt a rate limit (its label, rlconf.h) saw: "allowed",
 * "refused" or "shadow_refused" (a shadow limit would have refused). */
void metrics_count_ratelimit(const char *limit, const char *outcome);
/* Around the limits: "prefilter" (refused from the worker's memory, no
 * store call), "evicted" (a live bucket dropped from the full node
 * table), "store_error" (the store failed: the limits let it through). */
void metrics_count_ratelimit_event(const char *event);

/* A connection an HTTP guard closed or refused (httpguard_set_counter):
 * plane "data" / "admin" (the first word of the guard's name), event
 * header_timeout, body_timeout, refused, bad_headers, accept_error,
 * early_refused. */
void metrics_count_conn(const char *plane, const char *event);

/* A request refused by the blacklist: scope "global" / "activity",
 * kind "uid" / "ip". */
void metrics_count_blacklist(const char *scope, const char *kind);

/* inner behind a store that passes every call through and counts those
 * answering AMS_ERR_STORE (metrics_store.c): the one place every store
 * call of a worker passes, the pipeline's and the plugins' alike.  Takes
 * inner over (store_close closes both); returns inner itself when memory
 * is short, or NULL for NULL. */
store *metrics_store_wrap(store *inner);

/* The process-wide table (tests read it; the worker answers from it). */
metrics_table *metrics_worker_table(void);

/* ---- the wire format between worker and master ---- */

/* Append series [from, ...) of t to arr as compact arrays
 * [family, label..., value...] until about budget bytes of JSON; returns
 * the index of the first series not written (t->n when all were). */
size_t metrics_encode(const metrics_table *t, size_t from, size_t budget,
                      cJSON *arr);

/* Add every well-formed element of arr (as metrics_encode writes them)
 * to t, summing values of equal series.  Returns the number of elements
 * left out as malformed. */
size_t metrics_merge(metrics_table *t, const cJSON *arr);

#endif
