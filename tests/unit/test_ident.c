/*
 * test_ident.c -- the end user's identity: bearer tokens verified against
 * key sets made at test time (no private key is committed), the keys of
 * amsd.conf read from PEM and secret files, gateway signatures, the
 * decision between the sources, and the X-Forwarded-For / Forwarded walk.
 */
#include "fixture.h"
#include "ident.h"
#include "keys.h"
#include "realip.h"
#include "tap.h"

#include <cjose/cjose.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[1024];
static const int64_t NOW = 1900000000; /* 2030 */

/* Keys made for this run: a signing JWK (private) for each algorithm. */
static cjose_jwk_t *hs, *rs, *es, *rs_other;

static char *b64(const char *s)
{
    char *out = NULL;
    size_t n;
    cjose_err err;

    cjose_base64url_encode((const uint8_t *)s, strlen(s), &out, &n, &err);
    return out;
}

/* A compact JWS of claims, signed by k under alg (kid may be NULL).
 * Caller frees. */
static char *sign(cjose_jwk_t *k, const char *alg, const char *kid,
                  const char *claims)
{
    cjose_err err;
    cjose_header_t *h = cjose_header_new(&err);
    cjose_jws_t *jws;
    const char *out = NULL;
    char *copy;

    cjose_header_set(h, CJOSE_HDR_ALG, alg, &err);
    if (kid != NULL)
        cjose_header_set(h, CJOSE_HDR_KID, kid, &err);
    jws = cjose_jws_sign(k, h, (const uint8_t *)claims, strlen(claims), &err);
    if (jws == NULL)
        return NULL;
    cjose_jws_export(jws, &out, &err);
    copy = strdup(out);
    cjose_jws_release(jws);
    cjose_header_release(h);
    return copy;
}

/* A JWKS of the public halves (the secret for oct) of the given keys,
 * each with its kid. */
static void jwks_add(jwt_conf *c, cjose_jwk_t *k, const char *kid, int priv)
{
    cjose_err err;
    char *j = cjose_jwk_to_json(k, priv, &err), doc[8192], why[200];

    /* {"kty":...} -> {"kid":"..",...} */
    snprintf(doc, sizeof doc, "{\"keys\":[{\"kid\":\"%s\",%s]}", kid, j + 1);
    if (keys_jwks_add(c, doc, strlen(doc), why, sizeof why) < 0)
        printf("# jwks_add %s: %s\n", kid, why);
    free(j);
}

static int verify(const jwt_conf *c, const char *tok, char *uid, char *why)
{
    return ident_jwt_verify(c, tok, strlen(tok), NOW, uid, why, 200);
}

static void claims(char *buf, size_t len, const char *extra)
{
    snprintf(buf, len, "{\"sub\":\"alice\",\"exp\":%lld%s}",
             (long long)NOW + 600, extra);
}

static void expect_refused(const jwt_conf *c, const char *tok,
                           const char *words, const char *what)
{
    char uid[IDENT_UID_MAX + 1] = "", why[200] = "";
    int rc = tok ? verify(c, tok, uid, why) : 0;

    ok(rc == -1, "%s: refused", what);
    has_str(why, words, "%s: the reason says \"%s\"", what, words);
    ok(tok == NULL || !tok[0] || strstr(why, tok) == NULL,
       "%s: the reason does not echo the token", what);
}

