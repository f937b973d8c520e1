/*
 * test_auth.c -- admin tokens: the table refuses every bad entry with
 * file:line, a request is matched only by its exact token, and the
 * compare takes the same time wherever two tokens differ.
 */
#include "auth.h"
#include "digest.h"
#include "tap.h"

#include <stdlib.h>
#include <time.h>

#define F "amsd.conf"
#define T_VIEW "viewer-token-0123456789"
#define T_OPS "operator-token-0123456789"
#define T_ADMIN "admin-token-ABCDEFGHIJ+/=~._-"

static void dump(const errs *e)
{
    for (size_t i = 0; i < e->n; i++)
        printf("#   [%zu] %s\n", i, e->msgs[i]);
}

static void test_roles(void)
{
    admin_role r = ROLE_PUBLIC;

    is_int(auth_role_parse("viewer", &r), 0, "viewer is a role");
    is_int(r, ROLE_VIEWER, "  ROLE_VIEWER");
    is_int(auth_role_parse("operator", &r), 0, "operator is a role");
    is_int(r, ROLE_OPERATOR, "  ROLE_OPERATOR");
    is_int(auth_role_parse("admin", &r), 0, "admin is a role");
    is_int(r, ROLE_ADMIN, "  ROLE_ADMIN");
    is_int(auth_role_parse("public", &r), -1, "public is not a token's role");
    is_int(auth_role_parse("Admin", &r), -1, "roles are lower case");
    is_int(auth_role_parse("", &r), -1, "an empty role is refused");
    is_str(auth_role_name(ROLE_OPERATOR), "operator", "role names");
    is_str(auth_role_name(ROLE_PUBLIC), "public", "  public");
    ok(ROLE_PUBLIC < ROLE_VIEWER && ROLE_VIEWER < ROLE_OPERATOR &&
           ROLE_OPERATOR < ROLE_ADMIN,
       "each role is allowed what the ones before it are");
}

static void test_sha256(void)
{
    unsigned char md[32];
    char hex[65];

    is_int(auth_sha256("abc", 3, md), 0, "sha256 of \"abc\"");
    digest_hex(md, hex);
    is_str(hex,
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "  is the FIPS 180-2 test vector");
    /* The data plane's hash of two parts (pipeline.c: method, params),
     * twice: the digest it keeps from the first call serves the next. */
    for (int i = 0; i < 2; i++) {
        is_int(digest_sha256_hex("a", 1, "bc", 2, hex), 0,
               "digest_sha256_hex of \"a\" + \"bc\" (call %d)", i + 1);
        is_str(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "  is the digest of \"abc\"");
    }
    is_int(digest_sha256_hex("abc", 3, NULL, 0, hex), 0,
           "digest_sha256_hex with no second part");
    is_str(hex,
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "  is the digest of the first");
}

