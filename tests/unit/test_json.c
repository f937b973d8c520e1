/*
 * test_json.c -- json.h prints what cJSON_PrintUnformatted prints, byte
 * for byte (stored answers are replayed as they were first sent, so the
 * printer must not change a byte of them).
 */
#include "json.h"
#include "tap.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 1 when both printers give the same text (or both refuse). */
static int same(const cJSON *item)
{
    char *a = cJSON_PrintUnformatted(item), *b = json_print(item);
    int eq = (a == NULL && b == NULL) ||
             (a != NULL && b != NULL && strcmp(a, b) == 0);

    if (!eq)
        printf("#   cJSON: %s\n#   json:  %s\n", a ? a : "(null)",
               b ? b : "(null)");
    free(a);
    free(b);
    return eq;
}

static int same_number(double d)
{
    cJSON *n = cJSON_CreateNumber(d);
    int eq = same(n);

    cJSON_Delete(n);
    return eq;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_numbers(void)
{
    static const double fixed[] = {
        0,
        1,
        -1,
        1008,
        2147483647.0,
        2147483648.0,
        -2147483649.0,
        1797022556338.0,
        999999999999999.0,
        1e15,
        1e15 + 1,
        1234567890123456.0,
        9007199254740993.0,
        -999999999999999.0,
        -1e15,
        0.5,
        0.1,
        -0.1,
        1.0 / 3,
        2.0 / 3,
        1e-5,
        1e-300,
        4.9e-324,
        1e300,
        1.7976931348623157e308,
        123.456,
        100.25,
    };
    int bad = 0, n = 0;

    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        n += 2;
        bad += !same_number(fixed[i]) + !same_number(-fixed[i]);
    }
    n += 3;
    bad += !same_number(NAN) + !same_number(INFINITY) + !same_number(-0.0);
    for (int i = 0; i < 20000; i++) {
        uint64_t r = next();
        double d;
        switch (i % 4) {
        case 0: /* any double's bits */
            memcpy(&d, &r, sizeof d);
            break;
        case 1: /* integers of every size */
            d = (double)(int64_t)(r >> (r % 64));
            break;
        case 2: /* near the 1e15 edge */
            d = 1e15 + (double)(int64_t)(r % 2000) - 1000;
            break;
        default: /* decimals with few digits */
            d = (double)(int64_t)(r % 2000000) / 100.0 - 10000;
        }
        n++;
        bad += !same_number(d);
    }
    ok(bad == 0, "%d numbers print as cJSON prints them (%d differ)", n, bad);
}

static void test_strings(void)
{
    char s[300];
    int bad = 0;
    cJSON *o;

    /* Every byte but NUL, alone and among others. */
    for (int c = 1; c < 256; c++) {
        cJSON *v;
        snprintf(s, sizeof s, "a%cb", c);
        v = cJSON_CreateString(s);
        bad += !same(v);
        cJSON_Delete(v);
    }
    for (int i = 0; i < 255; i++)
        s[i] = (char)(i + 1);
    s[255] = '\0';
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, s, s); /* the key is escaped alike */
    cJSON_AddStringToObject(o, "", "");
    cJSON_AddStringToObject(o, "utf8", "\xc3\xa9\xe2\x82\xac/\\\"");
    bad += !same(o);
    cJSON_Delete(o);
    ok(bad == 0, "strings of every byte print as cJSON prints them");
}

/* A random tree of depth at most depth. */
static cJSON *tree(int depth)
{
    uint64_t r = next();
    char key[16];
    cJSON *c;

    switch (depth > 0 ? r % 8 : r % 5) {
    case 0:
        return cJSON_CreateNull();
    case 1:
        return cJSON_CreateBool(r & 256);
    case 2:
        return cJSON_CreateNumber((double)(int64_t)(r >> 20) / 1000.0);
    case 3:
        return cJSON_CreateNumber((double)(int32_t)(r >> 16));
    case 4:
        snprintf(key, sizeof key, "s\t%u\"", (unsigned)(r >> 40));
        return cJSON_CreateString(key);
    case 5:
    case 6:
        c = cJSON_CreateObject();
        for (unsigned i = 0; i < (r >> 8) % 5; i++) {
            snprintf(key, sizeof key, "k%u", i);
            cJSON_AddItemToObject(c, key, tree(depth - 1));
        }
        return c;
    default:
        c = cJSON_CreateArray();
        for (unsigned i = 0; i < (r >> 8) % 5; i++)
            cJSON_AddItemToArray(c, tree(depth - 1));
        return c;
    }
}

static void test_trees(void)
{
    int bad = 0;
    cJSON *t, *raw;

    for (int i = 0; i < 2000; i++) {
        t = tree(5);
        bad += !same(t);
        cJSON_Delete(t);
    }
    ok(bad == 0, "2000 random trees print as cJSON prints them");

    t = cJSON_Parse("{\"code\":0,\"reason\":\"ok\",\"request_id\":\"r-1\","
                    "\"data\":{\"coupon\":\"cash1000\",\"count\":1,"
                    "\"expires_at\":1797022556338,\"grants\":[{\"ts\":"
                    "1796417756338,\"extra\":{}}],\"e\":[]}}");
    ok(same(t), "an answer as pipeline.c builds it");
    cJSON_Delete(t);

    raw = cJSON_CreateObject();
    cJSON_AddRawToObject(raw, "r", "[1, 2]");
    ok(same(raw), "a raw member is copied as it is");
    cJSON_Delete(raw);

    t = cJSON_CreateRaw(NULL);
    ok(json_print(t) == NULL && cJSON_PrintUnformatted(t) == NULL,
       "a raw item without text is refused, as cJSON refuses it");
    cJSON_Delete(t);
    ok(json_print(NULL) == NULL, "json_print(NULL) is NULL");
}

static void test_buffers(void)
{
    char small[8];
    jbuf b;
    char *t;

    /* A text that outgrows the caller's storage moves to the heap. */
    jbuf_init(&b, small, sizeof small);
    json_put(&b, "{", 1);
    json_put_string(&b, "message");
    json_put(&b, ":", 1);
    json_put_string(&b, "unknown activity 424242\n");
    json_put(&b, ",", 1);
    json_put_string(&b, "code");
    json_put(&b, ":", 1);
    json_put_int(&b, -9223372036854775807LL - 1);
    json_put(&b, "}", 1);
    ok(b.heap && !b.failed, "the text outgrew its storage");
    t = jbuf_take(&b);
    is_str(t,
           "{\"message\":\"unknown activity 424242\\n\",\"code\":"
           "-9223372036854775808}",
           "  and is whole");
    free(t);

    jbuf_init(&b, small, sizeof small);
    json_put_int(&b, 404);
    ok(!b.heap, "a short text stays in the caller's storage");
    t = jbuf_take(&b);
    is_str(t, "404", "  and is taken as a copy");
    free(t);
}

int main(void)
{
    test_numbers();
    test_strings();
    test_trees();
    test_buffers();
    return tap_done();
}
