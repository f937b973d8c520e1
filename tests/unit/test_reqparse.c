/*
 * test_reqparse.c -- what a request body may hold (reqparse.h): each
 * thing two parsers could read two ways, or cJSON would read silently
 * wrong, is refused with the field named; what is fine is kept as it
 * came.
 */
#include "reqparse.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The message reqparse_body gives the n bytes at s, or "" when it
 * accepts them (then, when fields is set, reqparse_fields' message). */
static const char *body_msg_n(const char *s, size_t n, int fields)
{
    static char msg[512];
    cJSON *b;

    msg[0] = '\0';
    b = reqparse_body(s, n, msg, sizeof msg);
    if (b != NULL) {
        msg[0] = '\0';
        if (fields && reqparse_fields(b, msg, sizeof msg) == 0)
            msg[0] = '\0';
    }
    cJSON_Delete(b);
    return msg;
}

static const char *body_msg(const char *s)
{
    return body_msg_n(s, strlen(s), 1);
}

static void refused(const char *body, const char *frag, const char *what)
{
    const char *m = body_msg(body);

    if (!ok(m[0] != '\0' && strstr(m, frag) != NULL, "%s: refused, naming %s",
            what, frag))
        printf("#   message: \"%s\"\n", m);
}

static void accepted(const char *body, const char *what)
{
    const char *m = body_msg(body);

    if (!ok(m[0] == '\0', "%s: accepted", what))
        printf("#   message: \"%s\"\n", m);
}

static void test_path(void)
{
    int64_t id = 0;
    char m[32];

    ok(reqparse_path("/v1/activities/1002/repay", &id, m, sizeof m) == 0 &&
           id == 1002 && strcmp(m, "repay") == 0,
       "path: id and method");
    ok(reqparse_path("/v1/activities/0/x", &id, m, sizeof m) < 0,
       "path: id 0 refused");
    ok(reqparse_path("/v1/activities/12/", &id, m, sizeof m) < 0,
       "path: no method refused");
    ok(reqparse_path("/v1/activities/12/a/b", &id, m, sizeof m) < 0,
       "path: extra segment refused");
    ok(reqparse_path("/v1/activities/99999999999999999/a", &id, m, sizeof m) <
           0,
       "path: id beyond 2^53 refused");
    ok(reqparse_path("/v1/activities/1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                     &id, m, sizeof m) < 0,
       "path: method longer than the buffer refused");
}

static void test_duplicates(void)
{
    char big[8192];
    size_t n = 0;

    refused("{\"uid\":\"a\",\"request_id\":\"r\",\"uid\":\"b\"}",
            "body: duplicate key \"uid\"", "uid twice at the top");
    refused("{\"request_id\":\"r\",\"request_id\":\"s\"}",
            "body: duplicate key \"request_id\"", "request_id twice");
    refused("{\"request_id\":\"r\",\"params\":{\"amount\":1,\"amount\":2}}",
            "params: duplicate key \"amount\"", "a param twice");
    refused("{\"request_id\":\"r\",\"params\":{\"l\":[{\"n\":1},"
            "{\"x\":{\"k\":1,\"k\":2}}]}}",
            "params.l[1].x: duplicate key \"k\"", "a key twice deep down");
    refused("{\"request_id\":\"r\",\"params\":{},\"params\":{}}",
            "duplicate key \"params\"", "params twice");
    /* A big object: found by sorting, whatever the places. */
    n += (size_t)snprintf(big + n, sizeof big - n,
                          "{\"request_id\":\"r\",\"params\":{");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "\"k%d\":%d,", i, i);
    n += (size_t)snprintf(big + n, sizeof big - n, "\"k17\":0}}");
    refused(big, "params: duplicate key \"k17\"", "301 keys, one twice");
    big[n - 6] = '9'; /* "k19" is a key too: still a duplicate */
    refused(big, "duplicate key \"k19\"", "301 keys, another twice");
    memcpy(big + n - 8, "x99", 3);
    accepted(big, "301 distinct keys");
    accepted("{\"request_id\":\"r\",\"params\":{\"a\":{\"k\":1},\"b\":{\"k\":"
             "2}}}",
             "the same key in two objects");
}

static void test_numbers(void)
{
    refused("{\"request_id\":\"r\",\"params\":{\"amount\":1e400}}",
            "params.amount: the number 1e400 is not finite", "1e400");
    refused("{\"request_id\":\"r\",\"params\":{\"amount\":-1e400}}",
            "params.amount: the number -1e400 is not finite", "-1e400");
    refused("{\"request_id\":\"r\",\"params\":{\"n\":9007199254740992}}",
            "params.n: the number 9007199254740992 is out of range", "2^53");
    refused("{\"request_id\":\"r\",\"params\":{\"n\":-9007199254740993}}",
            "params.n", "-(2^53+1)");
    refused("{\"request_id\":\"r\",\"params\":{\"l\":[1,2,1e300]}}",
            "params.l[2]: the number 1e300", "1e300 in an array");
    refused("{\"request_id\":\"r\",\"x\":1e999}", "x: the number",
            "an unknown top-level member is checked too");
    accepted("{\"request_id\":\"r\",\"params\":{\"n\":9007199254740991}}",
             "2^53-1");
    accepted("{\"request_id\":\"r\",\"params\":{\"n\":-9007199254740991}}",
             "-(2^53-1)");
    accepted("{\"request_id\":\"r\",\"params\":{\"n\":0.5,\"m\":1e-400}}",
             "0.5 and 1e-400 (which is 0)");
    /* JSON has no NaN or Infinity literals: malformed. */
    refused("{\"request_id\":\"r\",\"params\":{\"n\":NaN}}", "malformed JSON",
            "NaN");
    refused("{\"request_id\":\"r\",\"params\":{\"n\":Infinity}}",
            "malformed JSON", "Infinity");
}

static void test_nul(void)
{
    static const char raw_nul[] = "{\"request_id\":\"r\",\"uid\":\"x\0one\"}";

    refused("{\"request_id\":\"r\",\"uid\":\"x\\u0000one\"}",
            "uid: holds a NUL character", "\\u0000 in uid");
    refused("{\"request_id\":\"r\\u0000two\"}",
            "request_id: holds a NUL character", "\\u0000 in request_id");
    refused("{\"request_id\":\"r\",\"params\":{\"invitee\":\"b\\u0000c\"}}",
            "params.invitee: holds a NUL character", "\\u0000 in a param");
    refused("{\"request_id\":\"r\",\"params\":{\"l\":[\"a\",\"\\u0000\"]}}",
            "params.l[1]: holds a NUL", "\\u0000 in an array");
    refused("{\"request_id\":\"r\",\"params\":{\"a\\u0000b\":1}}",
            "params.a: the key holds a NUL", "\\u0000 in a key");
    refused("{\"request_id\":\"r\",\"uid\":\"x\\U0000\"}", "malformed JSON",
            "\\U0000 is no escape");
    /* cJSON reads \u and four non-hex digits as U+0000; the walk does
     * not, and says so even inside an object or array (fuzz_reqparse). */
    refused("{\"request_id\":\"r\",\"params\":{\"a\":[\"\\uZZZZ\"]}}",
            "malformed JSON", "\\u then non-hex digits, nested");
    {
        const char *m = body_msg_n(raw_nul, sizeof raw_nul - 1, 1);
        ok(strstr(m, "uid: holds a NUL") != NULL,
           "a raw 0 byte in uid is refused like \\u0000");
    }
    accepted("{\"request_id\":\"r\",\"uid\":\"x\\\\u0000\"}",
             "an escaped backslash then u0000 is text, not a NUL");
    accepted("{\"request_id\":\"r\",\"params\":{\"t\":\"\\u0041\\u00e9\"}}",
             "other \\u escapes");
}

static void test_fields(void)
{
    refused("{\"request_id\":\"r\",\"uid\":\"a\\u0001b\"}",
            "uid: character 2 is a space, a control character",
            "a control character in uid");
    refused("{\"request_id\":\"r\\tq\"}", "request_id: character 2",
            "a tab in request_id");
    refused("{\"request_id\":\"r\",\"uid\":\"caf\\u00e9\"}",
            "uid: character 4", "non-ASCII in uid");
    refused("{\"uid\":\"a\"}", "request_id: missing", "no request_id");
    refused("{\"request_id\":\"\"}", "request_id: 0 characters",
            "empty request_id");
    refused("{\"request_id\":5}", "request_id: expected a string",
            "request_id a number");
    refused("{\"request_id\":\"r\",\"uid\":42}", "uid: expected a string",
            "uid a number");
    refused("{\"request_id\":\"r\",\"params\":[1]}",
            "params: expected a JSON object", "params an array");
    refused("[1]", "body: expected a JSON object", "body an array");
    accepted("{\"request_id\":\"r\",\"uid\":\"\"}", "empty uid");
    accepted("\xEF\xBB\xBF{\"request_id\":\"r\"}", "a byte order mark first");
    refused("{\"request_id\":\"r\"} x", "unexpected data at byte",
            "trailing bytes");
    refused("", "body: empty", "empty body");
}

int main(void)
{
    test_path();
    test_duplicates();
    test_numbers();
    test_nul();
    test_fields();
    return tap_done();
}
