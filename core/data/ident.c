/*
 * ident.c -- the end user's identity: bearer tokens, gateway headers,
 * and the decision between the sources (ident.h).
 *
 * cjose verifies signatures; everything it would trust the token for is
 * decided here first.  The header is read with cJSON before cjose sees
 * the token: the algorithm must be the one of a configured key (so "none"
 * and an HS256 token "signed" with an RSA public key never reach a
 * verifier), the kid, when present, picks the key, and a key is handed to
 * cjose only for its own algorithm (cjose would read an RSA key's memory
 * as an HMAC secret otherwise).
 */
#include "ident.h"

#include "text.h"

#include <cjose/cjose.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A JSON object with no member named twice (a duplicate claim read one
 * way here and another way by a gateway is how checks are bypassed). */
static cJSON *parse_object(const uint8_t *p, size_t n)
{
    cJSON *o = cJSON_ParseWithLength((const char *)p, n), *a, *b;

    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NULL;
    }
    for (a = o->child; a != NULL; a = a->next)
        for (b = a->next; b != NULL; b = b->next)
            if (strcmp(a->string, b->string) == 0) {
                cJSON_Delete(o);
                return NULL;
            }
    return o;
}

/* Segment [p, p+n) decoded as a JSON object, or NULL. */
static cJSON *decode_json(const char *p, size_t n)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    cjose_err err;
    cJSON *o;

    if (n == 0 || !cjose_base64url_decode(p, n, &raw, &len, &err))
        return NULL;
    o = parse_object(raw, len);
    cjose_get_dealloc()(raw);
    return o;
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A NumericDate claim: 1 present and sane, 0 absent, -1 malformed. */
static int date_of(const cJSON *o, const char *name, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    if (v == NULL)
        return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble < 0 || v->valuedouble > 1e12)
        return -1;
    *out = v->valuedouble;
    return 1;
}

static int aud_matches(const cJSON *aud, const char *want)
{
    const cJSON *it;

    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    cJSON_ArrayForEach(it,
                       aud) if (cJSON_IsString(it) &&
                                strcmp(it->valuestring, want) == 0) return 1;
    return 0;
}

/* The registered claims and the uid.  0, or -1 with why. */
static int check_claims(const jwt_conf *c, const cJSON *cl, int64_t now_s,
                        char *uid, char *why, size_t wl)
{
    const char *claim = c->uid_claim ? c->uid_claim : "sub";
    const char *u = str_of(cl, claim);
    double exp = 0, nbf = 0, now = (double)now_s;
    int r;

    if ((r = date_of(cl, "exp", &exp)) <= 0) {
        snprintf(why, wl,
                 r < 0 ? "exp: not a NumericDate"
                       : "the token has no exp (expiry); one is "
                         "required");
        return -1;
    }
    if (now >= exp + (double)c->leeway_s) {
        snprintf(why, wl, "the token has expired");
        return -1;
    }
    if ((r = date_of(cl, "nbf", &nbf)) < 0) {
        snprintf(why, wl, "nbf: not a NumericDate");
        return -1;
    }
    if (r > 0 && now + (double)c->leeway_s < nbf) {
        snprintf(why, wl, "the token is not valid yet (nbf)");
        return -1;
    }
    if (c->issuer != NULL &&
        (str_of(cl, "iss") == NULL || strcmp(str_of(cl, "iss"), c->issuer))) {
        snprintf(why, wl, "wrong issuer (iss)");
        return -1;
    }
    if (c->audience != NULL &&
        !aud_matches(cJSON_GetObjectItemCaseSensitive(cl, "aud"),
                     c->audience)) {
        snprintf(why, wl, "wrong audience (aud)");
        return -1;
    }
    if (u == NULL || !text_is_token(u, 1, IDENT_UID_MAX)) {
        snprintf(why, wl,
                 "claim %s: expected a uid (1..%d printable characters "
                 "without spaces)",
                 claim, IDENT_UID_MAX);
        return -1;
    }
    memcpy(uid, u, strlen(u) + 1);
    return 0;
}

