/*
 * fuzz_jwt.c -- bearer tokens (Authorization: Bearer, auth = jwt): the
 * first byte chooses what the rest is.
 *
 *  - even: a compact JWS through ident_jwt_verify against a key set made
 *    once at start: an HS256 secret (kid "fz-hs") and an ES256 public
 *    key (kid "fz-es") added as a JWKS, with an issuer and an audience
 *    required, at a fixed clock.  An accepted token gives a uid of
 *    1..IDENT_UID_MAX bytes; a refused one says why.
 *  - odd: a JWKS document through keys_jwks_add on an empty key set
 *    (what jwks_file holds): it adds keys or says why, never half.
 *
 * The secret and the EC key exist only for this target (no deployment
 * uses them); the seeds' tokens were signed with them at authoring time,
 * so the fuzzer starts from tokens that pass every check and mutates
 * them into ones that fail each.
 */
#include "fuzz.h"
#include "ident.h"
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The clock of the seeds' claims: nbf 1800000000, exp 2000000000. */
#define FZ_NOW 1900000000

/* base64url of "amsd-fuzz-only-hs256-key-0123456" (32 bytes: the least
 * keys.c accepts for HS256). */
static const char jwks_hs[] =
    "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"fz-hs\",\"alg\":\"HS256\","
    "\"k\":\"YW1zZC1mdXp6LW9ubHktaHMyNTYta2V5LTAxMjM0NTY\"}]}";
static const char jwks_es[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"fz-es\","
    "\"alg\":\"ES256\",\"x\":\"pOAP95kcj7kuKqmT5etfxaAv1DNfa_zkzkxqZXwwrN8\","
    "\"y\":\"nYel_Ht_aL-roXt1LHiiEUT6X3SO7sBcfPTTQnCA_I4\"}]}";

static jwt_conf conf; /* for the life of the process */

static void add(const char *doc)
{
    char why[200];

    if (keys_jwks_add(&conf, doc, strlen(doc), why, sizeof why) < 0) {
        /* Without its keys the target would fuzz "unknown kid" only. */
        fprintf(stderr, "fuzz_jwt: the target's JWKS: %s\n", why);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_quiet();
    conf.issuer = strdup("https://issuer.fuzz");
    conf.audience = strdup("amsd");
    conf.leeway_s = KEYS_LEEWAY_DEFAULT;
    add(jwks_hs);
    add(jwks_es);
    return 0;
}

static void token(const char *tok, size_t len)
{
    char uid[IDENT_UID_MAX + 1], why[200];

    uid[0] = '\0';
    why[0] = '\0';
    if (ident_jwt_verify(&conf, tok, len, FZ_NOW, uid, why, sizeof why) == 0) {
        size_t n = strnlen(uid, sizeof uid);
        if (n == 0 || n > IDENT_UID_MAX) {
            fprintf(stderr, "accepted a token with a uid of %zu bytes\n", n);
            abort();
        }
    } else if (why[0] == '\0') {
        fprintf(stderr, "refused a token without a reason\n");
        abort();
    }
}

static void jwks(const char *text, size_t len)
{
    jwt_conf c;
    char why[200];

    memset(&c, 0, sizeof c);
    why[0] = '\0';
    if (keys_jwks_add(&c, text, len, why, sizeof why) == 0) {
        if (c.n == 0 || c.n > KEYS_MAX) {
            fprintf(stderr, "a JWKS accepted with %zu keys\n", c.n);
            abort();
        }
    } else if (why[0] == '\0' || c.n != 0) {
        fprintf(stderr, "a JWKS refused %s\n",
                why[0] == '\0' ? "without a reason" : "but keys were added");
        abort();
    }
    keys_jwt_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *rest;

    if (size < 1)
        return 0;
    /* A copy of exactly the bytes after the first, without a NUL, so
     * ASan sees a read past the length the parser was given. */
    rest = malloc(size - 1);
    if (rest == NULL)
        return 0;
    if (size > 1)
        memcpy(rest, data + 1, size - 1);
    if (data[0] % 2 == 0)
        token(rest, size - 1);
    else
        jwks(rest, size - 1);
    free(rest);
    return 0;
}
