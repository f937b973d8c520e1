/*
 * amsctl.c -- the config center's command line: publish a directory of
 * activity files as a new version, roll back, list the versions kept,
 * and show which version every node serves.  The layout in Redis is
 * center_kv.h's; the nodes' side is core/ctl/center*.c.
 *
 * Exit status: 0 done (status: every node that reports serves the
 * latest version), 1 not converged (status: a node refused the latest,
 * is still loading it, is behind, or its report is stale; publish: the
 * version was written but a newer one was published meanwhile), 2 a
 * usage, input or Redis error.  Passwords are never printed: the URI
 * is shown without its credentials.
 */
#include "center_kv.h"
#include "errs.h"
#include "redis_uri.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CTL_OK 0
#define CTL_DIVERGED 1
#define CTL_ERROR 2
#define CTL_STALE_SLACK_MS 2000 /* a report older than 3 polls + this */

typedef struct ctl {
    ruri uri;
    char shown[300];
    const char *prefix;
    int64_t timeout_ms;
    int keep;
    int json;
    redisContext *rc;
} ctl;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: amsctl [OPTIONS] COMMAND\n"
            "\n"
            "  publish [--keep K] DIR   publish DIR/activities/*.conf (or "
            "DIR/*.conf\n"
            "                           but amsd.conf) and DIR/"
            "plugins.sha256 as a new version\n"
            "  rollback [--keep K] N    publish version N's content again, "
            "as a new version\n"
            "  versions                 the versions kept\n"
            "  status [--json]          the version every node serves\n"
            "\n"
            "options:\n"
            "  -r, --redis URI          redis://[[USER]:PASSWORD@]HOST[:PORT]"
            "[/DB]\n"
            "                           (default $AMSCTL_REDIS, else "
            "redis://127.0.0.1:6379)\n"
            "  -p, --prefix P           key prefix (default $AMSCTL_PREFIX, "
            "else %s)\n"
            "      --user U             AUTH user\n"
            "      --password-file F    AUTH password: F's first line "
            "(or $AMSCTL_PASSWORD)\n"
            "      --timeout-ms N       connect and command timeout "
            "(default 2000)\n"
            "  -h, --help\n"
            "\n"
            "--keep K: versions kept after a publish (default %d, at least "
            "1); older ones are removed.\n"
            "exit status: 0 done (status: every node serves the latest "
            "version),\n"
            "1 not converged, 2 usage, input or Redis error.\n",
            CKV_PREFIX_DEFAULT, CKV_KEEP_DEFAULT);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;

    fputs("amsctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_ERROR;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Redis ---- */

/* One command; NULL (said on stderr) on an error or no reply.  Caller
 * frees the reply. */
static redisReply *cmd(ctl *x, int argc, const char **argv, const size_t *lens,
                       const char *what)
{
    redisReply *r = redisCommandArgv(x->rc, argc, argv, lens);

    if (r == NULL) {
        fail("%s: %s: %s", x->shown, what, x->rc->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fail("%s: %s: %s", x->shown, what, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int connect_redis(ctl *x)
{
    struct timeval tv = {(time_t)(x->timeout_ms / 1000),
                         (suseconds_t)(x->timeout_ms % 1000) * 1000};
    const char *argv[3];
    char db[16];
    int argc = 0;
    redisReply *r;

    x->rc = redisConnectWithTimeout(x->uri.host, x->uri.port, tv);
    if (x->rc == NULL || x->rc->err)
        return fail("%s: cannot connect: %s", x->shown,
                    x->rc ? x->rc->errstr : "out of memory");
    redisSetTimeout(x->rc, tv);
    if (x->uri.pass != NULL) {
        argv[argc++] = "AUTH";
        if (x->uri.user != NULL)
            argv[argc++] = x->uri.user;
        argv[argc++] = x->uri.pass;
        if ((r = cmd(x, argc, argv, NULL, "AUTH")) == NULL)
            return CTL_ERROR;
        freeReplyObject(r);
    }
    if (x->uri.db != 0) {
        snprintf(db, sizeof db, "%d", x->uri.db);
        argv[0] = "SELECT";
        argv[1] = db;
        if ((r = cmd(x, 2, argv, NULL, "SELECT")) == NULL)
            return CTL_ERROR;
        freeReplyObject(r);
    }
    return CTL_OK;
}

/* An integer reply, or a string holding one (GET); 0 for nil. */
static int64_t reply_int(const redisReply *r)
{
    if (r == NULL)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

/* The pointer: the version nodes should serve (0: none); -1 on error. */
static int64_t get_pointer(ctl *x)
{
    char key[CKV_KEY_MAX];
    const char *argv[2] = {"GET", key};
    redisReply *r;
    int64_t n;

    ckv_key(key, x->prefix, CKV_POINTER);
    if ((r = cmd(x, 2, argv, NULL, "GET")) == NULL)
        return -1;
    n = reply_int(r);
    freeReplyObject(r);
    return n;
}

/* ---- publish ---- */

/* "user@host" of whoever runs amsctl (caller frees). */
static char *publisher(void)
{
    const char *user = getenv("USER");
    const struct passwd *pw = user ? NULL : getpwuid(getuid());
    char host[256] = "?", *out = NULL;

    if (user == NULL)
        user = pw ? pw->pw_name : "?";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    if (asprintf(&out, "%s@%s", user, host) < 0)
        return NULL;
    return out;
}

/* A fresh version number: INCR seq, never at or below the pointer (a
 * pointer restored without its seq must not be reused). */
static int64_t next_number(ctl *x)
{
    char seq[CKV_KEY_MAX], by[24];
    const char *incr[2] = {"INCR", seq};
    const char *incrby[3] = {"INCRBY", seq, by};
    redisReply *r;
    int64_t n, cur;

    ckv_key(seq, x->prefix, CKV_SEQ);
    if ((r = cmd(x, 2, incr, NULL, "INCR")) == NULL)
        return -1;
    n = reply_int(r);
    freeReplyObject(r);
    if ((cur = get_pointer(x)) < 0)
        return -1;
    if (n > cur)
        return n;
    snprintf(by, sizeof by, "%" PRId64, cur - n + 1);
    if ((r = cmd(x, 3, incrby, NULL, "INCRBY")) == NULL)
        return -1;
    n = reply_int(r);
    freeReplyObject(r);
    return n;
}

/* Remove all but the newest x->keep versions (never the pointer's). */
static int prune(ctl *x, int64_t pointer)
{
    char vkey[CKV_KEY_MAX], key[CKV_KEY_MAX], num[24];
    const char *range[4] = {"ZRANGE", vkey, "0", "-1"};
    const char *del[2] = {"DEL", key};
    const char *zrem[3] = {"ZREM", vkey, num};
    redisReply *r, *d;
    size_t drop;

    ckv_key(vkey, x->prefix, CKV_VERSIONS);
    if ((r = cmd(x, 4, range, NULL, "ZRANGE")) == NULL)
        return -1;
    drop = r->elements > (size_t)x->keep ? r->elements - (size_t)x->keep : 0;
    for (size_t i = 0; i < drop; i++) {
        int64_t n = reply_int(r->element[i]);
        if (n == pointer)
            continue;
        ckv_version_key(key, x->prefix, (uint64_t)n);
        snprintf(num, sizeof num, "%" PRId64, n);
        if ((d = cmd(x, 2, del, NULL, "DEL")) != NULL)
            freeReplyObject(d);
        if ((d = cmd(x, 3, zrem, NULL, "ZREM")) != NULL)
            freeReplyObject(d);
    }
    freeReplyObject(r);
    return 0;
}

/* Write v as a new version: its content (and its entry in the versions
 * kept) in one transaction, then the pointer, then prune. */
static int publish_version(ctl *x, ckv_version *v)
{
    char key[CKV_KEY_MAX], vkey[CKV_KEY_MAX], ptr[CKV_KEY_MAX],
        chan[CKV_KEY_MAX], num[24];
    const char *multi[1] = {"MULTI"}, *exec_[1] = {"EXEC"};
    const char *zadd[4] = {"ZADD", vkey, num, num};
    const char *eval[6] = {"EVAL", CKV_POINTER_LUA, "2", ptr, chan, num};
    redisReply *r;
    ckv_args a;
    int64_t n, moved, cur;

    if ((n = next_number(x)) <= 0)
        return CTL_ERROR;
    v->number = (uint64_t)n;
    snprintf(num, sizeof num, "%" PRId64, n);
    ckv_version_key(key, x->prefix, v->number);
    ckv_key(vkey, x->prefix, CKV_VERSIONS);
    ckv_key(ptr, x->prefix, CKV_POINTER);
    ckv_key(chan, x->prefix, CKV_CHANNEL);
    if (ckv_hset_args(v, key, &a) < 0)
        return fail("out of memory");
    r = cmd(x, 1, multi, NULL, "MULTI");
    freeReplyObject(r);
    if (r != NULL && (r = cmd(x, a.argc, a.argv, a.lens, "HSET")) != NULL) {
        freeReplyObject(r);
        r = cmd(x, 4, zadd, NULL, "ZADD");
        freeReplyObject(r);
    }
    ckv_args_free(&a);
    if (r == NULL || (r = cmd(x, 1, exec_, NULL, "EXEC")) == NULL)
        return CTL_ERROR;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return fail("%s: EXEC: the transaction was not run", x->shown);
    }
    freeReplyObject(r);
    /* Only now may a node see it. */
    if ((r = cmd(x, 6, eval, NULL, "moving the version pointer")) == NULL)
        return CTL_ERROR;
    moved = reply_int(r);
    freeReplyObject(r);
    if ((cur = get_pointer(x)) < 0 || prune(x, cur) < 0)
        return CTL_ERROR;
    if (moved == 0) {
        fprintf(stderr,
                "amsctl: version %" PRId64 " was written, but "
                "version %" PRId64 " was published meanwhile and stays the "
                "one to serve\n",
                n, cur);
        return CTL_DIVERGED;
    }
    printf("published version %" PRId64 " to %s (prefix \"%s\"): %zu "
           "activity file(s), %s, digest %.12s; %" PRId64 " node(s) "
           "notified\n",
           n, x->shown, x->prefix, v->nfiles,
           v->pins ? "plugin pins" : "no plugin pins", v->digest, moved - 1);
    return CTL_OK;
}

static int do_publish(ctl *x, const char *dir)
{
    ckv_version v;
    errs e = {0};
    char real[PATH_MAX];
    int rc;

    if (ckv_read_dir(dir, &v, &e) < 0) {
        for (size_t i = 0; i < e.n; i++)
            fprintf(stderr, "amsctl: %s\n", e.msgs[i]);
        fprintf(stderr, "amsctl: nothing published\n");
        ckv_free(&v);
        errs_free(&e);
        return CTL_ERROR;
    }
    errs_free(&e);
    v.published_at = wall_ms();
    v.publisher = publisher();
    v.source = strdup(realpath(dir, real) ? real : dir);
    rc = connect_redis(x);
    if (rc == CTL_OK)
        rc = publish_version(x, &v);
    ckv_free(&v);
    return rc;
}

/* Version n's content as kept, checked like a node checks it. */
static int read_version(ctl *x, uint64_t n, ckv_version *v)
{
    char key[CKV_KEY_MAX];
    const char *argv[2] = {"HGETALL", key};
    redisReply *r;
    errs e = {0};
    int rc = CTL_OK;

    memset(v, 0, sizeof *v);
    ckv_version_key(key, x->prefix, n);
    if ((r = cmd(x, 2, argv, NULL, "HGETALL")) == NULL)
        return CTL_ERROR;
    if (ckv_from_reply(n, r, v, &e) < 0) {
        for (size_t i = 0; i < e.n; i++)
            fprintf(stderr, "amsctl: %s\n", e.msgs[i]);
        rc = CTL_ERROR;
    }
    errs_free(&e);
    freeReplyObject(r);
    return rc;
}

static int do_rollback(ctl *x, const char *arg)
{
    char *end;
    unsigned long long n;
    ckv_version v;
    int rc;

    errno = 0;
    n = strtoull(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || errno != 0 || n == 0 || arg[0] == '-')
        return fail("rollback: \"%s\" is not a version number", arg);
    if ((rc = connect_redis(x)) != CTL_OK)
        return rc;
    if ((rc = read_version(x, n, &v)) == CTL_OK) {
        free(v.publisher);
        v.publisher = publisher();
        v.published_at = wall_ms();
        v.rollback_of = n;
        rc = publish_version(x, &v);
    }
    ckv_free(&v);
    return rc;
}

/* ---- versions, status ---- */

/* ms since the epoch as "2026-05-01T10:00:00Z" ("-" for 0). */
static const char *iso(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0 || gmtime_r(&t, &tm) == NULL)
        snprintf(buf, len, "-");
    else
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* The string field name of a HGETALL reply ("" when absent). */
static const char *field(const redisReply *r, const char *name)
{
    for (size_t i = 0; r != NULL && i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[i]->str, name) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return r->element[i + 1]->str;
    return "";
}

/* HGETALL of key; NULL on error (said). */
static redisReply *hgetall(ctl *x, const char *key)
{
    const char *argv[2] = {"HGETALL", key};
    return cmd(x, 2, argv, NULL, "HGETALL");
}

static int do_versions(ctl *x)
{
    char vkey[CKV_KEY_MAX], key[CKV_KEY_MAX], when[32];
    const char *range[4] = {"ZRANGE", vkey, "0", "-1"};
    redisReply *r, *h;
    int64_t cur;
    int rc, seen_cur = 0;

    if ((rc = connect_redis(x)) != CTL_OK)
        return rc;
    ckv_key(vkey, x->prefix, CKV_VERSIONS);
    if ((cur = get_pointer(x)) < 0 ||
        (r = cmd(x, 4, range, NULL, "ZRANGE")) == NULL)
        return CTL_ERROR;
    if (r->elements == 0)
        printf("no version kept under \"%s\" at %s\n", x->prefix, x->shown);
    else
        printf("%-8s %-20s %-24s %5s %-12s %s\n", "VERSION", "PUBLISHED", "BY",
               "FILES", "DIGEST", "NOTE");
    for (size_t i = 0; i < r->elements; i++) {
        int64_t n = reply_int(r->element[i]);
        const char *rb;
        char note[64] = "";

        ckv_version_key(key, x->prefix, (uint64_t)n);
        if ((h = hgetall(x, key)) == NULL)
            continue;
        rb = field(h, "rollback_of");
        if (rb[0] != '\0')
            snprintf(note, sizeof note, "rollback of %s", rb);
        if (n == cur)
            snprintf(note + strlen(note), sizeof note - strlen(note), "%s%s",
                     note[0] ? ", " : "", "latest");
        seen_cur |= n == cur;
        printf("%-8" PRId64 " %-20s %-24s %5s %-12.12s %s\n", n,
               iso(strtoll(field(h, "published_at"), NULL, 10), when,
                   sizeof when),
               field(h, "publisher"), field(h, "files"), field(h, "digest"),
               note);
        freeReplyObject(h);
    }
    freeReplyObject(r);
    if (cur == 0)
        printf("latest: none (nothing published)\n");
    else if (!seen_cur)
        printf("latest: version %" PRId64 " (the pointer), which is not "
               "among the versions kept: set by hand?\n",
               cur);
    return CTL_OK;
}

/* One node's report as JSON, with its state against the latest version:
 * ok, refused, loading, behind, or stale (no report for 3 polls). */
static cJSON *node_state(const char *name, const redisReply *h, int64_t latest,
                         int64_t now)
{
    cJSON *j = cJSON_CreateObject(), *lines;
    int64_t version = strtoll(field(h, CKV_NODE_VERSION), NULL, 10);
    int64_t rejected = strtoll(field(h, CKV_NODE_REJECTED), NULL, 10);
    int64_t loading = strtoll(field(h, CKV_NODE_LOADING), NULL, 10);
    int64_t updated = strtoll(field(h, CKV_NODE_UPDATED_AT), NULL, 10);
    int64_t poll = strtoll(field(h, CKV_NODE_POLL_MS), NULL, 10);
    char *reason = strdup(field(h, CKV_NODE_REASON));
    const char *state = version == latest    ? "ok"
                        : rejected == latest ? "refused"
                        : loading == latest  ? "loading"
                                             : "behind";

    if (now - updated > 3 * poll + CTL_STALE_SLACK_MS)
        state = "stale";
    cJSON_AddStringToObject(j, "node", name);
    cJSON_AddStringToObject(j, "state", state);
    cJSON_AddNumberToObject(j, "version", (double)version);
    cJSON_AddStringToObject(j, "digest", field(h, CKV_NODE_DIGEST));
    cJSON_AddNumberToObject(
        j, "latest_seen",
        (double)strtoll(field(h, CKV_NODE_LATEST), NULL, 10));
    cJSON_AddNumberToObject(j, "loading", (double)loading);
    cJSON_AddNumberToObject(j, "rejected", (double)rejected);
    lines = cJSON_AddArrayToObject(j, "reason");
    for (char *l = reason ? strtok(reason, "\n") : NULL; l != NULL;
         l = strtok(NULL, "\n"))
        cJSON_AddItemToArray(lines, cJSON_CreateString(l));
    free(reason);
    cJSON_AddNumberToObject(
        j, "rejected_at",
        (double)strtoll(field(h, CKV_NODE_REJECTED_AT), NULL, 10));
    cJSON_AddNumberToObject(j, "age_ms", (double)(now - updated));
    cJSON_AddNumberToObject(
        j, "generation",
        (double)strtoll(field(h, CKV_NODE_GENERATION), NULL, 10));
    return j;
}

/* Every node that reports (dropping the names whose report expired). */
static cJSON *collect_nodes(ctl *x, int64_t latest, int *gone)
{
    char nkey[CKV_KEY_MAX], key[CKV_KEY_MAX];
    const char *range[4] = {"ZRANGE", nkey, "0", "-1"};
    const char *zrem[3] = {"ZREM", nkey, NULL};
    cJSON *arr = cJSON_CreateArray();
    int64_t now = wall_ms();
    redisReply *r, *h, *d;

    ckv_key(nkey, x->prefix, CKV_NODES);
    if ((r = cmd(x, 4, range, NULL, "ZRANGE")) == NULL) {
        cJSON_Delete(arr);
        return NULL;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const char *name = r->element[i]->str;
        ckv_node_key(key, x->prefix, name);
        if ((h = hgetall(x, key)) == NULL)
            continue;
        if (h->elements == 0) {
            zrem[2] = name;
            if ((d = cmd(x, 3, zrem, NULL, "ZREM")) != NULL)
                freeReplyObject(d);
            (*gone)++;
        } else {
            cJSON_AddItemToArray(arr, node_state(name, h, latest, now));
        }
        freeReplyObject(h);
    }
    freeReplyObject(r);
    return arr;
}

static void print_status(const ctl *x, int64_t latest, const redisReply *lv,
                         const cJSON *nodes, int gone)
{
    const cJSON *n;
    char when[32];
    int ok = 0, refused = 0;

    printf("config center %s, prefix \"%s\"\n", x->shown, x->prefix);
    if (latest == 0)
        printf("nothing published yet\n");
    else
        printf("latest version %" PRId64 ": published %s by %s, %s activity "
               "file(s), digest %.12s\n",
               latest,
               iso(strtoll(field(lv, "published_at"), NULL, 10), when,
                   sizeof when),
               field(lv, "publisher"), field(lv, "files"),
               field(lv, "digest"));
    if (cJSON_GetArraySize(nodes) > 0)
        printf("%-32s %7s %-8s %8s %10s\n", "NODE", "VERSION", "STATE",
               "REFUSED", "REPORTED");
    cJSON_ArrayForEach(n, nodes)
    {
        const char *state =
            cJSON_GetStringValue(cJSON_GetObjectItem(n, "state"));
        double rejected =
            cJSON_GetNumberValue(cJSON_GetObjectItem(n, "rejected"));
        const cJSON *l;
        char rej[24] = "-";

        if (rejected > 0)
            snprintf(rej, sizeof rej, "%.0f", rejected);
        printf("%-32s %7.0f %-8s %8s %8.1fs ago\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(n, "node")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(n, "version")), state,
               rej,
               cJSON_GetNumberValue(cJSON_GetObjectItem(n, "age_ms")) /
                   1000.0);
        if (rejected > 0) {
            printf("    version %.0f refused:\n", rejected);
            cJSON_ArrayForEach(l, cJSON_GetObjectItem(n, "reason"))
                printf("      %s\n", l->valuestring);
        }
        ok += strcmp(state, "ok") == 0;
        refused += strcmp(state, "refused") == 0;
    }
    printf("%d node(s): %d serve version %" PRId64 ", %d refused it, %d "
           "other\n",
           cJSON_GetArraySize(nodes), ok, latest, refused,
           cJSON_GetArraySize(nodes) - ok - refused);
    if (gone > 0)
        printf("%d node(s) stopped reporting and were forgotten\n", gone);
}

static int do_status(ctl *x)
{
    char key[CKV_KEY_MAX];
    redisReply *lv = NULL;
    cJSON *nodes, *n;
    int64_t latest;
    int rc, gone = 0, converged = 1;

    if ((rc = connect_redis(x)) != CTL_OK)
        return rc;
    if ((latest = get_pointer(x)) < 0)
        return CTL_ERROR;
    ckv_version_key(key, x->prefix, (uint64_t)latest);
    if (latest > 0 && (lv = hgetall(x, key)) == NULL)
        return CTL_ERROR;
    if ((nodes = collect_nodes(x, latest, &gone)) == NULL) {
        freeReplyObject(lv);
        return CTL_ERROR;
    }
    cJSON_ArrayForEach(n, nodes) converged &=
        strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(n, "state")), "ok") ==
        0;
    if (x->json) {
        cJSON *j = cJSON_CreateObject();
        char *text;
        cJSON_AddStringToObject(j, "redis", x->shown);
        cJSON_AddStringToObject(j, "prefix", x->prefix);
        cJSON_AddNumberToObject(j, "latest", (double)latest);
        cJSON_AddStringToObject(j, "digest", field(lv, "digest"));
        cJSON_AddBoolToObject(j, "converged", converged);
        cJSON_AddNumberToObject(j, "forgotten", gone);
        cJSON_AddItemToObject(j, "nodes", nodes);
        text = cJSON_Print(j);
        printf("%s\n", text ? text : "{}");
        free(text);
        cJSON_Delete(j);
    } else {
        print_status(x, latest, lv, nodes, gone);
        cJSON_Delete(nodes);
    }
    freeReplyObject(lv);
    return converged ? CTL_OK : CTL_DIVERGED;
}

/* ---- the command line ---- */

/* The first line of path, without its newline (caller frees); NULL
 * (said) when missing or empty. */
static char *read_secret(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[512], *out = NULL;
    size_t n = 0;

    if (f == NULL) {
        fail("--password-file: %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fgets(buf, sizeof buf, f) != NULL)
        n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    fclose(f);
    if (n == 0)
        fail("--password-file: %s: the first line is empty", path);
    else
        out = strdup(buf);
    explicit_bzero(buf, sizeof buf);
    return out;
}

/* The global options into x; returns the index of the command, or -1
 * (said, usage status in *rc). */
static int parse_globals(int argc, char **argv, ctl *x, int *rc)
{
    enum { OPT_USER = 256, OPT_PASSFILE, OPT_TIMEOUT };
    static const struct option opts[] = {
        {"redis", required_argument, NULL, 'r'},
        {"prefix", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, OPT_USER},
        {"password-file", required_argument, NULL, OPT_PASSFILE},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *uri = getenv("AMSCTL_REDIS"), *user = NULL, *why;
    const char *passfile = NULL;
    char *pass = NULL, *end;
    int c;

    x->prefix = getenv("AMSCTL_PREFIX");
    if (x->prefix == NULL || x->prefix[0] == '\0')
        x->prefix = CKV_PREFIX_DEFAULT;
    x->timeout_ms = 2000;
    *rc = CTL_ERROR;
    while ((c = getopt_long(argc, argv, "+r:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            uri = optarg;
            break;
        case 'p':
            x->prefix = optarg;
            break;
        case OPT_USER:
            user = optarg;
            break;
        case OPT_PASSFILE:
            passfile = optarg;
            break;
        case OPT_TIMEOUT:
            x->timeout_ms = strtoll(optarg, &end, 10);
            if (*end != '\0' || x->timeout_ms < 10 || x->timeout_ms > 600000)
                return fail("--timeout-ms: \"%s\" is not 10..600000", optarg),
                       -1;
            break;
        case 'h':
            usage(stdout);
            *rc = CTL_OK;
            return -1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (uri == NULL || uri[0] == '\0')
        uri = "redis://127.0.0.1:6379";
    if (ruri_parse(uri, &x->uri, &why) < 0)
        return fail("--redis: %s", why), -1;
    if (!ckv_prefix_ok(x->prefix))
        return fail("--prefix: \"%s\" is not 1..%d printable characters "
                    "without spaces",
                    x->prefix, CKV_PREFIX_MAX),
               -1;
    if (passfile != NULL && (pass = read_secret(passfile)) == NULL)
        return -1;
    if (pass == NULL && getenv("AMSCTL_PASSWORD") != NULL &&
        getenv("AMSCTL_PASSWORD")[0] != '\0')
        pass = strdup(getenv("AMSCTL_PASSWORD"));
    if (user != NULL && pass == NULL && x->uri.pass == NULL)
        return fail("--user: given without a password"), -1;
    if (pass != NULL || user != NULL) {
        int r = ruri_set_auth(&x->uri, user ? user : x->uri.user,
                              pass ? pass : x->uri.pass);
        if (pass != NULL) {
            explicit_bzero(pass, strlen(pass));
            free(pass);
        }
        if (r < 0)
            return fail("out of memory"), -1;
    }
    ruri_display(&x->uri, x->shown, sizeof x->shown);
    return optind;
}

/* A command's own options (--keep, --json); returns the index of its
 * first operand, or -1 (said). */
static int parse_command_opts(int argc, char **argv, int first, ctl *x)
{
    static const struct option opts[] = {
        {"keep", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    const char *name = argv[first];
    char *end;
    int c;

    x->keep = CKV_KEEP_DEFAULT;
    optind = first + 1;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'k' && strcmp(name, "status") != 0 &&
            strcmp(name, "versions") != 0) {
            long v = strtol(optarg, &end, 10);
            if (*end != '\0' || v < 1 || v > 100000)
                return fail("--keep: \"%s\" is not 1..100000", optarg), -1;
            x->keep = (int)v;
        } else if (c == 'j' && strcmp(name, "status") == 0) {
            x->json = 1;
        } else {
            fail("%s: unknown option (see amsctl --help)", name);
            return -1;
        }
    }
    return optind;
}

int main(int argc, char **argv)
{
    ctl x;
    int at, rc, nargs;
    const char *name;

    memset(&x, 0, sizeof x);
    if ((at = parse_globals(argc, argv, &x, &rc)) < 0) {
        ruri_free(&x.uri);
        return rc;
    }
    if (at >= argc) {
        usage(stderr);
        ruri_free(&x.uri);
        return CTL_ERROR;
    }
    name = argv[at];
    if ((at = parse_command_opts(argc, argv, at, &x)) < 0) {
        ruri_free(&x.uri);
        return CTL_ERROR;
    }
    nargs = argc - at;
    if (strcmp(name, "publish") == 0 && nargs == 1)
        rc = do_publish(&x, argv[at]);
    else if (strcmp(name, "rollback") == 0 && nargs == 1)
        rc = do_rollback(&x, argv[at]);
    else if (strcmp(name, "versions") == 0 && nargs == 0)
        rc = do_versions(&x);
    else if (strcmp(name, "status") == 0 && nargs == 0)
        rc = do_status(&x);
    else if (strcmp(name, "publish") == 0 || strcmp(name, "rollback") == 0 ||
             strcmp(name, "versions") == 0 || strcmp(name, "status") == 0)
        rc = fail("%s: wrong number of arguments (see amsctl --help)", name);
    else
        rc = fail("unknown command \"%s\" (see amsctl --help)", name);
    if (x.rc != NULL)
        redisFree(x.rc);
    ruri_free(&x.uri);
    return rc;
}
