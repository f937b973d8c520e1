/*
 * test_store_redis.c -- what only the redis:// backend has: URI and
 * connection errors, a server that lost its scripts (SCRIPT FLUSH, a
 * restart), a server that stops, hangs or restarts under an open handle
 * (calls fail with AMS_ERR_STORE within the timeout, then the same handle
 * reconnects by itself).  The store semantics are the store suite's
 * (test_store.c and test_store_*.c), run against Redis by
 * run_store_redis.py.
 *
 * And the asynchronous path (a store opened with an event loop, called
 * from coroutines as amsd's workers do): calls yield instead of blocking
 * the loop, many are pipelined over one connection, and every fault
 * above ends all waiting calls at once with AMS_ERR_STORE.
 *
 * And what only Redis has of write sets (store.h; the semantics are the
 * store suite's, test_store_commit.c): exact int64 sums in the script,
 * what a commit and a prefetch cost in commands (INFO commandstats), the
 * server's refusals and faults mapped to res.unknown, sets of one call
 * pipelined from a coroutine, and a cluster refusing a set that spans
 * slots (a second, cluster-mode server).
 *
 * This test runs its own redis-server (AMS_TEST_REDIS_SERVER, default
 * "redis-server" on PATH) on a free loopback port, in a temporary
 * directory under AMS_TEST_TMP, so it can stop and restart it.
 */
#include "coro.h"
#include "fixture.h"
#include "store.h"
#include "tap.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T 1000000LL
#define TIMEOUT_MS 300
#define RD_RETRY_MS_TEST 100 /* store_redis.h's RD_RETRY_MS */

static char tmpdir[PATH_MAX];
static int port;
static pid_t server = -1;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A raw hiredis connection to the server on port p (the caller's:
 * redisFree it); NULL when it does not answer. */
static redisContext *raw_at(int p)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", p, tv);

    if (c != NULL && c->err) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

/* The same to our server. */
static redisContext *raw(void)
{
    return raw_at(port);
}

/* Run a command on a raw connection to port p; 1 when it answered
 * anything but an error. */
static int raw_cmd_at(int p, const char *cmd)
{
    redisContext *c = raw_at(p);
    redisReply *r = c ? redisCommand(c, cmd) : NULL;
    int done = r != NULL && r->type != REDIS_REPLY_ERROR;

    if (r != NULL)
        freeReplyObject(r);
    if (c != NULL)
        redisFree(c);
    return done;
}

static int raw_cmd(const char *cmd)
{
    return raw_cmd_at(port, cmd);
}

/* Fork a redis-server on port p (cluster: as a Redis Cluster node),
 * logging into tmpdir; its pid (the caller's to kill and reap), or -1. */
static pid_t spawn_redis(int p, int cluster)
{
    const char *bin = getenv("AMS_TEST_REDIS_SERVER");
    char ps[16], nodes[32];
    pid_t pid;

    if (bin == NULL || *bin == '\0')
        bin = "redis-server";
    snprintf(ps, sizeof ps, "%d", p);
    snprintf(nodes, sizeof nodes, "nodes-%d.conf", p);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char log[PATH_MAX + 32];
        FILE *f;

        snprintf(log, sizeof log, "%s/redis%s.log", tmpdir,
                 cluster ? "-cluster" : "");
        f = freopen(log, "a", stdout);
        (void)f;
        dup2(STDOUT_FILENO, STDERR_FILENO);
        if (cluster)
            execlp(bin, bin, "--port", ps, "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--dir", tmpdir,
                   "--cluster-enabled", "yes", "--cluster-config-file", nodes,
                   (char *)NULL);
        else
            execlp(bin, bin, "--port", ps, "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--dir", tmpdir,
                   (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Wait until the server pid on port p answers PING: 0, or -1 when it
 * exited (it is reaped) or did not answer within 5 s. */
static int wait_ping(pid_t pid, int p)
{
    for (int i = 0; i < 250; i++) {
        int status;
        if (raw_cmd_at(p, "PING"))
            return 0;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        usleep(20000);
    }
    return -1;
}

/* Start the server on port; 0 once it answers PING. */
static int start_server(void)
{
    server = spawn_redis(port, 0);
    if (server < 0)
        return -1;
    if (wait_ping(server, port) != 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        server = -1;
        return -1;
    }
    return 0;
}

/* SIGSTOP the server and wait until it is stopped: kill() returns
 * before the signal takes effect, and a server still running for a
 * moment would answer calls meant to hang. */
static void freeze_server(void)
{
    char path[64], st[256];

    kill(server, SIGSTOP);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)server);
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(path, "r");
        char *paren;
        size_t n = f ? fread(st, 1, sizeof st - 1, f) : 0;

        if (f != NULL)
            fclose(f);
        st[n] = '\0';
        /* "PID (comm) STATE ...": the state follows the last ')'. */
        paren = strrchr(st, ')');
        if (paren != NULL && paren[1] == ' ' && paren[2] == 'T')
            return;
        usleep(2000);
    }
}

