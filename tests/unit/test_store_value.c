/*
 * test_store_value.c -- the store suite's versioned values (store.h:
 * value_get, value_cas): compare-and-set on versions that only grow,
 * expiry that never lets an old version match again.  test_store.c runs
 * them.
 */
#include "store_suite.h"

#include <stdlib.h>

static void test_values(store *s)
{
    const char *key = k("val");
    char *v = (char *)1;
    size_t len = 9;
    uint64_t ver = 9;

    is_int(store_value_get(s, key, T, &v, &len, &ver), AMS_NOT_FOUND,
           "absent value");
    ok(v == NULL && len == 0 && ver == 0, "absent: NULL, 0, version 0");
    is_int(store_value_cas(s, key, 1, "x", 1, NEVER, T, &ver), AMS_CONFLICT,
           "cas expecting 1 on an absent value conflicts");
    is_int(ver, 0, "and reports version 0");
    uint64_t v1, v2;

    is_int(store_value_cas(s, key, 0, "v1", 2, NEVER, T, &ver), AMS_OK,
           "cas from 0 creates");
    v1 = ver;
    ok(v1 > 0, "a created value has a version > 0");
    is_int(store_value_get(s, key, T, &v, &len, &ver), AMS_OK, "get");
    is_str(v, "v1", "value");
    ok(len == 2 && ver == v1, "length 2, the version cas reported");
    free(v);
    is_int(store_value_cas(s, key, 0, "x", 1, NEVER, T, &ver), AMS_CONFLICT,
           "cas with a stale version conflicts");
    is_int(ver, v1, "and reports the current version");
    is_int(store_value_cas(s, key, v1, "v2", 2, NEVER, T, &ver), AMS_OK,
           "cas with the current version");
    v2 = ver;
    ok(v2 > v1, "the version grows (%llu > %llu)", (unsigned long long)v2,
       (unsigned long long)v1);
    is_int(store_value_cas(s, key, v1, "v3", 2, NEVER, T, NULL), AMS_CONFLICT,
           "the old version no longer matches (version out NULL)");
    store_value_get(s, key, T, &v, &len, &ver);
    is_str(v, "v2", "a conflicting cas changed nothing");
    free(v);
}

static void test_value_ttl(store *s)
{
    const char *key = k("val.ttl");
    char *v = NULL;
    size_t len;
    uint64_t ver = 0, va, vb;

    store_value_cas(s, key, 0, "a", 1, T + 100, T, &ver);
    va = ver;
    store_value_cas(s, key, va, "b", 1, T + 100, T, &ver);
    vb = ver;
    is_int(store_value_get(s, key, T + 99, &v, &len, &ver), AMS_OK,
           "value live before expiry");
    ok(ver == vb && vb > va && v != NULL && strcmp(v, "b") == 0,
       "second version, \"b\"");
    free(v);
    is_int(store_value_get(s, key, T + 100, &v, &len, &ver), AMS_NOT_FOUND,
           "value expired at expire_at_ms");
    is_int(ver, 0, "an expired value has version 0");
    is_int(store_value_cas(s, key, vb, "c", 1, NEVER, T + 100, &ver),
           AMS_CONFLICT, "the expired version no longer matches");
    is_int(store_value_cas(s, key, 0, "c", 1, NEVER, T + 100, &ver), AMS_OK,
           "cas from 0 re-creates it");
    ok(ver > vb, "with a version never used before (%llu > %llu)",
       (unsigned long long)ver, (unsigned long long)vb);
    is_int(store_value_cas(s, key, va, "d", 1, NEVER, T + 100, NULL),
           AMS_CONFLICT, "a holder of an old version cannot overwrite it");
}

void value_tests(store *s)
{
    test_values(s);
    test_value_ttl(s);
}
