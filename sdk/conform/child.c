/*
 * child.c -- one check, one child process.
 *
 * The child gets a shared page for its verdict, its stdout and stderr go
 * to a memory file the runner reads afterwards (the plugin's and the
 * host's log lines, shown under a failure), and it runs in its own process
 * group so a plugin that forks is killed with it.  Fatal signals are reset
 * to their default action: a crash is the kernel's signal, named in the
 * verdict, not a sanitizer's report (which would be counted as a failure
 * of the runner itself).
 */
#include "conform.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_TAIL_MAX 2048

static void vset(char *dst, size_t len, const char *fmt, va_list ap)
{
    vsnprintf(dst, len, fmt, ap);
}

static void verdict(ck *c, ck_status st, const char *fmt, va_list ap)
{
    if (c->sh->done)
        return;
    vset(c->sh->msg, sizeof c->sh->msg, fmt, ap);
    c->sh->status = st;
    c->sh->done = 1;
}

void ck_pass(ck *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verdict(c, CK_PASS, fmt, ap);
    va_end(ap);
}

void ck_fail(ck *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verdict(c, CK_FAIL, fmt, ap);
    va_end(ap);
}

void ck_note(ck *c, const char *fmt, ...)
{
    size_t used = strlen(c->sh->detail);
    va_list ap;

    if (used + 2 >= sizeof c->sh->detail)
        return;
    va_start(ap, fmt);
    vset(c->sh->detail + used, sizeof c->sh->detail - used, fmt, ap);
    va_end(ap);
    used = strlen(c->sh->detail);
    if (used + 1 < sizeof c->sh->detail) {
        c->sh->detail[used] = '\n';
        c->sh->detail[used + 1] = '\0';
    }
}

void ck_doing(ck *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(c->sh->doing, sizeof c->sh->doing, fmt, ap);
    va_end(ap);
}

const char *ck_signame(int sig)
{
    static char buf[32];
    const char *abbrev = sigabbrev_np(sig);

    if (abbrev == NULL)
        snprintf(buf, sizeof buf, "signal %d", sig);
    else
        snprintf(buf, sizeof buf, "SIG%s", abbrev);
    return buf;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void child_main(const conform_opts *o, const char *entry, ck_fn fn,
                       ck_shared *sh, int logfd)
{
    static const int fatal[] = {SIGSEGV, SIGBUS,  SIGFPE,  SIGILL, SIGABRT,
                                SIGALRM, SIGTERM, SIGPIPE, SIGSYS};
    struct sigaction sa;
    ck c = {o, entry, sh};

    setpgid(0, 0);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
    if (logfd >= 0) {
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        close(logfd);
    }
    fn(&c);
    if (!sh->done)
        ck_fail(&c, "the check ended without a verdict (harness bug)");
    fflush(NULL);
    /* _exit: no atexit handlers, no leak report for what the plugin or a
     * deliberately failing check left behind. */
    _exit(0);
}

/* The last lines the child logged, or NULL. */
static char *log_tail(int fd)
{
    off_t end = lseek(fd, 0, SEEK_END), start;
    char *buf;
    ssize_t n;

    if (end <= 0)
        return NULL;
    start = end > LOG_TAIL_MAX ? end - LOG_TAIL_MAX : 0;
    buf = malloc((size_t)(end - start) + 1);
    if (buf == NULL)
        return NULL;
    n = pread(fd, buf, (size_t)(end - start), start);
    if (n <= 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (start > 0) {
        char *nl = strchr(buf, '\n');
        if (nl != NULL)
            memmove(buf, nl + 1, strlen(nl + 1) + 1);
    }
    return buf;
}

static void describe_death(const conform_opts *o, const ck_shared *sh, int wst,
                           int killed, ck_result *r)
{
    const char *doing = sh->doing[0] ? sh->doing : "starting";

    if (killed)
        snprintf(r->msg, sizeof r->msg,
                 "timed out after %lld ms (the whole check) while %s",
                 (long long)o->check_timeout_ms, doing);
    else if (WIFSIGNALED(wst) && WTERMSIG(wst) == SIGALRM)
        snprintf(r->msg, sizeof r->msg,
                 "timed out after %lld ms (the call budget) while %s",
                 (long long)o->budget_ms, doing);
    else if (WIFSIGNALED(wst))
        snprintf(r->msg, sizeof r->msg, "crashed with %s while %s",
                 ck_signame(WTERMSIG(wst)), doing);
    else
        snprintf(r->msg, sizeof r->msg,
                 "the check process exited with status %d while %s (did "
                 "the plugin call exit()? a sanitizer report?)",
                 WIFEXITED(wst) ? WEXITSTATUS(wst) : -1, doing);
}

static char *join_detail(const char *notes, const char *log)
{
    size_t n = strlen(notes) + (log ? strlen(log) : 0) + 16;
    char *out = malloc(n);

    if (out == NULL)
        return NULL;
    snprintf(out, n, "%s%s%s", notes, log && *log ? "log:\n" : "",
             log ? log : "");
    if (out[0] == '\0') {
        free(out);
        return NULL;
    }
    return out;
}

void ck_run(const conform_opts *o, const char *entry, ck_fn fn, ck_result *r)
{
    ck_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int logfd = memfd_create("ams-conform-log", MFD_CLOEXEC);
    double t0 = mono_s(), deadline;
    int wst = 0, killed = 0;
    long sleep_ns = 100000;
    char *log = NULL;
    pid_t pid;

    memset(r, 0, sizeof *r);
    if (sh == MAP_FAILED) {
        r->status = CK_FAIL;
        snprintf(r->msg, sizeof r->msg, "runner: mmap: %s", strerror(errno));
        if (logfd >= 0)
            close(logfd);
        return;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        r->status = CK_FAIL;
        snprintf(r->msg, sizeof r->msg, "runner: fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child_main(o, entry, fn, sh, logfd);
    setpgid(pid, pid); /* also here: no race with the child's own call */
    deadline = t0 + (double)o->check_timeout_ms / 1000.0;
    for (;;) {
        pid_t w = waitpid(pid, &wst, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            wst = 0;
            break;
        }
        if (!killed && mono_s() > deadline) {
            killed = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        }
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 5000000)
            sleep_ns *= 2;
    }
    kill(-pid, SIGKILL); /* whatever the plugin forked */
    r->seconds = mono_s() - t0;
    if (logfd >= 0)
        log = log_tail(logfd);
    if (!killed && WIFEXITED(wst) && WEXITSTATUS(wst) == 0 && sh->done) {
        r->status = sh->status == CK_PASS   ? CK_PASS
                    : sh->status == CK_SKIP ? CK_SKIP
                                            : CK_FAIL;
        snprintf(r->msg, sizeof r->msg, "%s", sh->msg);
    } else {
        r->status = CK_FAIL;
        describe_death(o, sh, wst, killed, r);
    }
    r->detail = join_detail(sh->detail, log);
    if (sh->data[0] != '\0') {
        sh->data[sizeof sh->data - 1] = '\0';
        r->data = strdup(sh->data);
    }
out:
    free(log);
    if (logfd >= 0)
        close(logfd);
    munmap(sh, sizeof *sh);
}

void ck_result_free(ck_result *r)
{
    free(r->detail);
    free(r->data);
    r->detail = r->data = NULL;
}
