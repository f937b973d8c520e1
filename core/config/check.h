/*
 * check.h -- the configuration checker: human error stopped by the
 * program.  Runs on every generation after the instances' init (which is
 * when plugins declare what they take from resources and which rules are
 * constant), both when serving and with `amsd -t`.
 */
#ifndef AMS_CORE_CHECK_H
#define AMS_CORE_CHECK_H

#include "activity.h"
#include "errs.h"

/* Check acts against each other and their resources at host time now_ms.
 * Errors: an activity or method that promises more than a resource holds.
 * Warnings: an activity already ended, a crowd or rule that can never
 * pass.  Every message names file:line. */
void check_activities(activity **acts, size_t n, int64_t now_ms, errs *e);

/* -1 unknown, 0 never passes, 1 always passes (from the leaves' init). */
int check_rule_constant(const rnode *n);

#endif
