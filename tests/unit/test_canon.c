/*
 * test_canon.c -- the canonical text idempotency compares requests by
 * (canon.h): the same params in any key order, at any depth, and with
 * numbers spelled any way, give one text; different params never do;
 * params already in canonical order keep json_print's text (what the
 * version before hashed).
 */
#include "canon.h"
#include "json.h"
#include "tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* canon_print of the JSON text s (NULL when it does not parse). */
static char *canon_of(const char *s)
{
    cJSON *v = cJSON_Parse(s);
    char *out = v ? canon_print(v) : NULL;

    cJSON_Delete(v);
    return out;
}

static void same_text(const char *a, const char *b, const char *want,
                      const char *what)
{
    char *x = canon_of(a), *y = canon_of(b);

    is_str(x, want, "%s: first spelling", what);
    is_str(y, want, "%s: second spelling", what);
    free(x);
    free(y);
}

static void test_orders_and_spellings(void)
{
    char *t;

    same_text("{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}", "{\"a\":2,\"b\":1}",
              "two keys in either order");
    same_text("{\"b\":1,\"a\":[{\"y\":2,\"x\":1e0}]}",
              "{\"a\":[{\"x\":1,\"y\":2.0}],\"b\":1}",
              "{\"a\":[{\"x\":1,\"y\":2}],\"b\":1}",
              "objects inside arrays are sorted too; 1e0 and 2.0 are 1, 2");
    same_text("{\"z\":{\"q\":{\"n\":1,\"m\":2},\"p\":0},\"a\":null}",
              "{\"a\":null,\"z\":{\"p\":0,\"q\":{\"m\":2,\"n\":1}}}",
              "{\"a\":null,\"z\":{\"p\":0,\"q\":{\"m\":2,\"n\":1}}}",
              "three levels deep");
    same_text("{\"amount\":600}", "{ \"amount\" : 6e2 }", "{\"amount\":600}",
              "white space and 6e2 against 600");
    same_text("{\"x\":0.5}", "{\"x\":5e-1}", "{\"x\":0.5}", "0.5 and 5e-1");
    same_text("{\"x\":-0}", "{\"x\":0}", "{\"x\":0}", "-0 is 0");
    same_text("{\"B\":1,\"a\":2,\"_\":3}", "{\"a\":2,\"_\":3,\"B\":1}",
              "{\"B\":1,\"_\":3,\"a\":2}", "keys in byte order (B < _ < a)");
    same_text("{\"\\u00e9\":1,\"e\":2}", "{\"e\":2,\"\\u00e9\":1}",
              "{\"e\":2,\"\xc3\xa9\":1}", "UTF-8 keys after ASCII ones");

    /* Arrays keep their order: [1,2] is not [2,1]. */
    t = canon_of("[1,2]");
    is_str(t, "[1,2]", "array order is kept");
    free(t);
    t = canon_of("[2,1]");
    is_str(t, "[2,1]", "another array order is another text");
    free(t);
    t = canon_of("{\"s\":\"q\\\"\\n\\/\"}");
    is_str(t, "{\"s\":\"q\\\"\\n/\"}", "strings escaped as cJSON prints them");
    free(t);
    t = canon_of("{}");
    is_str(t, "{}", "empty object");
    free(t);
    ok(canon_print(NULL) == NULL, "NULL item: NULL");
}

/* What the version before canonical idempotency hashed is json_print's
 * text; for params in canonical order (integers below 10^15, short
 * fractions) it must be the very same text, so that most stored records
 * compare equal without a second hash. */
