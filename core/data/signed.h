/*
 * signed.h -- signed server-to-server callers (docs/operator-guide.md,
 * "Signed callers"): the upstream services that report facts ("user X
 * repaid 600") sign each request with a secret of their own:
 *
 *   Authorization: AMS-HMAC-SHA256 app=loan-core, ts=1764806400,
 *                  nonce=6f1c2b..., sig=<64 hex digits>
 *
 * sig is HMAC-SHA256, under one of the app's secrets (callers.h), of the
 * canonical string (signed_canonical).  A request is accepted when its
 * signature matches, its ts lies within signed_window_s of the server's
 * clock, and its nonce was not seen before: each accepted nonce is
 * claimed in the store for twice the window (signed_nonce_claim), so a
 * replay is refused on every node that shares the store.  The order is
 * fixed: the signature is verified (in constant time) before the nonce is
 * claimed, so an unsigned flood cannot fill the store with nonces nor
 * burn the nonces of the real caller.
 *
 * Parsing and verifying are pure (a fuzzer calls signed_parse); the
 * gateway's step, signed_gate, reads the request through evhttp; the
 * nonce step calls the store (from the request's coroutine).
 */
#ifndef AMS_CORE_SIGNED_H
#define AMS_CORE_SIGNED_H

#include "activity.h"
#include "callers.h"
#include "conf.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <event2/http.h>
#include <stddef.h>
#include <stdint.h>

#define SIGNED_SCHEME "AMS-HMAC-SHA256"
#define SIGNED_NONCE_MIN 16 /* characters of A-Z a-z 0-9 - _ */
#define SIGNED_NONCE_MAX 64
#define SIGNED_TS_DIGITS 12 /* seconds: up to year 33658 */

/* The credentials of one request, as its Authorization header gave them
 * (app[0] == '\0': the request is not signed). */
typedef struct signed_hdr {
    char app[CALLERS_APP_MAX + 1];
    char ts[SIGNED_TS_DIGITS + 1]; /* digits as sent: they are signed */
    int64_t ts_s;
    char nonce[SIGNED_NONCE_MAX + 1];
    unsigned char sig[32];
} signed_hdr;

/* 1 when an Authorization value is of the AMS-HMAC-SHA256 scheme (its
 * name case-insensitive, then a space or the end): the request means to
 * be signed, and must then be signed right.  0 for any other scheme
 * (a Bearer token is the end-user identity's business). */
int signed_is_scheme(const char *value);

/* "AMS-HMAC-SHA256 app=A, ts=T, nonce=N, sig=S": the four parameters
 * once each, in any order, separated by commas and optional white space.
 * 0 with *h filled, or -1 with msg saying what is wrong (never echoing
 * the signature). */
int signed_parse(const char *value, signed_hdr *h, char *msg, size_t msglen);

/* The canonical string of a request: seven lines joined by "\n", no
 * newline at the end:
 *   AMS-HMAC-SHA256
 *   app
 *   VERB                 the HTTP method as in the request line ("POST")
 *   path                 as in the request line, percent-encoding kept
 *   canonical query      the query's "&"-separated pieces as sent, empty
 *                        ones dropped, sorted by bytes, joined by "&";
 *                        "" without a query
 *   ts
 *   nonce
 *   sha256(body)         64 lowercase hex digits of the body's bytes
 * query may be NULL (none).  Returns a malloc'd string the caller owns,
 * or NULL when memory is short. */
char *signed_canonical(const signed_hdr *h, const char *verb, const char *path,
                       const char *query, const void *body, size_t len);

typedef enum signed_status {
    SIGNED_OK = 0,
    SIGNED_BAD,   /* unknown app, or no secret of it gives the signature */
    SIGNED_STALE, /* signed right, but ts is outside the window */
} signed_status;

/* Verify h against the canonical string text: h->app must be in t, and
 * one of its secrets must give h->sig (every secret is tried and
 * compared in constant time, CRYPTO_memcmp, whether or not one already
 * matched); then |now_s - ts| <= window_s.  msg says why not. */
signed_status signed_verify(const callers_table *t, const signed_hdr *h,
                            const char *text, int64_t now_s, int64_t window_s,
                            char *msg, size_t msglen);

/* The gateway's step for request req routed to method m, body the raw
 * bytes (len) and params its "params" (or NULL), at now_ms (the
 * request's clock):
 *  - an AMS-HMAC-SHA256 Authorization is parsed and verified (401
 *    bad_signature, 401 stale_request); *out is then the caller;
 *  - without one (out->app[0] == '\0'): a method with signed = true is
 *    401 signature_required, a param of its signed_params 403
 *    signed_param.
 * 0 to go on, or -1 with *status, *reason (static) and msg for the
 * answer. */
int signed_gate(struct evhttp_request *req, const method *m,
                const cJSON *params, const conf *c, const void *body,
                size_t len, int64_t now_ms, signed_hdr *out, int *status,
                const char **reason, char *msg, size_t msglen);

/* Claim h's nonce in st (one atomic set-if-absent, kept for twice
 * window_s from now_ms): AMS_OK the first time, AMS_CONFLICT when it was
 * claimed before (on any node sharing st), AMS_ERR_STORE when the store
 * failed.  Call from the request's coroutine. */
ams_status signed_nonce_claim(store *st, const signed_hdr *h, int64_t now_ms,
                              int64_t window_s);

/* The store key of an app's nonce into out (STORE_KEY_MAX bytes): -1
 * when it does not fit. */
int signed_nonce_key(char *out, size_t outlen, const char *app,
                     const char *nonce);

#endif
