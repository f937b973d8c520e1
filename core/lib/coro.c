/*
 * coro.c -- coroutines on pooled, guarded stacks (see coro.h).
 *
 * Switching.  On x86_64 a switch is a few instructions of our own
 * (ams_coro_switch below): push the callee-saved registers and the SSE
 * and x87 control words, swap stack pointers, pop.  Elsewhere it is glibc
 * ucontext, portable but not free: swapcontext() saves and restores the
 * signal mask with an rt_sigprocmask system call, so every resume and
 * every yield is a syscall, and coro_new() (getcontext) and finishing
 * (setcontext) add one each -- three syscalls for a request that never
 * waits, a sixth of the CPU of a refused request on x86_64, where it was
 * measured.  The coroutines never change the signal mask, so there is
 * nothing for the switch to save.  -DAMS_CORO_UCONTEXT forces ucontext.
 *
 * Memory layout of one coroutine, a single private anonymous mapping:
 *
 *   low                                                           high
 *   [ guard page, PROT_NONE ][ usable stack ... <- grows down ][ coro ]
 *
 * The struct sits above the stack top, so an overflow runs into the guard
 * page and faults rather than reaching the struct or a neighbour, and a
 * coroutine costs one mmap and no malloc.  A finished coroutine goes to its
 * pool's free list whole (struct and stack), so a request normally costs no
 * mmap/munmap either.
 *
 * The coroutine pointer is not passed through makecontext(): its extra
 * arguments are ints, and splitting a pointer into two ints relies on how
 * each ABI happens to pass them.  coro_resume() already records the
 * coroutine it is about to run in the thread's "current" pointer, so the
 * entry trampoline just reads that.  It is thread-local because coro.h
 * allows one pool per thread.
 */
#include "coro.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif

#ifdef CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__x86_64__) && !defined(AMS_CORO_UCONTEXT)
#define CORO_ASM 1
#endif

#ifdef CORO_ASM
/* ams_coro_switch(save, to): save the running context on its stack and
 * its stack pointer in *save, then continue the context whose stack
 * pointer is to.  The frame it leaves (from the stack pointer up): the
 * MXCSR (4 bytes) and x87 control word (2, padded to 8), r15, r14, r13,
 * r12, rbx, rbp, the return address -- init_frame() builds the same for a
 * coroutine that has not run yet.  The other registers are the caller's
 * to save (SysV ABI): a call to this function has already done so. */
void ams_coro_switch(void **save, void *to);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl ams_coro_switch\n"
        ".hidden ams_coro_switch\n"
        ".type ams_coro_switch, @function\n"
        "ams_coro_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size ams_coro_switch, .-ams_coro_switch\n");
typedef void *coro_ctx; /* the stack pointer of a context not running */
#else
typedef ucontext_t coro_ctx;
#endif

#define CORO_DEFAULT_STACK (256u * 1024u)
#define CORO_HDR_ALIGN 64u

enum coro_state {
    CORO_FREE,      /* on the pool's free list */
    CORO_READY,     /* created, never resumed */
    CORO_RUNNING,   /* on the CPU now */
    CORO_SUSPENDED, /* yielded, waiting for coro_resume() */
    CORO_DONE,      /* fn returned; coro_resume() recycles it */
};

struct coro {
    coro_ctx ctx; /* where the coroutine continues */
    coro_pool *pool;
    coro_fn fn;
    void *arg;
    coro *next_free;
    char *stack_lo; /* lowest usable byte, just above the guard page */
    enum coro_state state;
};

struct coro_pool {
    size_t page;     /* guard size */
    size_t map_size; /* guard + stack + header, whole pages */
    size_t usable;   /* stack bytes below the header, >= requested size */
    size_t hdr;      /* struct coro rounded up, at the top of the mapping */
    size_t max_free;
    size_t live; /* from coro_new() until fn returns */
    size_t cached;
    coro *free_list;
};

static _Thread_local coro *tls_current;
/* Where a yield or a finish returns to.  One per thread suffices because
 * coroutines never nest: only the main stack resumes. */
static _Thread_local coro_ctx tls_main;
/* The main stack's bounds as ASan reported them when we left it, needed
 * to announce each switch back (unused without ASan). */
static _Thread_local const void *tls_main_bottom;
static _Thread_local size_t tls_main_size;

static void coro_die(const char *what) __attribute__((noreturn, cold));
static void coro_die(const char *what)
{
    fprintf(stderr, "amsd: coro: %s\n", what);
    fflush(stderr);
    abort();
}

/* ASan needs to hear about every stack switch: without it, it takes the
 * coroutine stack for a corrupted main stack and reports false positives.
 * These are no-ops in other builds. */
static inline void asan_start(void **fake_save, const void *bottom,
                              size_t size)
{
#ifdef CORO_ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
    (void)fake_save;
    (void)bottom;
    (void)size;
#endif
}