static void stop_server(void)
{
    if (server <= 0)
        return;
    /* SIGKILL ends a stopped process too; a SIGCONT first would let a
     * frozen server answer what it was sent before it dies. */
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
        {"redis://127.0.0.1:notaport", "port is not"},
        {"redis://127.0.0.1:70000", "port is not"},
        {"redis://127.0.0.1:6379/x", "database is not"},
        {"redis://[::1", "closing ']'"},
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
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", fx_free_port());
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

static void test_script_flush(store *s)
{
    int64_t v = 0;
    uint64_t ver = 0;
    char *tok = NULL;

    store_counter_add(s, "sf.c", 5, 0, 100, 0, T, NULL);
    ok(raw_cmd("SCRIPT FLUSH"), "SCRIPT FLUSH on the server");
    is_int(store_counter_add(s, "sf.c", 1, 0, 100, 0, T, &v), AMS_OK,
           "the next call reloads the scripts and succeeds");
    is_int(v, 6, "  and did its work once");
    ok(raw_cmd("SCRIPT FLUSH"), "SCRIPT FLUSH again");
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
    ok(until_ok(s, 2000) > 0, "the same handle reconnects and works again");
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

    freeze_server();
    t0 = mono_ms();
    st = store_counter_add(s, "hang.c", 1, 0, 10, 0, T, NULL);
    el = mono_ms() - t0;
    is_int(st, AMS_ERR_STORE, "server hung: AMS_ERR_STORE");
    ok(el >= TIMEOUT_MS - 50 && el < TIMEOUT_MS + 300,
       "  after the %d ms timeout (%lld ms)", TIMEOUT_MS, (long long)el);
    kill(server, SIGCONT);
    ok(until_ok(s, 2000) > 0, "server resumed: the handle works again");
}

/* ---- write sets, read_many, list_range (store.h) ---- */

/* The ops of the checks below, as the host builds them. */
static store_wop w_add(const char *key, int64_t d, int64_t lo, int64_t hi,
                       int64_t exp)
{
    return (store_wop){.kind = STORE_W_ADD,
                       .key = key,
                       .delta = d,
                       .lo = lo,
                       .hi = hi,
                       .expire_at_ms = exp};
}

static store_wop w_exact(const char *key, int64_t d, int64_t expect)
{
    store_wop o = w_add(key, d, INT64_MIN, INT64_MAX, 0);

    o.flags = STORE_WF_EXACT;
    o.expect = expect;
    return o;
}

static store_wop w_cas(const char *key, uint64_t ver, const char *v,
                       int64_t exp)
{
    return (store_wop){.kind = STORE_W_CAS,
                       .key = key,
                       .version = ver,
                       .val = v,
                       .len = strlen(v),
                       .expire_at_ms = exp};
}

static store_wop w_bytes(int kind, const char *key, const char *v, int64_t exp)
{
    return (store_wop){.kind = (uint8_t)kind,
                       .key = key,
                       .val = v,
                       .len = v != NULL ? strlen(v) : 0,
                       .expire_at_ms = exp};
}

static store_wop w_board(const char *key, const char *member, int64_t score)
{
    store_wop o = w_bytes(STORE_W_BOARD_SET, key, member, 0);

    o.delta = score;
    return o;
}

/* Commit the n ops as one set at now; its result. */
static store_wres commit1(store *s, const store_wop *op, size_t n, int64_t now)
{
    store_wset set = {.op = op, .n = n, .now_ms = now};
    store_wres res = {.st = -100};

    store_commit(s, &set, 1, &res);
    return res;
}

static int64_t cget(store *s, const char *key, int64_t now)
{
    int64_t v = -12345;

    store_counter_get(s, key, now, &v);
    return v;
}

/* The list's entries from..from+max-1 joined by ',', or "status N". */
static const char *list_str(store *s, const char *key, size_t from, size_t max,
                            int64_t now)
{
    static char buf[512];
    store_item *it = NULL;
    size_t n = 0, off = 0;
    ams_status st = store_list_range(s, key, from, max, now, &it, &n);

    buf[0] = '\0';
    if (st != AMS_OK) {
        snprintf(buf, sizeof buf, "status %d", st);
        return buf;
    }
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%.*s",
                                i ? "," : "", (int)it[i].len, it[i].val);
    store_items_free(it, n);
    return buf;
}

static void test_commit_basic(store *s)
{
    store_wop op[] = {
        w_add("{c}ws.c", 5, 0, 10, T + 1000),
        w_cas("{c}ws.v", 0, "idem", T + 1000),
        w_bytes(STORE_W_TAG_SET, "{c}ws.t", "tag", 0),
        w_bytes(STORE_W_APPEND, "{c}ws.l", "e1", T + 1000),
        w_bytes(STORE_W_APPEND, "{c}ws.l", "e2", 0),
        w_board("{c}ws.b", "alice", 7),
        w_add("{c}ws.c", 2, 0, 10, 0),
    };
    store_wres r = commit1(s, op, 7, T);
    char *v = NULL;
    size_t len = 0;
    uint64_t ver = 0, ver2 = 0;
    store_board_entry *top = NULL;
    size_t nt = 0;

    is_int(r.st, AMS_OK, "commit: a set of every kind applies");
    is_int(cget(s, "{c}ws.c", T), 7, "  two adds of one counter: 5 + 2");
    is_int(cget(s, "{c}ws.c", T + 1000), 0,
           "  the counter got the first add's expiry");
    is_int(store_value_get(s, "{c}ws.v", T, &v, &len, &ver), AMS_OK,
           "  the value was created");
    is_str(v, "idem", "  with its bytes");
    free(v);
    is_int(store_tag_get(s, "{c}ws.t", T, &v, &len), AMS_OK, "  the tag set");
    is_str(v, "tag", "  with its bytes");
    free(v);
    is_str(list_str(s, "{c}ws.l", 0, 10, T), "e1,e2",
           "  the list has both entries, in order");
    is_str(list_str(s, "{c}ws.l", 1, 10, T), "e2", "  list_range from 1");
    is_str(list_str(s, "{c}ws.l", 0, 1, T), "e1", "  list_range max 1");
    is_str(list_str(s, "{c}ws.l", 5, 10, T), "", "  past the end: none");
    is_str(list_str(s, "{c}ws.l", 0, 0, T), "", "  max 0: none");
    is_str(list_str(s, "{c}ws.l", 0, 10, T + 1000), "",
           "  the list expires with the first append's expiry");
    is_str(list_str(s, "{c}ws.none", 0, 10, T), "", "  an absent list: none");
    store_board_top(s, "{c}ws.b", 10, T, &top, &nt);
    ok(nt == 1 && strcmp(top[0].member, "alice") == 0 && top[0].score == 7,
       "  the board has its member");
    store_board_free(top, nt);

    op[0] = w_cas("{c}ws.v", ver, "second", 0);
    r = commit1(s, op, 1, T);
    is_int(r.st, AMS_OK, "commit: a cas with the version read");
    store_value_get(s, "{c}ws.v", T, &v, &len, &ver2);
    ok(ver2 > ver, "  a higher version (%llu > %llu)",
       (unsigned long long)ver2, (unsigned long long)ver);
    is_str(v, "second", "  the new bytes");
    free(v);
    op[0] = w_cas("{c}ws.v", ver, "third", 0);
    r = commit1(s, op, 1, T);
    is_int(r.st, AMS_CONFLICT, "a cas with an old version conflicts");
    ok(r.at == 0 && (uint64_t)r.fresh == ver2,
       "  at 0, fresh = the version found");
    op[0] = w_cas("{c}ws.v", 0, "again", 0);
    r = commit1(s, op, 1, T);
    is_int(r.st, AMS_CONFLICT,
           "a cas 'only if absent' of a live value: "
           "conflict (an idempotency record)");

    op[0] = w_bytes(STORE_W_TAG_DEL, "{c}ws.t", NULL, 0);
    op[1] = w_bytes(STORE_W_TAG_DEL, "{c}ws.nosuch", NULL, 0);
    r = commit1(s, op, 2, T);
    is_int(r.st, AMS_OK, "tag_del of a tag and of an absent one");
    is_int(store_tag_get(s, "{c}ws.t", T, &v, &len), AMS_NOT_FOUND,
           "  the tag is gone");
}

