/*
 * keys.h -- the keys that say who an end user is: the JWT verification
 * keys (jwt { }) and the secrets of a trusted upstream gateway
 * (gateway_auth { }), read with amsd.conf and so reloaded with it.
 *
 * The master reads every key file when it reads the configuration: a
 * missing, unreadable or malformed key is an error naming file:line, so a
 * reload with a broken key file is refused and changes nothing.  Workers
 * never read key files: they get the keys as JSON in the reload's
 * settings (keys_jwt_json), so every worker verifies with the same keys
 * the master checked.  Only public keys are accepted for RS256/ES256; an
 * HS256 secret is a shared secret by nature.
 */
#ifndef AMS_CORE_KEYS_H
#define AMS_CORE_KEYS_H

#include "errs.h"

#include <cjson/cJSON.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

typedef enum key_alg { KEY_NONE = 0, KEY_HS256, KEY_RS256, KEY_ES256 } key_alg;

#define KEYS_MAX 32
#define KEYS_KID_MAX 128
#define KEYS_SECRET_MIN 32  /* bytes: RFC 7518 3.2, at least the hash size */
#define KEYS_SECRET_MAX 512 /* bytes */
#define KEYS_FILE_MAX (256 * 1024)

typedef struct jwt_key {
    char kid[KEYS_KID_MAX + 1]; /* "" when the key has none */
    key_alg alg;                /* the only algorithm it verifies */
    void *jwk;                  /* cjose_jwk_t, owned */
    char *json;                 /* the JWK as JSON (workers import it);
                                   owned, wiped when freed */
} jwt_key;

typedef struct jwt_conf {
    jwt_key *keys; /* owned */
    size_t n;
    char *issuer;     /* iss required to be this, or NULL */
    char *audience;   /* aud required to hold this, or NULL */
    char *uid_claim;  /* the claim that is the uid; NULL means "sub" */
    int64_t leeway_s; /* clock skew allowed on exp / nbf */
    int line;         /* of the jwt group, 0 when absent */
} jwt_conf;

#define KEYS_LEEWAY_DEFAULT 30

typedef struct gw_conf {
    /* The current secret, and the previous one still accepted during a
     * rotation (len 0 when none). */
    unsigned char secret[2][KEYS_SECRET_MAX];
    size_t secret_len[2];
    int64_t window_s; /* |now - timestamp| allowed */
    int line;         /* of the gateway_auth group, 0 when absent */
} gw_conf;

#define KEYS_GW_WINDOW_DEFAULT 300

/* "HS256", "RS256", "ES256" <-> key_alg (KEY_NONE for anything else). */
key_alg keys_alg_parse(const char *s);
const char *keys_alg_name(key_alg a);

/* jwt = { jwks_file; keys = ( {kid; alg; secret_file | pem_file;} );
 * issuer; audience; uid_claim; leeway_s; } of amsd.conf `file` (paths
 * relative to its directory).  g NULL: no jwt keys.  Problems go to e;
 * returns -1 when there was any. */
int keys_read_jwt(const config_setting_t *g, const char *file, jwt_conf *out,
                  errs *e);
/* gateway_auth = { secret_file; previous_secret_file; window_s; }. */
int keys_read_gateway(const config_setting_t *g, const char *file,
                      gw_conf *out, errs *e);

/* Add the keys of a JWKS document (RFC 7517 {"keys":[...]}) of len bytes
 * to c.  A pure function of its input, for fuzzing.  Returns 0, or -1
 * with why set (nothing added). */
int keys_jwks_add(jwt_conf *c, const char *text, size_t len, char *why,
                  size_t whylen);

/* The settings as JSON for the workers (caller deletes; NULL when out of
 * memory), and back: replaces *c, 0 on success, -1 leaving *c as it was. */
cJSON *keys_jwt_json(const jwt_conf *c);
int keys_jwt_from_json(jwt_conf *c, const cJSON *j);
cJSON *keys_gw_json(const gw_conf *c);
int keys_gw_from_json(gw_conf *c, const cJSON *j);
void keys_jwt_free(jwt_conf *c);
void keys_gw_free(gw_conf *c);

#endif
