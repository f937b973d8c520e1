/*
 * test_coro.c -- core/coro.c: switching, pooling, guard pages, misuse.
 *
 * Misuse and stack overflow are tested in forked children, because the
 * expected outcome is that the process dies.
 */
#include "coro.h"
#include "tap.h"

#include <fenv.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifdef TEST_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

/* ---- run to completion, coro_current ---------------------------------- */

static coro *expected_self;
static coro *seen_self, *seen_self_after_yield;
static int ran;

static void fn_simple(void *arg)
{
    ran = *(int *)arg;
}

static void fn_self(void *arg)
{
    (void)arg;
    seen_self = coro_current();
    coro_yield();
    seen_self_after_yield = coro_current();
}

static void test_basic(void)
{
    coro_pool *p = coro_pool_new(0, 4);
    int v = 42;
    coro *c;

    ok(p != NULL, "pool with default stack size");
    ok(coro_current() == NULL, "coro_current() is NULL on the main stack");

    c = coro_new(p, fn_simple, &v);
    ok(c != NULL, "coro_new");
    is_int(coro_pool_live(p), 1, "a created coroutine counts as live");
    is_int(ran, 0, "fn does not run before the first resume");
    is_int(coro_resume(c), 1, "resume returns 1 when fn returns");
    is_int(ran, 42, "fn ran with its argument");
    is_int(coro_pool_live(p), 0, "finished coroutine is no longer live");
    is_int(coro_pool_cached(p), 1, "its stack is cached");

    c = coro_new(p, fn_self, NULL);
    expected_self = c;
    is_int(coro_resume(c), 0, "resume returns 0 on yield");
    ok(seen_self == expected_self, "coro_current() inside is the coroutine");
    ok(coro_current() == NULL, "coro_current() is NULL again after yield");
    is_int(coro_resume(c), 1, "second resume finishes it");
    ok(seen_self_after_yield == expected_self,
       "coro_current() still right after a yield/resume");
    ok(coro_current() == NULL, "coro_current() NULL after finish");
    coro_pool_free(p);
}

/* ---- ping-pong: ordering and locals ------------------------------------ */

static char trace[256];
static size_t trace_len;

struct pp_arg {
    char name;
    int rounds;
    long result;
    double fresult;
};

static void fn_pingpong(void *arg)
{
    struct pp_arg *a = arg;
    long acc = 1; /* locals must survive every yield */
    double f = 0.5;
    char name = a->name;

    for (int i = 0; i < a->rounds; i++) {
        trace[trace_len++] = name;
        trace[trace_len++] = (char)('0' + i);
        trace[trace_len++] = ' ';
        acc = acc * 3 + i + name;
        f = f * 1.5 + i;
        coro_yield();
    }
    a->result = acc;
    a->fresult = f;
}

static void test_pingpong(void)
{
    coro_pool *p = coro_pool_new(64 * 1024, 8);
    struct pp_arg args[3] = {{'a', 4, 0, 0}, {'b', 4, 0, 0}, {'c', 4, 0, 0}};
    coro *c[3];
    int done[3] = {0, 0, 0}, ndone = 0, zeros = 0, ones = 0;

    for (int i = 0; i < 3; i++)
        c[i] = coro_new(p, fn_pingpong, &args[i]);
    ok(c[0] && c[1] && c[2], "three coroutines created");
    while (ndone < 3) {
        for (int i = 0; i < 3; i++) {
            if (done[i])
                continue;
            if (coro_resume(c[i])) {
                done[i] = 1;
                ndone++;
                ones++;
            } else {
                zeros++;
            }
        }
    }
    trace[trace_len] = '\0';
    is_str(trace, "a0 b0 c0 a1 b1 c1 a2 b2 c2 a3 b3 c3 ",
           "round-robin interleaving order");
    is_int(zeros, 12, "12 resumes returned 0 (yielded)");
    is_int(ones, 3, "3 resumes returned 1 (finished)");
    for (int i = 0; i < 3; i++) {
        long acc = 1;
        double f = 0.5;
        for (int k = 0; k < 4; k++) {
            acc = acc * 3 + k + args[i].name;
            f = f * 1.5 + k;
        }
        is_int(args[i].result, acc, "coroutine %c kept its integer locals",
               args[i].name);
        ok(args[i].fresult == f, "coroutine %c kept its double locals",
           args[i].name);
    }
    coro_pool_free(p);
}

