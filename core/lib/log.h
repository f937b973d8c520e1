/*
 * log.h -- one line per event on stderr: "amsd[pid] role level: message".
 */
#ifndef AMS_CORE_LOG_H
#define AMS_CORE_LOG_H

#include <ams/ams.h>
#include <stdarg.h>

extern int log_level;        /* AMS_LOG_*; messages above it are dropped */
extern const char *log_role; /* "master", "worker 1", "check" */

void log_msg(ams_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(ams_log_level level, const char *fmt, va_list ap);
/* Parse "error|warn|info|debug"; -1 when unknown. */
int log_level_parse(const char *s);

#define log_error(...) log_msg(AMS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(AMS_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(AMS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(AMS_LOG_DEBUG, __VA_ARGS__)

#endif