static void test_equal(void)
{
    unsigned char a[32], b[32];

    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    is_int(auth_equal(a, b, 32), 1, "equal digests compare equal");
    b[0] ^= 1;
    is_int(auth_equal(a, b, 32), 0, "a difference in the first byte");
    b[0] ^= 1;
    b[31] ^= 0x80;
    is_int(auth_equal(a, b, 32), 0, "a difference in the last bit");
    is_int(auth_equal(a, b, 0), 1, "zero bytes compare equal");
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Median time of auth_equal over n bytes of a and b. */
static int64_t median_ns(const unsigned char *a, const unsigned char *b,
                         size_t n)
{
    int64_t t[31];
    volatile int sink = 0;

    for (int i = 0; i < 31; i++) {
        int64_t t0 = now_ns();
        for (int k = 0; k < 4; k++)
            sink += auth_equal(a, b, n);
        t[i] = now_ns() - t0;
    }
    (void)sink;
    qsort(t, 31, sizeof t[0], cmp64);
    return t[15];
}

/* An early-exit compare (memcmp, strcmp) answers a difference in the
 * first byte thousands of times faster than one in the last byte of a
 * megabyte; a constant-time one takes as long for both.  Big buffers and
 * medians keep the check far from the noise. */
static void test_equal_timing(void)
{
    size_t n = 1 << 20;
    unsigned char *a = malloc(n), *b = malloc(n);
    int64_t first, last;

    if (!ok(a != NULL && b != NULL, "timing: buffers")) {
        free(a);
        free(b);
        return;
    }
    memset(a, 7, n);
    memcpy(b, a, n);
    b[0] = 8;
    first = median_ns(a, b, n);
    b[0] = 7;
    b[n - 1] = 8;
    last = median_ns(a, b, n);
    if (!ok(first * 4 > last && last * 4 > first,
            "auth_equal takes as long for a difference in the first byte "
            "as in the last (within 4x)"))
        printf("#   first byte %lld ns, last byte %lld ns\n", (long long)first,
               (long long)last);
    free(a);
    free(b);
}

static auth_table good_table(void)
{
    auth_table t = {0};
    errs e = {0};

    auth_table_add(&t, "view", T_VIEW, "viewer", F, 2, &e);
    auth_table_add(&t, "ops", T_OPS, "operator", F, 3, &e);
    auth_table_add(&t, "root", T_ADMIN, "admin", F, 4, &e);
    if (!ok(e.n == 0 && t.n == 3, "three good tokens are added"))
        dump(&e);
    errs_free(&e);
    return t;
}

/* One add refused with a message at F:line containing frag. */
static void refused(auth_table *t, const char *name, const char *token,
                    const char *role, int line, const char *frag)
{
    errs e = {0};
    size_t before = t->n;
    char prefix[32];
    int rc = auth_table_add(t, name, token, role, F, line, &e);

    snprintf(prefix, sizeof prefix, F ":%d: ", line);
    is_int(rc, -1, "refused: %s", frag);
    is_int(t->n, before, "  nothing added");
    if (!ok(e.nerrors >= 1 &&
                strncmp(e.msgs[0], prefix, strlen(prefix)) == 0 &&
                strstr(e.msgs[0], frag) != NULL,
            "  reported at " F ":%d", line))
        dump(&e);
    errs_free(&e);
}

static void test_table_errors(void)
{
    auth_table t = good_table();
    char long_tok[AUTH_TOKEN_MAX + 2];

    memset(long_tok, 'a', sizeof long_tok - 1);
    long_tok[sizeof long_tok - 1] = '\0';
    refused(&t, "short", "fifteen-chars-x", "viewer", 10,
            "token of \"short\" has 15 characters; use 16..256");
    refused(&t, "long", long_tok, "viewer", 11,
            "token of \"long\" has 257 characters");
    refused(&t, "spacey", "has a space in it!!", "viewer", 12,
            "token of \"spacey\": character 4 is not one of");
    refused(&t, "quote", "abcdefghijklmnop\"", "viewer", 13,
            "character 17 is not one of");
    refused(&t, "who", "0123456789abcdef-x", "root", 14,
            "role \"root\" of \"who\" is not one of viewer, operator, admin");
    refused(&t, "Upper", "0123456789abcdef-y", "viewer", 15,
            "name \"Upper\" must be 1..64 characters of a-z 0-9 _ . -");
    refused(&t, "", "0123456789abcdef-z", "viewer", 16, "name \"\" must be");
    refused(&t, "ops", "0123456789abcdef-w", "admin", 17,
            "name \"ops\" is already used at line 3");
    refused(&t, "copy", T_OPS, "admin", 18,
            "the token of \"copy\" is also the token of \"ops\" (line 3)");
    {
        /* Every mistake of one entry at once. */
        errs e = {0};
        is_int(auth_table_add(&t, "Bad Name", "short", "boss", F, 20, &e), -1,
               "an entry with three mistakes is refused");
        if (!ok(e.nerrors == 3, "  all three are reported"))
            dump(&e);
        errs_free(&e);
    }
    is_int(t.n, 3, "the table still holds the three good tokens");
    auth_table_free(&t);
    is_int(t.n, 0, "auth_table_free empties the table");
}

static void check(const auth_table *t, const char *header, auth_status want,
                  const char *who, const char *desc)
{
    const auth_token *tok = (const auth_token *)1;
    auth_status st = auth_check(t, header, &tok);

    is_int(st, want, "%s", desc);
    if (who != NULL)
        is_str(tok ? tok->name : NULL, who, "  the caller is \"%s\"", who);
    else
        ok(tok == NULL, "  no caller");
}

static void test_check(void)
{
    auth_table t = good_table(), empty = {0};

    check(&t, NULL, AUTH_MISSING, NULL, "no header: missing");
    check(&t, "Bearer " T_VIEW, AUTH_OK, "view", "the viewer token");
    check(&t, "Bearer " T_OPS, AUTH_OK, "ops", "the operator token");
    check(&t, "Bearer " T_ADMIN, AUTH_OK, "root", "the admin token");
    check(&t, "bearer " T_OPS, AUTH_OK, "ops",
          "the scheme is case-insensitive");
    check(&t, "  Bearer \t " T_OPS "  ", AUTH_OK, "ops",
          "spaces around the token are ignored");
    check(&t, "Bearer " T_OPS "x", AUTH_UNKNOWN, NULL,
          "a token with one more character is unknown");
    check(&t, "Bearer operator-token-012345678", AUTH_UNKNOWN, NULL,
          "a prefix of a token is unknown");
    check(&t, "Bearer OPERATOR-TOKEN-0123456789", AUTH_UNKNOWN, NULL,
          "tokens are case-sensitive");
    check(&t, "Bearer x", AUTH_UNKNOWN, NULL, "a short guess is unknown");
    check(&t, "Bearer", AUTH_MALFORMED, NULL, "\"Bearer\" alone: malformed");
    check(&t, "Bearer   ", AUTH_MALFORMED, NULL,
          "\"Bearer\" and spaces: malformed");
    check(&t, "Basic dXNlcjpwYXNz", AUTH_MALFORMED, NULL,
          "another scheme: malformed");
    check(&t, "Bearer" T_OPS, AUTH_MALFORMED, NULL,
          "no space after Bearer: malformed");
    check(&t, T_OPS, AUTH_MALFORMED, NULL, "a bare token: malformed");
    check(&empty, "Bearer " T_OPS, AUTH_UNKNOWN, NULL,
          "an empty table knows no token");
    is_int(t.v[1].role, ROLE_OPERATOR, "the table keeps each role");
    for (size_t i = 0; i < t.n; i++)
        ok(memmem(&t.v[i], sizeof t.v[i], "token-0123456789", 16) == NULL,
           "entry %zu keeps no copy of its token", i);
    auth_table_free(&t);
}

static void test_json(void)
{
    auth_table t = good_table(), back = {0}, other = good_table();
    cJSON *j = auth_table_json(&t), *bad;
    char *text = cJSON_PrintUnformatted(j);

    ok(text != NULL && strstr(text, T_VIEW) == NULL &&
           strstr(text, T_OPS) == NULL,
       "the JSON form holds no token");
    is_int(auth_table_from_json(&back, j), 0, "and reads back");
    ok(auth_table_equal(&t, &back), "  to an equal table");
    {
        const auth_token *who = NULL;
        is_int(auth_check(&back, "Bearer " T_OPS, &who), AUTH_OK,
               "  which accepts the same tokens");
        is_int(who ? (long long)who->line : -1, 3, "  with their lines");
    }
    bad = cJSON_Parse(
        "[{\"name\":\"x\",\"role\":\"viewer\",\"sha256\":\"00\"}]");
    is_int(auth_table_from_json(&back, bad), -1,
           "a malformed digest is "
           "refused");
    is_int(back.n, 3, "  and the table is left as it was");
    cJSON_Delete(bad);
    auth_table_free(&other);
    {
        errs e = {0};
        auth_table_add(&other, "view", T_VIEW, "viewer", F, 2, &e);
        errs_free(&e);
    }
    ok(!auth_table_equal(&t, &other), "tables of other sizes differ");
    auth_table_free(&other);
    free(text);
    cJSON_Delete(j);
    auth_table_free(&t);
    auth_table_free(&back);
}

int main(void)
{
    test_roles();
    test_sha256();
    test_equal();
    test_equal_timing();
    test_table_errors();
    test_check();
    test_json();
    return tap_done();
}
