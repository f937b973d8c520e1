/*
 * ratelimit.h -- rate limits (GCRA: a rate and a burst) on the attempts
 * that reach the gateway, before the chain runs (DESIGN.md §6a).
 *
 * Every request of a method is checked against its limits: those of
 * amsd.conf, its activity's and its own (rlconf.h; a name declared
 * closer in replaces one further out).  Each limit is one bucket per
 * uid, client address, method, activity or signed app, and an attempt
 * counts in every limit that admits it, whatever the limits beside it
 * and the chain after it decide: attempts are counted, not successes.
 * An attempt a limit refuses does not count in that limit (GCRA: a
 * refusal leaves the bucket as it was).  A shadow limit counts and is
 * reported (metrics) but refuses nothing.
 *
 * Where buckets live.  On Redis (several nodes), in the store: each
 * bucket one atomic script, sent in the same round trip as the
 * method's prefetch (store_read_rate), so a limited request costs no
 * extra round trip.  On LMDB and mem (one node), in a table of shared
 * memory that the master maps before it forks the workers: a bucket is
 * a (keyed hash, TAT) slot of an 8-way set, updated under the set's
 * lock (a robust process-shared mutex: a worker killed while holding
 * one does not wedge the others); exact across the node's workers, with
 * no store write and no fsync per request.
 *
 * The pre-filter.  Each worker remembers, per bucket, "refused until T"
 * once the shared limiter refused there: until T an attempt is refused
 * from the worker's memory, without a store call.  The bucket's TAT only
 * grows meanwhile (other workers and nodes only add to it), so the
 * pre-filter never refuses what the shared limiter would admit; a
 * reload forgets it (a limit may have been raised).
 */
#ifndef AMS_CORE_RATELIMIT_H
#define AMS_CORE_RATELIMIT_H

#include "rlconf.h"
#include "services.h"

#include <stdint.h>

/* Limits applied to one request, at most. */
#define RL_REQ_MAX 16

/* What the limits said about one request. */
typedef struct rl_verdict {
    int refused;       /* a limit refused: answer 429 */
    int headers;       /* a limit applied: RateLimit-* describe lim */
    rl_limit lim;      /* the refusing limit, or the one nearest to refusing */
    int64_t remaining; /* attempts it would still admit now */
    int64_t reset_s;   /* seconds until its bucket is full again */
    int64_t retry_s;   /* refused: seconds until it admits again (>= 1) */
} rl_verdict;

/* ---- the GCRA step, pure (tests drive it with a fake clock) ---- */

/* One attempt at now_us on a bucket whose TAT is *tat (0: never used):
 * 1 when it conforms (and *tat moves on by t_us), 0 when it does not
 * (*tat becomes max(*tat, now_us), which is as good: see store.h). */
int rl_gcra(int64_t *tat, int64_t now_us, int64_t t_us, int64_t tau_us);

/* The figures of a bucket with TAT tat at now_us, as the headers give
 * them (see rl_verdict). */
void rl_figures(int64_t tat, int64_t now_us, int64_t t_us, int64_t tau_us,
                int64_t *remaining, int64_t *reset_s, int64_t *retry_s);

/* ---- the node ---- */

/* Called by the master before it forks the workers: with shared 1 the
 * store counts the buckets (Redis); otherwise map the node's table of
 * `slots` buckets (shared with every worker forked after).  Also picks
 * the secret key of the bucket hashes.  0, or -1 when the table could
 * not be mapped. */
int rl_node_init(int shared, size_t slots);

/* ---- a request ---- */

/* Check r (uid, client_ip, app, activity and method set) against its
 * limits; counts them, fills v.  In a coroutine, as it may wait on the
 * store.  On Redis it also reads ahead what the method is known to read
 * (prefetch.h), in the same round trip: then r->ws is set, and the
 * pipeline uses it as it is. */
void rl_check(svc_req *r, const rl_set *global, rl_verdict *v);

/* The RateLimit-* headers (and Retry-After when refused) of v, into
 * out (struct evkeyvalq *, libevent's). */
struct evkeyvalq;
void rl_headers(const rl_verdict *v, struct evkeyvalq *out);

/* The 429 message for v into buf ("rate limit ... exceeded"). */
void rl_message(const rl_verdict *v, char *buf, size_t len);

/* Forget what the pre-filter knows (a reload). */
void rl_prefilter_clear(void);

#endif
