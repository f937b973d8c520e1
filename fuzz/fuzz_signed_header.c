/*
 * fuzz_signed_header.c -- the Authorization value of a signed caller
 * (AMS-HMAC-SHA256 app=, ts=, nonce=, sig=; core/data/signed.h): any
 * string through signed_parse and, when it parses, signed_canonical of a
 * fixed request.
 *
 * Beyond "no crash": a refusal has a message, and the message never
 * holds the 64 hex digits of a sig= the value carried (the header is a
 * credential; the message goes to logs and to the caller).  A parse
 * gives an app, ts digits, a nonce of SIGNED_NONCE_MIN..MAX characters
 * of A-Z a-z 0-9 - _, and a canonical string of exactly eight lines
 * that begins with the scheme and the app: a newline smuggled in through
 * a parameter would let one signature stand for another request.
 */
#include "fuzz.h"
#include "signed.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET

/* The fixed request: the query's pieces out of order and with empty
 * ones, so the sorting and dropping run on every input. */
static const char body[] = "{\"uid\":\"u1\",\"request_id\":\"r1\"}";

/* 1 when text holds the 64 hex digits after the first "sig=" of v. */
static int echoes_sig(const char *v, const char *text)
{
    const char *s = strstr(v, "sig=");
    char hex[65];

    if (s == NULL)
        return 0;
    s += 4;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    memcpy(hex, s, 64);
    hex[64] = '\0';
    return strstr(text, hex) != NULL;
}

static void parsed(const signed_hdr *h)
{
    size_t nl = strlen(h->nonce), lines = 1;
    char *t, head[sizeof SIGNED_SCHEME + CALLERS_APP_MAX + 2];

    if (h->app[0] == '\0' || h->ts[0] == '\0' || nl < SIGNED_NONCE_MIN ||
        nl > SIGNED_NONCE_MAX ||
        strspn(h->ts, "0123456789") != strlen(h->ts) ||
        strspn(h->nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-_") != nl) {
        fprintf(stderr, "accepted: app \"%s\" ts \"%s\" nonce \"%s\"\n",
                h->app, h->ts, h->nonce);
        abort();
    }
    t = signed_canonical(h, "POST", "/v1/activities/7/repay", "b=2&&a=1&",
                         body, sizeof body - 1);
    if (t == NULL)
        abort(); /* memory: the fuzzer does not run short of it */
    for (const char *p = t; *p; p++)
        lines += *p == '\n';
    snprintf(head, sizeof head, "%s\n%s\n", SIGNED_SCHEME, h->app);
    if (lines != 8 || strncmp(t, head, strlen(head)) != 0 ||
        strstr(t, "\n/v1/activities/7/repay\na=1&b=2\n") == NULL) {
        fprintf(stderr, "canonical string of %zu lines:\n%s\n", lines, t);
        abort();
    }
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = fz_cstr(data, size), msg[256];
    signed_hdr h;

    memset(&h, 0, sizeof h);
    msg[0] = '\0';
    if (signed_parse(v, &h, msg, sizeof msg) == 0)
        parsed(&h);
    else if (msg[0] == '\0' || echoes_sig(v, msg)) {
        fprintf(stderr, "refused %s: %s\n",
                msg[0] ? "echoing the signature" : "without a message", msg);
        abort();
    }
    free(v);
    return 0;
}