/* The signature of token under key k: 1 verified, 0 not. */
static int verify_with(const jwt_key *k, const char *token, size_t len)
{
    cjose_err err;
    /* A fresh import per key: cjose keeps the digest of a verify in the
     * JWS and a second verify would leak it. */
    cjose_jws_t *jws = cjose_jws_import(token, len, &err);
    int ok = jws != NULL && cjose_jws_verify(jws, k->jwk, &err);

    cjose_jws_release(jws);
    return ok;
}

int ident_jwt_verify(const jwt_conf *c, const char *token, size_t len,
                     int64_t now_s, char *uid, char *why, size_t wl)
{
    const char *dot1 = NULL, *dot2 = NULL, *alg_s, *kid;
    cJSON *hdr = NULL, *claims = NULL;
    const jwt_key *cand[KEYS_MAX];
    size_t ncand = 0, siglen;
    key_alg alg;
    int rc = -1, any_alg = 0;

    if (len == 0 || len > IDENT_TOKEN_MAX) {
        snprintf(why, wl, "malformed token (length)");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (dot2 != NULL) {
                snprintf(why, wl,
                         "malformed token (not header.payload."
                         "signature)");
                return -1;
            }
            if (dot1 == NULL)
                dot1 = token + i;
            else
                dot2 = token + i;
        } else if (!b64url_char(token[i])) {
            snprintf(why, wl, "malformed token (not base64url)");
            return -1;
        }
    }
    if (dot2 == NULL) {
        snprintf(why, wl, "malformed token (not header.payload.signature)");
        return -1;
    }
    hdr = decode_json(token, (size_t)(dot1 - token));
    if (hdr == NULL) {
        snprintf(why, wl, "malformed token header");
        goto out;
    }
    alg_s = str_of(hdr, "alg");
    kid = str_of(hdr, "kid");
    alg = keys_alg_parse(alg_s);
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit") != NULL) {
        snprintf(why, wl, "crit header parameters are not understood");
        goto out;
    }
    if (alg_s != NULL && strcasecmp(alg_s, "none") == 0) {
        snprintf(why, wl, "alg none is not accepted");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(hdr, "kid") != NULL && kid == NULL) {
        snprintf(why, wl, "kid: expected a string");
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        const jwt_key *k = &c->keys[i];
        if (alg != KEY_NONE && k->alg == alg)
            any_alg = 1;
        if (kid != NULL ? strcmp(k->kid, kid) == 0 : k->alg == alg)
            cand[ncand++] = k;
    }
    if (alg == KEY_NONE || !any_alg) {
        snprintf(why, wl,
                 "alg %s is not accepted (only the algorithms of the "
                 "configured keys)",
                 alg != KEY_NONE ? keys_alg_name(alg) : "(unsupported)");
        goto out;
    }
    if (kid != NULL && ncand == 0) {
        snprintf(why, wl, "unknown kid (no configured key has it)");
        goto out;
    }
    if (kid != NULL && cand[0]->alg != alg) {
        snprintf(why, wl, "alg %s does not match the key the kid names (%s)",
                 keys_alg_name(alg), keys_alg_name(cand[0]->alg));
        goto out;
    }
    /* ES256 signatures are exactly r || s of 32 bytes each (86 base64url
     * characters); cjose would read any length. */
    siglen = len - (size_t)(dot2 + 1 - token);
    if ((alg == KEY_ES256 && siglen != 86) ||
        (alg == KEY_HS256 && siglen != 43) || siglen == 0) {
        snprintf(why, wl, "malformed signature (length)");
        goto out;
    }
    {
        int ok = 0;
        for (size_t i = 0; i < ncand && !ok; i++)
            ok = verify_with(cand[i], token, len);
        if (!ok) {
            snprintf(why, wl,
                     "bad signature (forged, or signed by another "
                     "key)");
            goto out;
        }
    }
    claims = decode_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (claims == NULL) {
        snprintf(why, wl,
                 "malformed token payload (not a JSON object "
                 "without duplicate claims)");
        goto out;
    }
    rc = check_claims(c, claims, now_s, uid, why, wl);
out:
    cJSON_Delete(hdr);
    cJSON_Delete(claims);
    return rc;
}

