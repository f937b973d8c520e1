/*
 * check_lifecycle.c -- load, init, call, destroy, unload, many times, and
 * two copies side by side, as hot reloads do in a running server.
 *
 * Growth is measured between a warm-up and the end: open descriptors in
 * /proc/self/fd, and heap in use (glibc's mallinfo2; under AddressSanitizer,
 * whose allocator replaces glibc's, the sanitizer's own count of allocated
 * bytes).
 */
#include "conform.h"
#include "harness.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define CONFORM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONFORM_ASAN 1
#endif
#endif

#ifdef CONFORM_ASAN
size_t __sanitizer_get_current_allocated_bytes(void);
#define HEAP_METHOD "AddressSanitizer's allocated bytes"
#else
#define HEAP_METHOD "mallinfo2"
#endif

/* Growth over the measured cycles that counts as a leak.  The counts are
 * exact (main.c turns glibc's thread cache off, whose freed chunks count
 * as in use; AddressSanitizer counts exactly): 1 KiB is slack for one-off
 * allocations, and a plugin leaking 8 bytes a cycle passes it in 128
 * cycles.  With the cache on, up to 64 KiB of noise is possible. */
#define HEAP_SLACK 1024
#define HEAP_SLACK_CACHED 65536
#define WARMUP 3

