/*
 * hash.h -- FNV-1a (64-bit), the one hash of in-memory tables (routes,
 * the mem store's buckets, metrics series).  Not for anything an attacker
 * picks the keys of at scale without a bound on chain length.
 */
#ifndef AMS_CORE_HASH_H
#define AMS_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_INIT 0xcbf29ce484222325ULL

/* Continue hash h over n bytes at p; start with HASH_FNV1A_INIT. */
static inline uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

#endif
