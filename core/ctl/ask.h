/*
 * ask.h -- the master asks every worker one question over the control
 * channels and gathers the answers (statistics, descriptions of the
 * generation, enable/disable).  The master never loads plugins, so
 * everything it reports about them comes from the workers this way.
 */
#ifndef AMS_CORE_ASK_H
#define AMS_CORE_ASK_H

#include "mstate.h"

#include <cjson/cJSON.h>

/* Called once every asked worker answered, died, or the timeout passed.
 * answers: a JSON array of the workers' answers (each an object with
 * "worker": index plus what the worker's answer function wrote), owned by
 * the ask and valid during the call; missing: how many did not answer. */
typedef void (*ask_done_fn)(master *m, void *arg, const cJSON *answers,
                            int missing);

/* Send question (an object with "type"; not consumed) to every ready
 * worker.  done may run before this returns (no worker ready).  Returns
 * 0, or -1 on allocation failure (done is not called then). */
int ask_all(master *m, const cJSON *question, int64_t timeout_ms,
            ask_done_fn done, void *arg);

/* From master.c: a message with an "ask" member; a worker exited. */
void ask_on_answer(master *m, wslot *s, const cJSON *msg);
void ask_on_exit(master *m, wslot *s);
/* Drop every pending ask without calling back (master exit). */
void ask_free_all(master *m);

#endif