static void test_canonical_already(void)
{
    static const char *const sorted[] = {
        "{\"amount\":600}",
        "{\"a\":1,\"b\":{\"c\":[1,{\"d\":2,\"e\":3}]}}",
        "{\"x\":1.5,\"y\":\"t\",\"z\":0.1}",
        "{}",
        "[{\"a\":1},{\"a\":2}]",
        "{\"n\":999999999999999}"};
    static const char *const unsorted[] = {"{\"b\":1,\"a\":2}",
                                           "{\"a\":{\"d\":1,\"c\":2}}",
                                           "[{\"b\":1,\"a\":2}]"};

    for (size_t i = 0; i < sizeof sorted / sizeof sorted[0]; i++) {
        cJSON *v = cJSON_Parse(sorted[i]);
        char *a = canon_print(v), *b = json_print(v);
        is_str(a, b, "%s: canon_print equals json_print", sorted[i]);
        free(a);
        free(b);
        cJSON_Delete(v);
    }
    for (size_t i = 0; i < sizeof unsorted / sizeof unsorted[0]; i++) {
        cJSON *v = cJSON_Parse(unsorted[i]);
        char *a = canon_print(v), *b = json_print(v);
        ok(a && b && strcmp(a, b) != 0, "%s: the two texts differ",
           unsorted[i]);
        free(a);
        free(b);
        cJSON_Delete(v);
    }
}

/* One number per spelling: values json_print (cJSON) cannot tell apart
 * must have different canonical texts. */
static void test_numbers_exact(void)
{
    static const char *const pairs[][2] = {
        {"9007199254740991", "9007199254740990"},
        {"1000000000000001", "1000000000000002"},
        {"0.1", "0.10000000000000002"},
        {"123456.7890123456", "123456.7890123457"},
    };
    char *t;

    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char *a = canon_of(pairs[i][0]), *b = canon_of(pairs[i][1]);
        cJSON *x = cJSON_Parse(pairs[i][0]), *y = cJSON_Parse(pairs[i][1]);
        ok(a && b && strcmp(a, b) != 0 && x->valuedouble != y->valuedouble,
           "%s and %s: two texts (%s, %s)", pairs[i][0], pairs[i][1],
           a ? a : "-", b ? b : "-");
        {
            cJSON *back = a ? cJSON_Parse(a) : NULL;
            ok(back != NULL && back->valuedouble == x->valuedouble,
               "%s reads back as itself", pairs[i][0]);
            cJSON_Delete(back);
        }
        free(a);
        free(b);
        cJSON_Delete(x);
        cJSON_Delete(y);
    }
    t = canon_of("9007199254740991");
    is_str(t, "9007199254740991", "2^53-1 in digits");
    free(t);
    t = canon_of("1e15");
    is_str(t, "1000000000000000", "1e15 in digits");
    free(t);
    t = canon_of("0.25");
    is_str(t, "0.25", "0.25 in the fewest digits");
    free(t);
    t = canon_of("1e300");
    is_str(t, "1e+300", "1e300");
    free(t);
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A random value: objects of up to 6 distinct keys, arrays, numbers,
 * strings, to depth d. */
static cJSON *random_value(int d)
{
    int kind = d <= 0 ? (int)(next() % 3) : (int)(next() % 5);

    switch (kind) {
    case 0:
        return cJSON_CreateNumber((double)(int64_t)(next() % 2001) - 1000);
    case 1: {
        char s[8];
        snprintf(s, sizeof s, "s%u", (unsigned)(next() % 100));
        return cJSON_CreateString(s);
    }
    case 2:
        return cJSON_CreateNumber((double)(next() % 1000) / 8.0);
    case 3: {
        cJSON *a = cJSON_CreateArray();
        int n = (int)(next() % 4);
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(a, random_value(d - 1));
        return a;
    }
    default: {
        cJSON *o = cJSON_CreateObject();
        int n = (int)(next() % 7);
        for (int i = 0; i < n; i++) {
            char k[8];
            snprintf(k, sizeof k, "k%d", (int)(next() % 50));
            if (cJSON_GetObjectItemCaseSensitive(o, k) == NULL)
                cJSON_AddItemToObject(o, k, random_value(d - 1));
        }
        return o;
    }
    }
}

