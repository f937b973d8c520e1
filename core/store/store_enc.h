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

/* A journal's body (store.h: Journals) in the LMDB and mem backends: a
 * state byte, then one entry per recorded add, oldest first:
 *   delta (int64, big-endian) + key length (2 bytes, big-endian) + key.
 * States: open; closed (fenced, its adds still counted); given back
 * (closed, its adds given back: no entries left).  An expired journal
 * reads as absent, like any record. */
enum {
    STORE_JRN_OPEN = 'o',
    STORE_JRN_CLOSED = 'f',
    STORE_JRN_GIVEN_BACK = 'x'
};
#define STORE_JRN_ENTRY_HDR 10

/* The entry at *pos (1 for the first) into delta, key, klen, and *pos
 * moved past it: 1; 0 at the end; -1 when the body is corrupt. */
static inline int store_jrn_next(const unsigned char *b, size_t len,
                                 size_t *pos, int64_t *delta,
                                 const unsigned char **key, size_t *klen)
{
    size_t p = *pos;

    if (p == len)
        return 0;
    if (p > len || len - p < STORE_JRN_ENTRY_HDR)
        return -1;
    *delta = (int64_t)store_get_u64(b + p);
    *klen = (size_t)b[p + 8] << 8 | b[p + 9];
    if (*klen == 0 || len - p - STORE_JRN_ENTRY_HDR < *klen)
        return -1;
    *key = b + p + STORE_JRN_ENTRY_HDR;
    *pos = p + STORE_JRN_ENTRY_HDR + *klen;
    return 1;
}

/* How many entries a journal body holds: -1 when it is corrupt (no
 * state byte, or an entry cut short). */
static inline long store_jrn_count(const unsigned char *b, size_t len)
{
    size_t pos = 1, klen;
    const unsigned char *key;
    int64_t delta;
    long n = 0;
    int rc;

    if (len < 1 || (b[0] != STORE_JRN_OPEN && b[0] != STORE_JRN_CLOSED &&
                    b[0] != STORE_JRN_GIVEN_BACK))
        return -1;
    while ((rc = store_jrn_next(b, len, &pos, &delta, &key, &klen)) == 1)
        n++;
    return rc < 0 ? -1 : n;
}

/* The entry (delta, key of klen bytes, klen < 65536) into out, which has
 * room for STORE_JRN_ENTRY_HDR + klen bytes; returns its length. */
static inline size_t store_jrn_entry(unsigned char *out, int64_t delta,
                                     const char *key, size_t klen)
{
    store_put_u64(out, (uint64_t)delta);
    out[8] = (unsigned char)(klen >> 8);
    out[9] = (unsigned char)(klen & 0xff);
    memcpy(out + STORE_JRN_ENTRY_HDR, key, klen);
    return STORE_JRN_ENTRY_HDR + klen;
}

#endif
