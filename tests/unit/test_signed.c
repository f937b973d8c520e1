/*
 * test_signed.c -- signed callers: the Authorization header as a caller
 * writes it (and every way it can be wrong), the canonical string of the
 * operator guide's worked example byte for byte, verification with one
 * and two secrets, the window, the secrets as amsd.conf reads them, and
 * the nonce claimed once in a store.
 *
 *   AMS_TEST_TMP  scratch directory for the config and secret files
 */
#include "callers.h"
#include "conf.h"
#include "fixture.h"
#include "signed.h"
#include "store.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[1024];

/* The worked example of docs/operator-guide.md ("Signed callers"). */
#define EX_SECRET                                                             \
    "4f1d5b0c9a7e2f3a8b6c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a"
#define EX_BODY                                                               \
    "{\"uid\":\"u1001\",\"request_id\":\"repay-20261204-0001\","              \
    "\"params\":{\"amount\":600}}"
#define EX_SIG                                                                \
    "d988d0aa0adc6e4c837b7bab1f5068e02f830e3662ae56ed1e42768c4fe941b0"
#define EX_HEADER                                                             \
    "AMS-HMAC-SHA256 app=loan-core, ts=1764806400, "                          \
    "nonce=8d7f0c3e2b1a4f5e9c6d7b8a, sig=" EX_SIG
#define EX_CANONICAL                                                          \
    "AMS-HMAC-SHA256\nloan-core\nPOST\n/v1/activities/1002/repay\n\n"         \
    "1764806400\n8d7f0c3e2b1a4f5e9c6d7b8a\n"                                  \
    "9dbb5db24cfcc8746bcfedf7da57e9d18b980d7a5a13d86d3227e078c3567abb"

static void parse_fails(const char *value, const char *frag, const char *what)
{
    signed_hdr h;
    char msg[256] = "";
    int rc = signed_parse(value, &h, msg, sizeof msg);

    if (!ok(rc < 0 && strstr(msg, frag) != NULL, "%s: refused, saying %s",
            what, frag))
        printf("#   rc %d, message \"%s\"\n", rc, msg);
    ok(strstr(msg, "0123456789abcdef0123") == NULL,
       "%s: the message does not echo the signature", what);
}

