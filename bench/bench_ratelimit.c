/*
 * bench_ratelimit.c -- what a rate limit costs a request on one node:
 * rl_check (ratelimit.h) against the shared-memory table, per call, with
 * one process and with P processes on the same bucket set (the lock
 * contended) and on buckets of their own.
 *
 *   build/bench/bench_ratelimit [CALLS] [PROCS] [redis://HOST:PORT]
 *
 * Prints ns per call for: no limit, a limit that admits (the table step;
 * one bucket, and a new bucket each call), one that refuses from the
 * pre-filter (no table call), and P processes at once on one bucket.
 * With a Redis URI, also the round trip of a prefetch of one key alone
 * (read_many) and with one and with three rate buckets (read_rate),
 * blocking calls one after the other (CALLS / 100 of each).
 */
#include "ratelimit.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static activity act = {.id = 1};
static method meth = {.name = "grab", .act = &act};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void limit(rl_set *s, int64_t burst)
{
    rl_limit *l = &s->v[0];

    memset(s, 0, sizeof *s);
    s->n = 1;
    strcpy(l->name, "uid");
    strcpy(l->label, "uid");
    l->key = RL_KEY_UID;
    l->count = 1;
    l->per_ms = 1000;
    l->burst = burst;
    l->t_us = 1000000;
    l->tau_us = (burst - 1) * l->t_us;
}

/* ns per rl_check of n calls by uid pattern (distinct uids when many). */
static double run(const rl_set *g, long n, int many)
{
    char uid[32] = "u";
    svc_req r;
    rl_verdict v;
    int64_t t0 = now_ns();

    for (long i = 0; i < n; i++) {
        if (many)
            snprintf(uid, sizeof uid, "u%ld", i);
        memset(&r, 0, sizeof r);
        r.uid = uid;
        r.request_id = "r";
        r.client_ip = "10.0.0.1";
        r.act = &act;
        r.m = &meth;
        r.clock_base_ms = 1767225600000LL;
        r.mono_start_ms = clock_mono_ms();
        rl_check(&r, g, &v);
    }
    return (double)(now_ns() - t0) / (double)n;
}

/* us per blocking call of a prefetch of one key with nr buckets. */
static double redis_run(store *st, long n, size_t nr)
{
    store_rkey k = {STORE_F_COUNTER, "{b1}bench.c"};
    store_rate r[3] = {{"rl|uid|bench", 1, 1000000000000LL},
                       {"rl|ip|10.0.0.1", 1, 1000000000000LL},
                       {"rl|1.grab:method|1.grab", 1, 1000000000000LL}};
    store_rate_res rr[3];
    store_rval v;
    int64_t t0 = now_ns();

    for (long i = 0; i < n; i++) {
        ams_status s =
            nr ? store_read_rate(st, &k, 1, r, nr, 1767225600000LL, &v, rr)
               : store_read_many(st, &k, 1, 1767225600000LL, &v);
        if (s != AMS_OK) {
            fprintf(stderr, "store call failed\n");
            return -1;
        }
        store_rvals_free(&v, 1);
    }
    return (double)(now_ns() - t0) / (double)n / 1000.0;
}

static void redis_bench(const char *uri, long n)
{
    store_options so = {.uri = uri};
    char err[256];
    store *st = store_open(&so, err, sizeof err);

    if (st == NULL) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    printf("redis: prefetch of 1 key:           %6.1f us/call\n",
           redis_run(st, n, 0));
    printf("redis: the same with 1 rate bucket: %6.1f us/call\n",
           redis_run(st, n, 1));
    printf("redis: the same with 3 rate buckets:%6.1f us/call\n",
           redis_run(st, n, 3));
    store_close(st);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int procs = argc > 2 ? atoi(argv[2]) : 2;
    rl_set admit, refuse;

    if (rl_node_init(0, 1 << 20) < 0) {
        perror("rl_node_init");
        return 1;
    }
    limit(&admit, 1000000000);
    limit(&refuse, 1);
    printf("no limit (collect only):            %6.0f ns/call\n",
           run(&(rl_set){0}, n, 0));
    printf("admitted, table step, one bucket:   %6.0f ns/call\n",
           run(&admit, n, 0));
    printf("admitted, table step, new buckets:  %6.0f ns/call\n",
           run(&admit, n, 1));
    printf("refused by the pre-filter:          %6.0f ns/call\n",
           run(&refuse, n, 0));
    fflush(stdout);
    for (int p = 0; p < procs; p++)
        if (fork() == 0) {
            printf("process %d of %d, one shared bucket: %6.0f ns/call\n",
                   p + 1, procs, run(&admit, n, 0));
            fflush(stdout);
            _exit(0);
        }
    while (wait(NULL) > 0)
        ;
    if (argc > 3)
        redis_bench(argv[3], n / 100 > 0 ? n / 100 : 1);
    return 0;
}