int ident_gw_canonical(const char *ts, const char *uid, const char *method,
                       const char *target, char *buf, size_t len)
{
    int n =
        snprintf(buf, len, "AMS-GW1\n%s\n%s\n%s\n%s", ts, uid, method, target);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

static int unhex32(const char *s, unsigned char out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = s[2 * i + k];
            unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                         : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                         : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10)
                                                  : 16;
            if (d > 15)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return s[64] == '\0' ? 0 : -1;
}

int ident_gw_verify(const gw_conf *c, const char *uid, const char *ts,
                    const char *sig, const char *method, const char *target,
                    int64_t now_s, char *why, size_t wl)
{
    char canon[4096], *end;
    unsigned char want[32], got[EVP_MAX_MD_SIZE];
    unsigned int glen;
    long long t;
    int n, ok = 0;

    if (uid == NULL || ts == NULL || sig == NULL) {
        snprintf(why, wl, "gateway: %s, %s and %s are all needed",
                 IDENT_GW_UID, IDENT_GW_TS, IDENT_GW_SIG);
        return -1;
    }
    if (!text_is_token(uid, 1, IDENT_UID_MAX)) {
        snprintf(why, wl, "gateway: %s is not a uid", IDENT_GW_UID);
        return -1;
    }
    t = strtoll(ts, &end, 10);
    if (end == ts || *end != '\0' || ts[0] == '-' || ts[0] == '+' ||
        strlen(ts) > 12) {
        snprintf(why, wl, "gateway: %s is not Unix seconds", IDENT_GW_TS);
        return -1;
    }
    if (t < now_s - c->window_s || t > now_s + c->window_s) {
        snprintf(why, wl, "gateway: %s is more than %llds away from now",
                 IDENT_GW_TS, (long long)c->window_s);
        return -1;
    }
    if (strlen(sig) != 64 || unhex32(sig, want) < 0) {
        snprintf(why, wl, "gateway: %s is not 64 hex digits", IDENT_GW_SIG);
        return -1;
    }
    n = ident_gw_canonical(ts, uid, method, target, canon, sizeof canon);
    if (n < 0) {
        snprintf(why, wl, "gateway: the request-target is too long");
        return -1;
    }
    /* Both secrets, always: the time taken says nothing of which. */
    for (int i = 0; i < 2; i++) {
        size_t klen = c->secret_len[i];
        if (HMAC(EVP_sha256(), c->secret[i], (int)(klen ? klen : 1),
                 (const unsigned char *)canon, (size_t)n, got,
                 &glen) == NULL ||
            glen != 32)
            continue;
        ok |= klen > 0 && CRYPTO_memcmp(got, want, 32) == 0;
    }
    if (!ok) {
        snprintf(why, wl, "gateway: bad %s", IDENT_GW_SIG);
        return -1;
    }
    return 0;
}

/* A refusal: msg is the message of the JSON answer; bearer 1 asks for a
 * token (RFC 6750 3.1: no error code when none was sent), 2 says it was
 * refused, with the message as error_description (quotes and
 * backslashes, which the header's syntax excludes, become '). */
static int fail(ident_res *o, int status, const char *reason, int bearer,
                const char *msg)
{
    o->status = status;
    o->reason = reason;
    text_copy(o->msg, sizeof o->msg, msg);
    o->www_auth[0] = '\0';
    if (bearer == 1)
        snprintf(o->www_auth, sizeof o->www_auth, "Bearer realm=\"amsd\"");
    if (bearer == 2) {
        char d[200];
        size_t i;
        for (i = 0; msg[i] != '\0' && i < sizeof d - 1; i++)
            d[i] =
                msg[i] == '"' || msg[i] == '\\' || (unsigned char)msg[i] < ' '
                    ? '\''
                    : msg[i];
        d[i] = '\0';
        snprintf(o->www_auth, sizeof o->www_auth,
                 "Bearer realm=\"amsd\", error=\"invalid_token\", "
                 "error_description=\"%s\"",
                 d);
    }
    return -1;
}

/* "Bearer <token>": the token, or NULL (*other set when the scheme is
 * something else, 2 for AMS-HMAC-SHA256 -- a signed caller's, not ours). */