static void test_parse(void)
{
    signed_hdr h;
    char msg[256];
    const char *sig64 =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char v[512];

    ok(signed_parse(EX_HEADER, &h, msg, sizeof msg) == 0, "example parses");
    is_str(h.app, "loan-core", "app");
    is_str(h.ts, "1764806400", "ts as sent");
    is_int(h.ts_s, 1764806400, "ts as a number");
    is_str(h.nonce, "8d7f0c3e2b1a4f5e9c6d7b8a", "nonce");
    ok(h.sig[0] == 0xd9 && h.sig[31] == 0xb0, "sig decoded from hex");
    ok(signed_parse("ams-hmac-sha256\tsig=" EX_SIG ",nonce="
                    "8d7f0c3e2b1a4f5e9c6d7b8a ,ts=1, app=a ",
                    &h, msg, sizeof msg) == 0 &&
           h.ts_s == 1 && strcmp(h.app, "a") == 0,
       "any order, tabs, no spaces, a lowercase scheme");
    ok(signed_is_scheme("AMS-HMAC-SHA256 app=x"), "scheme recognised");
    ok(!signed_is_scheme("Bearer abc"), "a Bearer token is not ours");
    ok(!signed_is_scheme("AMS-HMAC-SHA2567 x"), "a longer scheme is not ours");

    /* Each a header with one thing wrong; %s is a good signature. */
    static const struct {
        const char *fmt, *frag, *what;
    } bad[] = {
        {"AMS-HMAC-SHA256 app=a, ts=1, nonce=0123456789abcdef", "sig= missing",
         "no sig"},
        {"AMS-HMAC-SHA256 app=a, ts=1, nonce=0123456789abcdef, sig=%s, app=b",
         "app= given twice", "app twice"},
        {"AMS-HMAC-SHA256 app=a, ts=1, nonce=0123456789abcdef, sig=%s, key=x",
         "found \"key\"", "an unknown parameter"},
        {"AMS-HMAC-SHA256 app=a, ts=-1, nonce=0123456789abcdef, sig=%s",
         "ts: expected the time", "a negative ts"},
        {"AMS-HMAC-SHA256 app=a, ts=1234567890123, nonce=0123456789abcdef, "
         "sig=%s",
         "ts: expected", "a ts of 13 digits"},
        {"AMS-HMAC-SHA256 app=a, ts=1, nonce=short, sig=%s",
         "nonce: expected 16..64", "a nonce of 5 characters"},
        {"AMS-HMAC-SHA256 app=a, ts=1, nonce=0123456789abcdef!, sig=%s",
         "nonce: expected", "a nonce with '!'"},
        {"AMS-HMAC-SHA256 app=a, ts=1, nonce=0123456789abcdef, "
         "sig=0123456789abcdef0123",
         "sig: expected 64 hex digits", "a short sig"},
        {"AMS-HMAC-SHA256 app=a, ts=1, nonce=0123456789abcdef, sig=%.63sg",
         "sig: expected 64 hex digits", "a sig with a 'g'"},
        {"AMS-HMAC-SHA256 app=Loan, ts=1, nonce=0123456789abcdef, sig=%s",
         "app: not an app name", "an app with a capital"},
        {"AMS-HMAC-SHA256 app=a ts=1, nonce=0123456789abcdef, sig=%s",
         "expected \",\" after app=", "no comma"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(v, sizeof v, bad[i].fmt, sig64);
        parse_fails(v, bad[i].frag, bad[i].what);
    }
    parse_fails("AMS-HMAC-SHA256 app", "app without \"=\"", "no =");
    parse_fails("AMS-HMAC-SHA256", "app= missing", "the scheme alone");
    parse_fails("Bearer x", "not of the AMS-HMAC-SHA256 scheme",
                "another scheme");
}

static void test_canonical(void)
{
    signed_hdr h;
    char msg[256], *t;

    signed_parse(EX_HEADER, &h, msg, sizeof msg);
    t = signed_canonical(&h, "POST", "/v1/activities/1002/repay", NULL,
                         EX_BODY, strlen(EX_BODY));
    is_str(t, EX_CANONICAL, "the example's canonical string, byte for byte");
    free(t);
    t = signed_canonical(&h, "POST", "/p", "b=2&a=1&&c&a=0", "", 0);
    has_str(t, "\n/p\na=0&a=1&b=2&c\n1764806400\n",
            "query pieces sorted by bytes, empty ones dropped");
    has_str(t,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b"
            "855",
            "an empty body hashes as SHA-256 of nothing");
    free(t);
}

/* A table of one app with the given secrets (NUL-terminated texts). */
static callers_table table(const char *app, const char *k1, const char *k2)
{
    callers_table t = {calloc(1, sizeof(callers_app)), 1};
    const char *k[2] = {k1, k2};

    t.v[0].app = strdup(app);
    for (int i = 0; i < 2 && k[i] != NULL; i++) {
        t.v[0].key[i].b = (unsigned char *)strdup(k[i]);
        t.v[0].key[i].n = strlen(k[i]);
        t.v[0].nkeys++;
    }
    return t;
}

static void test_verify(void)
{
    callers_table one = table("loan-core", EX_SECRET, NULL);
    callers_table two =
        table("loan-core", "another-secret-of-32-bytes-or-more!", EX_SECRET);
    callers_table other = table("loan-core",
                                "another-secret-of-32-bytes-or-"
                                "more!",
                                NULL);
    signed_hdr h;
    char msg[256];
    int64_t ts = 1764806400;

    signed_parse(EX_HEADER, &h, msg, sizeof msg);
    is_int(signed_verify(&one, &h, EX_CANONICAL, ts, 300, msg, sizeof msg),
           SIGNED_OK, "the example verifies");
    is_int(signed_verify(&two, &h, EX_CANONICAL, ts, 300, msg, sizeof msg),
           SIGNED_OK, "with its secret second of two (rotation)");
    is_int(signed_verify(&other, &h, EX_CANONICAL, ts, 300, msg, sizeof msg),
           SIGNED_BAD, "under another secret: bad");
    has_str(msg, "signature does not match", "message says so");
    is_int(signed_verify(&one, &h, EX_CANONICAL "x", ts, 300, msg, sizeof msg),
           SIGNED_BAD, "another body hash: bad");
    h.sig[5] ^= 1;
    is_int(signed_verify(&one, &h, EX_CANONICAL, ts, 300, msg, sizeof msg),
           SIGNED_BAD, "one bit of the signature flipped: bad");
    h.sig[5] ^= 1;
    is_int(
        signed_verify(&one, &h, EX_CANONICAL, ts + 300, 300, msg, sizeof msg),
        SIGNED_OK, "300 s late: accepted");
    is_int(
        signed_verify(&one, &h, EX_CANONICAL, ts - 300, 300, msg, sizeof msg),
        SIGNED_OK, "300 s early: accepted");
    is_int(
        signed_verify(&one, &h, EX_CANONICAL, ts + 301, 300, msg, sizeof msg),
        SIGNED_STALE, "301 s late: stale");
    has_str(msg, "301 s from the server's clock", "message says how far");
    is_int(
        signed_verify(&one, &h, EX_CANONICAL, ts - 301, 300, msg, sizeof msg),
        SIGNED_STALE, "301 s early: stale");
    snprintf(h.app, sizeof h.app, "wallet");
    is_int(signed_verify(&one, &h, EX_CANONICAL, ts, 300, msg, sizeof msg),
           SIGNED_BAD, "unknown app: bad");
    has_str(msg, "unknown app \"wallet\"", "message names the app");
    callers_free(&one);
    callers_free(&two);
    callers_free(&other);
}

static void test_json_roundtrip(void)
{
    callers_table t = table("a", EX_SECRET,
                            "second-secret-of-at-least-32-bytes"),
                  back = {0};
    cJSON *j = callers_json(&t);

    ok(callers_from_json(&back, j) == 0, "table back from JSON");
    ok(back.n == 1 && strcmp(back.v[0].app, "a") == 0 &&
           back.v[0].nkeys == 2 && back.v[0].key[0].n == strlen(EX_SECRET) &&
           memcmp(back.v[0].key[0].b, EX_SECRET, strlen(EX_SECRET)) == 0 &&
           memcmp(back.v[0].key[1].b, "second-secret", 13) == 0,
       "the same app and secrets");
    cJSON_Delete(j);
    j = cJSON_Parse("[{\"app\":\"a\",\"keys\":[\"zz\"]}]");
    ok(callers_from_json(&back, j) < 0 && back.n == 1,
       "malformed JSON refused, the table unchanged");
    cJSON_Delete(j);
    callers_free(&t);
    callers_free(&back);
}

static void test_conf(void)
{
    const char *k1 = fx_put(tmpdir, "k1", EX_SECRET "\n");
    const char *k2 =
        fx_put(tmpdir, "k2", "rotated-secret-0123456789abcdef-xyz");
    const char *path;
    conf c;
    errs e = {0};

    (void)k1;
    (void)k2;
    chmod(k1, 0600);
    chmod(k2, 0600);
    fx_put(tmpdir, "short", "tooshort\n");
    fx_put(tmpdir, "lines", EX_SECRET "\nmore\n");
    fx_put(tmpdir, "k1copy", EX_SECRET);
    chmod(fx_put(tmpdir, "open", "world-readable-secret-0123456789abcdef"),
          0644);
    path = fx_put(tmpdir, "signed.conf",
                  "signed_window_s = 120;\n"
                  "signed_callers = (\n"
                  "  { app = \"loan-core\"; secret_files = [\"k1\", \"k2\"]; "
                  "},\n"
                  "  { app = \"wallet\"; secret_files = [\"open\"]; }\n"
                  ");\n");
    is_int(conf_load(&c, path, &e), 0, "two apps load");
    is_int(c.signed_window_s, 120, "signed_window_s");
    ok(c.callers.n == 2 && c.callers.v[0].nkeys == 2 &&
           c.callers.v[0].key[0].n == 64 &&
           memcmp(c.callers.v[0].key[0].b, EX_SECRET, 64) == 0,
       "loan-core has both secrets, the newline not part of the first");
    {
        int warned = 0;
        for (size_t i = 0; i < e.n; i++)
            warned |= strstr(e.msgs[i], "can be read by every user") != NULL;
        ok(warned && e.nerrors == 0,
           "a secret file others can read: a warning, not an error");
    }
    conf_free(&c);
    errs_free(&e);

    path =
        fx_put(tmpdir, "bad.conf",
               "signed_window_s = 5;\n"
               "signed_callers = (\n"
               "  { app = \"a\"; secret_files = [\"nope\"]; },\n"
               "  { app = \"b\"; secret_files = [\"short\"]; },\n"
               "  { app = \"c\"; secret_files = [\"lines\"]; },\n"
               "  { app = \"d\"; secret_files = [\"k1\", \"k1\"]; },\n"
               "  { app = \"e\"; secret_files = [\"k1\", \"k2\", \"open\"]; "
               "},\n"
               "  { app = \"f\"; secret_files = [\"k1\"]; },\n"
               "  { app = \"g\"; secret_files = [\"k1copy\"]; },\n"
               "  { app = \"f\"; secret_files = [\"k2\"]; },\n"
               "  { app = \"Bad\"; secret_files = [\"k2\"]; },\n"
               "  { app = \"h\"; secret_file = [\"k2\"]; }\n"
               ");\n");
    is_int(conf_load(&c, path, &e), -1, "a bad signed_callers fails the load");
    fx_expect_at(&e, path, 1, "signed_window_s: 5 is out of range");
    fx_expect_at(&e, path, 3, "secret file nope: No such file");
    fx_expect_at(&e, path, 4, "secret file short: 8 bytes");
    fx_expect_at(&e, path, 5, "secret file lines: holds more than one line");
    fx_expect_at(&e, path, 6, "k1 is listed twice");
    fx_expect_at(&e, path, 7, "expected an array of one or two");
    fx_expect_at(&e, path, 9, "a secret of \"g\" is also a secret of \"f\"");
    fx_expect_at(&e, path, 10, "app \"f\" is already configured at line 8");
    fx_expect_at(&e, path, 11, "app \"Bad\" must be");
    fx_expect_at(&e, path, 12, "unknown setting \"secret_file\"");
    for (size_t i = 0; i < e.n; i++)
        ok(strstr(e.msgs[i], "4f1d5b0c9a7e") == NULL,
           "no message holds a secret: %.60s", e.msgs[i]);
    conf_free(&c);
    errs_free(&e);
}

static void test_method_settings(void)
{
    config_t cf;
    errs e = {0};
    int so = 0;
    char **p = NULL;
    size_t n = 0;

    config_init(&cf);
    config_read_string(&cf, "m = { signed = true; signed_params = "
                            "[\"amount\", \"invitee\"]; };\n"
                            "b = { signed_params = [\"a\", \"a\", \"b c\"]; "
                            "};\n"
                            "c = { signed_params = \"amount\"; };\n");
    callers_method_read(config_lookup(&cf, "m"), &so, &p, &n, "x.conf", &e);
    ok(so == 1 && n == 2 && strcmp(p[0], "amount") == 0 &&
           strcmp(p[1], "invitee") == 0 && e.n == 0,
       "signed and signed_params read");
    callers_params_free(p, n);
    so = 0;
    callers_method_read(config_lookup(&cf, "b"), &so, &p, &n, "x.conf", &e);
    ok(so == 0 && n == 1, "b: signed defaults to false; one good name kept");
    fx_expect_at(&e, "x.conf", 2, "\"a\" is listed twice");
    fx_expect_at(&e, "x.conf", 2, "\"b c\" is not a param name");
    callers_params_free(p, n);
    callers_method_read(config_lookup(&cf, "c"), &so, &p, &n, "x.conf", &e);
    fx_expect_at(&e, "x.conf", 3, "signed_params: expected an array");
    callers_params_free(p, n);
    errs_free(&e);
    config_destroy(&cf);
}

static void test_nonce(void)
{
    store *st = fx_store_open("mem:signed", 0, 0);
    signed_hdr h, g;
    char msg[256], key[STORE_KEY_MAX];
    int64_t now = 1764806400000;

    signed_parse(EX_HEADER, &h, msg, sizeof msg);
    g = h;
    snprintf(g.app, sizeof g.app, "wallet");
    is_int(signed_nonce_claim(st, &h, now, 300), AMS_OK, "a nonce: claimed");
    is_int(signed_nonce_claim(st, &h, now + 1, 300), AMS_CONFLICT,
           "again: conflict (a replay)");
    is_int(signed_nonce_claim(st, &h, now + 599999, 300), AMS_CONFLICT,
           "still refused just before twice the window");
    is_int(signed_nonce_claim(st, &g, now, 300), AMS_OK,
           "the same nonce of another app is another nonce");
    is_int(signed_nonce_claim(st, &h, now + 600000, 300), AMS_OK,
           "after twice the window it is forgotten");
    ok(signed_nonce_key(key, sizeof key, "loan-core", "abc") == 0 &&
           strcmp(key, "sn:loan-core:abc") == 0,
       "the key: sn:APP:NONCE, outside the chain's {a / {u keys");
    store_close(st);
}

int main(void)
{
    fx_scratch(tmpdir, sizeof tmpdir, "signed");
    test_parse();
    test_canonical();
    test_verify();
    test_json_roundtrip();
    test_conf();
    test_method_settings();
    test_nonce();
    return tap_done();
}
