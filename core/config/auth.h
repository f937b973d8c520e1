/*
 * auth.h -- who may call the admin plane: bearer tokens from amsd.conf,
 * each with a name and a role.
 *
 * A token table is built from the configuration (auth_table_add reports
 * every mistake as file:line) and consulted for every admin request
 * (auth_check).  Tokens are compared through their SHA-256 digests with
 * a constant-time compare, and every configured token is compared every
 * time, so the answer's timing says nothing about how much of a guess was
 * right, nor which token it was close to.
 */
#ifndef AMS_CORE_AUTH_H
#define AMS_CORE_AUTH_H

#include "errs.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* Roles of admin tokens, each allowed what the ones before it are. */
typedef enum admin_role {
    ROLE_PUBLIC = 0,   /* no token needed (liveness) */
    ROLE_VIEWER = 1,   /* read-only */
    ROLE_OPERATOR = 2, /* reload, enable/disable, imports */
    ROLE_ADMIN = 3,    /* everything, incl. the audit log */
} admin_role;

#define AUTH_TOKEN_MIN 16
#define AUTH_TOKEN_MAX 256
#define AUTH_NAME_MAX 64

typedef struct auth_token {
    char *name;               /* who, in the audit log and messages */
    admin_role role;          /* viewer, operator or admin */
    unsigned char digest[32]; /* SHA-256 of the token; the token itself
                                 is not kept */
    int line;                 /* where it was configured */
} auth_token;

typedef struct auth_table {
    auth_token *v; /* owned */
    size_t n;
} auth_table;

/* "viewer", "operator", "admin" -> role; -1 for anything else ("public"
 * is not a role a token can have). */
int auth_role_parse(const char *s, admin_role *out);
/* "public", "viewer", "operator", "admin". */
const char *auth_role_name(admin_role r);

/* 1 when s is a name of the admin plane's callers (and of signed
 * callers' apps, callers.h): 1..AUTH_NAME_MAX of [a-z0-9_.-]. */
int auth_name_ok(const char *s);

/* Add one configured token.  name: 1..64 of [a-z0-9_.-]; token: 16..256
 * of the RFC 6750 token characters [A-Za-z0-9-._~+/=]; role: see
 * auth_role_parse.  A name or token already in t is an error naming the
 * line of the first.  Every problem goes to e as file:line.  Returns 0,
 * or -1 (nothing added). */
int auth_table_add(auth_table *t, const char *name, const char *token,
                   const char *role, const char *file, int line, errs *e);
/* 1 when both hold the same names, roles and tokens in the same order. */
int auth_table_equal(const auth_table *a, const auth_table *b);
void auth_table_free(auth_table *t);

/* The table as JSON (names, roles, digests: never a token), so a reload
 * can hand a new table to the master (conf_reloadable_json); caller
 * deletes.  And back: replaces *t.  Returns 0, or -1 (t unchanged) on a
 * malformed array or no memory. */
cJSON *auth_table_json(const auth_table *t);
int auth_table_from_json(auth_table *t, const cJSON *j);

typedef enum auth_status {
    AUTH_OK = 0,
    AUTH_MISSING,   /* no Authorization header */
    AUTH_MALFORMED, /* not "Bearer <token>" */
    AUTH_UNKNOWN,   /* no configured token matches */
} auth_status;

/* Check an Authorization header value (NULL: absent) against t.  On
 * AUTH_OK, *who is the matching entry (owned by t). */
auth_status auth_check(const auth_table *t, const char *header,
                       const auth_token **who);

/* Constant-time equality of n bytes: 1 equal, 0 not.  The time depends
 * on n only (OpenSSL's CRYPTO_memcmp). */
int auth_equal(const void *a, const void *b, size_t n);

/* SHA-256 of len bytes into out.  Returns 0, or -1 (OpenSSL failed). */
int auth_sha256(const void *data, size_t len, unsigned char out[32]);

#endif
