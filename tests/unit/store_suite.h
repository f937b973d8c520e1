/*
 * store_suite.h -- what the files of the store suite share.
 *
 * The suite is one program, test_store, run once per backend (meson.build
 * and run_store_redis.py): test_store.c has its main and the checks of the
 * store as a whole, test_store_<family>.c the checks of one record family
 * each.  main runs them in one sequence against one store, as before the
 * families had files of their own: the sweeps drain what every family
 * left, and the races run on a store that holds it all.
 *
 * Keys carry a per-run prefix (k()) so a shared, long-lived backend never
 * sees a previous run's records.
 */
#ifndef AMS_TESTS_STORE_SUITE_H
#define AMS_TESTS_STORE_SUITE_H

#include "fixture.h"
#include "store.h"
#include "tap.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define T 1000000LL             /* the clock of the functional tests */
#define T_SWEEP 1000000000000LL /* after everything the tests above left */
#define NEVER 0                 /* expire_at_ms: no expiry */

#define NCHILD 8 /* processes of the counter and lock races */

#define NF_STR "status 2" /* AMS_NOT_FOUND, as top_str and rank_str say */

/* The run: set once by suite_setup(), read by every file. */
typedef struct store_suite {
    char tmpdir[PATH_MAX]; /* ours, removed at the end */
    char uri[PATH_MAX + 64];
    int is_lmdb;
    int is_local; /* mem: lives and dies with its handle */
    char key_prefix[64];
} store_suite;

extern store_suite suite;

/* Make the run's scratch directory, pick the store URI (AMS_TEST_STORE,
 * or an LMDB store in the scratch directory) and the key prefix.  0, or
 * -1 after a "Bail out!" line. */
int suite_setup(void);

/* The run's key for name, its prefix between open and close: k() plain,
 * or "{prefix}name" for keys that must share a Redis Cluster slot.  The
 * key is in one of 16 rotating static buffers owned by the suite: copy it
 * to keep it past 16 more keys. */
const char *run_key(const char *open, const char *close, const char *name);
const char *k(const char *name);

/* The board's first n as "member=score,...", or "status N" when the call
 * fails.  In one of 4 rotating static buffers owned by the suite. */
const char *top_str(store *s, const char *key, size_t n, int64_t now);

/* "rank:score", or "status N" when the call does not answer AMS_OK.  In
 * one of 4 rotating static buffers owned by the suite. */
const char *rank_str(store *s, const char *key, const char *member,
                     int64_t now);

/* One check this backend cannot take, as an "ok N - what # SKIP why"
 * line: the runner counts it as skipped, never as passed. */
void skip(const char *what, const char *why);

/* Check that a sweep removed want records: exactly, on the backends that
 * expire nothing by themselves (lmdb:, mem:); at most, on the others. */
void check_removed(size_t got, size_t want, const char *what);

/* ---- concurrency: real processes, each with its own handle ---- */

/* What a child reports of its store calls. */
typedef struct tally {
    int ok, conflict, violation, err;
    int undone, refused; /* journals */
} tally;

/* A child's work: child number i of the race, on its own store s. */
typedef void (*child_fn)(store *s, int i, tally *t);

/* Run fn in nchild processes at once, each with its own handle on the
 * run's store; their tallies summed into sum.  Returns the number of
 * children that did not exit cleanly. */
int run_children(int nchild, child_fn fn, tally *sum);

/* ---- the record families, in the order main runs them ---- */

/* test_store_counter.c */
void counter_tests(store *s);
void counter_race(store *s);
/* test_store_lock.c */
void lock_tests(store *s);
void lock_race(store *s);
/* test_store_tag.c */
void tag_tests(store *s);
/* test_store_value.c */
void value_tests(store *s);
/* test_store_journal.c */
void journal_tests(store *s);
void journal_race(store *s);
/* test_store_board.c; board_sweep_tests after the sweep of the other
 * families, on a clock past all it left */
void board_tests(store *s);
void board_sweep_tests(store *s);
void board_race(store *s);
/* test_store_commit.c: write sets, read_many, list_range (skipped, one
 * line per group, on a backend without commit); after board_tests, the
 * sweep of lists after board_sweep_tests, the race after the others */
void commit_tests(store *s);
void commit_sweep_tests(store *s);
void commit_race(store *s);

#endif
