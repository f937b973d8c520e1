/*
 * schema.h -- validating an entry's configured params against the
 * ams_param schema in its manifest, before any plugin code runs.
 *
 * Params are held as a cJSON object whatever their source (libconfig in
 * activity files, JSON for the conformance runner), so one validator
 * serves both.
 */
#ifndef AMS_CORE_SCHEMA_H
#define AMS_CORE_SCHEMA_H

#include <ams/ams.h>
#include <cjson/cJSON.h>
#include <libconfig.h>

/* Called once per problem; field is the offending member, or NULL. */
typedef void (*schema_report_fn)(void *ud, const char *field, const char *msg);

/* Check obj (a JSON object; NULL means {}) against spec (NULL means no
 * params).  Unknown members, missing required ones, wrong types and
 * out-of-bounds values are reported.  Returns the number of problems. */
int schema_validate(const ams_param *spec, const cJSON *obj,
                    schema_report_fn report, void *ud);

/* Convert a libconfig setting to JSON.  Caller owns the result; NULL on
 * allocation failure. */
cJSON *schema_from_cfg(const config_setting_t *s);

const char *schema_type_name(ams_type t);

#endif