static void test_tokens(void)
{
    jwt_conf c = {0};
    char cl[512], uid[IDENT_UID_MAX + 1], why[200], *t;

    c.leeway_s = 30;
    jwks_add(&c, hs, "h1", 1);
    jwks_add(&c, rs, "r1", 0);
    jwks_add(&c, es, "e1", 0);
    is_int(c.n, 3, "three keys from JWKS documents");
    ok(c.n == 3 && c.keys[1].alg == KEY_RS256 && c.keys[2].alg == KEY_ES256,
       "each key has its algorithm from its type");

    claims(cl, sizeof cl, "");
    for (int i = 0; i < 3; i++) {
        const char *alg[] = {"HS256", "RS256", "ES256"};
        cjose_jwk_t *k[] = {hs, rs, es};
        const char *kid[] = {"h1", "r1", NULL};
        t = sign(k[i], alg[i], kid[i], cl);
        uid[0] = '\0';
        ok(t && verify(&c, t, uid, why) == 0, "%s token verifies%s", alg[i],
           kid[i] ? " (by kid)" : " (no kid: by algorithm)");
        is_str(uid, "alice", "%s: the uid is the sub claim", alg[i]);
        free(t);
    }

    /* Forged: a valid token's payload swapped for another. */
    t = sign(rs, "RS256", "r1", cl);
    {
        char forged[4096], *p1 = strchr(t, '.'), *p2 = strrchr(t, '.');
        char *pl = b64("{\"sub\":\"mallory\",\"exp\":2000000000}");
        snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(p1 - t), t, pl, p2);
        expect_refused(&c, forged, "bad signature", "forged payload");
        free(pl);
    }
    free(t);

    t = sign(rs_other, "RS256", "r1", cl);
    expect_refused(&c, t, "bad signature", "signed by another RSA key");
    free(t);

    t = sign(rs_other, "RS256", "nope", cl);
    expect_refused(&c, t, "unknown kid", "an unknown kid");
    free(t);

    t = sign(hs, "HS256", "r1", cl);
    expect_refused(&c, t, "does not match", "kid of an RSA key on HS256");
    free(t);

    /* alg none, with and without a signature. */
    {
        char none[1024], *h = b64("{\"alg\":\"none\"}"), *p = b64(cl);
        snprintf(none, sizeof none, "%s.%s.", h, p);
        expect_refused(&c, none, "alg none", "alg none, empty signature");
        snprintf(none, sizeof none, "%s.%s.c2ln", h, p);
        expect_refused(&c, none, "alg none", "alg none with a signature");
        free(h);
        free(p);
    }

    snprintf(cl, sizeof cl, "{\"sub\":\"alice\",\"exp\":%lld}",
             (long long)NOW - 31);
    t = sign(hs, "HS256", "h1", cl);
    expect_refused(&c, t, "expired", "expired 31 s ago (leeway 30)");
    free(t);
    snprintf(cl, sizeof cl, "{\"sub\":\"alice\",\"exp\":%lld}",
             (long long)NOW - 29);
    t = sign(hs, "HS256", "h1", cl);
    ok(verify(&c, t, uid, why) == 0, "expired 29 s ago: inside the leeway");
    free(t);
    claims(cl, sizeof cl, ",\"nbf\":1900000031");
    t = sign(hs, "HS256", "h1", cl);
    expect_refused(&c, t, "not valid yet", "nbf 31 s ahead");
    free(t);
    snprintf(cl, sizeof cl, "{\"sub\":\"alice\"}");
    t = sign(hs, "HS256", "h1", cl);
    expect_refused(&c, t, "no exp", "no exp");
    free(t);
    snprintf(cl, sizeof cl, "{\"sub\":\"alice\",\"exp\":1e400}");
    t = sign(hs, "HS256", "h1", cl);
    expect_refused(&c, t, "exp", "exp of 1e400 (infinity)");
    free(t);
    claims(cl, sizeof cl, ",\"sub\":\"bob\"");
    t = sign(hs, "HS256", "h1", cl);
    expect_refused(&c, t, "duplicate", "sub given twice");
    free(t);
    snprintf(cl, sizeof cl, "{\"sub\":\"a b\",\"exp\":%lld}",
             (long long)NOW + 60);
    t = sign(hs, "HS256", "h1", cl);
    expect_refused(&c, t, "claim sub", "a sub with a space");
    free(t);

    c.issuer = strdup("https://id.example");
    c.audience = strdup("amsd");
    claims(cl, sizeof cl,
           ",\"iss\":\"https://id.example\",\"aud\":[\"x\","
           "\"amsd\"]");
    t = sign(es, "ES256", "e1", cl);
    ok(verify(&c, t, uid, why) == 0, "iss and aud (in a list) as configured");
    free(t);
    claims(cl, sizeof cl, ",\"iss\":\"https://evil\",\"aud\":\"amsd\"");
    t = sign(es, "ES256", "e1", cl);
    expect_refused(&c, t, "wrong issuer", "another issuer");
    free(t);
    claims(cl, sizeof cl, ",\"iss\":\"https://id.example\",\"aud\":\"other\"");
    t = sign(es, "ES256", "e1", cl);
    expect_refused(&c, t, "wrong audience", "another audience");
    free(t);
    claims(cl, sizeof cl, ",\"iss\":\"https://id.example\"");
    t = sign(es, "ES256", "e1", cl);
    expect_refused(&c, t, "wrong audience", "no audience");
    free(t);

    expect_refused(&c, "a.b", "malformed", "two segments");
    expect_refused(&c, "a.b.c.d", "malformed", "four segments");
    expect_refused(&c, "a b.c.d", "malformed", "a space in it");
    expect_refused(&c, "", "malformed", "empty");
    keys_jwt_free(&c);
}

