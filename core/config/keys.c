/*
 * keys.c -- JWT verification keys and gateway secrets (keys.h).
 *
 * Every key ends up as a cjose JWK with exactly one algorithm: a JWKS
 * entry is imported as it is, a PEM public key is converted to a JWK, an
 * HS256 secret becomes an "oct" JWK.  Keeping the JWK's JSON lets the
 * master hand the very keys it checked to the workers.
 */
#include "keys.h"

#include "cfg.h"
#include "fileio.h"

#include <cjose/cjose.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RSA_MIN_BITS 2048

key_alg keys_alg_parse(const char *s)
{
    if (s == NULL)
        return KEY_NONE;
    if (strcmp(s, "HS256") == 0)
        return KEY_HS256;
    if (strcmp(s, "RS256") == 0)
        return KEY_RS256;
    if (strcmp(s, "ES256") == 0)
        return KEY_ES256;
    return KEY_NONE;
}

const char *keys_alg_name(key_alg a)
{
    return a == KEY_HS256   ? "HS256"
           : a == KEY_RS256 ? "RS256"
           : a == KEY_ES256 ? "ES256"
                            : "none";
}

static void key_free(jwt_key *k)
{
    if (k->jwk != NULL)
        cjose_jwk_release(k->jwk);
    if (k->json != NULL) {
        explicit_bzero(k->json, strlen(k->json));
        free(k->json);
    }
    memset(k, 0, sizeof *k);
}

void keys_jwt_free(jwt_conf *c)
{
    for (size_t i = 0; i < c->n; i++)
        key_free(&c->keys[i]);
    free(c->keys);
    free(c->issuer);
    free(c->audience);
    free(c->uid_claim);
    memset(c, 0, sizeof *c);
}

void keys_gw_free(gw_conf *c)
{
    explicit_bzero(c, sizeof *c);
}

/* The checks every key passes, whatever it came from: its algorithm fits
 * its type and its size.  0, or -1 with why. */
static int key_fits(cjose_jwk_t *jwk, key_alg alg, char *why, size_t wl)
{
    cjose_err err;
    cjose_jwk_kty_t kty = cjose_jwk_get_kty(jwk, &err);
    size_t bits = cjose_jwk_get_keysize(jwk, &err);

    switch (alg) {
    case KEY_HS256:
        if (kty != CJOSE_JWK_KTY_OCT) {
            snprintf(why, wl, "HS256 needs a secret (kty oct)");
            return -1;
        }
        if (bits / 8 < KEYS_SECRET_MIN) {
            snprintf(why, wl, "an HS256 secret of %zu bytes; at least %d",
                     bits / 8, KEYS_SECRET_MIN);
            return -1;
        }
        return 0;
    case KEY_RS256:
        if (kty != CJOSE_JWK_KTY_RSA) {
            snprintf(why, wl, "RS256 needs an RSA key");
            return -1;
        }
        if (bits < RSA_MIN_BITS) {
            snprintf(why, wl, "an RSA key of %zu bits; at least %d", bits,
                     RSA_MIN_BITS);
            return -1;
        }
        return 0;
    case KEY_ES256:
        if (kty != CJOSE_JWK_KTY_EC ||
            cjose_jwk_EC_get_curve(jwk, &err) != CJOSE_JWK_EC_P_256) {
            snprintf(why, wl, "ES256 needs an EC key on P-256");
            return -1;
        }
        return 0;
    default:
        snprintf(why, wl, "no algorithm");
        return -1;
    }
}

