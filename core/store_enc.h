/*
 * store_enc.h -- byte encodings shared by the store backends, so that
 * every backend orders leaderboards and expiry indexes the same way.
 *
 * Big-endian integers compare with memcmp as they compare as numbers;
 * flipping the sign bit extends that to signed values.  A board's order
 * key is the score encoded descending, then the time ascending, then the
 * member bytes (store.h: "score desc, time asc, member asc").
 */
#ifndef AMS_CORE_STORE_ENC_H
#define AMS_CORE_STORE_ENC_H

#include <stdint.h>
#include <string.h>

#define STORE_SIGN ((uint64_t)1 << 63)
#define STORE_ORDER_PREFIX 16 /* score + time, before the member */

static inline void store_put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static inline uint64_t store_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Signed, ascending under memcmp. */
static inline uint64_t store_enc_asc(int64_t v)
{
    return (uint64_t)v ^ STORE_SIGN;
}

/* A score, descending under memcmp, and back. */
static inline uint64_t store_score_enc(int64_t score)
{
    return ~((uint64_t)score ^ STORE_SIGN);
}

static inline int64_t store_score_dec(uint64_t enc)
{
    return (int64_t)(~enc ^ STORE_SIGN);
}

/* The order key of (score, time, member) into out, which has room for
 * STORE_ORDER_PREFIX + mlen bytes; returns its length. */
static inline size_t store_order_key(unsigned char *out, int64_t score,
                                     int64_t time_ms, const char *member,
                                     size_t mlen)
{
    store_put_u64(out, store_score_enc(score));
    store_put_u64(out + 8, store_enc_asc(time_ms));
    memcpy(out + STORE_ORDER_PREFIX, member, mlen);
    return STORE_ORDER_PREFIX + mlen;
}

#endif