/* An HS256 token whose "secret" is the RSA public key: refused when only
 * RS256 keys are configured (the algorithm confusion of CVE-2015-9235). */
static void test_alg_confusion(void)
{
    jwt_conf c = {0};
    cjose_err err;
    char *pub = cjose_jwk_to_json(rs, 0, &err), cl[256];
    cjose_jwk_t *fake =
        cjose_jwk_create_oct_spec((const uint8_t *)pub, strlen(pub), &err);
    char *t;

    c.leeway_s = 30;
    jwks_add(&c, rs, "r1", 0);
    claims(cl, sizeof cl, "");
    t = sign(fake, "HS256", NULL, cl);
    expect_refused(&c, t, "alg HS256 is not accepted",
                   "HS256 signed with the RSA public key");
    free(t);
    t = sign(fake, "HS256", "r1", cl);
    expect_refused(&c, t, "alg HS256 is not accepted",
                   "... naming the RSA key's kid");
    free(t);
    cjose_jwk_release(fake);
    free(pub);
    keys_jwt_free(&c);
}

/* A fresh RSA key pair's public (or, private_key, private) PEM. */
static void write_pem(const char *name, int private_key)
{
    char path[1200];
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    if (private_key)
        PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_PUBKEY(f, pk);
    fclose(f);
    EVP_PKEY_free(pk);
}