static void test_commit_conflicts(store *s)
{
    store_wop op[4];
    store_wres r;
    char *v = NULL;
    size_t len;

    store_counter_add(s, "{k}cf.stock", 98, 0, 100, 0, T, NULL);
    op[0] = w_cas("{k}cf.idem", 0, "d", 0);
    op[1] = w_add("{k}cf.lim", 1, 0, 1, 0);
    op[2] = w_add("{k}cf.stock", 3, 0, 100, 0);
    op[3] = w_bytes(STORE_W_APPEND, "{k}cf.ledger", "g", 0);
    r = commit1(s, op, 4, T);
    is_int(r.st, AMS_CONFLICT, "a bound crossed: conflict");
    ok(r.at == 2 && r.fresh == 98, "  at op 2, fresh 98 (at %zu, fresh %lld)",
       r.at, (long long)r.fresh);
    is_int(store_value_get(s, "{k}cf.idem", T, &v, &len, NULL), AMS_NOT_FOUND,
           "  nothing applied: not the cas before it");
    is_int(cget(s, "{k}cf.lim", T), 0, "  nor the add before it");
    is_str(list_str(s, "{k}cf.ledger", 0, 9, T), "", "  nor the append");
    op[2] = w_add("{k}cf.stock", 2, 0, 100, 0);
    is_int(commit1(s, op, 4, T).st, AMS_OK, "the same set that fits applies");
    is_int(cget(s, "{k}cf.stock", T), 100, "  stock 100");
    r = commit1(s, op, 4, T);
    is_int(r.st, AMS_CONFLICT, "  again: the idem record is there");
    ok(r.at == 0 && r.fresh > 0, "  at 0, fresh its version");

    op[0] = w_add("{k}cf.two", 1, 0, 1, 0);
    op[1] = w_add("{k}cf.two", 1, 0, 1, 0);
    r = commit1(s, op, 2, T);
    is_int(r.st, AMS_CONFLICT, "two adds: the second sees the first's");
    ok(r.at == 1 && r.fresh == 1, "  at 1, fresh 1");
    is_int(cget(s, "{k}cf.two", T), 0, "  and nothing applied");

    store_counter_add(s, "{k}cf.x", 4, 0, 100, 0, T, NULL);
    op[0] = w_exact("{k}cf.x", 1, 3);
    r = commit1(s, op, 1, T);
    is_int(r.st, AMS_CONFLICT, "EXACT with another value: conflict");
    is_int(r.fresh, 4, "  fresh 4");
    op[0] = w_exact("{k}cf.x", 1, 4);
    op[1] = w_exact("{k}cf.x", -2, 5);
    is_int(commit1(s, op, 2, T).st, AMS_OK,
           "EXACT with the value, twice in a set");
    is_int(cget(s, "{k}cf.x", T), 3, "  4 + 1 - 2");
    op[0] = w_exact("{k}cf.absent", 1, 0);
    is_int(commit1(s, op, 1, T).st, AMS_OK, "EXACT 0 on an absent counter");

    /* An expired counter reads 0 and is created again with the new
     * expiry. */
    store_counter_add(s, "{k}cf.exp", 9, 0, 100, T + 10, T, NULL);
    op[0] = w_exact("{k}cf.exp", 1, 0);
    op[0].expire_at_ms = T + 100;
    is_int(commit1(s, op, 1, T + 10).st, AMS_OK,
           "an expired counter counts as 0");
    is_int(cget(s, "{k}cf.exp", T + 50), 1, "  created again: 1");
    is_int(cget(s, "{k}cf.exp", T + 100), 0, "  with the new expiry");
}

static int64_t rnd64(void)
{
    static const int64_t near[] = {0,
                                   1,
                                   -1,
                                   INT64_MAX,
                                   INT64_MIN,
                                   999999999,
                                   1000000000,
                                   -1000000000,
                                   INT64_MAX - 1000000000,
                                   INT64_MIN + 999999999};
    uint64_t x =
        ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();

    switch (rand() % 4) {
    case 0:
        /* Near a limit, wrapping around it (unsigned: no overflow). */
        return (int64_t)((uint64_t)near[rand() % 10] + (uint64_t)(rand() % 5) -
                         2u);
    case 1:
        return (int64_t)(x % 4000000000u) - 2000000000;
    default:
        return (int64_t)x;
    }
}

/* The script adds in decimal limbs (Redis' Lua has only doubles): it
 * must agree with C's int64 everywhere, overflow included. */
static void test_commit_exact(store *s)
{
    int bad = 0, n = 400;

    srand(12);
    for (int i = 0; i < n; i++) {
        int64_t a = rnd64(), d = rnd64(), sum, got;
        int over = __builtin_add_overflow(a, d, &sum);
        store_wop op;
        store_wres r;
        char key[32];

        snprintf(key, sizeof key, "{x}ex.%d", i);
        store_counter_add(s, key, a, INT64_MIN, INT64_MAX, 0, T, NULL);
        op = w_add(key, d, INT64_MIN, INT64_MAX, 0);
        r = commit1(s, &op, 1, T);
        got = cget(s, key, T);
        if (over ? (r.st != AMS_CONFLICT || r.fresh != a || got != a)
                 : (r.st != AMS_OK || got != sum)) {
            if (bad++ < 5)
                printf("# %lld + %lld: status %d, now %lld\n", (long long)a,
                       (long long)d, r.st, (long long)got);
            continue;
        }
        if (over || sum < INT64_MIN + 2)
            continue;
        /* The bounds, exactly: sum - 1 fits [sum - 1, sum - 1], not
         * [.., sum - 2]. */
        op = w_add(key, -1, INT64_MIN, sum - 2, 0);
        if (commit1(s, &op, 1, T).st != AMS_CONFLICT)
            bad++;
        op = w_add(key, -1, sum - 1, sum - 1, 0);
        if (commit1(s, &op, 1, T).st != AMS_OK || cget(s, key, T) != sum - 1)
            bad++;
    }
    is_int(bad, 0, "commit: %d random int64 adds, overflow and bounds exact",
           n);
}

static void test_commit_batch(store *s)
{
    store_wop a[] = {w_add("{b1}bt.c", 1, 0, 1, 0)};
    store_wop b[] = {w_add("{b1}bt.c", 1, 0, 1, 0)};
    store_wop c[] = {w_bytes(STORE_W_TAG_SET, "{b2}bt.t", "x", 0)};
    store_wop bad[] = {w_bytes(STORE_W_TAG_SET, "", "x", 0)};
    store_wset sets[] = {
        {a, 1, T}, {b, 1, T}, {NULL, 0, T}, {c, 1, T}, {bad, 1, T}};
    store_wres res[5];
    char *v = NULL;

    memset(res, 0xff, sizeof res);
    is_int(store_commit(s, sets, 5, res), AMS_OK,
           "a batch with a bad op: decided, AMS_OK");
    is_int(res[0].st, AMS_OK, "  set 0 applied");
    is_int(res[1].st, AMS_CONFLICT, "  set 1 saw set 0's add: conflict");
    is_int(res[2].st, AMS_OK, "  an empty set: nothing to do");
    is_int(res[3].st, AMS_OK, "  set 3, in another slot, applied");
    is_int(res[4].st, AMS_ERR, "  the bad one: AMS_ERR");
    is_int(cget(s, "{b1}bt.c", T), 1, "  the counter holds 1");
    is_int(store_tag_get(s, "{b2}bt.t", T, &v, NULL), AMS_OK, "  the tag");
    free(v);
}

