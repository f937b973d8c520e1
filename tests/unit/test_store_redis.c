/*
 * test_store_redis.c -- what only the redis:// backend has: URI and
 * connection errors, a server that lost its scripts (SCRIPT FLUSH, a
 * restart), a server that stops, hangs or restarts under an open handle
 * (calls fail with AMS_ERR_STORE within the timeout, then the same handle
 * reconnects by itself).  The store semantics are test_store.c's, run
 * against Redis by run_store_redis.py.
 *
 * This test runs its own redis-server (AMS_TEST_REDIS_SERVER, default
 * "redis-server" on PATH) on a free loopback port, in a temporary
 * directory under AMS_TEST_TMP, so it can stop and restart it.
 */
#include "store.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T 1000000LL
#define TIMEOUT_MS 300

static char tmpdir[PATH_MAX];
static int port;
static pid_t server = -1;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), p = -1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        p = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return p;
}

/* A raw hiredis connection to our server; NULL when it does not answer. */
static redisContext *raw(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

    if (c != NULL && c->err) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

static int pong(void)
{
    redisContext *c = raw();
    redisReply *r = c ? redisCommand(c, "PING") : NULL;
    int up = r != NULL && r->type == REDIS_REPLY_STATUS;

    if (r != NULL)
        freeReplyObject(r);
    if (c != NULL)
        redisFree(c);
    return up;
}

/* Start the server on port; 0 once it answers PING. */
static int start_server(void)
{
    const char *bin = getenv("AMS_TEST_REDIS_SERVER");
    char p[16];

    if (bin == NULL || *bin == '\0')
        bin = "redis-server";
    snprintf(p, sizeof p, "%d", port);
    fflush(stdout);
    server = fork();
    if (server == 0) {
        char log[PATH_MAX + 16];
        FILE *f;

        snprintf(log, sizeof log, "%s/redis.log", tmpdir);
        f = freopen(log, "a", stdout);
        (void)f;
        dup2(STDOUT_FILENO, STDERR_FILENO);
        execlp(bin, bin, "--port", p, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no", "--dir", tmpdir,
               (char *)NULL);
        _exit(127);
    }
    if (server < 0)
        return -1;
    for (int i = 0; i < 250; i++) {
        int status;
        if (pong())
            return 0;
        if (waitpid(server, &status, WNOHANG) == server) {
            server = -1;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

static void stop_server(void)
{
    if (server <= 0)
        return;
    kill(server, SIGCONT);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    server = -1;
}

static store *open_uri(const char *u, char *err, size_t errlen)
{
    store_options o = {.uri = u, .redis_timeout_ms = TIMEOUT_MS};

    err[0] = '\0';
    return store_open(&o, err, errlen);
}

static void test_open_errors(void)
{
    static const struct {
        const char *uri, *want;
    } bad[] = {
        {"redis://", "no host"},
        {"redis://:6379", "no host"},
        {"redis://127.0.0.1:notaport", "bad port"},
        {"redis://127.0.0.1:70000", "bad port"},
        {"redis://127.0.0.1:6379/x", "bad database"},
        {"redis://[::1", "unterminated"},
    };
    char u[128], err[512];
    store *s;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = open_uri(bad[i].uri, err, sizeof err);
        ok(s == NULL, "open %s fails", bad[i].uri);
        has_str(err, bad[i].want, "  because: %s", bad[i].want);
        has_str(err, bad[i].uri, "  the message names the URI");
        store_close(s);
    }
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", free_port());
    s = open_uri(u, err, sizeof err);
    ok(s == NULL, "open with nothing listening fails");
    has_str(err, "refused", "  connection refused");
    has_str(err, u, "  the message names the URI");
    printf("# %s\n", err);
    store_close(s);
    snprintf(u, sizeof u, "redis://:sekrit@127.0.0.1:%d/0", port);
    s = open_uri(u, err, sizeof err);
    ok(s == NULL, "open with a password the server does not take fails");
    has_str(err, "AUTH", "  the message says AUTH failed");
    ok(strstr(err, "sekrit") == NULL, "  and does not show the password");
    printf("# %s\n", err);
    store_close(s);
    snprintf(u, sizeof u, "redis://127.0.0.1:%d/99999", port);
    s = open_uri(u, err, sizeof err);
    ok(s == NULL, "open with a database the server does not have fails");
    has_str(err, "SELECT", "  the message says SELECT failed");
    store_close(s);
}

static void test_db(void)
{
    char u0[128], u1[128], err[512];
    store *a, *b;
    char *v = NULL;

    snprintf(u0, sizeof u0, "redis://127.0.0.1:%d/0", port);
    snprintf(u1, sizeof u1, "redis://127.0.0.1:%d/1", port);
    a = open_uri(u0, err, sizeof err);
    b = open_uri(u1, err, sizeof err);
    ok(a != NULL && b != NULL, "open databases 0 and 1");
    if (a == NULL || b == NULL) {
        store_close(a);
        store_close(b);
        return;
    }
    store_tag_set(a, "db.tag", "zero", 4, 0, T);
    is_int(store_tag_get(b, "db.tag", T, &v, NULL), AMS_NOT_FOUND,
           "a tag in db 0 is not in db 1");
    store_tag_set(b, "db.tag", "one", 3, 0, T);
    store_tag_get(a, "db.tag", T, &v, NULL);
    is_str(v, "zero", "and db 1's does not touch db 0's");
    free(v);
    store_close(a);
    store_close(b);
}

static int script_flush(void)
{
    redisContext *c = raw();
    redisReply *r = c ? redisCommand(c, "SCRIPT FLUSH") : NULL;
    int done = r != NULL && r->type == REDIS_REPLY_STATUS;

    if (r != NULL)
        freeReplyObject(r);
    if (c != NULL)
        redisFree(c);
    return done;
}

static void test_script_flush(store *s)
{
    int64_t v = 0;
    uint64_t ver = 0;
    char *tok = NULL;

    store_counter_add(s, "sf.c", 5, 0, 100, 0, T, NULL);
    ok(script_flush(), "SCRIPT FLUSH on the server");
    is_int(store_counter_add(s, "sf.c", 1, 0, 100, 0, T, &v), AMS_OK,
           "the next call reloads the scripts and succeeds");
    is_int(v, 6, "  and did its work once");
    ok(script_flush(), "SCRIPT FLUSH again");
    is_int(store_value_cas(s, "sf.v", 0, "x", 1, 0, T, &ver), AMS_OK,
           "value_cas after the flush");
    is_int(store_lock_acquire(s, "sf.l", "me", 0, T), AMS_OK,
           "lock_acquire, another script, works too");
    is_int(store_lock_get(s, "sf.l", T, &tok), AMS_OK, "lock_get");
    is_str(tok, "me", "  the holder");
    free(tok);
}

/* Calls until one answers AMS_OK, for up to ms; the number it took, or
 * -1. */
static int until_ok(store *s, int ms)
{
    int64_t end = mono_ms() + ms;

    for (int n = 1; mono_ms() < end; n++) {
        if (store_tag_set(s, "rc.tag", "back", 4, 0, T) == AMS_OK)
            return n;
        usleep(20000);
    }
    return -1;
}

static void test_restart(store *s)
{
    int64_t t0, v = 0;
    uint64_t before = 0, after = 0;
    char *val = NULL;
    ams_status st;

    store_value_cas(s, "rc.v", 0, "a", 1, 0, T, &before);
    ok(before > 0, "a value before the restart (version %llu)",
       (unsigned long long)before);
    stop_server();
    t0 = mono_ms();
    st = store_counter_add(s, "rc.c", 1, 0, 10, 0, T, NULL);
    is_int(st, AMS_ERR_STORE, "server gone: a call fails with AMS_ERR_STORE");
    ok(mono_ms() - t0 < TIMEOUT_MS + 200, "  within the timeout (%lld ms)",
       (long long)(mono_ms() - t0));
    t0 = mono_ms();
    is_int(store_tag_get(s, "rc.tag", T, &val, NULL), AMS_ERR_STORE,
           "the next call fails too");
    is_int(store_counter_get(s, "rc.c", T, &v), AMS_ERR_STORE,
           "and the next (reconnects are paced)");
    ok(mono_ms() - t0 < TIMEOUT_MS, "  fast (%lld ms)",
       (long long)(mono_ms() - t0));
    ok(start_server() == 0, "start the server again, empty, no scripts");
    ok(until_ok(s, 2000) > 0,
       "the same handle reconnects and works again");
    is_int(store_counter_add(s, "rc.c", 2, 0, 10, 0, T, &v), AMS_OK,
           "counter_add after the restart");
    is_int(v, 2, "  on the new server");
    is_int(store_value_cas(s, "rc.v", 0, "b", 1, 0, T, &after), AMS_OK,
           "the value is gone with the server's data: created again");
    ok(after > before,
       "  with a version above any handed out before (%llu > %llu)",
       (unsigned long long)after, (unsigned long long)before);
}

static void test_hang(store *s)
{
    int64_t t0, el;
    ams_status st;

    kill(server, SIGSTOP);
    t0 = mono_ms();
    st = store_counter_add(s, "hang.c", 1, 0, 10, 0, T, NULL);
    el = mono_ms() - t0;
    is_int(st, AMS_ERR_STORE, "server hung: AMS_ERR_STORE");
    ok(el >= TIMEOUT_MS - 50 && el < TIMEOUT_MS + 300,
       "  after the %d ms timeout (%lld ms)", TIMEOUT_MS, (long long)el);
    kill(server, SIGCONT);
    ok(until_ok(s, 2000) > 0, "server resumed: the handle works again");
}

int main(void)
{
    const char *base = getenv("AMS_TEST_TMP");
    char err[512], u[128];
    store *s;

    alarm(60);
    if (base != NULL && *base != '\0')
        mkdir(base, 0700);
    else
        base = "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/test_store_redis.XXXXXX", base);
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    for (int i = 0; i < 5 && server < 0; i++)
        if ((port = free_port()) <= 0 || start_server() != 0)
            server = -1;
    if (!ok(server > 0, "redis-server runs on port %d", port))
        return tap_done();
    test_open_errors();
    test_db();
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", port);
    s = open_uri(u, err, sizeof err);
    if (ok(s != NULL, "open %s", u)) {
        test_script_flush(s);
        test_restart(s);
        test_hang(s);
        store_close(s);
    }
    stop_server();
    {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/redis.log", tmpdir);
        unlink(path);
        rmdir(tmpdir);
    }
    return tap_done();
}