static void test_conf_keys(void)
{
    config_t cf;
    errs e = {0};
    jwt_conf c;
    gw_conf g;
    char path[1200], text[2048];
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    FILE *f;

    write_pem("rs.pub.pem", 0);
    write_pem("rs.key.pem", 1);
    snprintf(path, sizeof path, "%s/ec.pub.pem", tmpdir);
    f = fopen(path, "w");
    PEM_write_PUBKEY(f, ec);
    fclose(f);
    snprintf(path, sizeof path, "%s/small.pub.pem", tmpdir);
    f = fopen(path, "w");
    PEM_write_PUBKEY(f, small);
    fclose(f);
    fx_put(tmpdir, "hs.secret",
           "0123456789abcdef0123456789abcdef0123456789abcdef\n");
    fx_put(tmpdir, "short.secret", "tooshort\n");

    snprintf(
        text, sizeof text,
        "jwt = { keys = (\n"
        "  { kid = \"r\"; alg = \"RS256\"; pem_file = \"rs.pub.pem\"; },\n"
        "  { kid = \"e\"; alg = \"ES256\"; pem_file = \"ec.pub.pem\"; },\n"
        "  { kid = \"h\"; alg = \"HS256\"; secret_file = \"hs.secret\"; }\n"
        "); issuer = \"i\"; audience = \"a\"; leeway_s = 10; };\n");
    config_init(&cf);
    config_read_string(&cf, text);
    snprintf(path, sizeof path, "%s/amsd.conf", tmpdir);
    is_int(keys_read_jwt(config_lookup(&cf, "jwt"), path, &c, &e), 0,
           "jwt keys from PEM and secret files load");
    fx_dump_errs(&e);
    is_int(c.n, 3, "three keys");
    ok(c.n == 3 && c.keys[0].alg == KEY_RS256 && c.keys[1].alg == KEY_ES256 &&
           c.keys[2].alg == KEY_HS256,
       "with the algorithms given");
    is_int(c.leeway_s, 10, "leeway_s");
    {
        /* What the workers get, and back: the same keys. */
        cJSON *j = keys_jwt_json(&c);
        jwt_conf back = {0};
        is_int(keys_jwt_from_json(&back, j), 0, "keys travel as JSON");
        ok(back.n == 3 && strcmp(back.keys[2].kid, "h") == 0 &&
               back.keys[2].alg == KEY_HS256 && back.leeway_s == 10 &&
               back.issuer && strcmp(back.issuer, "i") == 0,
           "... and come back the same");
        keys_jwt_free(&back);
        cJSON_Delete(j);
    }
    keys_jwt_free(&c);
    config_destroy(&cf);
    errs_free(&e);

    {
        static const struct {
            const char *text, *words;
        } bad[] = {
            {"jwt = { keys = ( { alg = \"RS256\"; pem_file = "
             "\"rs.key.pem\"; } ); };",
             "not a PEM public key"},
            {"jwt = { keys = ( { alg = \"RS256\"; pem_file = "
             "\"small.pub.pem\"; } ); };",
             "at least 2048"},
            {"jwt = { keys = ( { alg = \"ES256\"; pem_file = "
             "\"rs.pub.pem\"; } ); };",
             "ES256 needs an EC public key"},
            {"jwt = { keys = ( { alg = \"HS256\"; secret_file = "
             "\"short.secret\"; } ); };",
             "a secret is 32"},
            {"jwt = { keys = ( { alg = \"HS256\"; secret_file = "
             "\"missing\"; } ); };",
             "No such file"},
            {"jwt = { keys = ( { alg = \"none\"; secret_file = "
             "\"hs.secret\"; } ); };",
             "is not one of HS256, RS256, ES256"},
            {"jwt = { keys = ( { alg = \"RS256\"; secret_file = "
             "\"hs.secret\"; } ); };",
             "RS256 takes pem_file"},
            {"jwt = { keys = ( { kid = \"x\"; alg = \"HS256\"; secret_file = "
             "\"hs.secret\"; }, { kid = \"x\"; alg = \"RS256\"; pem_file = "
             "\"rs.pub.pem\"; } ); };",
             "kid \"x\" given twice"},
            {"jwt = { issuer = \"i\"; };", "no keys"},
            {"jwt = { jwks_file = \"hs.secret\"; };", "not a JWKS"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            errs e2 = {0};
            config_init(&cf);
            config_read_string(&cf, bad[i].text);
            ok(keys_read_jwt(config_lookup(&cf, "jwt"), path, &c, &e2) < 0,
               "refused: %s", bad[i].text);
            has_str(e2.n ? e2.msgs[0] : NULL, bad[i].words,
                    "... saying \"%s\"", bad[i].words);
            ok(e2.n && strstr(e2.msgs[0], "amsd.conf:1:") != NULL,
               "... at amsd.conf:1");
            keys_jwt_free(&c);
            config_destroy(&cf);
            errs_free(&e2);
        }
    }

    /* A JWKS with a private RSA key is refused. */
    {
        cjose_err err;
        char *j = cjose_jwk_to_json(rs, 1, &err), doc[8192], why[200];
        jwt_conf k = {0};
        snprintf(doc, sizeof doc, "{\"keys\":[%s]}", j);
        ok(keys_jwks_add(&k, doc, strlen(doc), why, sizeof why) < 0,
           "a JWKS holding a private key is refused");
        has_str(why, "private key", "... saying so");
        free(j);
    }

    /* Base64url that cjose would abort on (an "=" inside, a length one
     * over a multiple of four) is refused before it reaches cjose; the
     * padded form of a good secret is still read (fuzz_jwt). */
    {
        static const char *const bad[] = {
            "eXl5e=eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eQ",
            "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5e===",
        };
        char doc[512], why[200];
        jwt_conf k = {0};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            snprintf(doc, sizeof doc,
                     "{\"keys\":[{\"kty\":\"oct\",\"k\":\"%s\"}]}", bad[i]);
            ok(keys_jwks_add(&k, doc, strlen(doc), why, sizeof why) < 0,
               "a JWK with bad base64url is refused (%zu)", i);
            has_str(why, "not base64url", "... saying so");
        }
        snprintf(doc, sizeof doc,
                 "{\"keys\":[{\"kty\":\"oct\",\"k\":\"%s\"}]}",
                 "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eQ==");
        ok(keys_jwks_add(&k, doc, strlen(doc), why, sizeof why) == 0,
           "a padded base64url secret is read");
        /* cjose would read the second "k" where the checks read the
         * first. */
        snprintf(doc, sizeof doc,
                 "{\"keys\":[{\"kty\":\"oct\",\"k\":\"%s\",\"k\":\"%s\"}]}",
                 "eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eQ",
                 bad[0]);
        ok(keys_jwks_add(&k, doc, strlen(doc), why, sizeof why) < 0,
           "a JWK with a member named twice is refused");
        has_str(why, "twice", "... saying so");
        keys_jwt_free(&k);
    }

    config_init(&cf);
    config_read_string(&cf, "g = { secret_file = \"hs.secret\"; window_s = "
                            "60; };");
    is_int(keys_read_gateway(config_lookup(&cf, "g"), path, &g, &e), 0,
           "gateway_auth loads");
    is_int((int)g.secret_len[0], 48, "the secret: the first line's bytes");
    keys_gw_free(&g);
    config_destroy(&cf);
    errs_free(&e);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(small);
}