/* A key of the set that holds another type: nothing written, and
 * certainly so. */
static void test_commit_wrong_type(store *s)
{
    store_wop op[] = {w_add("{w}wt.c", 1, 0, 10, 0),
                      w_bytes(STORE_W_APPEND, "{w}wt.l", "x", 0)};
    store_wres r;

    ok(raw_cmd("SET L:{w}wt.l notalist"), "a string where the list goes");
    r = commit1(s, op, 2, T);
    is_int(r.st, AMS_ERR_STORE, "commit: AMS_ERR_STORE");
    is_int(r.unknown, 0, "  certainly not applied");
    is_int(cget(s, "{w}wt.c", T), 0, "  the counter untouched");
    ok(raw_cmd("SET t:{w}wt.t notahash"), "a string where the tag goes");
    op[1] = w_bytes(STORE_W_TAG_SET, "{w}wt.t", "x", 0);
    r = commit1(s, op, 2, T);
    ok(r.st == AMS_ERR_STORE && r.unknown == 0 && cget(s, "{w}wt.c", T) == 0,
       "  a tag's too (checked before any write)");
}

/* Server refusals: nothing was written, so unknown = 0. */
static void test_commit_refused(store *s)
{
    static const struct {
        const char *on, *off, *what;
    } cfg[] = {
        {"CONFIG SET maxmemory 1", "CONFIG SET maxmemory 0", "OOM"},
        {"CONFIG SET min-replicas-to-write 1",
         "CONFIG SET min-replicas-to-write 0", "NOREPLICAS"},
        /* A replica of a master that is not there: read-only. */
        {"REPLICAOF 127.0.0.1 1", "REPLICAOF NO ONE", "READONLY"},
    };
    store_wop op[] = {w_cas("{r}rf.idem", 0, "d", 0),
                      w_add("{r}rf.c", 1, 0, 10, 0)};

    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        store_wres r;
        ok(raw_cmd(cfg[i].on), "the server refuses writes (%s)", cfg[i].what);
        r = commit1(s, op, 2, T);
        ok(r.st == AMS_ERR_STORE && r.unknown == 0,
           "  commit: AMS_ERR_STORE, certainly not applied (%d, %d)", r.st,
           r.unknown);
        ok(raw_cmd(cfg[i].off), "  writes allowed again");
        is_int(cget(s, "{r}rf.c", T), 0, "  nothing was written");
    }
    is_int(commit1(s, op, 2, T).st, AMS_OK, "then the set applies");
}

/* INFO commandstats: the calls of every command but CONFIG (Redis 7
 * names it config|resetstat) and INFO summed into *total, EVALSHA's into
 * *eval, and "name calls, ..." into list. */
static void cmdstats(long *total, long *eval, char *list, size_t len)
{
    redisContext *c = raw();
    redisReply *r = c ? redisCommand(c, "INFO commandstats") : NULL;
    const char *p = r != NULL && r->type == REDIS_REPLY_STRING ? r->str : "";
    size_t off = 0;

    *total = *eval = 0;
    list[0] = '\0';
    while ((p = strstr(p, "cmdstat_")) != NULL) {
        char name[64];
        long calls;
        if (sscanf(p, "cmdstat_%63[^:]:calls=%ld", name, &calls) == 2 &&
            strncmp(name, "config", 6) != 0 && strcmp(name, "info") != 0) {
            *total += calls;
            if (strcmp(name, "evalsha") == 0)
                *eval = calls;
            off += (size_t)snprintf(list + off, len - off, "%s%s %ld",
                                    off ? ", " : "", name, calls);
        }
        p += 8;
    }
    if (r != NULL)
        freeReplyObject(r);
    if (c != NULL)
        redisFree(c);
}

/* What one grab's store work costs on the server: the prefetch
 * (read_many) and the commit, each one round trip. */
static void test_commit_counts(store *s)
{
    const char *idem = "{a1003}hu2:u1:idem:g1", *lim = "{a1003}hu2:u1:lim:g",
               *stock = "{a1003}g:coupon.c", *ledger = "{a1003}hu2:u1:ledger",
               *tag = "{a1003}u2:u1:card";
    store_rkey rk[] = {{STORE_F_VALUE, idem},
                       {STORE_F_COUNTER, lim},
                       {STORE_F_TAG, tag},
                       {STORE_F_COUNTER, stock}};
    store_rval rv[4];
    store_wop op[] = {w_cas(idem, 0, "answer", T + 86400000),
                      w_add(lim, 1, 0, 1, T + 86400000),
                      w_add(stock, 1, 0, 100, 0),
                      w_bytes(STORE_W_APPEND, ledger, "entry", 0)};
    long total, eval;
    char list[512];

    store_tag_set(s, tag, "yes", 3, 0, T);
    store_counter_add(s, stock, 10, 0, 100, 0, T, NULL);
    for (int round = 0; round < 2; round++) {
        const char *when =
            round == 0 ? "first grab (lim, ledger made)" : "a later grab";
        ok(raw_cmd("CONFIG RESETSTAT"), "CONFIG RESETSTAT (%s)", when);
        is_int(store_read_many(s, rk, 4, T, rv), AMS_OK,
               "  read_many of 4 keys");
        store_rvals_free(rv, 4);
        cmdstats(&total, &eval, list, sizeof list);
        is_int(eval, 1, "  one EVALSHA");
        printf("# read_many of 4 keys: %ld commands: %s\n", total, list);
        ok(total <= 5, "  at most 5 commands (%ld)", total);
        raw_cmd("CONFIG RESETSTAT");
        is_int(commit1(s, op, 4, T).st, AMS_OK, "  commit of a grab's set");
        cmdstats(&total, &eval, list, sizeof list);
        is_int(eval, 1, "  one EVALSHA: one round trip");
        printf("# commit, %s: %ld commands: %s\n", when, total, list);
        ok(total <= (round == 0 ? 13 : 11), "  at most %d commands (%ld)",
           round == 0 ? 13 : 11, total);
        op[0].key = "{a1003}hu2:u1:idem:g2";
        op[1].hi = 2;
    }
}

