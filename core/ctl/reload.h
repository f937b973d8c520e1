/*
 * reload.h -- hot reload, coordinated by the master.
 *
 * A reload reads amsd.conf again, copies the plugin and activity
 * directories into a snapshot of the next generation (so what workers
 * load, and what a worker respawned later loads, cannot change under
 * them), and runs two phases over the control channels: every ready
 * worker prepares (builds the generation beside the current one); only
 * when all prepared does the master tell all to commit, otherwise all
 * abort and the current generation keeps serving.  A worker that dies
 * while preparing (a plugin crashing in init) fails the reload; the
 * master respawns it on the current generation.
 */
#ifndef AMS_CORE_RELOAD_H
#define AMS_CORE_RELOAD_H

#include "mstate.h"

#include <cjson/cJSON.h>

/* Called once a reload ends.  ok: generation is the new one; otherwise
 * the current one, and errors (a JSON array of strings) says why.
 * warnings likewise (settings that need a restart).  Both are owned by
 * the reload and valid during the call. */
typedef void (*reload_done_fn)(master *m, void *arg, int ok,
                               uint64_t generation, const cJSON *errors,
                               const cJSON *warnings);

/* Start a reload (source names it in logs: "SIGHUP", "admin") from the
 * source of the generation serving: a config-center version stays the
 * one served.  Returns 0, or -1 with errno EBUSY when one is already
 * running. */
int reload_start(master *m, const char *source, reload_done_fn done,
                 void *arg);

/* What a generation is built from besides amsd.conf and its plugin
 * directory. */
typedef struct reload_source {
    const char *activities; /* the *.conf directory; NULL: amsd.conf's */
    const char *pins;       /* plugin pins (pins.h) to verify; NULL: none */
    uint64_t version;       /* config-center version; 0: local files */
} reload_source;

/* reload_start() from src (strings copied): once the new generation
 * serves, src is the master's source (m->src_*, m->config_version), kept
 * by later reloads; a refused one changes nothing. */
int reload_start_from(master *m, const char *source, const reload_source *src,
                      reload_done_fn done, void *arg);

/* Worker replies (prepared, prepare_failed, committed, commit_failed). */
void reload_on_msg(master *m, wslot *s, const cJSON *msg);
/* A worker exited (called from reap()). */
void reload_on_exit(master *m, wslot *s, int status);

/* Snapshot generation n of the given directories under m->run_dir; the
 * snapshot's directories go to plugins/activities.  Problems go to e. */
int reload_snapshot(master *m, uint64_t n, const char *plugins_dir,
                    const char *activities_dir, char *plugins,
                    char *activities, size_t len, errs *e);
/* reload_snapshot() of the activities directory act_dir (NULL: the
 * configured one) whose plugins must match pin_file (NULL: none): pins are
 * checked against the snapshot's copies, the files the workers will load, and
 * a mismatch (named in plugins_dir) fails it. */
int reload_snapshot_pinned(master *m, uint64_t n, const char *plugins_dir,
                           const char *act_dir, const char *pin_file,
                           char *plugins, char *activities, size_t len,
                           errs *e);
/* Remove generation n's snapshot. */
void reload_drop_snapshot(master *m, uint64_t n);
/* Remove a directory tree (the run directory at exit). */
void reload_rmtree(const char *dir);

/* Free a running reload's state (master exit). */
void reload_free(master *m);

#endif
