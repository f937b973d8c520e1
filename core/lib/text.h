/*
 * text.h -- the one check of identifiers amsd takes from outside (uids,
 * request_ids, store keys, config-center names): visible ASCII, '!'..'~',
 * so no space, no control byte, nothing that needs escaping in a log line
 * or a Redis key.  Plugins have the same check in the SDK (ams_key_ok).
 * And the building of such keys from pieces (tbuf, below).
 */
#ifndef AMS_CORE_TEXT_H
#define AMS_CORE_TEXT_H

#include <stddef.h>
#include <string.h>

/* How many of the first n bytes of s are visible ASCII before the first
 * that is not (n when all are). */
static inline size_t text_visible_span(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && s[i] >= '!' && s[i] <= '~')
        i++;
    return i;
}

/* 1 when s (NUL-terminated) is min..max bytes, all visible ASCII. */
static inline int text_is_token(const char *s, size_t min, size_t max)
{
    size_t i = 0;

    while (s[i] >= '!' && s[i] <= '~')
        if (++i > max)
            return 0;
    return s[i] == '\0' && i >= min;
}

/*
 * Building a store key or a label from pieces, as snprintf would but
 * without parsing a format on every request (a key costs a few hundred
 * instructions through snprintf, and a request builds several):
 *
 *   tbuf b = TBUF(out, outlen);
 *   tbuf_str(&b, "{a"); tbuf_int(&b, id); ...
 *   if (tbuf_end(&b) < 0) ... too long ...
 *
 * What lands in out is exactly snprintf's: as much as fits, always
 * NUL-terminated (outlen > 0), and tbuf_end says whether it all fit.
 */
typedef struct tbuf {
    char *p;
    size_t cap; /* bytes at p, the NUL included */
    size_t n;   /* length of the whole text, even past cap */
} tbuf;

#define TBUF(out, outlen) ((tbuf){(out), (outlen), 0})

static inline void tbuf_mem(tbuf *b, const char *s, size_t len)
{
    if (b->n < b->cap)
        memcpy(b->p + b->n, s, len < b->cap - b->n ? len : b->cap - b->n);
    b->n += len;
}

static inline void tbuf_str(tbuf *b, const char *s)
{
    tbuf_mem(b, s, strlen(s));
}

/* Decimal, as "%lld" / "%zu" print it. */
static inline void tbuf_int(tbuf *b, long long v)
{
    char tmp[24], *q = tmp + sizeof tmp;
    unsigned long long u =
        v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--q = '-';
    tbuf_mem(b, q, (size_t)(tmp + sizeof tmp - q));
}

/* NUL-terminates; 0 when the text fit, -1 when it was cut. */
static inline int tbuf_end(tbuf *b)
{
    if (b->cap == 0)
        return -1;
    b->p[b->n < b->cap ? b->n : b->cap - 1] = '\0';
    return b->n < b->cap ? 0 : -1;
}

/* snprintf(out, outlen, "%s", s): 0, or -1 when s was cut. */
static inline int text_copy(char *out, size_t outlen, const char *s)
{
    tbuf b = TBUF(out, outlen);

    tbuf_str(&b, s);
    return tbuf_end(&b);
}

#endif
