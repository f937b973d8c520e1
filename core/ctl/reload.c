/*
 * reload.c -- snapshots and the two-phase reload (see reload.h).
 */
#include "reload.h"

#include "ctl.h"
#include "log.h"
#include "pins.h"
#include "snapshot.h"
#include "supervise.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RELOAD_TIMEOUT_S 60
#define MAX_WORKERS 256

struct reload {
    uint64_t n;
    char source[32];
    int phase; /* 1: preparing, 2: committing */
    unsigned char waiting[MAX_WORKERS];
    int nwaiting;
    int failed;
    conf next;                 /* amsd.conf as read for this reload */
    char src_activities[1200]; /* what it builds from (reload_source): */
    char src_pins[1200];       /* "" = amsd.conf's activities, no pins */
    uint64_t src_version;
    cJSON *settings;          /* what workers apply on commit */
    cJSON *errors, *warnings; /* arrays of strings */
    struct event *timer;
    reload_done_fn done;
    void *arg;
};

static void reload_free_one(struct reload *rl);
static void drop_now(master *m);

/* ---- snapshots ---- */

static int copy_file(const char *from, const char *to)
{
    char buf[65536];
    ssize_t n;
    int in = open(from, O_RDONLY | O_CLOEXEC), out;

    if (in < 0)
        return -1;
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    close(in);
    if (close(out) < 0 || n < 0)
        return -1;
    return 0;
}

