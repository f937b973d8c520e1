/*
 * siphash.h -- SipHash-2-4 (Aumasson and Bernstein), a keyed 64-bit hash:
 * for tables whose keys an outsider picks (uids, client addresses), where
 * FNV-1a (hash.h) lets one craft keys that collide.  With a secret key
 * nobody outside the process can aim two keys at one slot.
 */
#ifndef AMS_CORE_SIPHASH_H
#define AMS_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SIPHASH_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPHASH_ROUND(v0, v1, v2, v3)                                         \
    do {                                                                      \
        v0 += v1;                                                             \
        v1 = SIPHASH_ROTL(v1, 13);                                            \
        v1 ^= v0;                                                             \
        v0 = SIPHASH_ROTL(v0, 32);                                            \
        v2 += v3;                                                             \
        v3 = SIPHASH_ROTL(v3, 16);                                            \
        v3 ^= v2;                                                             \
        v0 += v3;                                                             \
        v3 = SIPHASH_ROTL(v3, 21);                                            \
        v3 ^= v0;                                                             \
        v2 += v1;                                                             \
        v1 = SIPHASH_ROTL(v1, 17);                                            \
        v1 ^= v2;                                                             \
        v2 = SIPHASH_ROTL(v2, 32);                                            \
    } while (0)

/* Little-endian 64-bit word at p. */
static inline uint64_t siphash_le64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* SipHash-2-4 of n bytes at p under the 128-bit key k. */
static inline uint64_t siphash24(const uint64_t k[2], const void *p, size_t n)
{
    const unsigned char *m = p;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
    uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
    uint64_t v3 = 0x7465646279746573ULL ^ k[1];
    uint64_t b = (uint64_t)n << 56, w;
    unsigned char last[8] = {0};
    size_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        w = siphash_le64(m + i);
        v3 ^= w;
        SIPHASH_ROUND(v0, v1, v2, v3);
        SIPHASH_ROUND(v0, v1, v2, v3);
        v0 ^= w;
    }
    memcpy(last, m + i, n - i);
    b |= siphash_le64(last);
    v3 ^= b;
    SIPHASH_ROUND(v0, v1, v2, v3);
    SIPHASH_ROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < 4; r++)
        SIPHASH_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

#endif
