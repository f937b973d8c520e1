/*
 * describe.h -- the worker's description of its current generation, for
 * the admin plane's GET /admin/activities and GET /admin/plugins (the
 * master never loads plugins, so it asks; see ask.h, answers.h).
 *
 * Question {"type":"describe","what":"activities","id":N?,"offset":K?,
 *           "limit":L?} -> {"generation":G, "total":T, "offset":K,
 *           "next_offset":K2|null, "activities":[...]} (ordered by id;
 *           "id" picks one, "activities" then holding it or nothing);
 * Question {"type":"describe","what":"plugins"} -> {"generation":G,
 *           "plugins":[...]}.
 *
 * Each activity: its definition (id, name, tenant, enabled, start, end,
 * timezone, crowd, methods with their login, limits and entry refs,
 * resources as declared) and "live": {"requests": {"total", "by_reason"}}
 * -- this worker's answered requests from its metrics table (metrics.h),
 * which the master sums over the workers -- and {"stock": ...}, the
 * stocked resources' counters read from the store (shared by all workers
 * of the node): pools per prize, stocked coupon kinds, budgets, each with
 * what was given and what remains.
 */
#ifndef AMS_CORE_DESCRIBE_H
#define AMS_CORE_DESCRIBE_H

#include "gen.h"

#include <cjson/cJSON.h>

#define DESCRIBE_LIMIT_DEFAULT 100
#define DESCRIBE_LIMIT_MAX 1000

int answer_describe(gen *current, const cJSON *q, cJSON *reply);

#endif
