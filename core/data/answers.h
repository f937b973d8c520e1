/*
 * answers.h -- what a worker answers when the master asks (ask.h).  One
 * table maps a question's "type" to the function that answers it from the
 * worker's current generation; each answer function lives with the code
 * it reports on.
 */
#ifndef AMS_CORE_ANSWERS_H
#define AMS_CORE_ANSWERS_H

#include "gen.h"

#include <cjson/cJSON.h>

/* Fill reply (an object) for question.  Returns 0, or -1 when the
 * question is malformed (reply then carries "error"). */
typedef int (*answer_fn)(gen *current, const cJSON *question, cJSON *reply);

/* The function answering type, or NULL. */
answer_fn answers_find(const char *type);

/* Answer functions (one per question). */
int answer_set_enabled(gen *current, const cJSON *q, cJSON *reply);
int answer_stats(gen *current, const cJSON *q, cJSON *reply); /* metrics.c */

#endif
