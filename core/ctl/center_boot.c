/*
 * center_boot.c -- the config center at a node's start: read the latest
 * version (blocking, before the workers exist), check it, fall back to
 * earlier good versions and then to the local activities; see center.c.
 */
#include "center_int.h"

#include "center.h"
#include "audit.h"
#include "center_kv.h"
#include "fileio.h"
#include "gen.h"
#include "log.h"
#include "pins.h"
#include "plugin.h"
#include "redis_uri.h"
#include "reload.h"
#include "services.h"
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the start (blocking) ---- */

/* One blocking command; NULL (with why) on an error or no reply. */
static redisReply *cc_sync_cmd(redisContext *rc, int argc, const char **argv,
                               const char *what, char *why, size_t len)
{
    redisReply *r = redisCommandArgv(rc, argc, argv, NULL);

    if (r == NULL) {
        snprintf(why, len, "%s: %s", what, rc->errstr);
        return NULL;
    }
    if (cc_failed(r, what, why, len)) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* A blocking connection for the start: at most timeout_ms to connect and
 * for each command.  NULL with the reason in why. */
static redisContext *cc_sync_open(center *cc, char *why, size_t len)
{
    struct timeval tv = cc_tv(cc->m->c->cc_timeout_ms);
    redisContext *rc = redisConnectWithTimeout(cc->uri.host, cc->uri.port, tv);
    const char *argv[3];
    char db[16];
    int argc = 0;
    redisReply *r;

    if (rc == NULL || rc->err) {
        snprintf(why, len, "cannot connect: %s",
                 rc ? rc->errstr : "out of memory");
        if (rc != NULL)
            redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    if (cc->uri.pass != NULL) {
        argv[argc++] = "AUTH";
        if (cc->uri.user != NULL)
            argv[argc++] = cc->uri.user;
        argv[argc++] = cc->uri.pass;
        r = cc_sync_cmd(rc, argc, argv, "refused the handshake", why, len);
        freeReplyObject(r);
        if (r == NULL) {
            redisFree(rc);
            return NULL;
        }
    }
    if (cc->uri.db != 0) {
        snprintf(db, sizeof db, "%d", cc->uri.db);
        argv[0] = "SELECT";
        argv[1] = db;
        r = cc_sync_cmd(rc, 2, argv, "SELECT", why, len);
        freeReplyObject(r);
        if (r == NULL) {
            redisFree(rc);
            return NULL;
        }
    }
    return rc;
}

/* Build the generation from acts in a child process, as `amsd -t` does
 * (the master itself never loads a plugin).  Every problem goes to e;
 * returns 0 when it built. */
static int cc_boot_check(center *cc, const char *acts, errs *e)
{
    master *m = cc->m;
    int fds[2], status = 0, r;
    char buf[4096], *out = NULL;
    size_t len = 0;
    FILE *mem;
    pid_t pid;
    int64_t deadline = clock_mono_ms() + CC_BOOT_CHECK_MS;

    if (pipe2(fds, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        errs_add(e, NULL, 0, "cannot check the version: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        errs ce = {0};
        gen *g;
        char *text;

        close(fds[0]);
        log_role = "check";
        plugin_set_copy_dir(m->run_dir);
        g = gen_build_at(m->c, &svc_gen_host, m->c->plugins_dir, acts, 0, 1,
                         &ce);
        text = errs_join(&ce);
        if (text != NULL)
            fileio_write_all(fds[1], text, strlen(text));
        _exit(g == NULL || ce.nerrors > 0 ? 1 : 0);
    }
    close(fds[1]);
    mem = open_memstream(&out, &len);
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int64_t left = deadline - clock_mono_ms();
        ssize_t n;

        if (left <= 0) {
            kill(pid, SIGKILL);
            errs_add(e, NULL, 0, "checking the version took more than %d s",
                     CC_BOOT_CHECK_MS / 1000);
            break;
        }
        if ((r = poll(&p, 1, (int)left)) < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if ((n = read(fds[0], buf, sizeof buf)) > 0 && mem != NULL)
            fwrite(buf, 1, (size_t)n, mem);
        else if (n == 0 || errno != EINTR)
            break;
    }
    close(fds[0]);
    if (mem != NULL)
        fclose(mem);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        free(out);
        return 0;
    }
    for (char *line = out ? strtok(out, "\n") : NULL; line != NULL;
         line = strtok(NULL, "\n"))
        errs_add(e, NULL, 0, "%s", line);
    if (WIFSIGNALED(status))
        errs_add(e, NULL, 0,
                 "checking the version crashed (signal %d: %s): "
                 "a plugin's load or init crashed",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (e->nerrors == 0)
        errs_add(e, NULL, 0, "the check failed (status %d)",
                 WEXITSTATUS(status));
    free(out);
    return -1;
}

/* Version n (its HGETALL reply r) written under run_dir, its pins and
 * its activities checked as the workers would check them: 0, or -1 with
 * every problem in e. */
static int cc_boot_stage(center *cc, uint64_t n, const redisReply *r,
                         ckv_version *v, errs *e)
{
    const conf *c = cc->m->c;
    char path[1200];

    if (ckv_from_reply(n, r, v, e) < 0 || cc_stage(cc, v, e) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/%s", cc->loading_dir, CKV_PINS_FILE);
    if (v->pins != NULL &&
        pins_verify_file(path, c->plugins_dir, c->plugins_dir, e) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/activities", cc->loading_dir);
    return cc_boot_check(cc, path, e);
}

/* Try to start on version n: 0 when it passed and is now m's source; a
 * refusal is logged and audited, and recorded as this node's when
 * latest (a fallback's is not: the latest is what status asks about);
 * -1 also when Redis failed. */
static int cc_boot_try(center *cc, redisContext *rc, uint64_t n, int latest)
{
    master *m = cc->m;
    char key[CKV_KEY_MAX], why[300];
    const char *argv[2] = {"HGETALL", key};
    redisReply *r;
    ckv_version v;
    errs e = {0};
    cJSON *rec;
    int ok;

    ckv_version_key(key, m->c->cc_prefix, n);
    if ((r = cc_sync_cmd(rc, 2, argv, "reading a version", why, sizeof why)) ==
        NULL) {
        log_warn("config center %s: %s", cc->shown, why);
        return -1;
    }
    ok = cc_boot_stage(cc, n, r, &v, &e) == 0;
    rec = cc_audit_begin(cc, n, &v);
    if (ok) {
        snprintf(m->src_activities, sizeof m->src_activities, "%s/activities",
                 cc->loading_dir);
        if (v.pins != NULL)
            snprintf(m->src_pins, sizeof m->src_pins, "%s/%s", cc->loading_dir,
                     CKV_PINS_FILE);
        m->config_version = n;
        cc_serve_loaded(cc, n);
        log_info("config center %s: starting on version %" PRIu64
                 " (%zu activity file(s), digest %.12s)",
                 cc->shown, n, v.nfiles, v.digest);
        cc_audit_end(cc, rec, 1, "ok", NULL);
    } else {
        cJSON *errors = cc_errs_json(cc, n, &e);
        if (cc->loading_dir[0] != '\0')
            reload_rmtree(cc->loading_dir);
        cc->loading_dir[0] = '\0';
        if (latest) {
            cc_refuse(cc, n, errors, rec, "version_refused");
        } else {
            cc_refusal_log(cc, n, errors, rec, "version_refused");
            cJSON_Delete(errors);
        }
    }
    ckv_free(&v);
    errs_free(&e);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* The versions to fall back on when the latest is refused at start:
 * the one this node served before (its last report), then the kept ones
 * below the latest, newest first; at most CC_BOOT_FALLBACKS, into out.
 * Returns how many. */
static size_t cc_fallbacks(center *cc, redisContext *rc, uint64_t latest,
                           uint64_t *out)
{
    const conf *c = cc->m->c;
    char key[CKV_KEY_MAX], vkey[CKV_KEY_MAX];
    const char *hget[3] = {"HGET", key, CKV_NODE_VERSION};
    const char *range[4] = {"ZREVRANGE", vkey, "0", "-1"};
    redisReply *r;
    size_t n = 0;

    ckv_node_key(key, c->cc_prefix, c->cc_node);
    if ((r = redisCommandArgv(rc, 3, hget, NULL)) != NULL) {
        uint64_t v =
            r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
        if (v != 0 && v != latest)
            out[n++] = v;
        freeReplyObject(r);
    }
    ckv_key(vkey, c->cc_prefix, CKV_VERSIONS);
    if ((r = redisCommandArgv(rc, 4, range, NULL)) == NULL)
        return n;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements &&
                       n < CC_BOOT_FALLBACKS;
         i++) {
        uint64_t v = strtoull(r->element[i]->str, NULL, 10);
        if (v != 0 && v < latest && (n == 0 || v != out[0]))
            out[n++] = v;
    }
    freeReplyObject(r);
    return n;
}

void center_boot(master *m)
{
    center *cc = m->center;
    char why[300];
    const char *get[2] = {"GET", NULL};
    uint64_t latest = 0, fallback[CC_BOOT_FALLBACKS];
    size_t nfallback, i;
    redisContext *rc;
    redisReply *r;

    if (cc == NULL)
        return;
    get[1] = cc->k_pointer;
    if ((rc = cc_sync_open(cc, why, sizeof why)) == NULL ||
        (r = cc_sync_cmd(rc, 2, get, "reading the version pointer", why,
                         sizeof why)) == NULL) {
        log_warn("config center %s: %s: starting on the local activities "
                 "(%s), trying again in the background",
                 cc->shown, why, m->c->activities_dir);
        snprintf(cc->link_error, sizeof cc->link_error, "%s", why);
        if (rc != NULL)
            redisFree(rc);
        return;
    }
    if (r->type == REDIS_REPLY_STRING)
        latest = strtoull(r->str, NULL, 10);
    freeReplyObject(r);
    cc->latest = latest;
    if (latest == 0) {
        cc->warned_empty = 1;
        log_warn("config center %s: nothing published under \"%s\" yet: "
                 "starting on the local activities (%s)",
                 cc->shown, m->c->cc_prefix, m->c->activities_dir);
    } else if (cc_boot_try(cc, rc, latest, 1) < 0) {
        nfallback = cc_fallbacks(cc, rc, latest, fallback);
        for (i = 0; i < nfallback; i++)
            if (cc_boot_try(cc, rc, fallback[i], 0) == 0)
                break;
        if (i == nfallback)
            log_warn("config center %s: starting on the local activities "
                     "(%s) instead",
                     cc->shown, m->c->activities_dir);
    }
    redisFree(rc);
}