/* Append a key (jwk consumed) to c.  0, or -1 with why. */
static int add_key(jwt_conf *c, cjose_jwk_t *jwk, key_alg alg, const char *kid,
                   char *why, size_t wl)
{
    cjose_err err;
    jwt_key *v, k;

    memset(&k, 0, sizeof k);
    if (kid != NULL && strlen(kid) > KEYS_KID_MAX) {
        snprintf(why, wl, "kid: longer than %d bytes", KEYS_KID_MAX);
        goto fail;
    }
    for (size_t i = 0; kid != NULL && kid[0] != '\0' && i < c->n; i++)
        if (strcmp(c->keys[i].kid, kid) == 0) {
            snprintf(why, wl, "kid \"%s\" given twice", kid);
            goto fail;
        }
    if (c->n >= KEYS_MAX) {
        snprintf(why, wl, "more than %d keys", KEYS_MAX);
        goto fail;
    }
    if (key_fits(jwk, alg, why, wl) < 0)
        goto fail;
    k.jwk = jwk;
    k.alg = alg;
    snprintf(k.kid, sizeof k.kid, "%s", kid ? kid : "");
    k.json = cjose_jwk_to_json(jwk, alg == KEY_HS256, &err);
    v = realloc(c->keys, (c->n + 1) * sizeof *v);
    if (k.json == NULL || v == NULL) {
        snprintf(why, wl, "out of memory");
        if (v != NULL)
            c->keys = v;
        key_free(&k);
        return -1;
    }
    c->keys = v;
    c->keys[c->n++] = k;
    return 0;
fail:
    cjose_jwk_release(jwk);
    return -1;
}

/* The members of k as cjose will read them.  cjose parses the JWK's
 * text again (jansson, which keeps the last of two members of one name;
 * cJSON here reads the first), so a member named twice would have every
 * check below pass on one value and cjose import another: refused.  And
 * the members cjose base64url-decodes (RFC 7518 6) must be base64url,
 * padding only at the end, not one character over a multiple of four:
 * cjose 0.6 asserts (aborts the process) on an "=" inside the text or on
 * such a length with padding, so a bad jwks_file is refused here. */
static int jwk_members_ok(const cJSON *k, char *why, size_t wl)
{
    static const char *const b64[] = {"k", "n", "e",  "x",  "y", "d",
                                      "p", "q", "dp", "dq", "qi"};
    const cJSON *m, *o;

    cJSON_ArrayForEach(m, k)
    {
        int coded = 0;

        for (o = m->next; o != NULL; o = o->next)
            if (strcmp(o->string, m->string) == 0) {
                snprintf(why, wl, "a key with the member \"%.16s\" twice",
                         m->string);
                return -1;
            }
        for (size_t i = 0; i < sizeof b64 / sizeof b64[0]; i++)
            coded |= strcmp(m->string, b64[i]) == 0;
        if (!coded)
            continue;
        if (!cJSON_IsString(m)) {
            snprintf(why, wl, "%s: expected a base64url string", m->string);
            return -1;
        }
        {
            const char *s = m->valuestring;
            size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "abcdefghijklmnopqrstuvwxyz0123456789-_"),
                   pad = 0;
            while (s[n + pad] == '=' && pad < 2)
                pad++;
            if (s[n + pad] != '\0' || n % 4 == 1 ||
                (pad > 0 && (n + pad) % 4 != 0)) {
                snprintf(why, wl, "%s: not base64url", m->string);
                return -1;
            }
        }
    }
    return 0;
}