static inline void asan_finish(void *fake, const void **old_bottom,
                               size_t *old_size)
{
#ifdef CORO_ASAN
    __sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
#else
    (void)fake;
    (void)old_bottom;
    (void)old_size;
#endif
}

/* A recycled stack still carries the shadow poisoning of the previous
 * coroutine's frames (those it never unwound, such as the trampoline's),
 * and an unmapped range may later be handed out by mmap to someone else.
 * Clear it whenever a stack changes hands. */
static inline void asan_clear(const char *lo, size_t size)
{
#ifdef CORO_ASAN
    __asan_unpoison_memory_region(lo, size);
#else
    (void)lo;
    (void)size;
#endif
}

#if defined(CORO_ASM)
static inline void ctx_switch(coro_ctx *save, const coro_ctx *to)
{
    ams_coro_switch(save, *to);
}
#elif defined(CORO_ASAN)
/*
 * ASan's swapcontext() interceptor prints "WARNING: ASan doesn't fully
 * support makecontext/swapcontext" once per process, whatever annotations
 * the program makes, and with ASAN_OPTIONS=log_path that lands in a report
 * file that CI counts as a failure.  getcontext() and setcontext() are not
 * intercepted, so under ASan the swap is built from those two.  That costs
 * a second sigprocmask syscall per switch, paid only by sanitizer builds.
 * noinline keeps the twice-returning getcontext() inside this frame.
 */
__attribute__((noinline)) static void ctx_switch(ucontext_t *save,
                                                 const ucontext_t *to)
{
    volatile int resumed = 0;

    if (getcontext(save) != 0)
        coro_die("getcontext() failed");
    if (resumed)
        return;
    resumed = 1;
    setcontext(to);
    coro_die("setcontext() failed");
}
#else
static inline void ctx_switch(ucontext_t *save, const ucontext_t *to)
{
    if (swapcontext(save, to) != 0)
        coro_die("swapcontext() failed");
}
#endif

#ifndef CORO_ASM
/* Out of line so that getcontext()'s "returns twice" (which here it never
 * does: nothing switches to this context before makecontext() rewrites it)
 * does not make the compiler distrust every local of coro_new(). */
__attribute__((noinline)) static int ctx_capture(ucontext_t *uc)
{
    return getcontext(uc);
}
#endif

/* Entry point of every coroutine, on its own stack.  It never returns:
 * returning would follow uc_link, and there is nothing sensible to link
 * to once the stack may be recycled. */
static void trampoline(void)
{
    coro *c;

    /* A fresh stack has no fake stack to restore: NULL.  Record where we
     * came from so yields and the final switch can name it. */
    asan_finish(NULL, &tls_main_bottom, &tls_main_size);
    c = tls_current;
    c->fn(c->arg);
    c->state = CORO_DONE;
    /* This stack is dead once we leave: NULL lets ASan free its fake
     * stack instead of saving it for a return that will never come. */
    asan_start(NULL, tls_main_bottom, tls_main_size);
#ifdef CORO_ASM
    ctx_switch(&c->ctx, &tls_main); /* c->ctx is dead: never resumed */
    coro_die("a finished coroutine was resumed");
#else
    setcontext(&tls_main);
    coro_die("setcontext() to the main stack failed");
#endif
}

#ifdef CORO_ASM
/* The frame ams_coro_switch pops, on c's empty stack: the control words
 * as they are now (what getcontext would have captured), zeros for the
 * registers, and trampoline as the return address.  Above it, a null
 * return address for trampoline itself, which leaves the stack pointer
 * at trampoline's entry 8 bytes off a 16-byte boundary, as after a call. */
static void init_frame(coro *c)
{
    uint64_t *sp = (uint64_t *)(((uintptr_t)c->stack_lo + c->pool->usable) &
                                ~(uintptr_t)15);
    uint32_t mxcsr;
    uint16_t fcw;

    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fcw));
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)trampoline;
    for (int i = 0; i < 6; i++) /* rbp, rbx, r12..r15 */
        *--sp = 0;
    *--sp = (uint64_t)mxcsr | (uint64_t)fcw << 32;
    c->ctx = sp;
}
#endif

/* Caller owns the pool; NULL when memory is short or stack_size absurd. */
coro_pool *coro_pool_new(size_t stack_size, size_t max_free)
{
    coro_pool *p;
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    size_t hdr =
        (sizeof(coro) + CORO_HDR_ALIGN - 1) & ~(size_t)(CORO_HDR_ALIGN - 1);
    size_t body;

    if (stack_size == 0)
        stack_size = CORO_DEFAULT_STACK;
    if (stack_size > SIZE_MAX / 4)
        return NULL;
    /* Round the stack plus header, not the stack alone, so the caller
     * gets at least the stack_size it asked for. */
    body = (stack_size + hdr + page - 1) / page * page;

    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->page = page;
    p->map_size = page + body;
    p->hdr = hdr;
    p->usable = body - hdr;
    p->max_free = max_free;
    return p;
}