/* The same value with the members of every object shuffled. */
static cJSON *shuffled(const cJSON *v)
{
    cJSON *out, *c, *items[64];
    size_t n = 0;

    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return cJSON_Duplicate(v, 1);
    out = cJSON_IsObject(v) ? cJSON_CreateObject() : cJSON_CreateArray();
    for (c = v->child; c != NULL && n < 64; c = c->next)
        items[n++] = (cJSON *)c;
    if (cJSON_IsObject(v))
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)(next() % i);
            cJSON *t = items[i - 1];
            items[i - 1] = items[j];
            items[j] = t;
        }
    for (size_t i = 0; i < n; i++) {
        if (cJSON_IsObject(v))
            cJSON_AddItemToObject(out, items[i]->string, shuffled(items[i]));
        else
            cJSON_AddItemToArray(out, shuffled(items[i]));
    }
    return out;
}

static void test_random(void)
{
    int same = 1, stable = 1, differ = 1;

    for (int i = 0; i < 2000; i++) {
        cJSON *v = random_value(4), *w = shuffled(v), *x = random_value(4);
        char *a = canon_print(v), *b = canon_print(w), *c = canon_print(x);
        char *pa = json_print(v), *px = json_print(x);
        cJSON *back = a ? cJSON_Parse(a) : NULL;
        char *again = back ? canon_print(back) : NULL;

        if (!a || !b || strcmp(a, b) != 0) {
            if (same)
                printf("#   %s\n#   %s\n", a ? a : "-", b ? b : "-");
            same = 0;
        }
        if (!again || strcmp(again, a) != 0)
            stable = 0;
        /* Values that print differently after sorting are different
         * values: their canonical texts must differ too. */
        if (pa && px && c && a && !cJSON_Compare(v, x, 1) &&
            strcmp(a, c) == 0) {
            if (differ)
                printf("#   %s\n#   %s\n", pa, px);
            differ = 0;
        }
        free(a);
        free(b);
        free(c);
        free(pa);
        free(px);
        free(again);
        cJSON_Delete(back);
        cJSON_Delete(v);
        cJSON_Delete(w);
        cJSON_Delete(x);
    }
    ok(same, "2000 random values: shuffled keys give the same text");
    ok(stable, "the canonical text read back is its own canonical text");
    ok(differ, "different values never share a canonical text");
}

/* The gateway lets params nest as deep as cJSON parses; the canonical
 * text is made on a coroutine stack: every level must cost little. */
static void test_deep_and_wide(void)
{
    char *text = malloc(20000), *out;
    size_t n = 0;
    cJSON *v, *o = cJSON_CreateObject();
    int sorted = 1;

    for (int i = 0; i < 990; i++)
        n += (size_t)sprintf(text + n, "{\"b\":1,\"a\":");
    n += (size_t)sprintf(text + n, "0");
    for (int i = 0; i < 990; i++)
        text[n++] = '}';
    text[n] = '\0';
    v = cJSON_Parse(text);
    out = canon_print(v);
    ok(out != NULL && strncmp(out, "{\"a\":{\"a\":", 10) == 0,
       "990 levels deep: every level sorted");
    free(out);
    cJSON_Delete(v);
    free(text);

    for (int i = 4999; i >= 0; i--) {
        char k[16];
        snprintf(k, sizeof k, "k%05d", i);
        cJSON_AddNumberToObject(o, k, i);
    }
    out = canon_print(o);
    v = out ? cJSON_Parse(out) : NULL;
    for (cJSON *c = v ? v->child : NULL; c && c->next; c = c->next)
        sorted &= strcmp(c->string, c->next->string) < 0;
    ok(v != NULL && cJSON_GetArraySize(v) == 5000 && sorted,
       "5000 keys given in reverse come out in order");
    free(out);
    cJSON_Delete(v);
    cJSON_Delete(o);
}

int main(void)
{
    test_orders_and_spellings();
    test_canonical_already();
    test_numbers_exact();
    test_random();
    test_deep_and_wide();
    return tap_done();
}