/* One JWKS entry.  1 added, 0 skipped (an encryption key), -1 with why. */
static int jwks_entry(jwt_conf *c, const cJSON *k, char *why, size_t wl)
{
    const cJSON *kty = cJSON_GetObjectItemCaseSensitive(k, "kty");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(k, "alg");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(k, "kid");
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(k, "use");
    key_alg a;
    char *text;
    cjose_jwk_t *jwk;
    cjose_err err;

    if (!cJSON_IsObject(k) || !cJSON_IsString(kty)) {
        snprintf(why, wl, "a key without kty");
        return -1;
    }
    if (jwk_members_ok(k, why, wl) < 0)
        return -1;
    if (cJSON_IsString(use) && strcmp(use->valuestring, "sig") != 0)
        return 0;
    if (kid != NULL && !cJSON_IsString(kid)) {
        snprintf(why, wl, "kid: expected a string");
        return -1;
    }
    /* The algorithm a key verifies is the key's, never the token's. */
    if (strcmp(kty->valuestring, "oct") == 0)
        a = KEY_HS256;
    else if (strcmp(kty->valuestring, "RSA") == 0)
        a = KEY_RS256;
    else if (strcmp(kty->valuestring, "EC") == 0)
        a = KEY_ES256;
    else {
        snprintf(why, wl, "kty \"%.16s\" is not one of oct, RSA, EC",
                 kty->valuestring);
        return -1;
    }
    if (alg != NULL &&
        (!cJSON_IsString(alg) || keys_alg_parse(alg->valuestring) != a)) {
        snprintf(why, wl,
                 "alg %.16s%s%.16s: only HS256 (oct), RS256 (RSA), ES256 "
                 "(EC P-256) are accepted",
                 cJSON_IsString(alg) ? alg->valuestring : "?", " with kty ",
                 kty->valuestring);
        return -1;
    }
    if (a != KEY_HS256 && cJSON_GetObjectItemCaseSensitive(k, "d") != NULL) {
        snprintf(why, wl,
                 "key%s%.64s%s holds a private key; give the public key "
                 "only",
                 kid ? " \"" : "", kid ? kid->valuestring : "",
                 kid ? "\"" : "");
        return -1;
    }
    text = cJSON_PrintUnformatted(k);
    jwk = text ? cjose_jwk_import(text, strlen(text), &err) : NULL;
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    if (jwk == NULL) {
        snprintf(why, wl, "a %s key that cjose cannot import (%s)",
                 kty->valuestring, text ? err.message : "out of memory");
        return -1;
    }
    return add_key(c, jwk, a, kid ? kid->valuestring : NULL, why, wl) < 0 ? -1
                                                                          : 1;
}

int keys_jwks_add(jwt_conf *c, const char *text, size_t len, char *why,
                  size_t whylen)
{
    cJSON *doc = cJSON_ParseWithLength(text, len);
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys"), *k;
    size_t before = c->n, i = 0;
    int rc = 0;

    if (!cJSON_IsArray(keys)) {
        snprintf(why, whylen, "not a JWKS ({\"keys\": [...]})");
        cJSON_Delete(doc);
        return -1;
    }
    cJSON_ArrayForEach(k, keys)
    {
        char sub[200];
        if (jwks_entry(c, k, sub, sizeof sub) < 0) {
            snprintf(why, whylen, "keys[%zu]: %s", i, sub);
            rc = -1;
            break;
        }
        i++;
    }
    if (rc == 0 && c->n == before) {
        snprintf(why, whylen, "no signing key in it");
        rc = -1;
    }
    while (rc < 0 && c->n > before)
        key_free(&c->keys[--c->n]);
    cJSON_Delete(doc);
    return rc;
}

/* An RSA or EC public key in PEM (SubjectPublicKeyInfo) as a JWK, or
 * NULL with why. */
static cjose_jwk_t *pem_jwk(const char *pem, size_t len, key_alg alg,
                            char *why, size_t wl)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIGNUM *a = NULL, *b = NULL;
    cjose_jwk_t *jwk = NULL;
    cjose_err err;
    uint8_t x[512], y[512];

    if (pk == NULL) {
        snprintf(why, wl,
                 "not a PEM public key (-----BEGIN PUBLIC KEY-----; a "
                 "private key is refused)");
        goto out;
    }
    if (alg == KEY_RS256 && EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA &&
        EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &a) &&
        EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &b) &&
        BN_num_bytes(a) <= (int)sizeof x && BN_num_bytes(b) <= (int)sizeof y) {
        cjose_jwk_rsa_keyspec s;
        memset(&s, 0, sizeof s);
        s.nlen = (size_t)BN_bn2bin(a, x);
        s.elen = (size_t)BN_bn2bin(b, y);
        s.n = x;
        s.e = y;
        jwk = cjose_jwk_create_RSA_spec(&s, &err);
    } else if (alg == KEY_ES256 && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
        char group[64];
        size_t gl = 0;
        cjose_jwk_ec_keyspec s;
        memset(&s, 0, sizeof s);
        if (EVP_PKEY_get_group_name(pk, group, sizeof group, &gl) &&
            strcmp(group, "prime256v1") == 0 &&
            EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &a) &&
            EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &b) &&
            BN_bn2binpad(a, x, 32) == 32 && BN_bn2binpad(b, y, 32) == 32) {
            s.crv = CJOSE_JWK_EC_P_256;
            s.x = x;
            s.xlen = 32;
            s.y = y;
            s.ylen = 32;
            jwk = cjose_jwk_create_EC_spec(&s, &err);
        }
    }
    if (jwk == NULL)
        snprintf(why, wl, "%s needs %s", keys_alg_name(alg),
                 alg == KEY_RS256 ? "an RSA public key"
                                  : "an EC public key on P-256");