static void test_read_many(store *s)
{
    store_rkey rk[] = {
        {STORE_F_COUNTER, "{r1}rm.c"}, {STORE_F_TAG, "{r2}rm.t"},
        {STORE_F_VALUE, "{r1}rm.v"},   {STORE_F_COUNTER, "{r3}rm.none"},
        {STORE_F_TAG, "{r1}rm.none"},  {STORE_F_VALUE, "rm.none"},
        {STORE_F_TAG, "{r2}rm.exp"},
    };
    store_rval rv[7];
    uint64_t ver = 0;
    long total, eval;
    char list[512];

    store_counter_add(s, "{r1}rm.c", -42, -100, 100, 0, T, NULL);
    store_tag_set(s, "{r2}rm.t", "t\0x", 3, 0, T);
    store_value_cas(s, "{r1}rm.v", 0, "vv", 2, 0, T, &ver);
    store_tag_set(s, "{r2}rm.exp", "gone", 4, T + 5, T);
    raw_cmd("CONFIG RESETSTAT");
    is_int(store_read_many(s, rk, 7, T + 5, rv), AMS_OK,
           "read_many: 7 keys in 4 slots");
    cmdstats(&total, &eval, list, sizeof list);
    is_int(eval, 4, "  one script per slot (%s)", list);
    is_int(rv[0].st, AMS_OK, "  counter");
    is_int(rv[0].num, -42, "  -42");
    ok(rv[1].st == AMS_OK && rv[1].len == 3 &&
           memcmp(rv[1].val, "t\0x", 3) == 0,
       "  tag bytes");
    ok(rv[2].st == AMS_OK && rv[2].version == ver && rv[2].len == 2 &&
           strcmp(rv[2].val, "vv") == 0,
       "  value and version");
    ok(rv[3].st == AMS_OK && rv[3].num == 0, "  an absent counter: 0, OK");
    is_int(rv[4].st, AMS_NOT_FOUND, "  an absent tag");
    is_int(rv[5].st, AMS_NOT_FOUND, "  an absent value");
    ok(rv[6].st == AMS_NOT_FOUND && rv[6].val == NULL, "  an expired tag");
    store_rvals_free(rv, 7);
    rk[1].fam = 'x';
    is_int(store_read_many(s, rk, 7, T, rv), AMS_ERR, "a bad family: AMS_ERR");
    rk[1].fam = STORE_F_TAG;
    rk[2].key = "";
    is_int(store_read_many(s, rk, 7, T, rv), AMS_ERR, "an empty key: AMS_ERR");
}

/* Faults: a call that got no answer may have run (unknown = 1); one that
 * was never sent did not (unknown = 0). */
static void test_commit_faults(store *s)
{
    store_wop op[] = {w_add("{f}fl.c", 1, 0, 100, 0)};
    store_wres r;
    int64_t t0;

    freeze_server();
    t0 = mono_ms();
    r = commit1(s, op, 1, T);
    is_int(r.st, AMS_ERR_STORE, "commit, server hung: AMS_ERR_STORE");
    is_int(r.unknown, 1, "  after the timeout (%lld ms): it may have run",
           (long long)(mono_ms() - t0));
    kill(server, SIGCONT);
    usleep(100000);
    is_int(cget(s, "{f}fl.c", T), 1, "  (it did, once the server went on)");
    stop_server();
    r = commit1(s, op, 1, T);
    is_int(r.st, AMS_ERR_STORE, "server gone: AMS_ERR_STORE");
    is_int(r.unknown, 1,
           "  sent on a connection found dead only by the reply: it may "
           "have run (the safe answer)");
    r = commit1(s, op, 1, T);
    ok(r.st == AMS_ERR_STORE && r.unknown == 0,
       "  not connected: certainly not applied");
    ok(start_server() == 0, "start the server again");
    ok(until_ok(s, 2000) > 0, "  the handle works again");
}

/* Another client's script running past the busy threshold: the server
 * answers BUSY without running ours (unknown = 0). */
static void test_commit_busy(store *s)
{
    store_wop op[] = {w_add("{busy}bz.c", 1, 0, 10, 0)};
    redisContext *c = raw();
    redisReply *r = NULL;
    store_wres res;
    int done = 0;

    ok(raw_cmd("CONFIG SET busy-reply-threshold 50"),
       "a busy threshold of 50 ms");
    if (c == NULL ||
        redisAppendCommand(c, "EVAL %s 0", "while true do end") != REDIS_OK) {
        ok(0, "  a raw connection for a script that spins");
        return;
    }
    while (!done && redisBufferWrite(c, &done) == REDIS_OK)
        ;
    usleep(150000);
    res = commit1(s, op, 1, T);
    ok(res.st == AMS_ERR_STORE && res.unknown == 0,
       "commit while another script spins: AMS_ERR_STORE, certainly not "
       "applied (%d, %d)",
       res.st, res.unknown);
    ok(raw_cmd("SCRIPT KILL"), "  SCRIPT KILL");
    if (redisGetReply(c, (void **)&r) == REDIS_OK && r != NULL)
        freeReplyObject(r);
    redisFree(c);
    raw_cmd("CONFIG SET busy-reply-threshold 5000");
    is_int(cget(s, "{busy}bz.c", T), 0, "  nothing was written");
    is_int(commit1(s, op, 1, T).st, AMS_OK, "  then it applies");
}

/* A one-node Redis Cluster refuses a set whose keys span slots
 * (CROSSSLOT): a caller bug, AMS_ERR, logged, nothing written; read_many
 * sends one script per slot, which it takes. */
