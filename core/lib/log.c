/*
 * log.c -- stderr logging.  Each line is formatted into one buffer and
 * written with one write(2) so lines of several workers never interleave.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int log_level = AMS_LOG_INFO;
const char *log_role = "amsd";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_vmsg(ams_log_level level, const char *fmt, va_list ap)
{
    char line[2048];
    int n;

    if ((int)level > log_level)
        return;
    n = snprintf(line, sizeof line, "amsd[%d] %s %s: ", (int)getpid(),
                 log_role, level_names[level]);
    if (n < 0)
        return;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    n = (int)strlen(line);
    if (n >= (int)sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}

void log_msg(ams_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}