/* ---- floating-point control state -------------------------------------- */

/* The rounding mode lives in the MXCSR and x87 control word, which a
 * switch keeps per context (as swapcontext did): a coroutine that sets
 * one does not change the loop's, nor the loop the coroutine's. */
static int fenv_inside_before, fenv_inside_after;

static void fn_round(void *arg)
{
    (void)arg;
    fesetround(FE_UPWARD);
    fenv_inside_before = fegetround();
    coro_yield();
    fenv_inside_after = fegetround();
}

static void test_fenv(void)
{
    coro_pool *p = coro_pool_new(0, 1);
    coro *c;
    int outside;

    fesetround(FE_TONEAREST);
    c = coro_new(p, fn_round, NULL);
    coro_resume(c);
    outside = fegetround();
    fesetround(FE_DOWNWARD);
    coro_resume(c);
    is_int(fenv_inside_before, FE_UPWARD, "a coroutine sets its rounding");
    is_int(outside, FE_TONEAREST, "  the loop's is not changed by it");
    is_int(fenv_inside_after, FE_UPWARD,
           "  nor the coroutine's by the loop's, across a yield");
    is_int(fegetround(), FE_DOWNWARD, "  and the loop keeps its own");
    fesetround(FE_TONEAREST);
    coro_pool_free(p);
}

/* ---- pool recycling ----------------------------------------------------- */

static void fn_yield_once(void *arg)
{
    (void)arg;
    coro_yield();
}

static void fn_nothing(void *arg)
{
    (void)arg;
}

static void check_cache(size_t n, size_t max_free)
{
    coro_pool *p = coro_pool_new(32 * 1024, max_free);
    coro *c[16];
    size_t want = n < max_free ? n : max_free;

    for (size_t i = 0; i < n; i++) {
        c[i] = coro_new(p, fn_yield_once, NULL);
        coro_resume(c[i]);
    }
    is_int(coro_pool_live(p), n, "%zu suspended coroutines are live", n);
    for (size_t i = 0; i < n; i++)
        coro_resume(c[i]);
    is_int(coro_pool_cached(p), want,
           "after %zu finish with max_free %zu: %zu cached", n, max_free,
           want);
    is_int(coro_pool_live(p), 0, "and none live");
    coro_pool_free(p);
}

static int maps_lines(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, ch;

    if (!f)
        return -1;
    while ((ch = getc(f)) != EOF)
        if (ch == '\n')
            n++;
    fclose(f);
    return n;
}

static void test_recycling(void)
{
    coro_pool *p;
    int before, after, all_done = 1;
    coro *first, *again;

    check_cache(10, 4);
    check_cache(3, 4);
    check_cache(5, 0);

    p = coro_pool_new(0, 2);
    first = coro_new(p, fn_nothing, NULL);
    coro_resume(first);
    again = coro_new(p, fn_nothing, NULL);
    ok(again == first, "a finished coroutine's stack is reused next");
    coro_resume(again);

    for (int i = 0; i < 1000; i++)
        coro_resume(coro_new(p, fn_nothing, NULL));
    before = maps_lines();
    for (int i = 0; i < 100000; i++) {
        coro *c = coro_new(p, fn_yield_once, NULL);
        if (!c || coro_resume(c) != 0 || coro_resume(c) != 1)
            all_done = 0;
    }
    after = maps_lines();
    ok(all_done, "100000 create/yield/finish cycles");
    ok(before > 0 && after <= before + 4,
       "/proc/self/maps stays bounded (%d lines before, %d after)", before,
       after);
    is_int(coro_pool_live(p), 0, "no live coroutines after the cycles");
    ok(coro_pool_cached(p) <= 2, "cache within max_free");
    coro_pool_free(p);
}

/* ---- stack depth and the guard page ------------------------------------ */

/* Called through volatile pointers so the compiler can neither see that
 * the buffer is dead nor turn the recursion into a loop. */