/* Copy the regular files of src ending with suffix into dst. */
static int copy_dir(const char *src, const char *dst, const char *suffix,
                    errs *e)
{
    DIR *d = opendir(src);
    struct dirent *de;
    size_t sl = strlen(suffix);
    int rc = 0;

    if (d == NULL) {
        errs_add(e, src, 0, "cannot open directory: %s", strerror(errno));
        return -1;
    }
    if (mkdir(dst, 0700) < 0 && errno != EEXIST) {
        errs_add(e, dst, 0, "cannot create: %s", strerror(errno));
        closedir(d);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        char from[2048], to[2048];
        struct stat st;
        size_t l = strlen(de->d_name);

        if (de->d_name[0] == '.' || l <= sl ||
            strcmp(de->d_name + l - sl, suffix) != 0)
            continue;
        snprintf(from, sizeof from, "%s/%s", src, de->d_name);
        snprintf(to, sizeof to, "%s/%s", dst, de->d_name);
        if (stat(from, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (copy_file(from, to) < 0) {
            errs_add(e, from, 0, "cannot copy to %s: %s", to, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

/* Where the activity objects of every snapshot are (snapshot.h), and the
 * directory the snapshots' messages name: one for all generations, so a
 * file kept from one generation to the next is named the same in both,
 * and unsnapshot() maps it to the directory it came from. */
static void snap_dirs(const master *m, char *objects, char *display,
                      size_t len)
{
    snprintf(objects, len, "%s/objects", m->run_dir);
    snprintf(display, len, "%s/activities", m->run_dir);
}

int reload_snapshot(master *m, uint64_t n, const char *plugins_dir,
                    const char *activities_dir, char *plugins,
                    char *activities, size_t len, errs *e)
{
    char dir[1100], objects[1100], display[1100];
    snap_stats st;

    /* Before anything is hashed: an object the dropped snapshot alone
     * names must be gone before a new one can count on having it. */
    drop_now(m);
    snprintf(dir, sizeof dir, "%s/gen-%llu", m->run_dir,
             (unsigned long long)n);
    reload_rmtree(dir); /* a leftover of an aborted reload */
    if (mkdir(dir, 0700) < 0) {
        errs_add(e, dir, 0, "cannot create: %s", strerror(errno));
        return -1;
    }
    snprintf(plugins, len, "%s/plugins", dir);
    snprintf(activities, len, "%s/activities", dir);
    if (m->snaps == NULL && (m->snaps = snap_cache_new()) == NULL) {
        errs_add(e, NULL, 0, "out of memory");
        reload_rmtree(dir);
        return -1;
    }
    snap_dirs(m, objects, display, sizeof objects);
    /* Plugins are few: copied.  Activities may be thousands: only the
     * contents not held already are written (snapshot.h). */
    if (copy_dir(plugins_dir, plugins, ".so", e) < 0 ||
        snap_make(m->snaps, activities_dir, ".conf", objects, display,
                  activities, &st, e) < 0) {
        reload_drop_snapshot(m, n);
        return -1;
    }
    log_debug("snapshot %llu: %zu activity file(s), %zu read, %zu new",
              (unsigned long long)n, st.files, st.hashed, st.written);
    return 0;
}

int reload_snapshot_pinned(master *m, uint64_t n, const char *plugins_dir,
                           const char *act_dir, const char *pin_file,
                           char *plugins, char *activities, size_t len,
                           errs *e)
{
    if (reload_snapshot(m, n, plugins_dir,
                        act_dir ? act_dir : m->c->activities_dir, plugins,
                        activities, len, e) < 0)
        return -1;
    if (pin_file != NULL &&
        pins_verify_file(pin_file, plugins, plugins_dir, e) < 0) {
        reload_drop_snapshot(m, n);
        return -1;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void reload_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void reload_drop_snapshot(master *m, uint64_t n)
{
    char dir[1100], acts[1200];
    const char *kept = m->snap_activities;

    snprintf(dir, sizeof dir, "%s/gen-%llu", m->run_dir,
             (unsigned long long)n);
    snprintf(acts, sizeof acts, "%s/activities", dir);
    /* At most two snapshots live: the one serving and the one a reload
     * makes.  Whichever goes, the other keeps its objects. */
    if (kept[0] == '\0' || strcmp(kept, acts) == 0)
        kept = NULL;
    snap_release(m->snaps, acts, kept);
    reload_rmtree(dir);
}

/* A snapshot to remove once the loop has written out the answers queued
 * now (reload_drop_snapshot costs milliseconds with thousands of files). */
static void drop_now(master *m)
{
    if (m->drop_gen != 0) {
        uint64_t n = m->drop_gen;
        m->drop_gen = 0;
        reload_drop_snapshot(m, n);
    }
}

static void on_drop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drop_now(arg);
}

static void drop_later(master *m, uint64_t n)
{
    static const struct timeval soon = {0, 0};

    drop_now(m); /* at most one waits */
    if (m->drop_ev == NULL)
        m->drop_ev = evtimer_new(m->base, on_drop, m);
    if (m->drop_ev == NULL || evtimer_add(m->drop_ev, &soon) < 0) {
        reload_drop_snapshot(m, n);
        return;
    }
    m->drop_gen = n;
}

/* ---- the two phases ---- */

static void add_msg(cJSON *arr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_msg(cJSON *arr, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    const cJSON *it;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* Every worker reports the same broken file: say it once. */
    cJSON_ArrayForEach(it, arr) if (strcmp(it->valuestring, buf) == 0) return;
    cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
}

/* Workers name the snapshot's files; the operator edits the originals.
 * Rewrite "<run>/activities/x.conf" (the name snapshots give activity
 * files, snapshot.h) to "<activities dir>/x.conf" and
 * "<snapshot>/plugins/x.so" to "<plugins dir>/x.so", wherever they are in
 * the line (a duplicate id names two files), so every message names the
 * file to fix. */
static void unsnapshot(const master *m, const struct reload *rl,
                       const char *line, char *out, size_t len)
{
    char snap[2][1200], objects[1100];
    const char *orig[2] = {rl->src_activities[0] ? rl->src_activities
                                                 : rl->next.activities_dir,
                           rl->next.plugins_dir};
    size_t sl[2], o = 0;

    snap_dirs(m, objects, snap[0], sizeof objects);
    strcat(snap[0], "/");
    snprintf(snap[1], sizeof snap[1], "%s/gen-%llu/plugins/", m->run_dir,
             (unsigned long long)rl->n);
    sl[0] = strlen(snap[0]);
    sl[1] = strlen(snap[1]);
    while (*line != '\0' && o + 1 < len) {
        int hit = -1;
        for (int i = 0; i < 2 && hit < 0; i++)
            if (orig[i] != NULL && strncmp(line, snap[i], sl[i]) == 0)
                hit = i;
        if (hit < 0) {
            out[o++] = *line++;
            continue;
        }
        o += (size_t)snprintf(out + o, len - o, "%s/", orig[hit]);
        if (o >= len) {
            o = len - 1;
            break;
        }
        line += sl[hit];
    }
    out[o] = '\0';
}

/* Each line of a worker's joined error text as one message. */
static void add_lines(master *m, struct reload *rl, const char *text)
{
    const char *p = text;
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        char line[2048], fixed[2400];
        if (len > 0) {
            snprintf(line, sizeof line, "%.*s", len, p);
            unsnapshot(m, rl, line, fixed, sizeof fixed);
            add_msg(rl->errors, "%s", fixed);
        }
        p = nl ? nl + 1 : NULL;
    }
}

static void finish(master *m)
{
    struct reload *rl = m->rl;
    int ok = !rl->failed;
    uint64_t drop = rl->n; /* the snapshot that goes */

    if (ok) {
        uint64_t old = m->generation;
        m->generation = rl->n;
        m->reloads_ok++;
        conf_apply_reloadable(m->c, rl->settings);
        log_level = m->c->log_level;
        memcpy(m->src_activities, rl->src_activities,
               sizeof m->src_activities);
        memcpy(m->src_pins, rl->src_pins, sizeof m->src_pins);
        m->config_version = rl->src_version;
        drop = old;
        log_info("reload (%s): generation %llu serving", rl->source,
                 (unsigned long long)rl->n);
        /* Workers respawned during the reload started on the old one. */
        for (int i = 0; i < m->n; i++)
            if (m->w[i].pid != 0 && m->w[i].ready &&
                m->w[i].generation != rl->n)
                supervise_restart(m, &m->w[i]);
    } else {
        const cJSON *it;
        m->reloads_failed++;
        log_error("reload (%s) refused; generation %llu keeps serving:",
                  rl->source, (unsigned long long)m->generation);
        cJSON_ArrayForEach(it, rl->errors) log_error("  %s", it->valuestring);
    }
    m->rl = NULL;
    if (m->after_reload != NULL)
        m->after_reload(m);
    if (rl->done != NULL)
        rl->done(m, rl->arg, ok, m->generation, rl->errors, rl->warnings);
    /* Nothing reads that snapshot any more (a worker respawned from now
     * on starts on m->snap_*), and removing it is no part of what the
     * caller waits for: after the answer has been written. */
    drop_later(m, drop);
    reload_free_one(rl);
    if (m->hup_pending && !m->stopping) {
        m->hup_pending = 0;
        reload_start(m, "SIGHUP", NULL, NULL);
    }
}

static void send_all(master *m, const char *type, const cJSON *extra)
{
    struct reload *rl = m->rl;
    cJSON *msg = extra ? cJSON_Duplicate(extra, 1) : cJSON_CreateObject();

    cJSON_AddStringToObject(msg, "type", type);
    cJSON_AddNumberToObject(msg, "generation", (double)rl->n);
    rl->nwaiting = 0;
    for (int i = 0; i < m->n && i < MAX_WORKERS; i++) {
        wslot *s = &m->w[i];
        rl->waiting[i] = 0;
        if (s->pid == 0 || !s->ready || s->ctl_fd < 0)
            continue;
        if (ctl_send(s->ctl_fd, msg) < 0) {
            if (rl->phase == 1) {
                rl->failed = 1;
                add_msg(rl->errors, "worker %d: cannot send %s: %s", i, type,
                        strerror(errno));
            }
            continue;
        }
        rl->waiting[i] = 1;
        rl->nwaiting++;
    }
    cJSON_Delete(msg);
}

static void arm_timer(master *m)
{
    struct timeval tv = {RELOAD_TIMEOUT_S, 0};
    evtimer_add(m->rl->timer, &tv);
}

/* Everyone answered phase one: commit or abort. */
static void end_prepare(master *m)
{
    struct reload *rl = m->rl;

    if (rl->failed) {
        send_all(m, "abort", NULL);
        finish(m);
        return;
    }
    /* Decided: from now on a respawned worker starts on the new one. */
    snprintf(m->snap_plugins, sizeof m->snap_plugins, "%s/gen-%llu/plugins",
             m->run_dir, (unsigned long long)rl->n);
    snprintf(m->snap_activities, sizeof m->snap_activities,
             "%s/gen-%llu/activities", m->run_dir, (unsigned long long)rl->n);
    m->snap_generation = rl->n;
    rl->phase = 2;
    send_all(m, "commit", NULL);
    if (rl->nwaiting == 0)
        finish(m);
    else
        arm_timer(m);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    master *m = arg;
    struct reload *rl = m->rl;

    (void)fd;
    (void)what;
    if (rl == NULL)
        return;
    for (int i = 0; i < m->n && i < MAX_WORKERS; i++) {
        if (!rl->waiting[i])
            continue;
        rl->waiting[i] = 0;
        if (rl->phase == 1) {
            rl->failed = 1;
            add_msg(rl->errors,
                    "worker %d did not prepare generation %llu within %d s", i,
                    (unsigned long long)rl->n, RELOAD_TIMEOUT_S);
        } else {
            /* Committing is decided: a worker that cannot confirm is
             * restarted onto the new generation. */
            log_warn("worker %d did not confirm generation %llu; "
                     "restarting it",
                     i, (unsigned long long)rl->n);
            supervise_restart(m, &m->w[i]);
        }
    }
    rl->nwaiting = 0;
    if (rl->phase == 1)
        end_prepare(m);
    else
        finish(m);
}

static void answered(master *m, wslot *s)
{
    struct reload *rl = m->rl;

    if (s->index >= MAX_WORKERS || !rl->waiting[s->index])
        return;
    rl->waiting[s->index] = 0;
    if (--rl->nwaiting > 0)
        return;
    evtimer_del(rl->timer);
    if (rl->phase == 1)
        end_prepare(m);
    else
        finish(m);
}

void reload_on_msg(master *m, wslot *s, const cJSON *msg)
{
    struct reload *rl = m->rl;
    const char *type = ctl_type(msg);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(msg, "generation");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(msg, "errors");

    if (rl == NULL || !cJSON_IsNumber(g) || (uint64_t)g->valuedouble != rl->n)
        return; /* a late answer to a reload that is over */
    if (strcmp(type, "prepare_failed") == 0 ||
        strcmp(type, "commit_failed") == 0) {
        rl->failed |= rl->phase == 1;
        add_lines(m, rl, cJSON_IsString(e) ? e->valuestring : "?");
    } else if (strcmp(type, "committed") == 0) {
        s->generation = rl->n;
    }
    answered(m, s);
}

void reload_on_exit(master *m, wslot *s, int status)
{
    struct reload *rl = m->rl;

    if (rl == NULL || s->index >= MAX_WORKERS || !rl->waiting[s->index])
        return;
    if (rl->phase == 1) {
        rl->failed = 1;
        if (WIFSIGNALED(status))
            add_msg(rl->errors,
                    "worker %d crashed (signal %d: %s) while preparing "
                    "generation %llu: a plugin's load or init crashed",
                    s->index, WTERMSIG(status), strsignal(WTERMSIG(status)),
                    (unsigned long long)rl->n);
        else
            add_msg(rl->errors,
                    "worker %d exited (status %d) while preparing "
                    "generation %llu",
                    s->index, WEXITSTATUS(status), (unsigned long long)rl->n);
    }
    answered(m, s);
}

static void reload_free_one(struct reload *rl)
{
    if (rl->timer != NULL)
        event_free(rl->timer);
    conf_free(&rl->next);
    cJSON_Delete(rl->settings);
    cJSON_Delete(rl->errors);
    cJSON_Delete(rl->warnings);
    free(rl);
}

void reload_free(master *m)
{
    if (m->drop_ev != NULL) {
        event_free(m->drop_ev);
        m->drop_ev = NULL;
    }
    m->drop_gen = 0; /* the run directory goes at exit anyway */
    if (m->rl != NULL) {
        reload_free_one(m->rl);
        m->rl = NULL;
    }
}

/* Phase zero, in the master: the configuration must parse and the
 * snapshot must be made before any worker is bothered. */
static int read_config(master *m, struct reload *rl, char *pl, char *ac,
                       size_t len)
{
    errs e = {0}, w = {0};
    int rc = 0;

    conf_load(&rl->next, m->c->file, &e);
    if (m->c->overrides != NULL)
        conf_apply_overrides(&rl->next, m->c->overrides, &e);
    conf_finish(&rl->next, &e);
    if (e.nerrors == 0) {
        conf_restart_only_changes(m->c, &rl->next, &w);
        rc = reload_snapshot_pinned(
            m, rl->n, rl->next.plugins_dir,
            rl->src_activities[0] ? rl->src_activities
                                  : rl->next.activities_dir,
            rl->src_pins[0] ? rl->src_pins : NULL, pl, ac, len, &e);
    }
    /* conf_load and conf_finish warn too (auth = "body"). */
    for (size_t i = 0; i < e.n; i++)
        add_msg(strstr(e.msgs[i], "warning: ") ? rl->warnings : rl->errors,
                "%s", e.msgs[i]);
    for (size_t i = 0; i < w.n; i++)
        add_msg(rl->warnings, "%s", w.msgs[i]);
    rc = e.nerrors > 0 ? -1 : rc;
    errs_free(&e);
    errs_free(&w);
    return rc;
}

int reload_start(master *m, const char *source, reload_done_fn done, void *arg)
{
    reload_source src = {m->src_activities[0] ? m->src_activities : NULL,
                         m->src_pins[0] ? m->src_pins : NULL,
                         m->config_version};

    return reload_start_from(m, source, &src, done, arg);
}

int reload_start_from(master *m, const char *source, const reload_source *src,
                      reload_done_fn done, void *arg)
{
    struct reload *rl;
    char pl[1200], ac[1200];
    cJSON *prep;

    if (m->rl != NULL) {
        if (done == NULL)
            m->hup_pending = 1;
        errno = EBUSY;
        return -1;
    }
    rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return -1;
    m->rl = rl;
    rl->n = m->generation + 1;
    snprintf(rl->source, sizeof rl->source, "%s", source);
    rl->done = done;
    rl->arg = arg;
    rl->phase = 1;
    snprintf(rl->src_activities, sizeof rl->src_activities, "%s",
             src->activities ? src->activities : "");
    snprintf(rl->src_pins, sizeof rl->src_pins, "%s",
             src->pins ? src->pins : "");
    rl->src_version = src->version;
    rl->errors = cJSON_CreateArray();
    rl->warnings = cJSON_CreateArray();
    rl->timer = evtimer_new(m->base, on_timeout, m);
    log_info("reload (%s): preparing generation %llu", source,
             (unsigned long long)rl->n);
    if (read_config(m, rl, pl, ac, sizeof pl) < 0) {
        rl->failed = 1;
        finish(m);
        return 0;
    }
    rl->settings = conf_reloadable_json(&rl->next);
    prep = cJSON_CreateObject();
    cJSON_AddStringToObject(prep, "plugins", pl);
    cJSON_AddStringToObject(prep, "activities", ac);
    cJSON_AddItemToObject(prep, "settings", cJSON_Duplicate(rl->settings, 1));
    cJSON_AddItemToObject(prep, "enabled",
                          m->enabled ? cJSON_Duplicate(m->enabled, 1)
                                     : cJSON_CreateObject());
    send_all(m, "prepare", prep);
    cJSON_Delete(prep);
    if (rl->nwaiting == 0) {
        rl->failed = 1;
        add_msg(rl->errors, "no worker is ready to prepare generation %llu",
                (unsigned long long)rl->n);
        finish(m);
        return 0;
    }
    arm_timer(m);
    return 0;
}
