/*
 * bench_redis.c -- what the asynchronous Redis path buys a worker: store
 * calls per second on one connection, blocking (the baseline: one call,
 * one round trip, the loop stalled meanwhile) against calls made from C
 * coroutines at once (each yields; their calls are pipelined), in one
 * run against the same server.
 *
 *   build/bench/bench_redis [OPS [URI]]
 *
 * Without URI it starts a private redis-server (on PATH, or
 * $AMS_REDIS_SERVER) on a free loopback port, with no persistence, and
 * stops it at the end.  Each mode does OPS bounded counter adds
 * ({a1}u<i>:k, 1000 keys), the call a grant makes; the "journaled" rows
 * record each add in a request's journal too (store.h: Journals; four
 * adds per journal, as a grab's limits and stock), what a request's adds
 * cost since retries became exactly-once.
 */
#include "coro.h"
#include "store.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t server = -1;

/* Start redis-server on a free loopback port; the URI, or NULL. */
static const char *start_server(void)
{
    static char uri[64];
    const char *bin = getenv("AMS_REDIS_SERVER");
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    char p[16];

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    if (port < 0)
        return NULL;
    if (bin == NULL || *bin == '\0')
        bin = "redis-server";
    snprintf(p, sizeof p, "%d", port);
    server = fork();
    if (server == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execlp(bin, bin, "--port", p, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    snprintf(uri, sizeof uri, "redis://127.0.0.1:%d", port);
    return server > 0 ? uri : NULL;
}

static store *open_store(const char *uri, struct event_base *base)
{
    store_options so = {.uri = uri, .base = base};
    char err[256];
    store *s = NULL;

    /* A fresh server takes a moment to listen. */
    for (int i = 0; i < 250 && s == NULL; i++) {
        s = store_open(&so, err, sizeof err);
        if (s == NULL)
            usleep(20000);
    }
    if (s == NULL)
        fprintf(stderr, "%s\n", err);
    return s;
}

static store *st;
static long per_coro, failed;
static int left, journaled;

/* Add number i: the bench's one store call. */
static void add(long i)
{
    char key[64], jkey[64];
    store_journal j = {jkey, 0};

    snprintf(key, sizeof key, "{a1}u%ld:k", i % 1000);
    snprintf(jkey, sizeof jkey, "{a1}hj%d.%ld", journaled, i / 4);
    if (store_counter_add_j(st, key, 1, 0, INT64_MAX, 0, 0, NULL,
                            journaled ? &j : NULL) != AMS_OK)
        failed++;
}

static void worker(void *arg)
{
    long first = (long)(intptr_t)arg;

    for (long i = 0; i < per_coro; i++)
        add(first + i);
    left--;
}

static double blocking(long ops)
{
    double t0 = now_s();

    for (long i = 0; i < ops; i++)
        add(i);
    return ops / (now_s() - t0);
}

static double pipelined(struct event_base *base, coro_pool *pool, int n,
                        long ops)
{
    double t0 = now_s();

    per_coro = ops / n;
    left = n;
    for (int i = 0; i < n; i++) {
        coro *c = coro_new(pool, worker, (void *)(intptr_t)(i * per_coro));
        if (c == NULL) {
            fprintf(stderr, "no coroutine stack\n");
            return 0;
        }
        coro_resume(c);
    }
    while (left > 0)
        event_base_loop(base, EVLOOP_ONCE);
    return per_coro * n / (now_s() - t0);
}

int main(int argc, char **argv)
{
    long ops = argc > 1 ? atol(argv[1]) : 200000;
    const char *uri = argc > 2 ? argv[2] : start_server();
    struct event_base *base = event_base_new();
    coro_pool *pool = coro_pool_new(64 * 1024, 1024);
    double base_rate;
    int rc = 0;

    if (uri == NULL || base == NULL || pool == NULL || ops < 1000) {
        fprintf(stderr, "usage: bench_redis [OPS>=1000 [URI]]\n");
        return 2;
    }
    if ((st = open_store(uri, base)) == NULL) {
        rc = 1;
        goto out;
    }
    printf("%ld counter adds per mode against %s\n", ops, uri);
    base_rate = blocking(ops);
    printf("blocking, one at a time   %9.0f calls/s  (baseline)\n", base_rate);
    for (int n = 1; n <= 256; n *= 4) {
        double r = pipelined(base, pool, n, ops);
        printf("async, %3d coroutines     %9.0f calls/s  %5.1fx\n", n, r,
               r / base_rate);
    }
    journaled = 1;
    {
        double b = blocking(ops), r, p = pipelined(base, pool, 64, ops);
        printf("journaled, blocking       %9.0f calls/s  %5.2fx of the "
               "baseline\n",
               b, b / base_rate);
        journaled = 0;
        r = pipelined(base, pool, 64, ops);
        printf("journaled, 64 coroutines  %9.0f calls/s  %5.2fx of 64 "
               "unjournaled (%.0f/s, measured again)\n",
               p, p / r, r);
    }
    if (failed > 0) {
        printf("%ld calls FAILED\n", failed);
        rc = 1;
    }
    store_close(st);
out:
    coro_pool_free(pool);
    event_base_free(base);
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
    return rc;
}
