/*
 * test_store_tag.c -- the store suite's tags (store.h: tag_set, tag_get,
 * tag_del): bytes kept as given, delete, expiry.  test_store.c runs
 * them.
 */
#include "store_suite.h"

#include <stdlib.h>

static void test_tags(store *s)
{
    const char *t = k("tag");
    char *v = (char *)1;
    size_t len = 99;

    is_int(store_tag_get(s, t, T, &v, &len), AMS_NOT_FOUND, "absent tag");
    ok(v == NULL && len == 0, "absent tag: NULL, 0");
    is_int(store_tag_set(s, t, "gold", 4, NEVER, T), AMS_OK, "set");
    is_int(store_tag_get(s, t, T, &v, &len), AMS_OK, "get");
    is_str(v, "gold", "value");
    is_int(len, 4, "length");
    free(v);
    store_tag_set(s, t, "silver", 6, NEVER, T);
    store_tag_get(s, t, T, &v, &len);
    is_str(v, "silver", "overwrite");
    is_int(len, 6, "overwrite length (NUL not counted)");
    free(v);
    store_tag_set(s, t, "a\0b", 3, NEVER, T);
    store_tag_get(s, t, T, &v, &len);
    ok(len == 3 && memcmp(v, "a\0b", 4) == 0,
       "bytes with a NUL inside survive, NUL-terminated");
    free(v);
    store_tag_set(s, t, "", 0, NEVER, T);
    is_int(store_tag_get(s, t, T, &v, &len), AMS_OK, "empty value is a value");
    is_str(v, "", "empty string");
    free(v);
    is_int(store_tag_del(s, t, T), AMS_OK, "del");
    is_int(store_tag_get(s, t, T, &v, &len), AMS_NOT_FOUND, "gone after del");
    is_int(store_tag_del(s, t, T), AMS_NOT_FOUND, "del of absent tag");
}

static void test_tag_ttl(store *s)
{
    const char *t = k("tag.ttl");
    char *v = NULL;
    size_t len;

    store_tag_set(s, t, "x", 1, T + 100, T);
    is_int(store_tag_get(s, t, T + 99, &v, &len), AMS_OK,
           "tag live before expiry");
    free(v);
    is_int(store_tag_get(s, t, T + 100, &v, &len), AMS_NOT_FOUND,
           "tag expired at expire_at_ms");
    is_int(store_tag_del(s, t, T + 100), AMS_NOT_FOUND,
           "del of an expired tag: not found");
    store_tag_set(s, t, "y", 1, NEVER, T + 200);
    is_int(store_tag_get(s, t, T + 100000000, &v, &len), AMS_OK,
           "set over an expired tag: no expiry now");
    is_str(v, "y", "new value");
    free(v);
}

void tag_tests(store *s)
{
    test_tags(s);
    test_tag_ttl(s);
}
