/*
 * bench_ratelimit.c -- what a rate limit costs a request on one node:
 * rl_check (ratelimit.h) against the shared-memory table, per call, with
 * one process and with P processes on the same bucket set (the lock
 * contended) and on buckets of their own.
 *
 *   build/bench/bench_ratelimit [CALLS] [PROCS]
 *
 * Prints ns per call for: no limit, a limit that admits (the table step;
 * one bucket, and a new bucket each call), one that refuses from the
 * pre-filter (no table call), and P processes at once on one bucket.
 */
#include "ratelimit.h"

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
    return 0;
}
