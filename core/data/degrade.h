/*
 * degrade.h -- degradation switches: named non-critical steps an operator
 * turns off at run time (POST /admin/degrade, admin_degrade.c) so that the
 * critical path keeps its capacity under pressure.  A switch turned off
 * makes its step a no-op that succeeds: the request is served as if the
 * step had run, and nothing of it is written or counted.
 *
 * The state is process memory: the master keeps the truth and every
 * worker a copy (set by the "set_degrade" question), and a worker forked
 * later inherits the master's at fork.  So it survives reloads and worker
 * restarts, and not a restart of amsd (every switch is on at start).
 *
 * A new switch is one line of DEGRADE_SWITCHES and a test of
 * degrade_off[ID] where its step runs.
 */
#ifndef AMS_CORE_DEGRADE_H
#define AMS_CORE_DEGRADE_H

#include "gen.h"

#include <cjson/cJSON.h>

/* X(ID, "name", "what turning it off skips") */
#define DEGRADE_SWITCHES(X)                                                   \
    X(DEGRADE_BOARD_UPDATES, "board_updates",                                 \
      "leaderboard writes from operations (board_set succeeds unwritten)")    \
    X(DEGRADE_PLUGIN_TIMING, "plugin_timing",                                 \
      "per-plugin timing metrics (amsd_plugin_entry_duration_seconds)")

typedef enum degrade_id {
#define DEGRADE_ENUM(id, name, what) id,
    DEGRADE_SWITCHES(DEGRADE_ENUM)
#undef DEGRADE_ENUM
        DEGRADE_N
} degrade_id;

/* 1 when the switch is off (its step skipped). */
extern unsigned char degrade_off[DEGRADE_N];

/* The switch named name, or -1. */
int degrade_find(const char *name);
const char *degrade_name(degrade_id id);

/* {"name": {"on": bool, "skips": "..."}, ...} of this process; caller
 * deletes. */
cJSON *degrade_json(void);

/* The names turned off, as a JSON array (caller deletes); and setting
 * every switch from such an array (those not named are on). */
cJSON *degrade_off_json(void);
void degrade_set_off(const cJSON *names);

/* The worker's answer to {"type":"set_degrade","off":[names]}:
 * {"switches": degrade_json()}. */
int answer_set_degrade(gen *current, const cJSON *q, cJSON *reply);

#endif
