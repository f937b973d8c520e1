/*
 * listeners.h -- the data plane's listeners and what each decides about
 * a request before any plugin runs: how the end user is identified
 * (auth), which peers are trusted proxies (their X-Forwarded-For or
 * Forwarded names the client), and which browser origins may call it
 * (CORS).
 *
 * Either one listener (`listen` with the top-level `auth`,
 * `trusted_proxies`, `real_ip_header`, `cors_origins`) or a list
 * `listeners = ( { listen; auth; ... }, ... )` whose groups take the
 * top-level settings as their defaults.  Addresses take effect at a
 * restart (the master owns the sockets); everything else is reloaded.
 */
#ifndef AMS_CORE_LISTENERS_H
#define AMS_CORE_LISTENERS_H

#include "cidr.h"
#include "errs.h"

#include <cjson/cJSON.h>
#include <libconfig.h>
#include <stddef.h>

/* How the uid of a request is known.  LIS_AUTH_INHERIT: a method that
 * says nothing takes its listener's; a listener that says nothing takes
 * the top-level `auth`, and that defaults to jwt. */
typedef enum lis_auth {
    LIS_AUTH_INHERIT = 0,
    LIS_AUTH_JWT,     /* Authorization: Bearer <JWT> */
    LIS_AUTH_GATEWAY, /* X-AMS-Uid signed by a trusted gateway */
    LIS_AUTH_NONE,    /* anonymous: the uid is always "" */
    LIS_AUTH_BODY,    /* the body's uid, unchecked (the old behaviour) */
} lis_auth;

#define LIS_AUTH_DEFAULT LIS_AUTH_JWT

/* "jwt", "gateway", "none", "body" -> mode; LIS_AUTH_INHERIT for anything
 * else. */
lis_auth lis_auth_parse(const char *s);
const char *lis_auth_name(lis_auth a);

typedef enum lis_realip {
    LIS_RIP_XFF = 0,   /* X-Forwarded-For */
    LIS_RIP_FORWARDED, /* Forwarded (RFC 7239) */
} lis_realip;

#define LIS_MAX 16 /* listeners */
#define LIS_PROXIES_MAX 256
#define LIS_ORIGINS_MAX 64

typedef struct listener {
    char *listen;  /* "HOST:PORT" */
    lis_auth auth; /* never INHERIT after lis_finish() */
    cidr *proxies; /* trusted proxies, owned */
    size_t nproxies;
    lis_realip real_ip;
    char **origins; /* exact origins, owned; "*" is any_origin */
    size_t norigins;
    int any_origin;
    int line; /* of its group, or of `listen` (0: not in the file) */
    int auth_line;
} listener;

typedef struct lis_set {
    listener *v; /* owned */
    size_t n;
    listener top;  /* the top-level settings (listen unused) */
    int list_line; /* of `listeners`, 0 when not given */
} lis_set;

/* Read the top-level settings and the `listeners` list of root into s.
 * Problems go to e (file:line). */
void lis_read(const config_setting_t *root, const char *file, lis_set *s,
              errs *e);
/* After the flags: with no list, the one listener at listen; with one,
 * listen (the --listen flag, when flag_listen) replaces the first's
 * address.  Then the cross checks: jwt needs keys (njwt_keys),
 * gateway a secret and trusted proxies, "*" origins only anonymous, two
 * listeners on one address; auth = "body" is warned about. */
int lis_finish(lis_set *s, const char *listen, int flag_listen,
               size_t njwt_keys, int gw_secret, const char *file, errs *e);

/* The listener settings as JSON (caller deletes), and back (replacing
 * *s; -1 leaves it as it was). */
cJSON *lis_json(const lis_set *s);
int lis_from_json(lis_set *s, const cJSON *j);
/* 1 when both list the same addresses in the same order. */
int lis_same_addresses(const lis_set *a, const lis_set *b);

/* 1 when ip is one of l's trusted proxies. */
int lis_trusted(const listener *l, const cidr_ip *ip);
/* The origin as allowed by l: 1 exact match, 2 any ("*"), 0 not. */
int lis_origin_allowed(const listener *l, const char *origin);

struct gen;
/* The methods of g against the listeners: a method that needs a login
 * but is anonymous on a listener, or whose own auth needs keys or a
 * secret that are not configured, is an error (its file:line); a
 * method with auth = "body" is a warning. */
int lis_check_gen(const lis_set *s, size_t njwt_keys, int gw_secret,
                  const struct gen *g, errs *e);

void lis_free(lis_set *s);

#endif
