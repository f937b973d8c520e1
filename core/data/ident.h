/*
 * ident.h -- who the end user of a request is.
 *
 * The uid a request runs as comes from exactly one source, chosen by the
 * method's auth (or its listener's): a verified bearer token (jwt), a
 * header signed by a trusted upstream gateway (gateway), nobody (none),
 * or -- only where written explicitly -- the body (body).  When the uid
 * is authenticated, a body that names another uid is refused (403
 * uid_mismatch); every failed check is 401 unauthenticated with a message
 * saying which check failed, never the token or a secret.
 *
 * The parsers are pure functions of their inputs (a key set and bytes),
 * so they can be fuzzed apart from the server.
 */
#ifndef AMS_CORE_IDENT_H
#define AMS_CORE_IDENT_H

#include "keys.h"
#include "listeners.h"

#include <stddef.h>
#include <stdint.h>

#define IDENT_UID_MAX 128    /* as the gateway's uid bound */
#define IDENT_TOKEN_MAX 8192 /* bytes of a bearer token */

/* Gateway headers: the uid, the Unix time in seconds it was signed at,
 * and the lowercase hex HMAC-SHA256 over IDENT_GW_CANON. */
#define IDENT_GW_UID "X-AMS-Uid"
#define IDENT_GW_TS "X-AMS-Timestamp"
#define IDENT_GW_SIG "X-AMS-Signature"

/* Verify a compact JWS (len bytes, not necessarily NUL-terminated)
 * against the keys of c at now_s, and read its uid claim into uid (at
 * least IDENT_UID_MAX + 1 bytes).  Returns 0, or -1 with why saying which
 * check failed (nothing of the token in it). */
int ident_jwt_verify(const jwt_conf *c, const char *token, size_t len,
                     int64_t now_s, char *uid, char *why, size_t whylen);

/* The string a gateway signs: "AMS-GW1\n" ts "\n" uid "\n" METHOD "\n"
 * request-target (path and query as sent).  Written into buf (NUL
 * terminated); returns its length, or -1 when it does not fit. */
int ident_gw_canonical(const char *ts, const char *uid, const char *method,
                       const char *target, char *buf, size_t len);
/* Check the three gateway headers (any may be NULL: refused) of a request
 * `method target` at now_s against c's secrets.  0, or -1 with why. */
int ident_gw_verify(const gw_conf *c, const char *uid, const char *ts,
                    const char *sig, const char *method, const char *target,
                    int64_t now_s, char *why, size_t whylen);

/* What identifying a request needs to know of it. */
typedef struct ident_req {
    lis_auth mode;             /* the method's, or its listener's */
    int login;                 /* the method needs a uid */
    const char *signed_app;    /* a verified signed caller (another part of
                                  the gateway), or NULL */
    const char *authorization; /* Authorization header, or NULL */
    const char *gw_uid, *gw_ts, *gw_sig; /* gateway headers, or NULL */
    const char *method, *target;         /* "POST", request-target */
    const char *body_uid;                /* the body's uid, or NULL */
    int peer_trusted;                    /* the TCP peer is a trusted proxy */
    int64_t now_s;
} ident_req;

typedef struct ident_res {
    int status;         /* 0: identified (uid may be ""), or 401 / 403 */
    const char *reason; /* "unauthenticated", "uid_mismatch" */
    char uid[IDENT_UID_MAX + 1];
    char msg[256];
    /* For 401: the WWW-Authenticate value to send, or "" for none. */
    char www_auth[320];
} ident_res;

/* Decide the uid of r.  Returns 0 (out->uid set), or -1 with out's
 * status, reason, msg and www_auth set. */
int ident_decide(const ident_req *r, const jwt_conf *jwt, const gw_conf *gw,
                 ident_res *out);

#endif
