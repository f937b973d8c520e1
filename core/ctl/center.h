/*
 * center.h -- the node side of the config center: versioned activity
 * configuration kept in Redis (center_kv.h says how) and published with
 * amsctl.
 *
 * It runs in the master (the control plane talks to the center's Redis;
 * it still never loads a plugin nor opens the store).  Two connections
 * on the master's event loop, through hiredis' asynchronous API: one
 * SUBSCRIBEd to PREFIX changed, one for commands.  A notification, and
 * a read of the pointer every poll_ms (so a missed message is healed),
 * compare the pointer with the version serving; a new version is read,
 * written under run_dir, its plugin pins checked, and loaded through the
 * normal two-phase reload (reload_start_from).  A version that fails any
 * of that is refused, recorded, reported and not tried again (until a
 * local reload, or a restart); the node keeps serving what it served.
 * The node reports its state to Redis on every poll, and every load,
 * accepted or refused, goes to the audit log.
 *
 * Connections that fail, or stay silent for timeout_ms, are dropped and
 * made again with a back-off (200 ms doubling to 5 s); nothing of it
 * ever blocks the loop.  Only the start (center_boot) waits on Redis,
 * at most timeout_ms a call, before anything serves.
 */
#ifndef AMS_CORE_CENTER_H
#define AMS_CORE_CENTER_H

#include "mstate.h"

#include <cjson/cJSON.h>

/* Make m->center from m->c's config_center (m->center stays NULL when
 * there is none).  Needs m->base.  Returns 0, or -1 when out of memory
 * (logged). */
int center_open(master *m);

/* At start, with m->run_dir made and before any worker: read the
 * center's version (blocking, at most timeout_ms a call) and, when it
 * passes the check every worker will make -- built, in a child process,
 * exactly as `amsd -t` does -- make it m's source (m->src_*,
 * m->config_version).  A refused latest version falls back on the one
 * this node served before, then on the newest kept ones that pass, then
 * on the local activities; an unreachable or empty center on the local
 * activities, with a warning. */
void center_boot(master *m);

/* Start connecting and watching, on m->base.  Returns 0, or -1 (logged). */
int center_run(master *m);

/* A reload ended (reload.c calls this for every one).  One that was not
 * the center's own (SIGHUP, POST /admin/reload) may have brought the
 * plugin builds a refused version pins: the latest version is tried
 * again. */
void center_after_reload(master *m);

/* {"version", "source", "center", "latest", ...} for /healthz; a new
 * object, caller deletes.  Also without a config center. */
cJSON *center_health(const master *m);

/* The whole state for GET /admin/center (caller deletes). */
cJSON *center_describe(const master *m);

/* Close the connections and free m->center.  No network traffic, no
 * file removed: a forked worker calls it on its copy. */
void center_free(master *m);

#endif