out:
    BN_free(a);
    BN_free(b);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return jwk;
}

/* The first line of a secret file, without its line end, into buf.
 * Returns its length, or -1 with why. */
static long read_secret(const char *path, unsigned char *buf, size_t max,
                        char *why, size_t wl)
{
    char *data = NULL;
    size_t len = 0, n;

    if (fileio_read(path, 64 * 1024, &data, &len) < 0) {
        snprintf(why, wl, "%s: %s", path, strerror(errno));
        return -1;
    }
    n = strcspn(data, "\r\n");
    if (n < KEYS_SECRET_MIN || n > max) {
        snprintf(why, wl,
                 "%s: the first line holds %zu bytes; a secret is %d..%zu",
                 path, n, KEYS_SECRET_MIN, max);
        explicit_bzero(data, len);
        free(data);
        return -1;
    }
    memcpy(buf, data, n);
    explicit_bzero(data, len);
    free(data);
    return (long)n;
}

/* One { kid; alg; secret_file | pem_file; } of jwt.keys. */
static void read_one_key(const config_setting_t *g, const char *file,
                         jwt_conf *c, errs *e)
{
    static const char *const allowed[] = {"kid", "alg", "secret_file",
                                          "pem_file", NULL};
    const char *kid = NULL, *alg = NULL, *sec = NULL, *pem = NULL;
    int line = cfg_line(g);
    char why[600], sub[200], *path = NULL;
    cjose_jwk_t *jwk = NULL;
    key_alg a;
    cjose_err err;

    if (!config_setting_is_group(g)) {
        errs_add(e, file, line, "jwt.keys: expected groups { kid; alg; ... }");
        return;
    }
    cfg_check_members(g, allowed, file, "jwt.keys", e);
    cfg_str(g, "kid", 0, &kid, file, e);
    if (cfg_str(g, "alg", 1, &alg, file, e) <= 0)
        return;
    cfg_str(g, "secret_file", 0, &sec, file, e);
    cfg_str(g, "pem_file", 0, &pem, file, e);
    a = keys_alg_parse(alg);
    if (a == KEY_NONE) {
        errs_add(e, file, line,
                 "jwt.keys: alg \"%s\" is not one of HS256, RS256, ES256",
                 alg);
        return;
    }
    if ((a == KEY_HS256) != (sec != NULL) ||
        (a != KEY_HS256) != (pem != NULL)) {
        errs_add(e, file, line, "jwt.keys: %s takes %s (and not the other)",
                 alg, a == KEY_HS256 ? "secret_file" : "pem_file");
        return;
    }
    path = cfg_resolve(file, a == KEY_HS256 ? sec : pem);
    if (path == NULL) {
        errs_add(e, file, line, "jwt.keys: out of memory");
        return;
    }
    if (a == KEY_HS256) {
        unsigned char buf[KEYS_SECRET_MAX];
        long n = read_secret(path, buf, sizeof buf, why, sizeof why);
        if (n > 0)
            jwk = cjose_jwk_create_oct_spec(buf, (size_t)n, &err);
        explicit_bzero(buf, sizeof buf);
        if (n > 0 && jwk == NULL)
            snprintf(why, sizeof why, "%s: %s", path, err.message);
    } else {
        char *data = NULL;
        size_t len = 0;
        if (fileio_read(path, KEYS_FILE_MAX, &data, &len) < 0)
            snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
        else if ((jwk = pem_jwk(data, len, a, sub, sizeof sub)) == NULL)
            snprintf(why, sizeof why, "%s: %s", path, sub);
        free(data);
    }
    if (jwk == NULL || add_key(c, jwk, a, kid, why, sizeof why) < 0)
        errs_add(e, file, line, "jwt.keys: %s", why);
    free(path);
}

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = v ? strdup(v) : NULL;
}