static void touch(char *buf, size_t n, long v);
static long deep(long n, long limit);
static void (*volatile touch_ptr)(char *, size_t, long) = touch;
static long (*volatile deep_ptr)(long, long) = deep;

static void touch(char *buf, size_t n, long v)
{
    memset(buf, (int)(v & 0x7f), n);
}

static long deep(long n, long limit)
{
    char buf[1024];

    touch_ptr(buf, sizeof buf, n);
    if (n >= limit)
        return buf[n % (long)sizeof buf];
    return deep_ptr(n + 1, limit) + buf[(n * 7) % (long)sizeof buf];
}

struct deep_arg {
    long depth;
    long result;
};

static void fn_deep(void *arg)
{
    struct deep_arg *a = arg;
    a->result = deep_ptr(0, a->depth);
}

static long deep_expected(long limit)
{
    long s = 0;
    for (long n = 0; n <= limit; n++)
        s += n & 0x7f;
    return s;
}

static void test_depth(void)
{
    coro_pool *p = coro_pool_new(256 * 1024, 1);
    struct deep_arg a = {100, 0};
    coro *c = coro_new(p, fn_deep, &a);

    is_int(coro_resume(c), 1, "100 frames of 1 KiB in a 256 KiB stack");
    is_int(a.result, deep_expected(100), "deep recursion computed right");
    coro_pool_free(p);

    p = coro_pool_new(0, 1);
    a.depth = 150;
    c = coro_new(p, fn_deep, &a);
    is_int(coro_resume(c), 1, "150 KiB of frames in the default stack");
    is_int(a.result, deep_expected(150), "and computed right");
    coro_pool_free(p);
}

/* Runs fn in a child whose stderr (and, under ASan, report output) goes
 * into buf; returns the wait status. */