static void stack_unmap(coro_pool *p, coro *c)
{
    char *base = c->stack_lo - p->page;

    asan_clear(c->stack_lo, p->usable);
    /* Nothing useful to do if this fails; leaking beats crashing. */
    (void)munmap(base, p->map_size);
}

/* The pool owns the returned struct (it lives inside the mapping).  NULL
 * when mmap or mprotect fails. */
static coro *stack_map(coro_pool *p)
{
    char *base;
    coro *c;

    base =
        mmap(NULL, p->map_size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (mprotect(base, p->page, PROT_NONE) != 0) {
        (void)munmap(base, p->map_size);
        return NULL;
    }
    c = (coro *)(base + p->map_size - p->hdr);
    c->stack_lo = base + p->page;
    c->pool = p;
    c->state = CORO_FREE;
    return c;
}

/* Refuses to free a pool with live coroutines: their stacks would vanish
 * under them and the pointers callers still hold would dangle. */
void coro_pool_free(coro_pool *p)
{
    coro *c, *next;

    if (!p)
        return;
    if (p->live != 0)
        coro_die("coro_pool_free() with live coroutines (created or "
                 "suspended but not finished)");
    for (c = p->free_list; c; c = next) {
        next = c->next_free;
        stack_unmap(p, c);
    }
    free(p);
}

/* The pool owns the returned coroutine; it is recycled when fn returns.
 * NULL when no stack could be had. */
coro *coro_new(coro_pool *p, coro_fn fn, void *arg)
{
    coro *c;

    if (p->free_list) {
        c = p->free_list;
        p->free_list = c->next_free;
        p->cached--;
    } else {
        c = stack_map(p);
        if (!c)
            return NULL;
    }
    asan_clear(c->stack_lo, p->usable);

#ifdef CORO_ASM
    init_frame(c);
#else
    /* makecontext() needs a context from getcontext(); this also gives
     * the coroutine the creator's current signal mask. */
    if (ctx_capture(&c->ctx) != 0) {
        c->next_free = p->free_list;
        p->free_list = c;
        p->cached++;
        return NULL;
    }
    c->ctx.uc_stack.ss_sp = c->stack_lo;
    c->ctx.uc_stack.ss_size = p->usable;
    c->ctx.uc_link = NULL;
    makecontext(&c->ctx, trampoline, 0);
#endif

    c->fn = fn;
    c->arg = arg;
    c->next_free = NULL;
    c->state = CORO_READY;
    p->live++;
    return c;
}

static void coro_recycle(coro *c)
{
    coro_pool *p = c->pool;

    p->live--;
    c->state = CORO_FREE;
    if (p->cached < p->max_free) {
        c->next_free = p->free_list;
        p->free_list = c;
        p->cached++;
    } else {
        stack_unmap(p, c);
    }
}

/* Ownership does not change hands: the pool keeps c, and recycles it
 * here when it finishes (return 1). */
int coro_resume(coro *c)
{
    void *fake = NULL;

    if (tls_current)
        coro_die("coro_resume() called from inside a coroutine; only the "
                 "main stack may resume");
    if (!c)
        coro_die("coro_resume(NULL)");
    /* Catches resuming a finished coroutine while its stack is still
     * cached; once unmapped, that is a plain use-after-free. */
    if (c->state != CORO_READY && c->state != CORO_SUSPENDED)
        coro_die("coro_resume() of a coroutine that has finished");

    c->state = CORO_RUNNING;
    tls_current = c;
    asan_start(&fake, c->stack_lo, c->pool->usable);
    ctx_switch(&tls_main, &c->ctx);
    asan_finish(fake, NULL, NULL);
    tls_current = NULL;

    /* Only now is c's stack no longer in use, so only here can it be
     * recycled. */
    if (c->state == CORO_DONE) {
        coro_recycle(c);
        return 1;
    }
    return 0;
}

void coro_yield(void)
{
    coro *c = tls_current;
    void *fake = NULL;

    if (!c)
        coro_die("coro_yield() called on the main stack, outside any "
                 "coroutine");
    c->state = CORO_SUSPENDED;
    asan_start(&fake, tls_main_bottom, tls_main_size);
    ctx_switch(&c->ctx, &tls_main);
    asan_finish(fake, &tls_main_bottom, &tls_main_size);
}

/* Borrowed: the pool owns it. */
coro *coro_current(void)
{
    return tls_current;
}

size_t coro_pool_live(const coro_pool *p)
{
    return p->live;
}

size_t coro_pool_cached(const coro_pool *p)
{
    return p->cached;
}