int keys_read_jwt(const config_setting_t *g, const char *file, jwt_conf *out,
                  errs *e)
{
    static const char *const allowed[] = {"jwks_file", "keys",      "issuer",
                                          "audience",  "uid_claim", "leeway_s",
                                          NULL};
    const config_setting_t *list;
    const char *v;
    size_t before = e->nerrors;

    memset(out, 0, sizeof *out);
    out->leeway_s = KEYS_LEEWAY_DEFAULT;
    if (g == NULL)
        return 0;
    out->line = cfg_line(g);
    if (!config_setting_is_group(g)) {
        errs_add(e, file, out->line, "jwt: expected a group { ... }");
        return -1;
    }
    cfg_check_members(g, allowed, file, "jwt", e);
    if (cfg_str(g, "jwks_file", 0, &v, file, e) > 0) {
        int line = cfg_line(config_setting_get_member(g, "jwks_file"));
        char *path = cfg_resolve(file, v), *data = NULL, why[300];
        size_t len = 0;
        if (path == NULL || fileio_read(path, KEYS_FILE_MAX, &data, &len) < 0)
            errs_add(e, file, line, "jwt.jwks_file: %s: %s", path ? path : v,
                     strerror(errno));
        else if (keys_jwks_add(out, data, len, why, sizeof why) < 0)
            errs_add(e, file, line, "jwt.jwks_file: %s: %s", path, why);
        if (data != NULL) {
            explicit_bzero(data, len);
            free(data);
        }
        free(path);
    }
    list = config_setting_get_member(g, "keys");
    if (list != NULL && !config_setting_is_list(list))
        errs_add(e, file, cfg_line(list),
                 "jwt.keys: expected a list ( { kid; alg; ... }, ... )");
    else
        for (int i = 0; list != NULL && i < config_setting_length(list); i++)
            read_one_key(config_setting_get_elem(list, (unsigned)i), file, out,
                         e);
    if (cfg_str(g, "issuer", 0, &v, file, e) > 0)
        set_str(&out->issuer, v);
    if (cfg_str(g, "audience", 0, &v, file, e) > 0)
        set_str(&out->audience, v);
    if (cfg_str(g, "uid_claim", 0, &v, file, e) > 0) {
        if (v[0] == '\0' || strlen(v) > 64)
            errs_add(e, file,
                     cfg_line(config_setting_get_member(g, "uid_claim")),
                     "jwt.uid_claim: expected a claim name of 1..64 bytes");
        else
            set_str(&out->uid_claim, v);
    }
    cfg_int(g, "leeway_s", 0, 0, 600, &out->leeway_s, file, e);
    if (e->nerrors == before && out->n == 0)
        errs_add(e, file, out->line, "jwt: no keys (give jwks_file or keys)");
    return e->nerrors > before ? -1 : 0;
}

int keys_read_gateway(const config_setting_t *g, const char *file,
                      gw_conf *out, errs *e)
{
    static const char *const allowed[] = {
        "secret_file", "previous_secret_file", "window_s", NULL};
    static const char *const names[] = {"secret_file", "previous_secret_file"};
    size_t before = e->nerrors;

    memset(out, 0, sizeof *out);
    out->window_s = KEYS_GW_WINDOW_DEFAULT;
    if (g == NULL)
        return 0;
    out->line = cfg_line(g);
    if (!config_setting_is_group(g)) {
        errs_add(e, file, out->line, "gateway_auth: expected a group { ... }");
        return -1;
    }
    cfg_check_members(g, allowed, file, "gateway_auth", e);
    for (int i = 0; i < 2; i++) {
        const char *v;
        char *path, why[300];
        long n;
        if (cfg_str(g, names[i], i == 0, &v, file, e) <= 0)
            continue;
        path = cfg_resolve(file, v);
        n = path ? read_secret(path, out->secret[i], KEYS_SECRET_MAX, why,
                               sizeof why)
                 : -1;
        if (n < 0)
            errs_add(e, file, cfg_line(config_setting_get_member(g, names[i])),
                     "gateway_auth.%s: %s", names[i],
                     path ? why : "out of memory");
        else
            out->secret_len[i] = (size_t)n;
        free(path);
    }
    cfg_int(g, "window_s", 0, 1, 3600, &out->window_s, file, e);
    return e->nerrors > before ? -1 : 0;
}

