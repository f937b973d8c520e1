/*
 * cfg.h -- typed, bounded reads of libconfig settings that report every
 * problem as "file:line: field: message" into an errs list.  Used by the
 * server config and the activity files alike so both reject garbage the
 * same way.
 */
#ifndef AMS_CORE_CFG_H
#define AMS_CORE_CFG_H

#include "errs.h"

#include <libconfig.h>
#include <stdint.h>

/* Line of a setting, or of its nearest parent that has one. */
int cfg_line(const config_setting_t *s);

/* Report members of group g not named in allowed (NULL-terminated):
 * unknown keys are errors, so a typo never silently means "default". */
void cfg_check_members(const config_setting_t *g, const char *const *allowed,
                       const char *file, const char *where, errs *e);

/* Each reader: when the member is absent, leaves *out alone and returns 0
 * (or reports "missing" and returns -1 when required).  Wrong type or out
 * of bounds: reports and returns -1.  Otherwise stores and returns 1. */
int cfg_int(const config_setting_t *g, const char *name, int required,
            int64_t min, int64_t max, int64_t *out, const char *file, errs *e);
int cfg_bool(const config_setting_t *g, const char *name, int required,
             int *out, const char *file, errs *e);
/* *out points into the config tree: valid while the config lives. */
int cfg_str(const config_setting_t *g, const char *name, int required,
            const char **out, const char *file, errs *e);

/* path relative to the directory of file (a config file's path), or path
 * itself when absolute: how a path written in a config file is read.
 * malloc'd, the caller frees; NULL when memory is short. */
char *cfg_resolve(const char *file, const char *path);

/* Load a file; on a syntax error reports "file:line: message", returns -1
 * and leaves cf destroyed.  On success the caller config_destroy()s cf. */
int cfg_read(config_t *cf, const char *path, errs *e);
/* The same reading path but naming `name` in every message (a snapshot's
 * object is reported as the file it is a copy of). */
int cfg_read_as(config_t *cf, const char *path, const char *name, errs *e);

#endif
