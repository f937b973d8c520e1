/*
 * metrics_text.h -- the Prometheus text exposition (format 0.0.4) of the
 * workers' series summed by labels (metrics.h) and the master's own
 * numbers.  Pure: no master, no I/O, so the unit tests drive it.
 */
#ifndef AMS_CORE_METRICS_TEXT_H
#define AMS_CORE_METRICS_TEXT_H

#include "metrics.h"

#include <stddef.h>
#include <stdint.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What only the master knows. */
typedef struct metrics_master {
    uint64_t generation;
    uint64_t reloads_ok, reloads_failed;
    uint64_t worker_restarts;
    int workers_ready, workers_total;
    int workers_missing;     /* did not hand over all their series */
    uint64_t series_dropped; /* the workers' and the summing's */
} metrics_master;

/* The exposition of sum and m: every family with its # HELP and # TYPE
 * lines, series sorted by labels, histogram buckets cumulative, label
 * values escaped (backslash, double quote, line feed).  Returns malloc'd
 * NUL-terminated text (length in *len when len is not NULL), or NULL
 * when memory is short. */
char *metrics_text_write(const metrics_table *sum, const metrics_master *m,
                         size_t *len);

#endif