static void gw_sign(const char *secret, const char *ts, const char *uid,
                    const char *target, char hex[65])
{
    char canon[1024];
    unsigned char mac[32];
    unsigned int n;
    int len = ident_gw_canonical(ts, uid, "POST", target, canon, sizeof canon);

    HMAC(EVP_sha256(), secret, (int)strlen(secret),
         (const unsigned char *)canon, (size_t)len, mac, &n);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

static void test_gateway(void)
{
    const char *s1 = "gateway-secret-0123456789abcdef-0001";
    const char *s0 = "gateway-secret-0123456789abcdef-0000";
    gw_conf g;
    char sig[65], ts[32], why[200];
    const char *path = "/v1/activities/1/grab";

    memset(&g, 0, sizeof g);
    memcpy(g.secret[0], s1, strlen(s1));
    g.secret_len[0] = strlen(s1);
    memcpy(g.secret[1], s0, strlen(s0));
    g.secret_len[1] = strlen(s0);
    g.window_s = 300;
    snprintf(ts, sizeof ts, "%lld", (long long)NOW);
    {
        char canon[256];
        ident_gw_canonical("1", "u", "POST", "/p?q=1", canon, sizeof canon);
        is_str(canon, "AMS-GW1\n1\nu\nPOST\n/p?q=1", "the canonical string");
    }
    gw_sign(s1, ts, "alice", path, sig);
    is_int(ident_gw_verify(&g, "alice", ts, sig, "POST", path, NOW, why,
                           sizeof why),
           0, "a gateway signature verifies");
    gw_sign(s0, ts, "alice", path, sig);
    is_int(ident_gw_verify(&g, "alice", ts, sig, "POST", path, NOW, why,
                           sizeof why),
           0, "... by the previous secret too (rotation)");
    ok(ident_gw_verify(&g, "bob", ts, sig, "POST", path, NOW, why,
                       sizeof why) < 0,
       "another uid under the same signature: refused");
    ok(ident_gw_verify(&g, "alice", ts, sig, "POST", "/v1/activities/2/grab",
                       NOW, why, sizeof why) < 0,
       "another path: refused");
    has_str(why, "bad X-AMS-Signature", "... bad signature");
    gw_sign(s1, "1899999000", "alice", path, sig);
    ok(ident_gw_verify(&g, "alice", "1899999000", sig, "POST", path, NOW, why,
                       sizeof why) < 0,
       "a timestamp 1000 s old: refused");
    has_str(why, "more than 300s away", "... outside the window");
    ok(ident_gw_verify(&g, "alice", ts, "zz", "POST", path, NOW, why,
                       sizeof why) < 0,
       "a signature that is not hex: refused");
    ok(ident_gw_verify(&g, "alice", NULL, sig, "POST", path, NOW, why,
                       sizeof why) < 0,
       "no timestamp: refused");
}

static void test_decide(void)
{
    ident_req r;
    ident_res o;
    jwt_conf c = {0};
    char cl[256], auth[4200], *t;

    c.leeway_s = 30;
    jwks_add(&c, hs, "h1", 1);
    claims(cl, sizeof cl, "");
    t = sign(hs, "HS256", "h1", cl);
    snprintf(auth, sizeof auth, "Bearer %s", t);
    free(t);

    memset(&r, 0, sizeof r);
    r.mode = LIS_AUTH_JWT;
    r.now_s = NOW;
    r.login = 1;
    r.authorization = auth;
    ok(ident_decide(&r, &c, NULL, &o) == 0 && strcmp(o.uid, "alice") == 0,
       "jwt: the token's uid");
    r.body_uid = "alice";
    ok(ident_decide(&r, &c, NULL, &o) == 0, "jwt: the same uid in the body");
    r.body_uid = "bob";
    ok(ident_decide(&r, &c, NULL, &o) < 0 && o.status == 403 &&
           strcmp(o.reason, "uid_mismatch") == 0,
       "jwt: another uid in the body: 403 uid_mismatch");
    ok(strstr(o.msg, "body") && strstr(o.msg, "bearer token") &&
           !strstr(o.msg, "bob") && !strstr(o.msg, "alice"),
       "... naming both sources, not the uids");
    r.authorization = NULL;
    r.body_uid = NULL;
    ok(ident_decide(&r, &c, NULL, &o) < 0 && o.status == 401 &&
           strcmp(o.www_auth, "Bearer realm=\"amsd\"") == 0,
       "jwt: no token on a login method: 401, Bearer challenge without an "
       "error code");
    r.login = 0;
    ok(ident_decide(&r, &c, NULL, &o) == 0 && o.uid[0] == '\0',
       "jwt: no token, no login: anonymous");
    r.body_uid = "bob";
    ok(ident_decide(&r, &c, NULL, &o) < 0 && o.status == 401,
       "jwt: a body uid without a token: 401");
    r.authorization = "Bearer x.y.z";
    ok(ident_decide(&r, &c, NULL, &o) < 0 && o.status == 401 &&
           strstr(o.www_auth, "error=\"invalid_token\"") != NULL,
       "jwt: a bad token: 401 invalid_token");
    r.authorization = "AMS-HMAC-SHA256 app=x, sig=y";
    r.body_uid = NULL;
    ok(ident_decide(&r, &c, NULL, &o) == 0,
       "jwt: an AMS-HMAC-SHA256 caller is not refused here");
    r.signed_app = "repay-svc";
    r.body_uid = "carol";
    r.login = 1;
    ok(ident_decide(&r, &c, NULL, &o) == 0 && strcmp(o.uid, "carol") == 0,
       "a verified signed caller speaks for the body's uid");
    r.signed_app = NULL;
    r.mode = LIS_AUTH_BODY;
    ok(ident_decide(&r, &c, NULL, &o) == 0 && strcmp(o.uid, "carol") == 0,
       "body: the body's uid");
    r.mode = LIS_AUTH_NONE;
    ok(ident_decide(&r, &c, NULL, &o) == 0 && o.uid[0] == '\0',
       "none: no uid, whatever the body says");
    r.mode = LIS_AUTH_GATEWAY;
    r.gw_uid = "carol";
    r.gw_ts = "1";
    r.gw_sig = "00";
    r.peer_trusted = 0;
    ok(ident_decide(&r, &c, NULL, &o) < 0 && o.status == 401 &&
           strstr(o.msg, "trusted proxy") != NULL,
       "gateway: headers from an untrusted peer: 401");
    keys_jwt_free(&c);
}

static const char *walk(const char *hdr, int fwd, const char *peer)
{
    static char out[CIDR_TEXT_MAX];
    cidr t[2];
    cidr_ip p, o;

    cidr_parse("10.0.0.0/8", &t[0]);
    cidr_parse("fd00::/8", &t[1]);
    cidr_ip_parse(peer, &p);
    realip_walk(hdr, hdr ? strlen(hdr) : 0, fwd, t, 2, &p, &o);
    return cidr_ip_format(&o, out, sizeof out);
}

static void test_realip(void)
{
    is_str(walk("203.0.113.7", 0, "192.0.2.1"), "192.0.2.1",
           "an untrusted peer: its own address, whatever it says");
    is_str(walk("203.0.113.7", 0, "10.1.1.1"), "203.0.113.7",
           "a trusted peer: the address it names");
    is_str(walk("1.1.1.1, 203.0.113.7, 10.0.0.2", 0, "10.1.1.1"),
           "203.0.113.7",
           "walked from the right: the first untrusted one, not the "
           "leftmost (which the client wrote)");
    is_str(walk("10.0.0.3,10.0.0.2", 0, "10.1.1.1"), "10.0.0.3",
           "all trusted: the leftmost");
    is_str(walk("1.1.1.1, bogus, 10.0.0.2", 0, "10.1.1.1"), "10.0.0.2",
           "a malformed entry ends the walk at the last address walked");
    is_str(walk("1.1.1.1,", 0, "10.1.1.1"), "10.1.1.1",
           "an empty last entry: the peer");
    is_str(walk("203.0.113.7:4711", 0, "10.1.1.1"), "203.0.113.7",
           "v4 with a port");
    is_str(walk("2001:db8::1", 0, "fd00::5"), "2001:db8::1", "v6");
    is_str(walk("for=192.0.2.60;proto=http;by=10.0.0.1, for=\"[2001:db8::17]:"
                "4711\"",
                1, "10.9.9.9"),
           "2001:db8::17", "Forwarded: the rightmost for=, quoted v6");
    is_str(walk("for=192.0.2.60, for=10.0.0.4", 1, "10.9.9.9"), "192.0.2.60",
           "Forwarded: walked like X-Forwarded-For");
    is_str(walk("for=unknown, for=10.0.0.4", 1, "10.9.9.9"), "10.0.0.4",
           "Forwarded: an obfuscated node ends the walk");
    is_str(walk("proto=https", 1, "10.9.9.9"), "10.9.9.9",
           "Forwarded without for=: the peer");
}

int main(void)
{
    cjose_err err;
    static const uint8_t e65537[] = {1, 0, 1};

    fx_scratch(tmpdir, sizeof tmpdir, "ident");
    hs = cjose_jwk_create_oct_random(256, &err); /* bits */
    rs = cjose_jwk_create_RSA_random(2048, e65537, 3, &err);
    rs_other = cjose_jwk_create_RSA_random(2048, e65537, 3, &err);
    es = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    if (!hs || !rs || !rs_other || !es)
        return fprintf(stderr, "cannot make keys\n"), 1;
    test_tokens();
    test_alg_confusion();
    test_conf_keys();
    test_gateway();
    test_decide();
    test_realip();
    cjose_jwk_release(hs);
    cjose_jwk_release(rs);
    cjose_jwk_release(rs_other);
    cjose_jwk_release(es);
    return tap_done();
}