cJSON *keys_jwt_json(const jwt_conf *c)
{
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "keys");

    for (size_t i = 0; arr != NULL && i < c->n; i++) {
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "kid", c->keys[i].kid);
        cJSON_AddStringToObject(k, "alg", keys_alg_name(c->keys[i].alg));
        cJSON_AddStringToObject(k, "jwk", c->keys[i].json);
        cJSON_AddItemToArray(arr, k);
    }
    if (c->issuer != NULL)
        cJSON_AddStringToObject(j, "issuer", c->issuer);
    if (c->audience != NULL)
        cJSON_AddStringToObject(j, "audience", c->audience);
    if (c->uid_claim != NULL)
        cJSON_AddStringToObject(j, "uid_claim", c->uid_claim);
    cJSON_AddNumberToObject(j, "leeway_s", (double)c->leeway_s);
    cJSON_AddNumberToObject(j, "line", c->line);
    return j;
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int keys_jwt_from_json(jwt_conf *c, const cJSON *j)
{
    jwt_conf n;
    const cJSON *k, *v;
    char why[200];

    memset(&n, 0, sizeof n);
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(j, "keys"))
    {
        const char *text = jstr(k, "jwk");
        cjose_err err;
        cjose_jwk_t *jwk =
            text ? cjose_jwk_import(text, strlen(text), &err) : NULL;
        if (jwk == NULL || add_key(&n, jwk, keys_alg_parse(jstr(k, "alg")),
                                   jstr(k, "kid"), why, sizeof why) < 0) {
            keys_jwt_free(&n);
            return -1;
        }
    }
    set_str(&n.issuer, jstr(j, "issuer"));
    set_str(&n.audience, jstr(j, "audience"));
    set_str(&n.uid_claim, jstr(j, "uid_claim"));
    v = cJSON_GetObjectItemCaseSensitive(j, "leeway_s");
    n.leeway_s =
        cJSON_IsNumber(v) ? (int64_t)v->valuedouble : KEYS_LEEWAY_DEFAULT;
    v = cJSON_GetObjectItemCaseSensitive(j, "line");
    n.line = cJSON_IsNumber(v) ? v->valueint : 0;
    keys_jwt_free(c);
    *c = n;
    return 0;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t max, size_t *n)
{
    size_t len = strlen(s);

    if (len % 2 != 0 || len / 2 > max)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = s[2 * i + (size_t)k];
            unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                         : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                                  : 16;
            if (d > 15)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    *n = len / 2;
    return 0;
}

cJSON *keys_gw_json(const gw_conf *c)
{
    cJSON *j = cJSON_CreateObject();
    char buf[2 * KEYS_SECRET_MAX + 1];

    for (int i = 0; i < 2; i++) {
        hex(c->secret[i], c->secret_len[i], buf);
        cJSON_AddStringToObject(j, i == 0 ? "secret" : "previous", buf);
    }
    explicit_bzero(buf, sizeof buf);
    cJSON_AddNumberToObject(j, "window_s", (double)c->window_s);
    cJSON_AddNumberToObject(j, "line", c->line);
    return j;
}

int keys_gw_from_json(gw_conf *c, const cJSON *j)
{
    gw_conf n;
    const cJSON *v;

    memset(&n, 0, sizeof n);
    for (int i = 0; i < 2; i++) {
        const char *s = jstr(j, i == 0 ? "secret" : "previous");
        if (s == NULL ||
            unhex(s, n.secret[i], KEYS_SECRET_MAX, &n.secret_len[i]) < 0) {
            keys_gw_free(&n);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "window_s");
    n.window_s =
        cJSON_IsNumber(v) ? (int64_t)v->valuedouble : KEYS_GW_WINDOW_DEFAULT;
    v = cJSON_GetObjectItemCaseSensitive(j, "line");
    n.line = cJSON_IsNumber(v) ? v->valueint : 0;
    keys_gw_free(c);
    *c = n;
    explicit_bzero(&n, sizeof n);
    return 0;
}
