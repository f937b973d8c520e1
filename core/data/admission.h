/*
 * admission.h -- overload protection at the gateway: whether a routed
 * request may start its coroutine, decided before its body is parsed and
 * before any plugin or store call, so that a refusal costs little more
 * than reading the request and writing a canned answer.
 *
 * Three bounds, each 0 when off:
 *   overload.max_in_flight  requests of this worker whose coroutine has
 *                           not returned (waiting on the store included);
 *   overload.max_wait_ms    how long ago the worker finished reading the
 *                           request's headers (httpguard.h) -- a request
 *                           that waited that long for its body or for the
 *                           loop is not worth starting;
 *   activity max_in_flight  requests of one activity in this worker, so
 *                           that a hot activity cannot starve the others.
 * Beyond any of them: 503 "overloaded" with Retry-After
 * (overload.retry_after_s).
 */
#ifndef AMS_CORE_ADMISSION_H
#define AMS_CORE_ADMISSION_H

#include "activity.h"
#include "conf.h"

#include <stddef.h>
#include <stdint.h>

/* 0 when a request of act may start now, with running requests in flight
 * in the worker and waited_ms since its headers were read (-1: unknown);
 * -1 with msg set (naming the bound, and the activity for its own cap)
 * when it must be refused. */
int admission_check(const conf *c, size_t running, const activity *act,
                    int64_t waited_ms, char *msg, size_t len);

/* An admitted request of act starts, and ends (exactly once each). */
void admission_enter(activity *act);
void admission_leave(activity *act);

#endif