static const char *bearer_of(const char *h, size_t *len, int *other)
{
    const char *p;

    *other = 0;
    if (h == NULL)
        return NULL;
    if (strncasecmp(h, "AMS-HMAC-SHA256", 15) == 0 &&
        (h[15] == ' ' || h[15] == '\0')) {
        *other = 2;
        return NULL;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        *other = 1;
        return NULL;
    }
    for (p = h + 7; *p == ' '; p++)
        ;
    *len = strcspn(p, " \t");
    if (p[*len] != '\0')
        *len = 0; /* trailing junk: malformed */
    return p;
}

/* The uid authenticated as `who`, against the body's. */
static int settle(const ident_req *r, ident_res *o, const char *uid,
                  const char *who)
{
    if (r->body_uid != NULL && r->body_uid[0] != '\0' &&
        strcmp(r->body_uid, uid) != 0) {
        o->status = 403;
        o->reason = "uid_mismatch";
        snprintf(o->msg, sizeof o->msg,
                 "uid: the body's uid differs from the one of the %s; "
                 "leave it out or send the same",
                 who);
        return -1;
    }
    memcpy(o->uid, uid, strlen(uid) + 1);
    return 0;
}

/* Nobody authenticated: fine for a method without login and a body that
 * does not claim to be somebody. */
static int anonymous(const ident_req *r, ident_res *o, int bearer,
                     const char *what)
{
    char msg[256];

    if (r->login) {
        snprintf(msg, sizeof msg, "this method needs a logged-in user: %s",
                 what);
        return fail(o, 401, "unauthenticated", bearer, msg);
    }
    if (r->body_uid != NULL && r->body_uid[0] != '\0') {
        snprintf(msg, sizeof msg,
                 "uid: a uid in the body needs authentication: %s", what);
        return fail(o, 401, "unauthenticated", bearer, msg);
    }
    o->uid[0] = '\0';
    return 0;
}

static int decide_jwt(const ident_req *r, const jwt_conf *jwt, ident_res *o)
{
    size_t len = 0;
    int other;
    const char *tok = bearer_of(r->authorization, &len, &other);
    char why[200], uid[IDENT_UID_MAX + 1];

    if (tok == NULL && other == 1)
        return fail(o, 401, "unauthenticated", 2,
                    "Authorization: expected \"Bearer <token>\"");
    if (tok == NULL)
        return anonymous(r, o, 1, "send Authorization: Bearer <token>");
    if (ident_jwt_verify(jwt, tok, len, r->now_s, uid, why, sizeof why) < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "bearer token refused: %s", why);
        return fail(o, 401, "unauthenticated", 2, msg);
    }
    return settle(r, o, uid, "bearer token");
}

static int decide_gateway(const ident_req *r, const gw_conf *gw, ident_res *o)
{
    char why[200];

    if (r->gw_uid == NULL && r->gw_ts == NULL && r->gw_sig == NULL)
        return anonymous(r, o, 0, "no " IDENT_GW_UID " from the gateway");
    if (!r->peer_trusted)
        return fail(o, 401, "unauthenticated", 0,
                    "gateway: " IDENT_GW_UID " is accepted only from a "
                    "trusted proxy (trusted_proxies)");
    if (ident_gw_verify(gw, r->gw_uid, r->gw_ts, r->gw_sig, r->method,
                        r->target, r->now_s, why, sizeof why) < 0)
        return fail(o, 401, "unauthenticated", 0, why);
    return settle(r, o, r->gw_uid, "gateway header " IDENT_GW_UID);
}

int ident_decide(const ident_req *r, const jwt_conf *jwt, const gw_conf *gw,
                 ident_res *o)
{
    memset(o, 0, sizeof *o);
    /* A verified signed caller speaks for the user it names. */
    if (r->signed_app != NULL || r->mode == LIS_AUTH_BODY) {
        text_copy(o->uid, sizeof o->uid, r->body_uid ? r->body_uid : "");
        return 0;
    }
    switch (r->mode) {
    case LIS_AUTH_JWT:
        return decide_jwt(r, jwt, o);
    case LIS_AUTH_GATEWAY:
        return decide_gateway(r, gw, o);
    default:
        o->uid[0] = '\0'; /* none: whatever the body says */
        return 0;
    }
}