static int run_child(void (*fn)(void), char *buf, size_t len)
{
    int fds[2], status = 0;
    size_t got = 0;
    ssize_t r;
    pid_t pid;

    fflush(stdout);
    if (pipe(fds) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct rlimit no_core = {0, 0};

        (void)setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
#ifdef TEST_ASAN
        /* Not __sanitizer_set_report_path("/dev/null"): that names a
         * prefix, and the report would go to "/dev/null.<pid>".  An fd is
         * used as is, and overrides an inherited ASAN_OPTIONS=log_path,
         * so the expected report never becomes a report file. */
        __sanitizer_set_report_fd((void *)(intptr_t)2);
#endif
        fn();
        _exit(0);
    }
    close(fds[1]);
    while (got + 1 < len && (r = read(fds[0], buf + got, len - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    /* Drain anything beyond len so the child cannot block on the pipe. */
    {
        char sink[256];
        while (read(fds[0], sink, sizeof sink) > 0)
            ;
    }
    close(fds[0]);
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
}

static void fn_overflow(void *arg)
{
    (void)arg;
    (void)deep_ptr(0, LONG_MAX);
}

static void child_overflow(void)
{
    coro_pool *p = coro_pool_new(64 * 1024, 0);
    coro_resume(coro_new(p, fn_overflow, NULL));
}

static void test_guard(void)
{
    char out[8192];
    int st = run_child(child_overflow, out, sizeof out);
    int segv = st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;

#ifdef TEST_ASAN
    int asan = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0 &&
               strstr(out, "AddressSanitizer") != NULL &&
               (strstr(out, "stack-overflow") || strstr(out, "SEGV"));
    ok(segv || asan,
       "unbounded recursion hits the guard page (SIGSEGV or ASan "
       "stack-overflow report)");
    if (!(segv || asan))
        printf("#   status %#x, stderr: %.300s\n", (unsigned)st, out);
#else
    ok(segv, "unbounded recursion dies with SIGSEGV on the guard page");
    if (!segv)
        printf("#   status %#x\n", (unsigned)st);
#endif
}

/* ---- misuse aborts with a message --------------------------------------- */

static void child_yield_main(void)
{
    coro_yield();
}

static void fn_nested_resume(void *arg)
{
    coro_resume(arg);
}

static void child_nested_resume(void)
{
    coro_pool *p = coro_pool_new(64 * 1024, 0);
    coro *other = coro_new(p, fn_nothing, NULL);
    coro_resume(coro_new(p, fn_nested_resume, other));
}

static void child_free_live(void)
{
    coro_pool *p = coro_pool_new(64 * 1024, 0);
    coro_resume(coro_new(p, fn_yield_once, NULL));
    coro_pool_free(p);
}

static void expect_abort(void (*fn)(void), const char *msg, const char *what)
{
    char out[4096];
    int st = run_child(fn, out, sizeof out);

    ok(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s aborts",
       what);
    has_str(out, msg, "%s says so", what);
}

static void test_misuse(void)
{
    expect_abort(child_yield_main, "coro_yield() called on the main stack",
                 "coro_yield() on the main stack");
    expect_abort(child_nested_resume, "inside a coroutine",
                 "coro_resume() inside a coroutine");
    expect_abort(child_free_live, "live coroutines",
                 "coro_pool_free() with a live coroutine");
}

/* ---- many at once --------------------------------------------------------
 */

#define MANY 1000
#define MANY_YIELDS 10

static long step;

struct many_arg {
    long id;
    long sum;
    int order_ok;
};

static void fn_many(void *arg)
{
    struct many_arg *a = arg;
    long sum = 0;
    int order_ok = 1;

    for (long k = 0; k < MANY_YIELDS; k++) {
        if (step != k * MANY + a->id)
            order_ok = 0;
        step++;
        sum += a->id * (k + 1);
        coro_yield();
    }
    a->sum = sum;
    a->order_ok = order_ok;
}

static void test_many(void)
{
    coro_pool *p = coro_pool_new(64 * 1024, 16);
    static coro *c[MANY];
    static struct many_arg a[MANY];
    long resumes = 0, finished = 0;
    int created = 1, sums = 1, order = 1;

    for (long i = 0; i < MANY; i++) {
        a[i].id = i;
        c[i] = coro_new(p, fn_many, &a[i]);
        if (!c[i])
            created = 0;
    }
    ok(created, "%d coroutines alive at once", MANY);
    if (!created)
        return;
    is_int(coro_pool_live(p), MANY, "all live");
    while (finished < MANY) {
        for (long i = 0; i < MANY; i++) {
            if (!c[i])
                continue;
            resumes++;
            if (coro_resume(c[i])) {
                c[i] = NULL;
                finished++;
            }
        }
    }
    for (long i = 0; i < MANY; i++) {
        if (a[i].sum != i * (MANY_YIELDS * (MANY_YIELDS + 1) / 2))
            sums = 0;
        if (!a[i].order_ok)
            order = 0;
    }
    is_int(resumes, (long)MANY * (MANY_YIELDS + 1), "each resumed %d times",
           MANY_YIELDS + 1);
    ok(sums, "every per-coroutine sum is right");
    ok(order, "every step ran in round-robin order");
    is_int(coro_pool_live(p), 0, "none live at the end");
    is_int(coro_pool_cached(p), 16, "cache capped at max_free");
    coro_pool_free(p);
}

/* ---- cost of a switch (reported, not asserted) -------------------------- */

static int bench_stop;

static void fn_bench(void *arg)
{
    (void)arg;
    while (!bench_stop)
        coro_yield();
}

static void bench(void)
{
#ifdef TEST_ASAN
    const long n = 100000;
    const char *how = "getcontext/setcontext, ASan build";
#elif defined(__x86_64__)
    const long n = 1000000;
    const char *how = "ams_coro_switch";
#else
    const long n = 1000000;
    const char *how = "swapcontext";
#endif
    coro_pool *p = coro_pool_new(0, 1);
    coro *c = coro_new(p, fn_bench, NULL);
    struct timespec t0, t1;
    double ns;

    coro_resume(c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++)
        coro_resume(c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    bench_stop = 1;
    is_int(coro_resume(c), 1, "benchmark coroutine finishes");
    ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
          (double)(t1.tv_nsec - t0.tv_nsec)) /
         (double)n;
    printf("# resume+yield round trip: %.0f ns (%ld iterations, %s)\n", ns, n,
           how);
    coro_pool_free(p);
}

int main(void)
{
    test_basic();
    test_pingpong();
    test_fenv();
    test_recycling();
    test_depth();
    test_guard();
    test_misuse();
    test_many();
    bench();
    return tap_done();
}
