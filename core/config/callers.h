/*
 * callers.h -- signed server-to-server callers: the apps amsd.conf names
 * in signed_callers, each with one or two HMAC secrets read from files
 * (two while a secret is being rotated), and what an activity file says
 * of a method's callers (signed = true; signed_params = [...]).
 *
 * The table is built by conf_load (every mistake as file:line) and
 * reloaded with the configuration: a reload reads the secret files
 * again.  It reaches the workers as JSON (callers_json): the secrets
 * travel in it, so that JSON goes over the control channel only, never
 * into a log or an answer.  Verifying a request is core/data/signed.c.
 */
#ifndef AMS_CORE_CALLERS_H
#define AMS_CORE_CALLERS_H

#include "errs.h"

#include <cjson/cJSON.h>
#include <libconfig.h>
#include <stddef.h>

#define CALLERS_APP_MAX 64      /* 1..64 of [a-z0-9_.-]: auth_name_ok */
#define CALLERS_KEYS_MAX 2      /* secrets valid at once */
#define CALLERS_SECRET_MIN 32   /* bytes: e.g. openssl rand -hex 32 */
#define CALLERS_SECRET_MAX 1024 /* bytes */

typedef struct callers_key {
    unsigned char *b; /* owned, wiped when freed */
    size_t n;
} callers_key;

typedef struct callers_app {
    char *app;
    callers_key key[CALLERS_KEYS_MAX];
    size_t nkeys; /* 1 or 2 */
    int line;     /* where amsd.conf names it */
} callers_app;

typedef struct callers_table {
    callers_app *v; /* owned */
    size_t n;
} callers_table;

/* 1 when s is an app name: 1..CALLERS_APP_MAX of [a-z0-9_.-]. */
int callers_app_ok(const char *s);

/* signed_callers = ( { app = "loan-core"; secret_files = ["keys/a.1",
 * "keys/a.2"]; }, ... ) into *t (replacing what it held), secret file
 * paths relative to file (amsd.conf's path).  Each secret file holds one
 * line, CALLERS_SECRET_MIN..CALLERS_SECRET_MAX bytes, used as it is (a
 * final newline is not part of it).  Every problem goes to e as
 * file:line; a secret file that others may read is a warning. */
void callers_read(const config_setting_t *list, const char *file,
                  callers_table *t, errs *e);

/* The entry of app, or NULL (owned by t). */
const callers_app *callers_find(const callers_table *t, const char *app);

/* The table as JSON, secrets included (hex): for the control channel
 * only.  Caller deletes.  And back: replaces *t; -1 (t unchanged) on a
 * malformed array or no memory. */
cJSON *callers_json(const callers_table *t);
int callers_from_json(callers_table *t, const cJSON *j);

/* Frees what t holds, wiping the secrets first. */
void callers_free(callers_table *t);

/* n hex digits at s (either case) into n/2 bytes at out: 0, or -1 when
 * n is odd or a digit is not hex. */
int callers_unhex(const char *s, size_t n, unsigned char *out);

/* A method's callers, from its group in an activity file:
 *   signed = true;               only signed callers may call it
 *   signed_params = ["amount"];  these params (top-level members of the
 *                                request's "params") only from them
 * *params (a malloc'd array of malloc'd names, *nparams of them) is the
 * callers_app's: free with callers_params_free.  Problems go to e. */
void callers_method_read(const config_setting_t *g, int *signed_only,
                         char ***params, size_t *nparams, const char *file,
                         errs *e);
void callers_params_free(char **params, size_t n);

#endif
