/*
 * clock.h -- the process's two clocks, in milliseconds.  Every layer reads
 * time through these so that "now" has one definition; plugins see the
 * host clock of their request instead (services.h), which tests move.
 */
#ifndef AMS_CORE_CLOCK_H
#define AMS_CORE_CLOCK_H

#include <stdint.h>

/* Wall-clock time (CLOCK_REALTIME): for what is stored or shown. */
int64_t clock_wall_ms(void);
/* Monotonic time (CLOCK_MONOTONIC): for timeouts and durations. */
int64_t clock_mono_ms(void);

#endif