static long long heap_slack(void)
{
#ifdef CONFORM_ASAN
    return HEAP_SLACK;
#else
    const char *t = getenv("GLIBC_TUNABLES");
    return t && strstr(t, "glibc.malloc.tcache_count=0") ? HEAP_SLACK
                                                         : HEAP_SLACK_CACHED;
#endif
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    long n = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static long long heap_used(void)
{
#ifdef CONFORM_ASAN
    return (long long)__sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return (long long)(mi.uordblks + mi.hblkhd);
#endif
}

/* Instances of every entry whose example makes one; returns how many. */
static size_t make_all(hx *h, instance **out, size_t max)
{
    size_t n = 0;
    char why[CK_MSG_MAX];

    for (size_t i = 0; i < h->p->nentries && n < max; i++) {
        const plugin_entry *pe = &h->p->entries[i];
        cJSON *base = hx_example(h->c->o, h->p, pe->spec, why, sizeof why);
        instance *in;

        if (base == NULL)
            continue;
        hx_declare(h, pe->spec, base);
        if (hx_instance(h, pe, base, &in, why, sizeof why) == HX_OK)
            out[n++] = in;
        cJSON_Delete(base);
    }
    return n;
}

/* One cycle: load, init every entry, call each once, destroy, unload. */
static int cycle(ck *c, int k)
{
    hx h;
    instance *ins[64];
    char err[CK_MSG_MAX];
    size_t n;

    if (hx_open(&h, c, NULL, err, sizeof err) < 0) {
        ck_fail(c, "load %d failed: %s", k + 1, err);
        return -1;
    }
    n = make_all(&h, ins, 64);
    for (size_t i = 0; i < n; i++) {
        cJSON *req = hx_request(c->o, h.p, ins[i]->entry->spec);
        hx_req rq = {"u1001", "conform-cycle", req, HX_T_MON_LATE, 5, NULL};
        hx_out o;
        hx_call(&h, ins[i], &rq, 1, &o);
        hx_out_free(&o);
        cJSON_Delete(req);
    }
    hx_close(&h);
    return 0;
}

void ck_lifecycle_repeat(ck *c)
{
    int n = c->o->cycles, half = n / 2;
    long f0, f1;
    long long m0, m1, m2;

    for (int k = 0; k < WARMUP; k++)
        if (cycle(c, k) < 0)
            return;
    f0 = count_fds();
    m0 = heap_used();
    for (int k = 0; k < half; k++)
        if (cycle(c, WARMUP + k) < 0)
            return;
    m1 = heap_used();
    for (int k = half; k < n; k++)
        if (cycle(c, WARMUP + k) < 0)
            return;
    f1 = count_fds();
    m2 = heap_used();
    ck_note(c,
            "heap in use (%s): %lld after warm-up, %lld after %d cycles, "
            "%lld after %d",
            HEAP_METHOD, m0, m1, half, m2, n);
    if (f1 > f0) {
        ck_fail(c,
                "%ld more open file descriptors after %d load/init/call/"
                "destroy/unload cycles (%ld -> %ld): something the plugin "
                "opens is not closed by destroy",
                f1 - f0, n, f0, f1);
    } else if (m2 - m0 > heap_slack() && m2 > m1) {
        ck_fail(c,
                "the heap grew by %lld bytes over %d load/init/call/"
                "destroy/unload cycles (about %lld per cycle, still "
                "growing in the second half): memory allocated by init "
                "or a call is not freed by destroy",
                m2 - m0, n, (m2 - m0) / n);
    } else {
        ck_pass(c,
                "%d load/init/call/destroy/unload cycles: descriptors "
                "%ld -> %ld, heap %+lld bytes (%s)",
                n, f0, f1, m2 - m0, HEAP_METHOD);
    }
}

typedef struct answer {
    ams_status st;
    char reason[64];
    char *data;
    int clock_moved;
} answer;

static void ask(hx *h, instance *in, uint64_t seed, answer *a)
{
    cJSON *req = hx_request(h->c->o, h->p, in->entry->spec);
    hx_req rq = {"u1001", "conform-reload", req, HX_T_MON_LATE, seed, NULL};
    hx_out o;

    svc.st = h->st;
    hx_reset_store(h);
    hx_tick();
    hx_call(h, in, &rq, 0, &o);
    a->st = o.st;
    a->clock_moved = o.clock_moved;
    snprintf(a->reason, sizeof a->reason, "%s", o.reason);
    a->data = o.data;
    o.data = NULL;
    cJSON_Delete(req);
}

/* Replies are compared only when the host clock held still in both
 * calls (a reply may carry a time, like a coupon's expiry). */
static int same(const answer *a, const answer *b)
{
    return a->st == b->st && strcmp(a->reason, b->reason) == 0 &&
           (a->clock_moved || b->clock_moved ||
            strcmp(a->data ? a->data : "", b->data ? b->data : "") == 0);
}

void ck_lifecycle_reload(ck *c)
{
    hx a, b;
    instance *ia[64], *ib[64];
    answer ra[64], rb[64], rb2;
    size_t na, nb;
    char err[CK_MSG_MAX];

    memset(ra, 0, sizeof ra);
    memset(rb, 0, sizeof rb);
    if (hx_open(&a, c, NULL, err, sizeof err) < 0) {
        ck_fail(c, "the first copy does not load: %s", err);
        return;
    }
    na = make_all(&a, ia, 64);
    if (hx_open(&b, c, NULL, err, sizeof err) < 0) {
        ck_fail(c, "a second copy does not load beside the first: %s", err);
        hx_close(&a);
        return;
    }
    nb = make_all(&b, ib, 64);
    if (a.p->m == b.p->m)
        ck_note(c, "the dynamic loader returned the first copy again");
    if (na != nb) {
        ck_fail(c, "the second copy made %zu instances, the first %zu", nb,
                na);
        goto out;
    }
    for (size_t i = 0; i < na; i++) {
        answer again;
        int steady;

        ask(&a, ia[i], 31 + i, &ra[i]);
        ask(&a, ia[i], 31 + i, &again);
        steady = same(&ra[i], &again);
        free(again.data);
        ask(&b, ib[i], 31 + i, &rb[i]);
        if (!steady) {
            /* rule.E.deterministic tells why; only a fault counts here */
            ck_note(c,
                    "%s answers differently to the same request even in "
                    "one copy: answers not compared",
                    ia[i]->ref);
            if (rb[i].st < 0 && ra[i].st >= 0) {
                ck_fail(c, "%s faults (%s) in the second copy", ib[i]->ref,
                        hx_status_name(rb[i].st));
                goto out;
            }
            continue;
        }
        if (!same(&ra[i], &rb[i])) {
            ck_fail(c,
                    "%s answers %s (%s) in the first copy and %s (%s) in "
                    "the second, for the same request, store and seed: "
                    "does it keep state in globals?",
                    ia[i]->ref, hx_status_name(ra[i].st), ra[i].reason,
                    hx_status_name(rb[i].st), rb[i].reason);
            goto out;
        }
    }
    /* The old generation goes while the new one serves. */
    hx_close(&a);
    for (size_t i = 0; i < nb; i++) {
        ask(&b, ib[i], 31 + i, &rb2);
        if (!same(&rb[i], &rb2) && (rb2.st < 0 || same(&ra[i], &rb[i]))) {
            ck_fail(c,
                    "after the first copy was destroyed and unloaded, %s "
                    "in the second answers %s (%s) instead of %s (%s)",
                    ib[i]->ref, hx_status_name(rb2.st), rb2.reason,
                    hx_status_name(rb[i].st), rb[i].reason);
            free(rb2.data);
            hx_close(&b);
            goto free_answers;
        }
        free(rb2.data);
    }
    hx_close(&b);
    ck_pass(c,
            "two copies loaded side by side, %zu instance%s each, the "
            "same answers; the second kept working after the first was "
            "destroyed and unloaded",
            na, na == 1 ? "" : "s");
    goto free_answers;
out:
    hx_close(&a);
    hx_close(&b);
free_answers:
    for (size_t i = 0; i < 64; i++) {
        free(ra[i].data);
        free(rb[i].data);
    }
}