static void test_commit_cluster(void)
{
    store_wop span[] = {w_add("{s1}cl.c", 1, 0, 10, 0),
                        w_bytes(STORE_W_TAG_SET, "{s2}cl.t", "x", 0)};
    store_wop one[] = {w_add("{s1}cl.c", 2, 0, 10, 0),
                       w_bytes(STORE_W_TAG_SET, "{s1}cl.t", "y", 0)};
    store_wset sets[] = {{span, 2, T}, {one, 2, T}};
    store_rkey rk[] = {{STORE_F_COUNTER, "{s1}cl.c"},
                       {STORE_F_TAG, "{s2}cl.t"},
                       {STORE_F_TAG, "{s1}cl.t"},
                       {STORE_F_TAG, "cl.untagged"}};
    store_rval rv[4];
    store_wres res[2];
    char u[64], err[512], *v = NULL;
    int cp = -1, up = 0;
    pid_t pid = -1;
    store *s = NULL;

    for (int i = 0; i < 5 && pid < 0; i++) {
        if ((cp = fx_free_port()) <= 0 || (pid = spawn_redis(cp, 1)) < 0)
            continue;
        if (wait_ping(pid, cp) != 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            pid = -1;
        }
    }
    if (!ok(pid > 0, "a Redis Cluster node on port %d", cp))
        return;
    if (raw_cmd_at(cp, "CLUSTER ADDSLOTSRANGE 0 16383"))
        for (int i = 0; i < 500 && !up; i++) {
            redisContext *c = raw_at(cp);
            redisReply *r = c ? redisCommand(c, "CLUSTER INFO") : NULL;
            up = r != NULL && r->type == REDIS_REPLY_STRING &&
                 strstr(r->str, "cluster_state:ok") != NULL;
            if (r != NULL)
                freeReplyObject(r);
            if (c != NULL)
                redisFree(c);
            if (!up)
                usleep(20000);
        }
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", cp);
    if (ok(up, "  owning every slot") &&
        ok((s = open_uri(u, err, sizeof err)) != NULL, "  open %s", u)) {
        is_int(store_commit(s, sets, 2, res), AMS_OK,
               "cluster: a call with a set spanning two slots: decided");
        ok(res[0].st == AMS_ERR && res[0].unknown == 0,
           "  that set: AMS_ERR (CROSSSLOT), certainly not applied");
        is_int(res[1].st, AMS_OK, "  the set in one slot applied");
        is_int(cget(s, "{s1}cl.c", T), 2, "  the counter has only its add");
        is_int(store_tag_get(s, "{s2}cl.t", T, &v, NULL), AMS_NOT_FOUND,
               "  the spanning set's tag was not written");
        store_tag_set(s, "{s2}cl.t", "z", 1, 0, T);
        is_int(store_read_many(s, rk, 4, T, rv), AMS_OK,
               "read_many of keys in 3 slots: one script per slot");
        ok(rv[0].num == 2 && rv[1].len == 1 && rv[1].val[0] == 'z' &&
               rv[2].len == 1 && rv[2].val[0] == 'y' &&
               rv[3].st == AMS_NOT_FOUND,
           "  every record read");
        store_rvals_free(rv, 4);
        {
            /* Buckets in other slots than the reads and each other. */
            store_rate b[3] = {{"rl|uid|alice", 1000, 0},
                               {"rl|ip|10.0.0.1", 1000, 0},
                               {"rl|1.grab:method|1.grab", 1000, 0}};
            store_rate_res rr[3];
            is_int(store_read_rate(s, rk, 4, b, 3, T, rv, rr), AMS_OK,
                   "cluster: read_rate of keys in 3 slots and 3 buckets");
            ok(rr[0].st == AMS_OK && rr[1].st == AMS_OK &&
                   rr[2].st == AMS_OK && rv[0].num == 2,
               "  every bucket admits, every record read");
            store_rvals_free(rv, 4);
            store_read_rate(s, rk, 4, b, 3, T, rv, rr);
            ok(rr[0].st == AMS_CONFLICT && rr[2].st == AMS_CONFLICT,
               "  burst 1: the next attempt refused by each");
            store_rvals_free(rv, 4);
        }
    }
    store_close(s);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Rate buckets (store.h: Rate limits; lua/gcra.lua): the script's GCRA
 * exact at the edges on the caller's clock, read_rate's reads and
 * buckets in one batch of scripts, and a bucket's record gone once full
 * again (its Redis TTL). */
static void test_read_rate(store *s)
{
    const int64_t t = 200000, tau = 9 * t; /* 5/s, burst 10 */
    store_rate b = {"rl|uid|alice", t, tau};
    store_rate_res rr[2];
    store_rkey rk[] = {{STORE_F_COUNTER, "{a1}rate.c"}};
    store_rval rv[1];
    long total, eval;
    char list[512];
    int n = 0;

    for (int i = 0; i < 30; i++) {
        is_int(store_read_rate(s, NULL, 0, &b, 1, T, NULL, rr), AMS_OK,
               "read_rate %d", i);
        n += rr[0].st == AMS_OK;
    }
    is_int(n, 10, "5/s burst 10: exactly 10 of 30 at one instant");
    is_int(rr[0].st, AMS_CONFLICT, "  the 30th refused");
    is_int(rr[0].tat_us, T * 1000 + 10 * t, "  TAT: ten intervals ahead");
    store_read_rate(s, NULL, 0, &b, 1, T + t / 1000 - 1, NULL, rr);
    is_int(rr[0].st, AMS_CONFLICT, "  1 ms before an interval: refused");
    store_read_rate(s, NULL, 0, &b, 1, T + t / 1000, NULL, rr);
    is_int(rr[0].st, AMS_OK, "  one interval later: admitted");
    store_read_rate(s, NULL, 0, &b, 1, T + t / 1000, NULL, rr);
    is_int(rr[0].st, AMS_CONFLICT, "  and only one");

    store_counter_add(s, "{a1}rate.c", 7, 0, 100, 0, T, NULL);
    raw_cmd("CONFIG RESETSTAT");
    store_rate two[2] = {{"rl|ip|10.0.0.1", t, tau}, {"rl|1.m:uid|bob", t, 0}};
    is_int(store_read_rate(s, rk, 1, two, 2, T, rv, rr), AMS_OK,
           "read_rate: a read and two buckets");
    cmdstats(&total, &eval, list, sizeof list);
    is_int(eval, 3, "  three scripts, one call (%s)", list);
    ok(rv[0].st == AMS_OK && rv[0].num == 7, "  the read: 7");
    ok(rr[0].st == AMS_OK && rr[1].st == AMS_OK, "  both buckets admit");
    store_rvals_free(rv, 1);
    {
        redisContext *c = raw();
        redisReply *r = c ? redisCommand(c, "PTTL R:{rl|1.m:uid|bob}") : NULL;
        ok(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0 &&
               r->integer <= 200 + 10000,
           "  a bucket lives until its TAT plus the margin (PTTL %lld)",
           r ? (long long)r->integer : -1LL);
        if (r != NULL)
            freeReplyObject(r);
        if (c != NULL)
            redisFree(c);
    }
    b.t_us = 0;
    is_int(store_read_rate(s, NULL, 0, &b, 1, T, NULL, rr), AMS_ERR,
           "a bucket without an interval: AMS_ERR");
}

static void test_commit(store *s)
{
    test_commit_basic(s);
    test_commit_conflicts(s);
    test_commit_exact(s);
    test_commit_batch(s);
    test_commit_wrong_type(s);
    test_commit_refused(s);
    test_commit_busy(s);
    test_read_many(s);
    test_read_rate(s);
    test_commit_counts(s);
    test_commit_faults(s);
}

/* ---- the asynchronous path ---- */

static struct event_base *evb;
static coro_pool *pool;

/* One coroutine's call and what became of it. */
typedef struct job {
    store *s;
    int kind; /* 0: counter_add +1 on "as.c", 1: tag_set, 2: commit 3
                 sets (job_commit), then read_many */
    ams_status st;
    store_wres res[3];
    store_rval rv[2];
    int64_t v;
    int64_t started, ended;
    int done;
} job;

static int running, most_running;

/* Three sets in two slots: a bounded add, a tag, an append. */
static void job_commit(job *j)
{
    store_wop a = w_add("{as}ac.c", 1, 0, 5, 0),
              b = w_bytes(STORE_W_TAG_SET, "{as2}ac.t", "x", 0),
              c = w_bytes(STORE_W_APPEND, "{as}ac.l", "e", 0);
    store_wset sets[] = {{&a, 1, T}, {&b, 1, T}, {&c, 1, T}};
    store_rkey rk[] = {{STORE_F_COUNTER, "{as}ac.c"},
                       {STORE_F_TAG, "{as2}ac.t"}};

    j->st = store_commit(j->s, sets, 3, j->res);
    if (j->st == AMS_OK)
        j->st = store_read_many(j->s, rk, 2, T, j->rv);
}

static void job_run(void *arg)
{
    job *j = arg;

    j->started = mono_ms();
    running++;
    if (running > most_running)
        most_running = running;
    if (j->kind == 0)
        j->st = store_counter_add(j->s, "as.c", 1, 0, 1000000, 0, T, &j->v);
    else if (j->kind == 2)
        job_commit(j);
    else
        j->st = store_tag_set(j->s, "as.tag", "x", 1, 0, T);
    running--;
    j->ended = mono_ms();
    j->done = 1;
}

/* Start n jobs as coroutines, then run the loop until all are done or
 * ms passed; the number done. */
static int run_jobs(job *jobs, int n, int ms)
{
    int64_t end = mono_ms() + ms;
    int done = 0;

    most_running = 0;
    for (int i = 0; i < n; i++) {
        coro *c = coro_new(pool, job_run, &jobs[i]);
        if (c != NULL)
            coro_resume(c);
    }
    while (mono_ms() < end) {
        done = 0;
        for (int i = 0; i < n; i++)
            done += jobs[i].done;
        if (done == n)
            break;
        event_base_loop(evb, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(200);
    }
    return done;
}

static void jobs_init(job *jobs, int n, store *s, int kind)
{
    memset(jobs, 0, sizeof *jobs * (size_t)n);
    for (int i = 0; i < n; i++) {
        jobs[i].s = s;
        jobs[i].kind = kind;
    }
}

static int count_st(const job *jobs, int n, ams_status st)
{
    int k = 0;

    for (int i = 0; i < n; i++)
        k += jobs[i].st == st;
    return k;
}

/* Jobs of the tag kind until one succeeds, for up to ms; 1 when one did. */
static int until_ok_async(store *s, int ms)
{
    int64_t end = mono_ms() + ms;

    while (mono_ms() < end) {
        job j;
        jobs_init(&j, 1, s, 1);
        if (run_jobs(&j, 1, TIMEOUT_MS + 500) == 1 && j.st == AMS_OK)
            return 1;
        usleep(20000);
    }
    return 0;
}

enum { NJOBS = 64 };

static void test_async_pipeline(store *s)
{
    static job jobs[NJOBS];
    char seen[NJOBS + 1] = {0};
    int distinct = 1;

    store_counter_add(s, "as.c", 0, 0, 1000000, 0, T, NULL);
    jobs_init(jobs, NJOBS, s, 0);
    is_int(run_jobs(jobs, NJOBS, 5000), NJOBS,
           "async: %d coroutines' "
           "calls all end",
           NJOBS);
    is_int(count_st(jobs, NJOBS, AMS_OK), NJOBS, "  all AMS_OK");
    is_int(most_running, NJOBS,
           "  all %d were waiting at once: a call "
           "yields, it does not block the loop",
           NJOBS);
    for (int i = 0; i < NJOBS; i++) {
        if (jobs[i].v < 1 || jobs[i].v > NJOBS || seen[jobs[i].v])
            distinct = 0;
        else
            seen[jobs[i].v] = 1;
    }
    ok(distinct,
       "  each add saw its own result, 1..%d: one atomic add "
       "each",
       NJOBS);
    {
        int64_t v = 0;
        store_counter_get(s, "as.c", T, &v);
        is_int(v, NJOBS,
               "  the counter holds %d (read on the blocking "
               "path, outside any coroutine)",
               NJOBS);
    }
}

/* Commits from coroutines: every set of a call in one batch, the
 * coroutine waiting once; the sets of concurrent calls stay exact. */
static void test_async_commit(store *s)
{
    static job jobs[8];
    int ok_sets = 0, conflicts = 0, rv_ok = 0;
    char want[64] = "";

    jobs_init(jobs, 8, s, 2);
    is_int(run_jobs(jobs, 8, 5000), 8, "async: 8 coroutines' commits end");
    is_int(count_st(jobs, 8, AMS_OK), 8, "  all AMS_OK");
    for (int i = 0; i < 8; i++) {
        ok_sets += jobs[i].res[1].st == AMS_OK && jobs[i].res[2].st == AMS_OK;
        conflicts += jobs[i].res[0].st == AMS_CONFLICT;
        rv_ok += jobs[i].rv[0].st == AMS_OK && jobs[i].rv[1].st == AMS_OK &&
                 jobs[i].rv[1].len == 1;
        store_rvals_free(jobs[i].rv, 2);
    }
    is_int(ok_sets, 8, "  every tag and append applied");
    is_int(conflicts, 3, "  the bound [0, 5] let exactly 5 adds in");
    is_int(rv_ok, 8, "  and read_many read in the same coroutine");
    is_int(cget(s, "{as}ac.c", T), 5, "  the counter holds 5");
    for (int i = 0; i < 8; i++)
        strcat(want, i ? ",e" : "e");
    is_str(list_str(s, "{as}ac.l", 0, 100, T), want, "  8 entries");

    freeze_server();
    jobs_init(jobs, 1, s, 2);
    run_jobs(jobs, 1, 5000);
    ok(jobs[0].st == AMS_ERR_STORE && jobs[0].res[0].unknown == 1 &&
           jobs[0].res[2].unknown == 1,
       "async, server hung: AMS_ERR_STORE, every set may have run");
    kill(server, SIGCONT);
    ok(until_ok_async(s, 2000), "server resumed: async calls work again");
}

static int ticks;

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    ticks++;
}

static void test_async_hang(store *s)
{
    static job jobs[16];
    struct timeval every = {0, 20000};
    struct event *t = event_new(evb, -1, EV_PERSIST, tick, NULL);
    int64_t t0, last = 0;

    event_add(t, &every);
    ticks = 0;
    freeze_server();
    jobs_init(jobs, 16, s, 0);
    t0 = mono_ms();
    is_int(run_jobs(jobs, 16, 5000), 16, "async, server hung: 16 calls end");
    is_int(count_st(jobs, 16, AMS_ERR_STORE), 16, "  all with AMS_ERR_STORE");
    for (int i = 0; i < 16; i++)
        if (jobs[i].ended - t0 > last)
            last = jobs[i].ended - t0;
    ok(last >= TIMEOUT_MS - 50 && last < TIMEOUT_MS + 300,
       "  all within one %d ms timeout, not one each (last after %lld ms)",
       TIMEOUT_MS, (long long)last);
    ok(ticks >= TIMEOUT_MS / 20 / 2,
       "  the loop kept running meanwhile "
       "(%d ticks of 20 ms)",
       ticks);
    event_free(t);
    kill(server, SIGCONT);
    ok(until_ok_async(s, 2000), "server resumed: async calls work again");
}

static void test_async_kill(store *s)
{
    static job jobs[16];
    int64_t t0;

    freeze_server(); /* so the calls are surely in flight */
    jobs_init(jobs, 16, s, 0);
    for (int i = 0; i < 16; i++) {
        coro *c = coro_new(pool, job_run, &jobs[i]);
        if (c != NULL)
            coro_resume(c);
    }
    event_base_loop(evb, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* send them */
    is_int(running, 16, "async: 16 calls in flight");
    t0 = mono_ms();
    stop_server();
    while (running > 0 && mono_ms() - t0 < 5000) {
        event_base_loop(evb, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(200);
    }
    is_int(count_st(jobs, 16, AMS_ERR_STORE), 16,
           "server killed: every "
           "call in flight ends with AMS_ERR_STORE");
    ok(mono_ms() - t0 < TIMEOUT_MS,
       "  at once, not after the timeout "
       "(%lld ms)",
       (long long)(mono_ms() - t0));
    ok(start_server() == 0, "start the server again");
    ok(until_ok_async(s, 2000), "  the async connection comes back by "
                                "itself");
}

static void test_async_idle_close(store *s)
{
    job j;

    /* Redis' "timeout" setting closes idle clients; CLIENT KILL does the
     * same to every client at once. */
    ok(raw_cmd("CLIENT KILL TYPE normal SKIPME yes"),
       "async: the server "
       "closes the connection (an idle timeout)");
    usleep(50000);
    event_base_loop(evb, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* notice it */
    jobs_init(&j, 1, s, 1);
    run_jobs(&j, 1, 2000);
    is_int(j.st, AMS_OK, "  the next call reconnects at once and succeeds");
}

static void test_async_script_flush(store *s)
{
    job j;

    ok(raw_cmd("SCRIPT FLUSH"), "async: SCRIPT FLUSH");
    jobs_init(&j, 1, s, 0);
    run_jobs(&j, 1, 2000);
    is_int(j.st, AMS_OK,
           "  the next call sends the script again and "
           "succeeds");
}

static void test_async_auth(void)
{
    char u[128], err[512] = "";
    store_options o = {.redis_timeout_ms = TIMEOUT_MS,
                       .redis_password = "pa55"};
    store *s;
    job j;

    snprintf(u, sizeof u, "redis://127.0.0.1:%d", port);
    o.uri = u;
    o.base = evb;
    ok(raw_cmd("CONFIG SET requirepass pa55"), "the server now wants a "
                                               "password");
    s = store_open(&o, err, sizeof err);
    ok(s != NULL, "open with the password from the settings (%s)", err);
    if (s != NULL) {
        jobs_init(&j, 1, s, 1);
        run_jobs(&j, 1, 2000);
        is_int(j.st, AMS_OK, "  an async call authenticates too");
        store_close(s);
    }
    snprintf(u, sizeof u, "redis://:other@127.0.0.1:%d", port);
    s = store_open(&o, err, sizeof err);
    ok(s == NULL, "a password in the URI and in the settings: refused");
    has_str(err, "in the URI and in the redis settings", "  saying so");
    ok(strstr(err, "other") == NULL && strstr(err, "pa55") == NULL,
       "  without showing either");
    store_close(s);
    {
        redisContext *c = raw();
        redisReply *r = c ? redisCommand(c, "AUTH pa55") : NULL;
        if (r != NULL)
            freeReplyObject(r);
        r = c ? redisCommand(c, "CONFIG SET requirepass %s", "") : NULL;
        ok(r != NULL && r->type == REDIS_REPLY_STATUS, "password off again");
        if (r != NULL)
            freeReplyObject(r);
        if (c != NULL)
            redisFree(c);
    }
}

/* A worker opens its store lazily: a Redis that is away at start is like
 * one that goes away later.  One that refuses still fails the open. */
static void test_lazy(void)
{
    char u[128], err[512] = "";
    store_options o = {.redis_timeout_ms = TIMEOUT_MS, .redis_lazy = 1};
    store *s, *sa;
    job j;
    int64_t t0;

    snprintf(u, sizeof u, "redis://:sekrit@127.0.0.1:%d", port);
    o.uri = u;
    s = store_open(&o, err, sizeof err);
    ok(s == NULL, "lazy open with a password the server refuses: fails");
    has_str(err, "AUTH", "  saying AUTH failed");
    store_close(s);

    stop_server();
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", port);
    s = store_open(&o, err, sizeof err);
    ok(s != NULL, "lazy open with nothing listening: a handle (%s)", err);
    o.base = evb;
    sa = store_open(&o, err, sizeof err);
    ok(sa != NULL, "  and with an event loop (%s)", err);
    if (s == NULL || sa == NULL) {
        store_close(s);
        store_close(sa);
        start_server();
        return;
    }
    t0 = mono_ms();
    is_int(store_counter_add(s, "lz.c", 1, 0, 10, 0, T, NULL), AMS_ERR_STORE,
           "its calls fail with AMS_ERR_STORE");
    jobs_init(&j, 1, sa, 1);
    run_jobs(&j, 1, 2000);
    is_int(j.st, AMS_ERR_STORE, "  async ones too");
    usleep((RD_RETRY_MS_TEST + 20) * 1000); /* past the connect back-off */
    jobs_init(&j, 1, sa, 2);
    run_jobs(&j, 1, 2000);
    ok(j.st == AMS_ERR_STORE && j.res[0].unknown == 0 && j.res[2].unknown == 0,
       "  an async commit that could not connect: certainly not applied");
    ok(mono_ms() - t0 < TIMEOUT_MS, "  at once (%lld ms)",
       (long long)(mono_ms() - t0));
    ok(start_server() == 0, "the server starts");
    ok(until_ok(s, 2000) > 0, "the handle connects and works");
    ok(until_ok_async(sa, 2000), "  the async one too");
    store_close(s);
    store_close(sa);
}

static void test_async(void)
{
    char u[128], err[512];
    store_options o = {.redis_timeout_ms = TIMEOUT_MS};
    store *s;

    evb = event_base_new();
    pool = coro_pool_new(0, 64);
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", port);
    o.uri = u;
    o.base = evb;
    s = store_open(&o, err, sizeof err);
    if (ok(s != NULL, "open %s with an event loop", u)) {
        test_async_pipeline(s);
        test_async_commit(s);
        test_async_hang(s);
        test_async_script_flush(s);
        test_async_idle_close(s);
        test_async_kill(s);
        store_close(s);
    }
    test_async_auth();
    test_lazy();
    coro_pool_free(pool);
    event_base_free(evb);
}

int main(void)
{
    char err[512], u[128];
    store *s;

    alarm(60);
    if (fx_mkdtemp(tmpdir, sizeof tmpdir, "test_store_redis") != 0)
        return 1;
    for (int i = 0; i < 5 && server < 0; i++)
        if ((port = fx_free_port()) <= 0 || start_server() != 0)
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
        test_commit(s);
        store_close(s);
    }
    test_async();
    test_commit_cluster();
    stop_server();
    fx_rm_rf(tmpdir);
    return tap_done();
}
